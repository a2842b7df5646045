// Float32 kernels of the fused attention for one ISA: the parts of the online softmax that run
// over one row of a score tile (max, exp and sum, rescale), the dot / softmax-gradient rows of
// the backward, and the tile products on the GEMM micro-kernel with B in panels laid out once.
#include "attention.h"
#include "core/vec.h"
#include "ops/gemm/gemm_microkernel.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

float row_max(const float* x, int64_t n) {
  Vec m0 = Vec::set1(-__builtin_inff()), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    m0 = max(m0, Vec::load(x + i));
    m1 = max(m1, Vec::load(x + i + W));
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    // padded lanes must not win: blend -inf into them
    Vec v = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    if (r < W) {
      alignas(64) float pad[W];
      for (int l = 0; l < W; ++l) pad[l] = l < r ? 0.0f : -__builtin_inff();
      v = v + Vec::load(pad);
    }
    m0 = max(m0, v);
  }
  return reduce_max(max(m0, m1));
}

// exp(d) for d = score - row max <= 0, as the softmax needs it. A masked score is -inf; exp()
// clamps it to -104 and its result then underflows below the smallest float, which Intel cores
// finish in a microcode assist, per lane: with a key padding mask, attention took twice the time
// of the unmasked call (S = 256, 12 heads of 32, batch 32, 1 thread: 167-178 ms vs 92 ms; a -80
// mask, whose exp stays normal: 102 ms). Below d = -86 (n >= -124 in exp's 2^n, so the result
// stays a normal float) the weight exp(d) < 5e-38 is invisible next to the row's largest, 1:
// those lanes get 0 without the underflow.
inline Vec softmax_exp(Vec d) {
  const Vec lowest = Vec::set1(-86.0f);
  return blend(cmp_lt(d, lowest), exp(max(lowest, d)), Vec::zero());  // max(lowest, NaN) = NaN
}

// --8<-- [start:exp_sub_sum]
float exp_sub_sum(float* x, int64_t n, float m) {
  const Vec vm = Vec::set1(m);
  Vec s0 = Vec::zero(), s1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const Vec e0 = softmax_exp(Vec::load(x + i) - vm), e1 = softmax_exp(Vec::load(x + i + W) - vm);
    e0.store(x + i);
    e1.store(x + i + W);
    s0 = s0 + e0;
    s1 = s1 + e1;
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    if (r == W) {
      const Vec e = softmax_exp(Vec::load(x + i) - vm);
      e.store(x + i);
      s0 = s0 + e;
    } else {
      const Vec e = softmax_exp(Vec::load_partial(x + i, r) - vm);
      e.store_partial(x + i, r);
      // the padded lanes hold exp(0 - m): sum only the stored ones
      alignas(64) float tmp[W];
      e.store(tmp);
      float t = 0;
      for (int l = 0; l < r; ++l) t += tmp[l];
      s1 = s1 + Vec::load_partial(&t, 1);
    }
  }
  return reduce_add(s0 + s1);
}
// --8<-- [end:exp_sub_sum]

void scale(float* x, int64_t n, float a) {
  const Vec va = Vec::set1(a);
  int64_t i = 0;
  for (; i + W <= n; i += W) (Vec::load(x + i) * va).store(x + i);
  if (i < n) (Vec::load_partial(x + i, int(n - i)) * va).store_partial(x + i, int(n - i));
}

float dot(const float* a, const float* b, int64_t n) {
  Vec s0 = Vec::zero(), s1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = fmadd(Vec::load(a + i), Vec::load(b + i), s0);
    s1 = fmadd(Vec::load(a + i + W), Vec::load(b + i + W), s1);
  }
  for (; i + W <= n; i += W) s0 = fmadd(Vec::load(a + i), Vec::load(b + i), s0);
  if (i < n) s1 = fmadd(Vec::load_partial(a + i, int(n - i)), Vec::load_partial(b + i, int(n - i)), s1);
  return reduce_add(s0 + s1);
}

void softmax_grad(const float* p, float* dp, int64_t n, float d) {
  const Vec vd = Vec::set1(d);
  int64_t i = 0;
  for (; i + W <= n; i += W) (Vec::load(p + i) * (Vec::load(dp + i) - vd)).store(dp + i);
  if (i < n) {
    const int r = int(n - i);
    (Vec::load_partial(p + i, r) * (Vec::load_partial(dp + i, r) - vd)).store_partial(dp + i, r);
  }
}

