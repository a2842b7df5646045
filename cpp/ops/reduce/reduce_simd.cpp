// Float32 sum / sum of squares / max / min for one ISA (ReduceSimd), over the middle axis of a contiguous
// (outer, len, inner) tensor: must match reduce_one in cpp/ops/reduce/reduce.cpp (which adds in
// double; these agree to float rounding). Two shapes of loop:
//   inner == 1 (row reduce): each row is contiguous; four vector accumulators (so four adds
//     are in flight, hiding the add latency) summed over blocks of kRowBlock elements, the
//     block sums added in double. The error is that of a float sum of ~kRowBlock/(4W)
//     terms per lane, whatever the row length (the reference accumulates in double).
//   inner > 1 (column reduce): out[o, i] sums len rows of `inner` contiguous floats, so the
//     loop is vertical adds of whole vectors, up to 16 vectors of columns in registers. Rows
//     go in blocks of kColBlock, whose float sums are added into a compensated (TwoSum, Knuth
//     TAOCP 4.2.2) pair per lane, so a column of a million rows keeps ~double accuracy
//     (column_pairs; max / min: 4 vectors over all the rows, column_extreme).
// max/min propagate NaN as the reference: any NaN in the reduced range gives NaN (the first
// NaN element, found by a scalar rescan of that rare row).
// argmax/argmin, prod and logsumexp return false: the reference loop runs.
// 16-bit inputs (bfloat16, float16), sum only (sum_lowp): the same two loops, each vector
// widened to float32 as it is loaded (exact), so a 16-bit tensor is summed without a float32
// copy of it in memory; the float32 results are rounded once by the caller.
#include "reduce.h"
#include "core/cpu_caches.h"
#include "core/vec.h"

#include <algorithm>
#include <type_traits>

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int W = Vec::width;
constexpr int64_t kRowBlock = 4096;
constexpr int64_t kColBlock = kColumnSumBlockRows;

// Where the summed values come from: float32, or 16-bit values widened to float32 in registers.
struct F32Src {
  using T = float;
  static Vec load(const float* p) { return Vec::load(p); }
  static Vec load_partial(const float* p, int n) { return Vec::load_partial(p, n); }
};

// x^2 as it is loaded: the same loops sum squares (ReduceOp::sum_squares, a row's 2-norm)
struct SquaredF32Src {
  using T = float;
  static Vec load(const float* p) { const Vec v = Vec::load(p); return v * v; }
  static Vec load_partial(const float* p, int n) { const Vec v = Vec::load_partial(p, n); return v * v; }
};

#if defined(__AVX512F__)
struct Bf16Src {  // bfloat16 is the top half of a float32: shift the bits up
  using T = uint16_t;
  static Vec widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static Vec load(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static Vec load_partial(const uint16_t* p, int n) {
    return widen(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1u), p));
  }
};
struct F16Src {
  using T = uint16_t;
  static Vec load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Vec load_partial(const uint16_t* p, int n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << n) - 1u), p));
  }
};
#else  // AVX2 + F16C, 8 lanes; no 16-bit masked load: a partial vector goes through a zeroed copy
inline __m128i load8_partial(const uint16_t* p, int n) {
  alignas(16) uint16_t tmp[8] = {};
  for (int i = 0; i < n; ++i) tmp[i] = p[i];
  return _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
}
struct Bf16Src {
  using T = uint16_t;
  static Vec widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static Vec load(const uint16_t* p) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static Vec load_partial(const uint16_t* p, int n) { return widen(load8_partial(p, n)); }
};
struct F16Src {
  using T = uint16_t;
  static Vec load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static Vec load_partial(const uint16_t* p, int n) { return _mm256_cvtph_ps(load8_partial(p, n)); }
};
#endif

inline float first_nan(const float* x, int64_t len, int64_t stride) {
  for (int64_t r = 0; r < len; ++r)
    if (x[r * stride] != x[r * stride]) return x[r * stride];
  return __builtin_nanf("");
}

