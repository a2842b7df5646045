// Fused scaled dot-product attention, forward and backward (the formulas: attention.h).
//
// The textbook formula O = softmax(Q K^T scale + mask) V would store the L x S weights; the
// algorithm here never does (FlashAttention): it walks tiles of keys with an online softmax,
// and the backward recomputes each tile of weights from the saved row log-sum-exp. It is the
// same algorithm on every kernel set, so the reference is these files read in order with the
// scalar pieces plugged in:
//   1. the row operations of the online softmax and of its gradient, the plain loops in
//      attention_tiles.h (row max, exp and sum, scale; dot, softmax gradient; dropout), side
//      by side, with the tile sizes and Problem (the operands of one call and its kernels);
//   2. the tiled forward (forward_impl, this file) and backward (backward_impl,
//      attention_backward.cpp), one comment per step, with the tile products through
//      gemm_reference (gemm.h).
// Float32 on a SIMD set swaps in AttentionSimd (attention_simd.cpp) for 1. and the GEMM
// micro-kernel for the products; tests/cpp/test_kernels.cpp and tests/test_attention.py
// compare the kernel sets, and tests/test_attention.py checks both against PyTorch's SDPA.
// The dtype dispatch of each direction is at the bottom of its file.
//
// Threads: the forward splits (batch*head, query tile) pairs dynamically (causal tiles differ
// in cost).
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention_tiles.h"
#include "core/dtype_dispatch.h"
#include "core/row_prefetch.h"