// dropout_hash of W consecutive columns at once (32-bit lanes), then a masked scale
void dropout_row(float* x, int64_t n, uint32_t row_key, uint32_t col0, uint32_t threshold, float keep_scale) {
  const Vec vs = Vec::set1(keep_scale);
#if defined(__AVX512F__)
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i golden = _mm512_set1_epi32(static_cast<int>(0x9e3779b9u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0x85ebca6bu)), m2 = _mm512_set1_epi32(static_cast<int>(0xc2b2ae35u));
  const __m512i key = _mm512_set1_epi32(static_cast<int>(row_key)), thr = _mm512_set1_epi32(static_cast<int>(threshold));
  for (int64_t i = 0; i < n; i += W) {
    const __m512i j = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(col0 + static_cast<uint32_t>(i))), lane);
    __m512i h = _mm512_add_epi32(key, _mm512_mullo_epi32(j, golden));
    h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
    h = _mm512_mullo_epi32(h, m1);
    h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
    h = _mm512_mullo_epi32(h, m2);
    h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
    const __mmask16 keep = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(h, 8), thr);
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec v = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec out = _mm512_maskz_mul_ps(keep, v.v, vs.v);
    if (r == W) out.store(x + i); else out.store_partial(x + i, r);
  }
#else
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i golden = _mm256_set1_epi32(static_cast<int>(0x9e3779b9u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0x85ebca6bu)), m2 = _mm256_set1_epi32(static_cast<int>(0xc2b2ae35u));
  const __m256i key = _mm256_set1_epi32(static_cast<int>(row_key));
  // after >> 8 the hash is below 2^24, so a signed compare with threshold - 1 is exact
  const __m256i thr_minus_1 = _mm256_set1_epi32(static_cast<int>(threshold) - 1);
  for (int64_t i = 0; i < n; i += W) {
    const __m256i j = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(col0 + static_cast<uint32_t>(i))), lane);
    __m256i h = _mm256_add_epi32(key, _mm256_mullo_epi32(j, golden));
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
    h = _mm256_mullo_epi32(h, m1);
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 13));
    h = _mm256_mullo_epi32(h, m2);
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_srli_epi32(h, 8), thr_minus_1));
    const int r = n - i >= W ? int(W) : int(n - i);
    const Vec v = r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r);
    const Vec out = _mm256_and_ps(keep, (v * vs).v);
    if (r == W) out.store(x + i); else out.store_partial(x + i, r);
  }
#endif
}

// op(B) (k x n) into kNR-column micro-panels (the layout in attention.h), with the packing
// pieces of the GEMM (gemm_microkernel.h): 4 x 4 transposes for a transposed B (a K or V tile
// as K^T), row copies padded with zeros otherwise.
void pack_panels(bool tb, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += kNR, dst += k * kNR) {
    const int nr = n - j0 < kNR ? int(n - j0) : kNR;
    if (!tb) {
      for (int64_t kk = 0; kk < k; ++kk) store_padded_row(b + kk * ldb + j0, nr, dst + kk * kNR);
      continue;
    }
    const float* s = b + j0 * ldb;
    int j = 0;
    for (; j + 4 <= nr; j += 4)
      pack4_transposed(s + j * ldb, s + (j + 1) * ldb, s + (j + 2) * ldb, s + (j + 3) * ldb, k, dst + j, kNR, 1.0f);
    for (; j < kNR; ++j)
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kNR + j] = j < nr ? s[j * ldb + kk] : 0.0f;
  }
}

// C = alpha op(A) op(B) + beta C: the micro-kernel over kMR rows x kNR columns, A read where it
// lies (a tile of Q, dO, P or dS: at most 128 x 128 floats, in L1/L2), B from its panels. Every
// band of a tile reuses the same panels; sgemm, called per band, packed B again each time (15-21%
// of the GPT block's attention by perf). Measured (GPT block shape: 16 x 4 heads, L = 256, E = 64,
// causal; 1 thread, CPU time, best of 30, two runs each, Intel Xeon family 6 model 167, load ~11):
// forward 8.1-8.3 -> 7.3-7.5 ms, backward 16.9-17.1 -> 15.6-15.9 ms.
void panel_product(bool ta, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t b_row, int64_t b_panel, float beta, float* c, int64_t ldc) {
  const int64_t a_r = ta ? 1 : lda, a_k = ta ? lda : 1;  // element (r, kk) of op(A) at a[r a_r + kk a_k]
  for (int64_t j0 = 0; j0 < n; j0 += kNR, b += b_panel) {
    const int nr = n - j0 < kNR ? int(n - j0) : kNR;
    for (int64_t i0 = 0; i0 < m; i0 += kMR) {
      const int mr = m - i0 < kMR ? int(m - i0) : kMR;
      microkernel_rows<kMR, true>(mr, k, a + i0 * a_r, b, c + i0 * ldc + j0, ldc, nr, beta, a_r, a_k, alpha, b_row);
    }
  }
}

}  // namespace

extern const AttentionSimd attention_simd = {&row_max, &exp_sub_sum,  &scale,       &dot,          &softmax_grad,
                                             &dropout_row, kNR,       &pack_panels, &panel_product};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