// --8<-- [start:row_sum]
template <class Src = F32Src>
inline float row_sum(const typename Src::T* x, int64_t n, float scale) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kRowBlock) {
    const int64_t end = b + kRowBlock < n ? b + kRowBlock : n;
    Vec s0 = Vec::zero(), s1 = Vec::zero(), s2 = Vec::zero(), s3 = Vec::zero();
    int64_t i = b;
    for (; i + 4 * W <= end; i += 4 * W) {
      s0 = s0 + Src::load(x + i);
      s1 = s1 + Src::load(x + i + W);
      s2 = s2 + Src::load(x + i + 2 * W);
      s3 = s3 + Src::load(x + i + 3 * W);
    }
    for (; i + W <= end; i += W) s0 = s0 + Src::load(x + i);
    if (i < end) s1 = s1 + Src::load_partial(x + i, static_cast<int>(end - i));  // pads are 0
    total += static_cast<double>(reduce_add((s0 + s1) + (s2 + s3)));
  }
  return static_cast<float>(total * static_cast<double>(scale));
}
// --8<-- [end:row_sum]

template <bool kMax>
inline float row_extreme(const float* x, int64_t n) {
  auto pick = [](Vec a, Vec b) { return kMax ? max(a, b) : min(a, b); };
  Vec first = Vec::set1(x[0]);  // a real element pads the accumulators and the tail
  Vec m0 = first, m1 = first, m2 = first, m3 = first;
  Mask nan = mask_none();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    Vec v0 = Vec::load(x + i), v1 = Vec::load(x + i + W), v2 = Vec::load(x + i + 2 * W), v3 = Vec::load(x + i + 3 * W);
    nan = mask_or(nan, mask_or(mask_or(cmp_unord(v0, v1), cmp_unord(v2, v3)), nan));
    m0 = pick(m0, v0);
    m1 = pick(m1, v1);
    m2 = pick(m2, v2);
    m3 = pick(m3, v3);
  }
  for (; i + W <= n; i += W) {
    Vec v = Vec::load(x + i);
    nan = mask_or(nan, cmp_unord(v, v));
    m0 = pick(m0, v);
  }
  float tail = x[0];
  bool tail_nan = false;
  for (; i < n; ++i) {
    tail_nan |= x[i] != x[i];
    tail = kMax ? (x[i] > tail ? x[i] : tail) : (x[i] < tail ? x[i] : tail);
  }
  if (mask_any(nan) || tail_nan || x[0] != x[0]) return first_nan(x, n, 1);
  Vec m = pick(pick(m0, m1), pick(m2, m3));
  m = pick(m, Vec::set1(tail));
  return kMax ? reduce_max(m) : reduce_min(m);
}

// Knuth's TwoSum: hi + lo += s exactly (up to the final rounding of lo)
// --8<-- [start:column_sum]
inline void two_sum_add(Vec& hi, Vec& lo, Vec s) {
  Vec t = hi + s;
  Vec bv = t - hi;
  Vec err = (hi - (t - bv)) + (s - bv);
  hi = t;
  lo = lo + err;
}

// The column strips of n columns, left to right: kWideStrip vectors, then 4, then 1 (the last
// one partial); f(std::integral_constant<int, K>, first column, lanes of the last vector).
// kWideStrip accumulators are half the register file (16 zmm on AVX-512: 256 floats; 8 ymm
// on AVX2: 64 floats).
constexpr int kWideStrip = W == 16 ? 16 : 8;

template <class F>
inline void for_column_strips(int64_t n, const F& f) {
  int64_t c = 0;
  for (; c + kWideStrip * W <= n; c += kWideStrip * W) f(std::integral_constant<int, kWideStrip>{}, c, int(W));
  for (; c + 4 * W <= n; c += 4 * W) f(std::integral_constant<int, 4>{}, c, int(W));
  for (; c + W <= n; c += W) f(std::integral_constant<int, 1>{}, c, int(W));
  if (c < n) f(std::integral_constant<int, 1>{}, c, static_cast<int>(n - c));
}

