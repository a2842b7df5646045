// Reductions over the middle axis of (outer, len, inner): sum, prod, max, min, argmax,
// argmin, logsumexp, any, all, sum_squares (a 2-norm's square), and the variance.
//
// Read top to bottom:
//   1. The reference: one output element, x[0], x[stride], ..., x[(len-1) stride] reduced
//      (reduce_one, variance_one). float32 accumulates in double, so the reference is the
//      accurate side of every comparison. There are no backward kernels: each gradient is the
//      output gradient spread back over the reduced axis by the *Backward nodes of
//      python/minidl/ops/reduce.py (sum: g, mean: g / len, max/min: g at the winning index,
//      logsumexp: g softmax(x), var: 2 g (x - mean) / (len - correction)).
//      reduce_simd.cpp holds the float32 sum/sum_squares/max/min (ReduceSimd), tested against
//      reduce_one.
//   2. Which path runs: an empty axis gives the identity (or throws); float32 sum, sum_squares,
//      max, min on the active SIMD set (one long row split over the threads; fewer slabs than
//      threads: each slab's rows in shares, column_reduce_split, sum/max/min only; otherwise
//      slabs per thread);
//      bfloat16/float16 sums widened as they are read (sum_16bit); float32 logsumexp on the
//      softmax kernels (logsumexp_simd, cpp/ops/softmax/); everything else the reference,
//      OpenMP over the outer * inner outputs.
#include "reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"
#include "ops/softmax/softmax.h"

MINIDL_SIMD_TABLE(minidl::ReduceSimd, reduce_simd)

namespace minidl {
namespace {

// ---- reference: one output element --------------------------------------------------------

template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v); else return false;
}

