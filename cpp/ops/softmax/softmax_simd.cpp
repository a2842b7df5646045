// Float32 softmax / log-softmax rows (inner == 1) for one ISA (SoftmaxSimd): must match
// softmax_forward_reference and softmax_backward_reference in cpp/ops/softmax/softmax.cpp.
//
// --8<-- [start:three_passes]
// Three passes over a row, which stays in L1/L2 between them (rows are split over threads by
// cpp/ops/softmax/softmax.cpp): (1) the row max m; (2) e_i = exp(x_i - m), summed (softmax
// also stores e_i in y, so exp runs once per element); (3) y = e_i / sum, or for log-softmax
// y = (x_i - m) - log sum. An online single pass (running max, rescaling the running sum by
// exp(m_old - m_new)) would read x once less but costs a second exp per vector; with the row
// in cache the three-pass form is faster. Sums run in float vectors over blocks of
// kBlock elements and are combined in double, as accurate as the reference for long rows.
// --8<-- [end:three_passes]
// (No <cmath>/STL here: an inline library function compiled with AVX-512 flags could become
// the copy the linker keeps for every caller; the __builtin_ forms have no such copy.)
#include "softmax.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;
constexpr int64_t kBlock = 1024;

// max of x[0..n); NaN is ignored here as in the reference's `x > m ? x : m` (a NaN element
// then makes exp(NaN - m) and the whole row NaN, as there)
inline float row_max(const float* x, int64_t n) {
  Vec m0 = Vec::set1(-__builtin_inff()), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    m0 = max(Vec::load(x + i), m0);
    m1 = max(Vec::load(x + i + W), m1);
    m2 = max(Vec::load(x + i + 2 * W), m2);
    m3 = max(Vec::load(x + i + 3 * W), m3);
  }
  for (; i + W <= n; i += W) m0 = max(Vec::load(x + i), m0);
  float tail = -__builtin_inff();  // the last < W elements, scalar (padding lanes would read 0)
  for (; i < n; ++i) tail = x[i] > tail ? x[i] : tail;
  m1 = max(Vec::set1(tail), m1);
  return reduce_max(max(max(m0, m1), max(m2, m3)));
}

// sum of exp(x_i - m); stores the exponentials to e when e != nullptr
inline double row_sum_exp(const float* x, float* e, int64_t n, float m) {
  const Vec vm = Vec::set1(m);
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t end = b + kBlock < n ? b + kBlock : n;
    Vec s0 = Vec::zero(), s1 = Vec::zero();
    int64_t i = b;
    for (; i + 2 * W <= end; i += 2 * W) {
      Vec e0 = exp(Vec::load(x + i) - vm), e1 = exp(Vec::load(x + i + W) - vm);
      if (e) { e0.store(e + i); e1.store(e + i + W); }
      s0 = s0 + e0;
      s1 = s1 + e1;
    }
    for (; i + W <= end; i += W) {
      Vec e0 = exp(Vec::load(x + i) - vm);
      if (e) e0.store(e + i);
      s0 = s0 + e0;
    }
    if (i < end) {
      const int r = static_cast<int>(end - i);
      // padding lanes hold exp(0 - m): add only the r real ones
      Vec e0 = exp(Vec::load_partial(x + i, r) - vm);
      if (e) e0.store_partial(e + i, r);
      float buf[W];
      e0.store(buf);
      for (int k = 0; k < r; ++k) total += buf[k];
    }
    total += static_cast<double>(reduce_add(s0 + s1));
  }
  return total;
}