inline Vec load_lanes(const float* p, bool last, int partial) {
  return last && partial < W ? Vec::load_partial(p, partial) : Vec::load(p);
}
inline void store_lanes(Vec v, float* p, bool last, int partial) {
  if (last && partial < W) v.store_partial(p, partial);
  else v.store(p);
}

// Compensated sums of n columns of len rows (row stride `stride`): hi[i] + lo[i] is the sum of
// column i. The rows go in blocks of kColBlock; in a block each strip of K vectors is summed
// in K registers (a float sum of kColBlock values per lane) and that sum is added by TwoSum
// into the strip's pair, which waits in hi/lo (L1) for the next block. So a column of a
// million rows keeps ~double accuracy, and a block's rows are read strip after strip while
// they sit in L1/L2: the slab streams through memory in order. Summing each strip over all
// len rows before the next strip (the pair in registers) read 256 bytes of every row per
// pass: a (4096, 1024) column sum ran at 27 GB/s that way, (4096, 256) at 20 GB/s, against
// 29 GB/s for a row sum of the same bytes (Xeon 8480-class VM, 1 thread, data in L3).
template <class Src>
void column_pairs(const typename Src::T* x, int64_t len, int64_t stride, int64_t n, float* hi, float* lo) {
  for (int64_t i = 0; i < n; ++i) hi[i] = lo[i] = 0.0f;
  for (int64_t r0 = 0; r0 < len; r0 += kColBlock) {
    const int64_t r1 = r0 + kColBlock < len ? r0 + kColBlock : len;
    for_column_strips(n, [&](auto strip, int64_t c, int partial) {
      constexpr int K = decltype(strip)::value;
      Vec s[K];
      for (int k = 0; k < K; ++k) s[k] = Vec::zero();
      for (int64_t r = r0; r < r1; ++r) {
        const typename Src::T* row = x + r * stride + c;
        for (int k = 0; k < K; ++k)
          s[k] = s[k] + (partial < W && k == K - 1 ? Src::load_partial(row + k * W, partial) : Src::load(row + k * W));
      }
      for (int k = 0; k < K; ++k) {
        Vec h = load_lanes(hi + c + k * W, k == K - 1, partial), l = load_lanes(lo + c + k * W, k == K - 1, partial);
        two_sum_add(h, l, s[k]);
        store_lanes(h, hi + c + k * W, k == K - 1, partial);
        store_lanes(l, lo + c + k * W, k == K - 1, partial);
      }
    });
  }
}

// out[i] = scale (hi[i] + lo[i]), column_pairs over panels of columns whose pairs take half
// the L1d (cpu_caches: 48 KiB here, 3072 columns = 2 x 12 KiB); the panel's rows are read
// while the pairs stay in L1. Measured (Xeon 8480-class VM, 1 thread, CPU time): (1024, 2048)
// 0.33 ms with 1024-column panels, 0.30 with one 2048 panel; (256, 4096) 0.152 ms with
// 2048-column panels, 0.147 with 4096 (strips of 4 vectors over all rows, before: 0.144).
constexpr int64_t kMaxPanel = 4096;

inline int64_t column_panel() {
  static const int64_t panel = [] {
    const int64_t half_l1 = cpu_caches().l1d.size / 2 / (2 * sizeof(float));
    const int64_t step = kWideStrip * W;
    return std::max<int64_t>(step, std::min<int64_t>(kMaxPanel, half_l1 / step * step));
  }();
  return panel;
}

template <class Src>
void column_sum(const typename Src::T* x, int64_t len, int64_t inner, float* out, float scale) {
  alignas(64) float hi[kMaxPanel], lo[kMaxPanel];
  const Vec vs = Vec::set1(scale);
  const int64_t panel = column_panel();
  for (int64_t c0 = 0; c0 < inner; c0 += panel) {
    const int64_t n = inner - c0 < panel ? inner - c0 : panel;
    column_pairs<Src>(x + c0, len, inner, n, hi, lo);
    for (int64_t i = 0; i < n; i += W) {
      const int lanes = n - i < W ? int(n - i) : int(W);
      store_lanes((load_lanes(hi + i, true, lanes) + load_lanes(lo + i, true, lanes)) * vs, out + c0 + i, true, lanes);
    }
  }
}
// --8<-- [end:column_sum]

