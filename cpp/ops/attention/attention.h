// Fused scaled dot-product attention (FlashAttention, Dao et al. 2022; FlashAttention-2, Dao
// 2023), forward and backward, on the CPU:
//   O = softmax(Q K^T * scale + mask) V       Q (B, H, L, E), K (B, H, S, E), V (B, H, S, Ev)
// computed tile by tile (kQueryTile query rows x kKeyTile keys) with an online softmax: per
// query row a running max m and running sum l, so the L x S score matrix is never stored --
// memory is O(L + S) per thread, not O(L S). The forward saves the row log-sum-exp
// lse = m + log(l) (B, H, L); the backward recomputes each probability tile as
// P = exp(Q K^T scale + mask - lse) and, with D = rowsum(dO * O), gives
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - D),  dQ = scale dS K,  dK = scale dS^T Q.
// Masks: is_causal keeps keys j <= i (top-left aligned, as torch.tril(ones(L, S))); a boolean
// mask keeps True entries (torch SDPA); a float mask is added. A mask is read through four
// element strides (0 = broadcast), so a mask broadcast over batch and heads is never copied.
// A fully masked query row gives an output row of zeros, lse = +inf and zero gradients (what
// torch 2.13's CPU flash kernel does; the textbook formula would give NaN).
// Dropout on the attention weights: keep(b, h, i, j) is a pure function of (seed, position)
// (a counter-based hash), so the backward regenerates exactly the forward's mask.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct AttentionShape {
  int64_t batch = 1, heads = 1, q_len = 0, kv_len = 0, head_dim = 0, v_dim = 0;
};

// Element strides of a (B, H, rows, cols) operand whose last dimension is contiguous.
struct AttentionStrides {
  int64_t b = 0, h = 0, row = 0;
  // the first element of head bh = b * heads + h
  int64_t head(int64_t bh, int64_t heads) const { return (bh / heads) * b + (bh % heads) * h; }
};

struct AttentionMask {
  const void* data = nullptr;  // null: no mask
  bool is_bool = false;        // bool (uint8, nonzero = may attend) or the dtype of Q (added)
  int64_t b = 0, h = 0, row = 0, col = 0;  // element strides over (B, H, L, S); 0 broadcasts
};

struct AttentionOptions {
  double scale = 1.0;
  bool causal = false;
  double dropout_p = 0.0;  // probability of zeroing a weight; survivors are scaled by 1/(1-p)
  uint64_t seed = 0;       // dropout stream of this call
};

// out: (B, H, L, Ev) with strides os (the layout of the query's heads: heads split off a
// packed (B, L, 3 H E) projection get an output in (B, L, H, Ev) order, which merges back into
// (B, L, H Ev) without a copy, as PyTorch's flash kernel does); lse: contiguous (B, H, L).
void attention_forward(const void* q, AttentionStrides qs, const void* k, AttentionStrides ks, const void* v,
                       AttentionStrides vs, void* out, AttentionStrides os, void* lse, DType dtype,
                       const AttentionShape& shape, const AttentionMask& mask, const AttentionOptions& opt);

// out (strides os), lse from the forward; dout with strides ds; dq, dk, dv: outputs with strides
// dqs, dks, dvs (the windows of one packed gradient when q, k, v are windows of one projection).
// dmask (optional, zero-filled (B, H, L, S)) receives dS = dLoss/d(scores), the gradient of an
// additive mask -- the one place the L x S matrix is stored, and only when asked for.
void attention_backward(const void* q, AttentionStrides qs, const void* k, AttentionStrides ks, const void* v,
                        AttentionStrides vs, const void* out, AttentionStrides os, const void* dout,
                        AttentionStrides ds, const void* lse, void* dq, AttentionStrides dqs, void* dk,
                        AttentionStrides dks, void* dv, AttentionStrides dvs, DType dtype, const AttentionShape& shape,
                        const AttentionMask& mask, const AttentionOptions& opt, void* dmask = nullptr);

// Dropout decisions: weight (bh, i, j) of a call with `seed` is kept iff
//   dropout_hash(dropout_row_key(seed, bh * L + i), j) >> 8  >=  round(p * 2^24)
// -- a counter-based generator (no state: the backward recomputes the forward's mask, and
// any thread or instruction set gets the same bits). The row key mixes the 64-bit seed and
// row with splitmix64; the column hash is murmur3's 32-bit finalizer, cheap in SIMD.
// (dropout_hash and dropout_row_key live in attention_tiles.h, in an unnamed namespace, so no
// ISA file can end up providing the linker's copy of them.)

// The dropout decision the kernels use, exposed for tests: true if weight (bh, i, j) is kept.
bool attention_dropout_keep(uint64_t seed, int64_t bh, int64_t i, int64_t j, int64_t q_len, int64_t kv_len,
                            double p);

// Float32 kernels of one ISA (cpp/ops/attention/attention_simd.cpp): the row operations, and the
// tile products on the GEMM micro-kernel (cpp/ops/gemm/gemm_microkernel.h) with the B operand
// laid out once per tile and reused by every band of rows that multiplies it (see the tile
// comment in attention_tiles.h).
struct AttentionSimd {
  float (*row_max)(const float* x, int64_t n);
  float (*exp_sub_sum)(float* x, int64_t n, float m);  // x = exp(x - m); returns sum x
  void (*scale)(float* x, int64_t n, float a);          // x *= a
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*softmax_grad)(const float* p, float* dp, int64_t n, float d);  // dp = p (dp - d)
  // x[c] = dropout_keep(row_key, col0 + c, threshold) ? x[c] * scale : 0
  void (*dropout_row)(float* x, int64_t n, uint32_t row_key, uint32_t col0, uint32_t threshold, float scale);
  // The micro-kernel's B panels are panel_width columns wide: op(B) (k x n, op(B)(kk, j) =
  // B[j ldb + kk] when tb, else B[kk ldb + j]) goes into ceil(n / panel_width) panels, panel p
  // at dst + p k panel_width, element (kk, j) at [kk panel_width + j], zero past column n.
  int64_t panel_width;
  void (*pack_panels)(bool tb, const float* b, int64_t ldb, int64_t k, int64_t n, float* dst);
  // C (m x n, ldc) = alpha op(A) op(B) + beta C, op(A) = A (m x k, row stride lda) or, when ta, A^T
  // (A stored k x m); op(B)'s row kk, columns of panel p start at b + kk b_row + p b_panel
  // (packed: b_row = panel_width, b_panel = k_total panel_width; a row-major B read in place,
  // n a multiple of panel_width: b_row = its row stride, b_panel = panel_width).
  void (*panel_product)(bool ta, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t b_row, int64_t b_panel, float beta, float* c, int64_t ldc);
};

}  // namespace minidl