// One output element: reduce x[0], x[stride], ..., x[(len-1)*stride].
//   sum = scale * sum_r x_r            prod = prod_r x_r
//   max / min: the extreme, NaN wins;  argmax / argmin: its first index
//   logsumexp = m + log sum_r exp(x_r - m), m = max_r x_r
//   any = OR_r (x_r != 0)              all = AND_r (x_r != 0)
//   sum_squares = scale * sum_r x_r^2  (the 2-norm's square in one pass)
// --8<-- [start:reduce_one]
template <class T>
void reduce_one(ReduceOp op, const T* x, int64_t len, int64_t stride, void* out, int64_t o, double scale) {
  switch (op) {
    case ReduceOp::sum: {
      Acc<T> acc = 0;
      for (int64_t r = 0; r < len; ++r) acc += x[r * stride];
      if constexpr (std::is_floating_point_v<T>) acc = static_cast<Acc<T>>(acc * scale);
      static_cast<T*>(out)[o] = static_cast<T>(acc);
      break;
    }
    case ReduceOp::sum_squares: {
      Acc<T> acc = 0;
      for (int64_t r = 0; r < len; ++r) acc += static_cast<Acc<T>>(x[r * stride]) * static_cast<Acc<T>>(x[r * stride]);
      if constexpr (std::is_floating_point_v<T>) acc = static_cast<Acc<T>>(acc * scale);
      static_cast<T*>(out)[o] = static_cast<T>(acc);
      break;
    }
    case ReduceOp::prod: {
      // eight partial products in turn on a contiguous row: one running product is a chain of
      // dependent multiplies (prod(1) of a 1024 x 1024 float32 matrix, 1 thread: 2.0 ms, 1.8x
      // PyTorch's time); integer products are the same whatever the order
      Acc<T> acc = 1;
      int64_t r = 0;
      if (stride == 1 && len >= 16) {
        Acc<T> part[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        for (; r + 8 <= len; r += 8)
          for (int k = 0; k < 8; ++k) part[k] *= x[r + k];
        acc = ((part[0] * part[1]) * (part[2] * part[3])) * ((part[4] * part[5]) * (part[6] * part[7]));
      }
      for (; r < len; ++r) acc *= x[r * stride];
      static_cast<T*>(out)[o] = static_cast<T>(acc);
      break;
    }
    case ReduceOp::max: case ReduceOp::min: case ReduceOp::argmax: case ReduceOp::argmin: {
      const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      T best = x[0];
      int64_t best_i = 0;
      for (int64_t r = 1; r < len && !is_nan(best); ++r) {
        T v = x[r * stride];
        if (is_nan(v) || (want_max ? v > best : v < best)) { best = v; best_i = r; }
      }
      if (op == ReduceOp::max || op == ReduceOp::min) static_cast<T*>(out)[o] = best;
      else static_cast<int64_t*>(out)[o] = best_i;
      break;
    }
    case ReduceOp::logsumexp: {
      if constexpr (std::is_floating_point_v<T>) {
        T m = x[0];
        for (int64_t r = 1; r < len; ++r) m = x[r * stride] > m ? x[r * stride] : m;
        if (std::isinf(m)) { static_cast<T*>(out)[o] = m; break; }  // all -inf, or +inf present
        Acc<T> s = 0;
        for (int64_t r = 0; r < len; ++r) s += std::exp(static_cast<Acc<T>>(x[r * stride] - m));
        static_cast<T*>(out)[o] = static_cast<T>(m + std::log(s));
      }
      break;
    }
    case ReduceOp::any: case ReduceOp::all: {
      bool any = false, all = true;
      for (int64_t r = 0; r < len; ++r) {
        bool v = x[r * stride] != T(0);
        any |= v;
        all &= v;
      }
      static_cast<uint8_t*>(out)[o] = op == ReduceOp::any ? any : all;
      break;
    }
  }
}
// --8<-- [end:reduce_one]

// var = sum_r (x_r - mean)^2 / (len - correction), two passes (mean first): no cancellation
// of sum x^2 - len mean^2. denom = len - correction <= 0 gives NaN, as PyTorch.
// --8<-- [start:variance_one]
template <class T>
inline T variance_one(const T* row, int64_t len, int64_t stride, double denom) {
  double mean = 0;
  for (int64_t r = 0; r < len; ++r) mean += row[r * stride];
  mean /= static_cast<double>(len);
  double ss = 0;
  for (int64_t r = 0; r < len; ++r) {
    double d = row[r * stride] - mean;
    ss += d * d;
  }
  // PyTorch: nan when len - correction <= 0 (with a warning)
  return static_cast<T>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
}
// --8<-- [end:variance_one]

// ---- which path runs ----------------------------------------------------------------------

template <class T>
void reduce_typed(ReduceOp op, const T* x, int64_t outer, int64_t len, int64_t inner, void* out,
                  double scale) {
  const int64_t n_out = outer * inner;
  parallel_for(n_out, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t o = k / inner, i = k % inner;
      reduce_one<T>(op, x + o * len * inner + i, len, inner, out, k, scale);
    }
  });
}

// Column reductions of few slabs (outer < threads; a Linear layer's bias gradient is one slab,
// (rows, out_features) summed over the rows): the slabs alone leave threads idle, so each
// slab's rows are cut into `shares` consecutive ranges of whole kColumnSumBlockRows blocks,
// one task each. A sum task writes the compensated pairs of its rows
// (ReduceSimd::column_sum_pairs), and the pairs are added in share order in double: the same
// block sums as on one thread, so the same result up to the last rounding (equal bits on
// every shape tested, tests/test_reduce.py), and the same bits on every run with the same
// thread count. A max / min task writes the extremes of its rows, taken in share order (the
// first NaN wins): one thread's bits. x: float32, or 16-bit (sum only); out: float32.
// Returns false (nothing done) when the split does not pay: one thread, slabs enough, or
// too few values per share to wake a thread for.
// A share holds at least kMinSplitValues values: (n / 256, 256) float32 column sums on 1 / 2
// threads (wall, median of 301, Xeon 8480-class VM) took 2.5 / 4.0 us at n = 64K, 4.2 / 4.9 at
// 128K, 7.5 / 7.3 at 256K, 31 / 11 at 512K (2 MB: one core reads it from L3, two from their
// L2s); (4096, 256) 0.20 ms on one thread before (the slab was the only parallel unit), 0.04
// on two; (4096, 1024) 0.60 -> 0.31.
constexpr int64_t kMinSplitValues = 131072;