template <bool kMax, int K>
inline void column_extreme(const float* x, int64_t len, int64_t inner, float* out, int partial) {
  Vec m[K];
  Mask nan[K];
  for (int k = 0; k < K; ++k) {
    m[k] = partial < W && k == K - 1 ? Vec::load_partial(x + k * W, partial) : Vec::load(x + k * W);
    nan[k] = cmp_unord(m[k], m[k]);
  }
  for (int64_t r = 1; r < len; ++r) {
    const float* row = x + r * inner;
    for (int k = 0; k < K; ++k) {
      Vec v = partial < W && k == K - 1 ? Vec::load_partial(row + k * W, partial) : Vec::load(row + k * W);
      nan[k] = mask_or(nan[k], cmp_unord(v, v));
      // the reference keeps the first of equal values: v > m ? v : m  (max_ps(v, m) is that)
      m[k] = kMax ? max(v, m[k]) : min(v, m[k]);
    }
  }
  for (int k = 0; k < K; ++k) {
    Vec res = blend(nan[k], m[k], Vec::set1(__builtin_nanf("")));
    if (partial < W && k == K - 1) res.store_partial(out + k * W, partial);
    else res.store(out + k * W);
    if (mask_any(nan[k])) {  // exact NaN element of the reference: rescan those columns
      const int lanes = partial < W && k == K - 1 ? partial : W;
      for (int l = 0; l < lanes; ++l)
        if (out[k * W + l] != out[k * W + l]) out[k * W + l] = first_nan(x + k * W + l, len, inner);
    }
  }
}

// max / min: 4-vector strips (a NaN mask per vector: AVX-512 has 8 mask registers)
template <bool kMax>
inline void column_extremes(const float* x, int64_t len, int64_t inner, float* out) {
  int64_t c = 0;
  for (; c + 4 * W <= inner; c += 4 * W) column_extreme<kMax, 4>(x + c, len, inner, out + c, W);
  for (; c + W <= inner; c += W) column_extreme<kMax, 1>(x + c, len, inner, out + c, W);
  if (c < inner) column_extreme<kMax, 1>(x + c, len, inner, out + c, static_cast<int>(inner - c));
}

// sum over the middle axis of (outer, len, inner) x (float32, or 16-bit widened as it is read):
// float32 results out[o * inner + i], times scale
template <class Src>
void sum_slabs(const typename Src::T* x, int64_t outer, int64_t len, int64_t inner, float* out, float scale) {
  for (int64_t o = 0; o < outer; ++o) {
    const typename Src::T* xo = x + o * len * inner;
    float* oo = out + o * inner;
    if (inner == 1) {
      *oo = row_sum<Src>(xo, len, scale);
      continue;
    }
    column_sum<Src>(xo, len, inner, oo, scale);
  }
}

bool reduce_f32(ReduceOp op, const float* x, int64_t outer, int64_t len, int64_t inner, float* out, float scale) {
  if (op != ReduceOp::sum && op != ReduceOp::sum_squares && op != ReduceOp::max && op != ReduceOp::min) return false;
  if (len <= 0) return false;
  if (op == ReduceOp::sum) {
    sum_slabs<F32Src>(x, outer, len, inner, out, scale);
    return true;
  }
  if (op == ReduceOp::sum_squares) {
    sum_slabs<SquaredF32Src>(x, outer, len, inner, out, scale);
    return true;
  }
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = x + o * len * inner;
    float* oo = out + o * inner;
    if (inner == 1) *oo = op == ReduceOp::max ? row_extreme<true>(xo, len) : row_extreme<false>(xo, len);
    else if (op == ReduceOp::max) column_extremes<true>(xo, len, inner, oo);
    else column_extremes<false>(xo, len, inner, oo);
  }
  return true;
}

bool sum_lowp(const uint16_t* x, DType dtype, int64_t outer, int64_t len, int64_t inner, float* out, float scale) {
  if (len <= 0) return false;
  if (dtype == DType::bf16) sum_slabs<Bf16Src>(x, outer, len, inner, out, scale);
  else if (dtype == DType::f16) sum_slabs<F16Src>(x, outer, len, inner, out, scale);
  else return false;
  return true;
}