// sum of a_i (b == nullptr) or a_i * b_i, float vectors per block, double across blocks
inline double row_dot(const float* a, const float* b, int64_t n) {
  double total = 0;
  for (int64_t blk = 0; blk < n; blk += kBlock) {
    const int64_t end = blk + kBlock < n ? blk + kBlock : n;
    Vec s0 = Vec::zero(), s1 = Vec::zero();
    int64_t i = blk;
    if (b) {
      for (; i + 2 * W <= end; i += 2 * W) {
        s0 = fmadd(Vec::load(a + i), Vec::load(b + i), s0);
        s1 = fmadd(Vec::load(a + i + W), Vec::load(b + i + W), s1);
      }
      for (; i + W <= end; i += W) s0 = fmadd(Vec::load(a + i), Vec::load(b + i), s0);
      if (i < end) {
        const int r = static_cast<int>(end - i);
        s1 = fmadd(Vec::load_partial(a + i, r), Vec::load_partial(b + i, r), s1);  // pads are 0*0
      }
    } else {
      for (; i + 2 * W <= end; i += 2 * W) {
        s0 = s0 + Vec::load(a + i);
        s1 = s1 + Vec::load(a + i + W);
      }
      for (; i + W <= end; i += W) s0 = s0 + Vec::load(a + i);
      if (i < end) s1 = s1 + Vec::load_partial(a + i, static_cast<int>(end - i));
    }
    total += static_cast<double>(reduce_add(s0 + s1));
  }
  return total;
}

// y[i] = f(x[i]) over a row, with a partial tail
template <class F>
inline void row_map(const float* x, float* y, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + W <= n; i += W) f(Vec::load(x + i)).store(y + i);
  if (i < n) f(Vec::load_partial(x + i, static_cast<int>(n - i))).store_partial(y + i, static_cast<int>(n - i));
}

// --8<-- [start:simd_forward]
bool forward_f32(const float* x, float* y, int64_t rows, int64_t len, bool log) {
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = x + row * len;
    float* yr = y + row * len;
    float m = row_max(xr, len);
    if (__builtin_isinf(m) && m < 0) m = 0;  // all -inf: exp gives 0, sum 0 -> NaN, as the reference
    if (log) {
      const double sum = row_sum_exp(xr, nullptr, len, m);
      // (x - m) - log(sum), as the reference: x - m is exact, so nothing of x is lost at +-1000
      const Vec vm = Vec::set1(m), log_sum = Vec::set1(static_cast<float>(__builtin_log(sum)));
      row_map(xr, yr, len, [&](Vec v) { return (v - vm) - log_sum; });
    } else {
      const double sum = row_sum_exp(xr, yr, len, m);
      const Vec inv = Vec::set1(static_cast<float>(1.0 / sum));
      row_map(yr, yr, len, [&](Vec v) { return v * inv; });
    }
  }
  return true;
}
// --8<-- [end:simd_forward]

// --8<-- [start:simd_backward]
bool backward_f32(const float* gy, const float* y, float* gx, int64_t rows, int64_t len, bool log) {
  for (int64_t row = 0; row < rows; ++row) {
    const float* g = gy + row * len;
    const float* yr = y + row * len;
    float* o = gx + row * len;
    int64_t i = 0;
    if (log) {  // gx = gy - exp(y) * sum(gy)
      const Vec s = Vec::set1(static_cast<float>(row_dot(g, nullptr, len)));
      for (; i + W <= len; i += W) fnmadd(exp(Vec::load(yr + i)), s, Vec::load(g + i)).store(o + i);
      if (i < len) {
        const int r = static_cast<int>(len - i);
        fnmadd(exp(Vec::load_partial(yr + i, r)), s, Vec::load_partial(g + i, r)).store_partial(o + i, r);
      }
    } else {  // gx = y * (gy - sum(gy * y))
      const Vec d = Vec::set1(static_cast<float>(row_dot(g, yr, len)));
      for (; i + W <= len; i += W) (Vec::load(yr + i) * (Vec::load(g + i) - d)).store(o + i);
      if (i < len) {
        const int r = static_cast<int>(len - i);
        (Vec::load_partial(yr + i, r) * (Vec::load_partial(g + i, r) - d)).store_partial(o + i, r);
      }
    }
  }
  return true;
}
// --8<-- [end:simd_backward]