bool column_reduce_split(const ReduceSimd* simd, ReduceOp op, const void* x, DType dtype, int64_t outer, int64_t len,
                         int64_t inner, float* out, double scale) {
  const int64_t nt = num_threads();
  if (nt < 2 || inner < 2 || outer >= nt || !simd->column_sum_pairs) return false;
  if (op != ReduceOp::sum && !(dtype == DType::f32 && (op == ReduceOp::max || op == ReduceOp::min))) return false;
  const int64_t blocks = (len + kColumnSumBlockRows - 1) / kColumnSumBlockRows;
  const int64_t shares = std::min<int64_t>({(nt + outer - 1) / outer, len * inner / kMinSplitValues, blocks});
  if (shares < 2) return false;
  const int64_t elem = dtype == DType::f32 ? 4 : 2;
  const bool sum = op == ReduceOp::sum;
  // share (o, p): blocks [blocks p / shares, blocks (p + 1) / shares) of slab o's rows
  std::vector<float> part(static_cast<size_t>(outer * shares * inner * (sum ? 2 : 1)));
  bool done = true;
  parallel_for(outer * shares, 1, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / shares, p = task % shares;
      const int64_t r0 = std::min(len, blocks * p / shares * kColumnSumBlockRows);
      const int64_t r1 = std::min(len, blocks * (p + 1) / shares * kColumnSumBlockRows);
      const char* xs = static_cast<const char*>(x) + ((o * len + r0) * inner) * elem;
      float* dst = part.data() + task * inner * (sum ? 2 : 1);
      const bool ok = sum ? simd->column_sum_pairs(xs, dtype, r1 - r0, inner, dst, dst + inner)
                          : simd->reduce_f32(op, reinterpret_cast<const float*>(xs), 1, r1 - r0, inner, dst, 1.0f);
      if (!ok) done = false;
    }
  });
  if (!done) return false;
  for (int64_t o = 0; o < outer; ++o) {
    const float* po = part.data() + o * shares * inner * (sum ? 2 : 1);
    for (int64_t i = 0; i < inner; ++i) {
      if (sum) {
        double acc = 0;
        for (int64_t p = 0; p < shares; ++p) acc += double(po[2 * p * inner + i]) + double(po[(2 * p + 1) * inner + i]);
        out[o * inner + i] = static_cast<float>(acc * scale);
      } else {
        float best = po[i];
        for (int64_t p = 1; p < shares && !std::isnan(best); ++p) {
          const float v = po[p * inner + i];
          if (std::isnan(v) || (op == ReduceOp::max ? v > best : v < best)) best = v;
        }
        out[o * inner + i] = best;
      }
    }
  }
  return true;
}

// 16-bit sums (bfloat16 / float16; a Linear layer's bias gradient under autocast, sum_to of a
// broadcast 16-bit gradient): the 16-bit values are read once and widened as they are read,
// summed in float32 (the reference: double), and each result is rounded once to the 16-bit
// dtype, as PyTorch's CPU sum does. Widening to a float32 copy first wrote and re-read twice
// the bytes: a column sum of (4096, 256) bfloat16 took 0.50 ms that way, 0.07 ms here; of
// (4096, 1024) 2.03 -> 0.61 ms (Xeon, 1 thread, min of 9 CPU-time runs). The threads take
// slabs (outer), or, fewer slabs than threads, shares of each slab's rows as for float32
// (column_reduce_split; the same shares, so the 16-bit sum stays the float32 sum rounded
// once): (4096, 256) bfloat16 0.063 -> 0.021 ms on 2 threads, (4096, 768) 0.24 -> 0.13,
// (4096, 1024) 0.40 -> 0.16 (wall, median of 101; 1 thread 0.041, 0.24, 0.33 with the
// streaming column_pairs). Splitting one slab's columns among 2 threads had been tried first
// (wall clock, lower quartile of 60, load average 4 on the 2-core VM): (4096, 256) 0.07 ->
// 0.15-0.19 ms (waking the team costs more than the work), (4096, 768) 0.35-0.40 -> 0.33,
// (4096, 1024) 0.50-0.56 -> 0.32-0.49, not kept.
float widened(uint16_t v, DType dtype) { return dtype == DType::bf16 ? bfloat16_to_float(v) : half_to_float(v); }