// Compensated column sums of one share of the rows, (len, inner) contiguous: hi[i] + lo[i] is
// the sum of column i (float32, or 16-bit widened as it is read); the caller adds the shares.
bool column_sum_pairs(const void* x, DType dtype, int64_t len, int64_t inner, float* hi, float* lo) {
  if (len <= 0) return false;
  auto run = [&](auto src, const auto* xs) {
    column_pairs<decltype(src)>(xs, len, inner, inner, hi, lo);
  };
  if (dtype == DType::f32) run(F32Src{}, static_cast<const float*>(x));
  else if (dtype == DType::bf16) run(Bf16Src{}, static_cast<const uint16_t*>(x));
  else if (dtype == DType::f16) run(F16Src{}, static_cast<const uint16_t*>(x));
  else return false;
  return true;
}

// argmax / argmin in two passes: the extreme by the vector loops above (row_extreme /
// column_extremes, NaN wins), then the first index that holds it (x == m, or the first NaN),
// scanned with an early exit. One pass that carries the best index in a compare-and-blend per
// element is what the reference does: its data-dependent branch took 1.3 ms over 1M floats in
// rows and 6.2 ms down columns (1 thread, Xeon family 6 model 167), PyTorch 0.6.
// the first i with x[i] == m (m not NaN): a vector compare per W values, then the lanes of the
// vector that holds it
inline int64_t first_equal(const float* x, int64_t n, float m) {
  const Vec vm = Vec::set1(m);
  int64_t i = 0;
  for (; i + W <= n; i += W)
    if (mask_any(cmp_eq(Vec::load(x + i), vm))) break;
  for (; i < n; ++i)
    if (x[i] == m) return i;
  return n - 1;  // (not reached: m is one of the values)
}

template <bool kMax>
void arg_extremes(const float* x, int64_t outer, int64_t len, int64_t inner, int64_t* out) {
  float m[4 * W];
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = x + o * len * inner;
    int64_t* oo = out + o * inner;
    if (inner == 1) {  // a row: its extreme, then where it first is
      const float mr = row_extreme<kMax>(xo, len);
      if (mr == mr) {
        *oo = first_equal(xo, len, mr);
        continue;
      }
    }
    for (int64_t c0 = 0; c0 < inner; c0 += 4 * W) {  // a block of up to 4 W columns
      const int64_t nc = inner - c0 < 4 * W ? inner - c0 : 4 * W;
      if (inner == 1) {
        m[0] = row_extreme<kMax>(xo, len);
      } else if (nc == 4 * W) {
        column_extreme<kMax, 4>(xo + c0, len, inner, m, W);
      } else {
        for (int64_t v = 0; v < nc; v += W)
          column_extreme<kMax, 1>(xo + c0 + v, len, inner, m + v, nc - v < W ? static_cast<int>(nc - v) : W);
      }
      int64_t left = nc;
      for (int64_t k = 0; k < nc; ++k) oo[c0 + k] = -1;
      for (int64_t r = 0; r < len && left > 0; ++r) {
        const float* row = xo + r * inner + c0;
        for (int64_t k = 0; k < nc; ++k)
          if (oo[c0 + k] < 0 && (row[k] == m[k] || (m[k] != m[k] && row[k] != row[k]))) {
            oo[c0 + k] = r;
            --left;
          }
      }
    }
  }
}

bool arg_extreme_f32(bool want_max, const float* x, int64_t outer, int64_t len, int64_t inner, int64_t* out) {
  if (len <= 0) return false;
  if (want_max) arg_extremes<true>(x, outer, len, inner, out);
  else arg_extremes<false>(x, outer, len, inner, out);
  return true;
}

}  // namespace
extern const ReduceSimd reduce_simd = {&reduce_f32, &sum_lowp, &column_sum_pairs, &arg_extreme_f32};
}  // namespace MINIDL_ISA_NS
}  // namespace minidl