// ---- columns: a slab (len, stride) of contiguous rows, n columns (inner > 1) --------------
//
// --8<-- [start:columns]
// Softmax over a dim that is not the last (F.softmax(x, 0), the channels of NCHW): each of the
// n columns is a line of len values at stride `stride`. The vectors run across the columns,
// which are contiguous, and every pass walks the rows top to bottom reading n contiguous
// floats per row; the column state (max, block sums, totals) waits in small arrays in L1.
// softmax.cpp hands over panels of at most kMaxColumns columns whose len x n floats fit in
// half the L2, so passes 2 and 3 re-read the panel from L2, not from memory. The same three
// passes as a row: (1) column max; (2) e = exp(x - m) stored in y (softmax) and summed;
// (3) y *= 1 / sum, or y = (x - m) - log sum. Sums: float vectors over blocks of
// kColumnBlock rows, each block's sums added into a double per column, as the row version
// adds its blocks (a column of 5000 rows stays within a few ulps of float64, tests).
constexpr int64_t kColumnBlock = 128;

// Column state of one panel, sized for the widest panel (kMaxColumns, a multiple of W):
// whole vectors of it are read and written, the padding lanes of the last one unused.
struct ColumnState {
  alignas(64) float m[kMaxColumns];    // the column max (pass 1)
  alignas(64) float s[kMaxColumns];    // the current block's float sums, then 1/sum or log sum
  double total[kMaxColumns];           // the sum of the blocks' sums
};

// f(c, lanes) for the vectors of n columns: whole vectors, then the last partial one
template <class F>
inline void for_column_vectors(int64_t n, const F& f) {
  int64_t c = 0;
  for (; c + W <= n; c += W) f(c, int(W));
  if (c < n) f(c, static_cast<int>(n - c));
}
inline Vec load_lanes(const float* p, int lanes) { return lanes == W ? Vec::load(p) : Vec::load_partial(p, lanes); }
inline void store_lanes(Vec v, float* p, int lanes) {
  if (lanes == W) v.store(p); else v.store_partial(p, lanes);
}

// st.m = max over the len rows of each column, from `init` (softmax: -inf, and `x > m ? x : m`
// ignores NaN, as the reference; logsumexp: row 0, whose NaN then stays, as there: max(v, m)
// returns m when either is NaN)
inline void column_max(const float* x, int64_t len, int64_t stride, int64_t n, ColumnState& st, bool from_row0) {
  for_column_vectors(n, [&](int64_t c, int lanes) {
    (from_row0 ? load_lanes(x + c, lanes) : Vec::set1(-__builtin_inff())).store(st.m + c);
  });
  for (int64_t r = from_row0 ? 1 : 0; r < len; ++r) {
    const float* row = x + r * stride;
    for_column_vectors(n, [&](int64_t c, int lanes) { max(load_lanes(row + c, lanes), Vec::load(st.m + c)).store(st.m + c); });
  }
}

// st.total = sum over the rows of term(row r, column c) per column: float vectors over blocks of
// kColumnBlock rows, each block added in double
template <class Term>
inline void column_sums(int64_t len, int64_t n, ColumnState& st, const Term& term) {
  for (int64_t c = 0; c < n; ++c) st.total[c] = 0;
  for (int64_t r0 = 0; r0 < len; r0 += kColumnBlock) {
    const int64_t r1 = r0 + kColumnBlock < len ? r0 + kColumnBlock : len;
    for_column_vectors(n, [&](int64_t c, int) { Vec::zero().store(st.s + c); });
    for (int64_t r = r0; r < r1; ++r)
      for_column_vectors(n, [&](int64_t c, int lanes) { (Vec::load(st.s + c) + term(r, c, lanes)).store(st.s + c); });
    for (int64_t c = 0; c < n; ++c) st.total[c] += static_cast<double>(st.s[c]);
  }
}