void sum_16bit(const uint16_t* x, DType dtype, int64_t outer, int64_t len, int64_t inner, uint16_t* out,
               double scale) {
  std::vector<float> acc(static_cast<size_t>(outer * inner));
  float* a = acc.data();
  const ReduceSimd* simd = reduce_simd_active();
  if (simd && simd->sum_lowp && len > 0) {
    if (!column_reduce_split(simd, ReduceOp::sum, x, dtype, outer, len, inner, a, scale)) {
      parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len * inner, 1)), [&](int64_t b, int64_t e) {
        simd->sum_lowp(x + b * len * inner, dtype, e - b, len, inner, a + b * inner, static_cast<float>(scale));
      });
    }
  } else {  // the reference: double accumulation of the widened values
    parallel_for(outer * inner, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const uint16_t* p = x + (k / inner) * len * inner + k % inner;
        double s = 0;
        for (int64_t r = 0; r < len; ++r) s += widened(p[r * inner], dtype);
        a[k] = static_cast<float>(s * scale);
      }
    });
  }
  cast_contiguous(a, DType::f32, out, dtype, outer * inner);
}

}  // namespace

// --8<-- [start:which_path]
void reduce(ReduceOp op, const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner,
            void* out, double scale) {
  if ((dtype == DType::bf16 || dtype == DType::f16) && op == ReduceOp::sum)
    return sum_16bit(static_cast<const uint16_t*>(x), dtype, outer, len, inner, static_cast<uint16_t*>(out), scale);
  if (len == 0 && (op == ReduceOp::max || op == ReduceOp::min || op == ReduceOp::argmax ||
                   op == ReduceOp::argmin || op == ReduceOp::logsumexp))
    throw KernelError("cannot reduce over a dimension of size 0 (max/min/argmax/argmin/logsumexp need an element)");
  if (len == 0) {
    // empty sums/products/any/all still produce their identity
    for (int64_t k = 0; k < outer * inner; ++k) {
      MINIDL_DISPATCH_ALL(dtype, "reduce", {
        if (op == ReduceOp::any || op == ReduceOp::all) static_cast<uint8_t*>(out)[k] = op == ReduceOp::all;
        else static_cast<T*>(out)[k] = static_cast<T>(op == ReduceOp::prod ? 1 : 0);
      });
    }
    return;
  }
  // logsumexp: the log of softmax's normaliser, so its float32 SIMD passes live with softmax
  if (op == ReduceOp::logsumexp && logsumexp_simd(x, dtype, outer, len, inner, out)) return;
  if (dtype == DType::f32 && (op == ReduceOp::argmax || op == ReduceOp::argmin))
    if (const ReduceSimd* simd = reduce_simd_active()) {
      bool done = true;
      parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len * inner, 1)), [&](int64_t b, int64_t e) {
        if (!simd->arg_extreme_f32(op == ReduceOp::argmax, static_cast<const float*>(x) + b * len * inner, e - b, len,
                                   inner, static_cast<int64_t*>(out) + b * inner))
          done = false;
      });
      if (done) return;
    }
  if (dtype == DType::f32 && op != ReduceOp::any && op != ReduceOp::all) {
    if (const ReduceSimd* simd = reduce_simd_active()) {
      const float* xf = static_cast<const float*>(x);
      float* of = static_cast<float*>(out);
      const float sc = static_cast<float>(scale);
      bool done = true;
      if (outer == 1 && inner == 1 && len > (1 << 18) && num_threads() > 1 &&
          (op == ReduceOp::sum || op == ReduceOp::sum_squares || op == ReduceOp::max || op == ReduceOp::min)) {
        // one long row: each thread reduces a slice, then the partials are combined
        float partial[64];
        const int64_t parts = std::min<int64_t>(64, num_threads());
        parallel_for(parts, 1, [&](int64_t b, int64_t e) {
          for (int64_t p = b; p < e; ++p)
            if (!simd->reduce_f32(op, xf + len * p / parts, 1, len * (p + 1) / parts - len * p / parts, 1,
                                  partial + p, 1.0f))
              done = false;
        });
        if (done) {
          double acc = partial[0];
          for (int64_t p = 1; p < parts; ++p) {
            const float v = partial[p];
            if (op == ReduceOp::sum || op == ReduceOp::sum_squares) acc += v;
            else if (std::isnan(acc)) break;
            else if (std::isnan(v) || (op == ReduceOp::max ? v > acc : v < acc)) acc = v;
          }
          *of = static_cast<float>(op == ReduceOp::max || op == ReduceOp::min ? acc : acc * scale);
          return;
        }
      } else if (column_reduce_split(simd, op, xf, DType::f32, outer, len, inner, of, scale)) {
        return;
      } else {
        parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len * inner, 1)), [&](int64_t b, int64_t e) {
          if (!simd->reduce_f32(op, xf + b * len * inner, e - b, len, inner, of + b * inner, sc)) done = false;
        });
        if (done) return;
      }
    }
  }
  MINIDL_DISPATCH_ALL(dtype, "reduce", reduce_typed<T>(op, static_cast<const T*>(x), outer, len, inner, out, scale));
}
// --8<-- [end:which_path]