namespace minidl {
namespace {

template <class T>
void forward_impl(const Problem<T>& P, T* out, AttentionStrides os, T* lse) {
  const AttentionShape& sh = P.sh;
  const int64_t n_qt = (sh.q_len + kQueryTile - 1) / kQueryTile;
  const int64_t Ev = sh.v_dim;
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const bool dropout = P.opt.dropout_p > 0;
  const int64_t n_items = sh.batch * sh.heads * n_qt;
  const int64_t fma = sh.batch * sh.heads * sh.q_len * sh.kv_len * (sh.head_dim + Ev);  // (causal: about half)
  parallel_items(n_items, fma, [&](int64_t item) {
    // scratch of one tile, kept per thread between items and calls (a few tens of KiB)
    thread_local std::vector<T> s_buf, o_buf, m_buf, l_buf, kt_buf, v_buf;
    s_buf.resize(kQueryTile * kKeyTile);
    o_buf.assign(kQueryTile * Ev, T(0));
    m_buf.assign(kQueryTile, neg_inf);
    l_buf.assign(kQueryTile, T(0));
    T *s = s_buf.data(), *o = o_buf.data(), *m = m_buf.data(), *l = l_buf.data();
    const int64_t bh = item / n_qt, q0 = (item % n_qt) * kQueryTile;
    const int64_t br = std::min(kQueryTile, sh.q_len - q0);
    const T* qi = P.q_rows(bh) + q0 * P.qs.row;
    const T* kb = P.k_rows(bh);
    const T* vb = P.v_rows(bh);
    const int64_t kend = P.key_end(q0 + br);
    // The rows of the item this thread likely takes next (items go out in order, one per thread
    // of the team) come in while this one computes, a few lines per softmax row (RowPrefetch).
    RowPrefetch next;
    const int64_t next_item = item + team_size();
    if (next_item < n_items) {
      const int64_t nbh = next_item / n_qt, nq0 = (next_item % n_qt) * kQueryTile;
      const int64_t nbr = std::min(kQueryTile, sh.q_len - nq0), nkend = P.key_end(nq0 + nbr);
      const int64_t kfrom = nbh == bh ? std::min(kend, nkend) : 0;  // keys this item already read
      next.add(P.q_rows(nbh) + nq0 * P.qs.row, nbr, P.qs.row * sizeof(T), sh.head_dim * sizeof(T), false);
      next.add(P.k_rows(nbh) + kfrom * P.ks.row, nkend - kfrom, P.ks.row * sizeof(T), sh.head_dim * sizeof(T), false);
      next.add(P.v_rows(nbh) + kfrom * P.vs.row, nkend - kfrom, P.vs.row * sizeof(T), Ev * sizeof(T), false);
      next.add(out + os.head(nbh, sh.heads) + nq0 * os.row, nbr, os.row * sizeof(T), Ev * sizeof(T), true);
    }
    const int64_t softmax_rows = br * ((kend + kKeyTile - 1) / kKeyTile);
    const int64_t lines_per_row = (next.lines_left() + softmax_rows - 1) / std::max<int64_t>(1, softmax_rows);
    // --8<-- [start:forward_tiles]
    for (int64_t k0 = 0; k0 < kend; k0 += kKeyTile) {
      const int64_t bc = std::min(kKeyTile, kend - k0);
      // K_j^T and V_j, laid out once for every band of the tile
      const auto kt = P.prepare_b(true, kb + k0 * P.ks.row, P.ks.row, sh.head_dim, bc, kt_buf);
      const auto vt = P.prepare_b(false, vb + k0 * P.vs.row, P.vs.row, bc, Ev, v_buf);
      // a causal tile that the diagonal cuts goes in bands of query rows, each over the keys
      // it can see (Problem::cut_by_diagonal); any other tile is one band of all rows and keys
      const int64_t band = P.cut_by_diagonal(q0, k0, bc) ? kCausalBand : br;
      for (int64_t r0 = 0; r0 < br; r0 += band) {
        const int64_t rows = std::min(band, br - r0), keys = P.band_keys(q0 + r0 + rows, k0, bc);
        if (keys <= 0) continue;  // these queries see none of the tile's keys
        T* sb = s + r0 * kKeyTile;
        // S = scale Q_i K_j^T
        P.product(false, rows, keys, sh.head_dim, T(P.opt.scale), qi + r0 * P.qs.row, P.qs.row, kt, 0, T(0), sb,
                  kKeyTile);
        P.apply_mask(sb, kKeyTile, bh, q0 + r0, rows, k0, keys);
        // online softmax: new max, rescale what was summed so far by exp(m_old - m_new)
        for (int64_t r = r0; r < r0 + rows; ++r) {
          next.step(lines_per_row);
          T* row = s + r * kKeyTile;
          const T m_new = std::max(m[r], P.row_max(row, keys));
          if (m_new == neg_inf) {  // every key so far is masked: nothing to add
            std::fill(row, row + keys, T(0));
            continue;
          }
          const T alpha = std::exp(m[r] - m_new);  // 0 when m[r] = -inf
          l[r] = l[r] * alpha + P.exp_sub_sum(row, keys, m_new);
          if (alpha != T(1)) P.scale_row(o + r * Ev, Ev, alpha);
          m[r] = m_new;
        }
        // the normaliser l sums the weights before dropout; O sums the dropped-out ones
        if (dropout) P.apply_dropout(sb, kKeyTile, bh, q0 + r0, rows, k0, keys);
        // O += P V_j
        P.product(false, rows, Ev, keys, T(1), sb, kKeyTile, vt, 0, T(1), o + r0 * Ev, Ev);
      }
    }
    // --8<-- [end:forward_tiles]
    T* out_rows = out + os.head(bh, sh.heads) + q0 * os.row;
    T* lse_rows = lse + bh * sh.q_len + q0;
    for (int64_t r = 0; r < br; ++r) {
      T* out_row = out_rows + r * os.row;
      if (l[r] == T(0)) {  // fully masked row: zeros (torch's CPU flash kernel does the same)
        std::fill(out_row, out_row + Ev, T(0));
        lse_rows[r] = std::numeric_limits<T>::infinity();
        continue;
      }
      const T inv = T(1) / l[r];
      for (int64_t c = 0; c < Ev; ++c) out_row[c] = o[r * Ev + c] * inv;
      lse_rows[r] = m[r] + std::log(l[r]);
    }
  });
}

}  // namespace

bool attention_dropout_keep(uint64_t seed, int64_t bh, int64_t i, int64_t j, int64_t q_len, int64_t kv_len,
                            double p) {
  (void)kv_len;
  return dropout_keep(dropout_row_key(seed, bh * q_len + i), static_cast<uint32_t>(j), dropout_threshold(p));
}

void attention_forward(const void* q, AttentionStrides qs, const void* k, AttentionStrides ks, const void* v,
                       AttentionStrides vs, void* out, AttentionStrides os, void* lse, DType dtype,
                       const AttentionShape& shape, const AttentionMask& mask, const AttentionOptions& opt) {
  MINIDL_DISPATCH_FLOAT(dtype, "scaled_dot_product_attention", {
    forward_impl<T>(make_problem<T>(q, qs, k, ks, v, vs, shape, mask, opt), static_cast<T*>(out), os,
                    static_cast<T*>(lse));
  });
}

}  // namespace minidl