bool forward_columns_f32(const float* x, float* y, int64_t len, int64_t stride, int64_t n, bool log) {
  if (n > kMaxColumns) return false;
  ColumnState st;
  column_max(x, len, stride, n, st, false);
  const Vec ninf = Vec::set1(-__builtin_inff());
  for_column_vectors(n, [&](int64_t c, int) {  // all -inf: m = 0, exp gives 0, sum 0 -> NaN, as the reference
    const Vec m = Vec::load(st.m + c);
    blend(cmp_eq(m, ninf), m, Vec::zero()).store(st.m + c);
  });
  column_sums(len, n, st, [&](int64_t r, int64_t c, int lanes) {
    const Vec e = exp(load_lanes(x + r * stride + c, lanes) - Vec::load(st.m + c));
    if (!log) store_lanes(e, y + r * stride + c, lanes);
    // a partial vector's padding lanes sum exp(0 - m) into st.s's unused lanes
    return e;
  });
  for (int64_t c = 0; c < n; ++c)
    st.s[c] = static_cast<float>(log ? __builtin_log(st.total[c]) : 1.0 / st.total[c]);
  for (int64_t r = 0; r < len; ++r) {
    const float* xr = x + r * stride;
    float* yr = y + r * stride;
    if (log)  // (x - m) - log sum, as the reference
      for_column_vectors(n, [&](int64_t c, int lanes) {
        store_lanes((load_lanes(xr + c, lanes) - Vec::load(st.m + c)) - Vec::load(st.s + c), yr + c, lanes);
      });
    else
      for_column_vectors(n, [&](int64_t c, int lanes) {
        store_lanes(load_lanes(yr + c, lanes) * Vec::load(st.s + c), yr + c, lanes);
      });
  }
  return true;
}

// softmax: gx = y (gy - sum_r gy y);  log_softmax: gx = gy - exp(y) sum_r gy
bool backward_columns_f32(const float* gy, const float* y, float* gx, int64_t len, int64_t stride, int64_t n,
                          bool log) {
  if (n > kMaxColumns) return false;
  ColumnState st;
  column_sums(len, n, st, [&](int64_t r, int64_t c, int lanes) {
    const Vec g = load_lanes(gy + r * stride + c, lanes);
    return log ? g : g * load_lanes(y + r * stride + c, lanes);
  });
  for (int64_t c = 0; c < n; ++c) st.s[c] = static_cast<float>(st.total[c]);
  for (int64_t r = 0; r < len; ++r) {
    const int64_t o = r * stride;
    for_column_vectors(n, [&](int64_t c, int lanes) {
      const Vec g = load_lanes(gy + o + c, lanes), yv = load_lanes(y + o + c, lanes), d = Vec::load(st.s + c);
      store_lanes(log ? fnmadd(exp(yv), d, g) : yv * (g - d), gx + o + c, lanes);
    });
  }
  return true;
}
// --8<-- [end:columns]

// ---- logsumexp: the softmax's normaliser, log sum_r exp(x_r) = m + log sum_r exp(x_r - m) ----
// As reduce_one's logsumexp (cpp/ops/reduce/reduce.cpp): m starts at the first element (a NaN
// there stays, NaN result), m = +-inf gives m itself, else m + log(sum) in double.
bool logsumexp_rows_f32(const float* x, float* out, int64_t rows, int64_t len) {
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = x + row * len;
    const float m = row_max(xr, len);  // NaN ignored: only a NaN first element decides alone
    if (xr[0] != xr[0]) out[row] = xr[0];
    else if (__builtin_isinf(m)) out[row] = m;
    else out[row] = static_cast<float>(static_cast<double>(m) + __builtin_log(row_sum_exp(xr, nullptr, len, m)));
  }
  return true;
}

bool logsumexp_columns_f32(const float* x, float* out, int64_t len, int64_t stride, int64_t n) {
  if (n > kMaxColumns) return false;
  ColumnState st;
  column_max(x, len, stride, n, st, true);
  column_sums(len, n, st, [&](int64_t r, int64_t c, int lanes) {
    return exp(load_lanes(x + r * stride + c, lanes) - Vec::load(st.m + c));
  });
  for (int64_t c = 0; c < n; ++c)
    out[c] = __builtin_isinf(st.m[c]) ? st.m[c]
                                      : static_cast<float>(static_cast<double>(st.m[c]) + __builtin_log(st.total[c]));
  return true;
}

}  // namespace
extern const SoftmaxSimd softmax_simd = {&forward_f32, &backward_f32, &forward_columns_f32, &backward_columns_f32,
                                         &logsumexp_rows_f32, &logsumexp_columns_f32, W};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