// The variance over a middle axis with inner > 1 (x.var(0), a BatchNorm-style statistic): the
// same two passes and the same double sums, in the same order per column, as variance_one, but
// a block of kVarColumns neighbouring columns at a time, row by row, so that every read is
// contiguous; variance_one per column reads one float per cache line. (1024, 1024) std(0), 1
// thread: 13.9 -> 0.69 ms, PyTorch 6.7 (Xeon family 6 model 167). The same results (checked bit
// for bit against the per-column loop on float32 and float64 when this was written).
constexpr int64_t kVarColumns = 256;

template <class T>
void variance_columns(const T* x, int64_t len, int64_t inner, double denom, T* out, int64_t c0, int64_t c1) {
  double sum[kVarColumns], ss[kVarColumns];
  const int64_t n = c1 - c0;
  for (int64_t k = 0; k < n; ++k) sum[k] = ss[k] = 0;
  for (int64_t r = 0; r < len; ++r)
    for (int64_t k = 0; k < n; ++k) sum[k] += x[r * inner + c0 + k];
  for (int64_t k = 0; k < n; ++k) sum[k] /= static_cast<double>(len);  // the mean
  for (int64_t r = 0; r < len; ++r)
    for (int64_t k = 0; k < n; ++k) {
      const double d = x[r * inner + c0 + k] - sum[k];
      ss[k] += d * d;
    }
  for (int64_t k = 0; k < n; ++k)
    out[c0 + k] = static_cast<T>(denom > 0 ? ss[k] / denom : std::numeric_limits<double>::quiet_NaN());
}

void variance(const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner, void* out,
              double correction) {
  MINIDL_DISPATCH_FLOAT(dtype, "var", {
    const T* px = static_cast<const T*>(x);
    T* po = static_cast<T*>(out);
    const double denom = static_cast<double>(len) - correction;
    if (inner > 1) {
      const int64_t blocks = (inner + kVarColumns - 1) / kVarColumns;
      parallel_for(outer * blocks, std::max<int64_t>(1, 16384 / std::max<int64_t>(len * kVarColumns, 1)),
                   [&](int64_t b, int64_t e) {
        for (int64_t w = b; w < e; ++w) {
          const int64_t o = w / blocks, c0 = (w % blocks) * kVarColumns;
          variance_columns(px + o * len * inner, len, inner, denom, po + o * inner, c0,
                           std::min(inner, c0 + kVarColumns));
        }
      });
      return;
    }
    parallel_for(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        po[k] = variance_one(px + (k / inner) * len * inner + (k % inner), len, inner, denom);
    });
  });
}

}  // namespace minidl
