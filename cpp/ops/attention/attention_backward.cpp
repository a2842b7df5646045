// The backward of the fused attention (the formulas: attention.h): for each (key tile, query
// tile) pair the probabilities are recomputed from the forward's row log-sum-exp, then the four
// products of the gradient. The tile sizes, the row operations and Problem: attention_tiles.h;
// the forward: attention.cpp.
//
// Threads: the backward needs, for a key tile, every query tile (to sum dK and dV), and dQ
// sums over key tiles, so it works on ranges of (batch*head, key tile) pairs. With many heads
// (>= 4 per thread, the usual case) a range is one whole head, handed out dynamically: no two
// threads ever touch the same dQ, which is summed in place, and a thread slowed down by other
// load does not hold the others up. With few heads (long sequences, small batch) the pairs
// are cut into one contiguous range per thread, so the key tiles of one head are shared: dQ
// of the current head is summed in a private L x E buffer, written out when the range moves
// on to the next head, and a head that straddles ranges gets the ranges' partial sums added
// in range order after the loop (deterministic). Either way there are no atomics in the inner
// loops and the extra memory is at most one L x E buffer per thread plus two per range (not
// one dQ per thread, and never L x S).
#include "attention.h"

#include <algorithm>
#include <vector>

#include "attention_tiles.h"
#include "core/dtype_dispatch.h"
#include "core/row_prefetch.h"

namespace minidl {
namespace {

template <class T>
void backward_impl(const Problem<T>& P, const T* out, AttentionStrides os, const T* dout, AttentionStrides ds,
                   const T* lse, T* dq, AttentionStrides dqs, T* dk, AttentionStrides dks, T* dv, AttentionStrides dvs,
                   T* dmask) {
  const AttentionShape& sh = P.sh;
  const int64_t E = sh.head_dim, Ev = sh.v_dim, L = sh.q_len, S = sh.kv_len;
  const int64_t n_kt = (S + kKeyTile - 1) / kKeyTile;
  const int64_t n_bh = sh.batch * sh.heads, n_items = n_bh * n_kt;
  const bool dropout = P.opt.dropout_p > 0;
  const int64_t nt = num_threads();
  const bool per_head = n_bh >= 4 * nt;
  const int64_t chunks = per_head ? n_bh : std::max<int64_t>(1, std::min<int64_t>(nt, n_items));
  // A head whose key tiles two or more chunks share gets its dQ as the sum of their partial
  // sums: each chunk leaves its partial in its own slot (2 chunk: the head it starts in,
  // 2 chunk + 1: the head it ends in), and they are added after the loop in chunk order, the
  // same order whichever thread ran which chunk -- so dQ repeats bit for bit at a given
  // thread count. (Added under a lock in the order the threads got there, it did not: 3 and
  // 4 threads, one head, L = 1000 or 2048, 4-10 of 20 backward runs differed from the first.)
  std::vector<T> shared_dq(per_head ? 0 : chunks * 2 * L * E);
  const int64_t fma = n_bh * L * S * 2 * (E + Ev);  // the forward's products again, dP, dQ and dK
  parallel_items(chunks, fma, [&](int64_t chunk) {
    thread_local std::vector<T> p_buf, pd_buf, dp_buf, dq_part, d_row, kt_buf, vt_buf, k_buf, do_buf, q_buf;
    p_buf.resize(kQueryTile * kKeyTile);
    pd_buf.resize(dropout ? kQueryTile * kKeyTile : 0);
    dp_buf.resize(kQueryTile * kKeyTile);
    dq_part.resize(per_head ? 0 : L * E);
    d_row.resize(L);
    {
      const int64_t item_begin = n_items * chunk / chunks, item_end = n_items * (chunk + 1) / chunks;
      int64_t cur_bh = -1;
      // dQ of head cur_bh: into the result when this chunk computed every key tile of it, into
      // this chunk's slot of shared_dq when the head is shared with a neighbouring chunk
      auto flush = [&](int64_t bh) {
        if (per_head) return;  // written in place
        const bool whole = bh * n_kt >= item_begin && (bh + 1) * n_kt <= item_end;
        if (whole) {
          T* dst = dq + dqs.head(bh, sh.heads);
          for (int64_t i = 0; i < L; ++i) std::copy_n(dq_part.data() + i * E, E, dst + i * dqs.row);
        } else {
          const int64_t slot = 2 * chunk + (bh == item_begin / n_kt ? 0 : 1);
          std::copy(dq_part.begin(), dq_part.end(), shared_dq.begin() + slot * L * E);
        }
      };
      for (int64_t item = item_begin; item < item_end; ++item) {
        const int64_t bh = item / n_kt, k0 = (item % n_kt) * kKeyTile;
        const int64_t bc = std::min(kKeyTile, S - k0);
        const T* qb = P.q_rows(bh);
        const T* kj = P.k_rows(bh) + k0 * P.ks.row;
        const T* vj = P.v_rows(bh) + k0 * P.vs.row;
        const T* dob = dout + ds.head(bh, sh.heads);
        const T* ob = out + os.head(bh, sh.heads);
        if (bh != cur_bh) {
          if (cur_bh >= 0) flush(cur_bh);
          cur_bh = bh;
          std::fill(dq_part.begin(), dq_part.end(), T(0));  // empty when per_head
          // D_i = rowsum(dO_i * O_i) = sum_j P_ij dP_ij, the softmax-gradient correction
          for (int64_t i = 0; i < L; ++i) d_row[i] = P.dot(dob + i * ds.row, ob + i * os.row, Ev);
        }
        // causal: queries i < k0 see none of these keys
        const int64_t q_begin = P.opt.causal ? std::min(L, k0 / kQueryTile * kQueryTile) : 0;
        // The rows the next item reads and writes come in while this one computes, a few lines
        // per row of recomputed weights (RowPrefetch): the dQ rows this head flushes when it
        // ends, then the next item's (the next head's first when this chunk ends: chunks go out
        // in order, one per thread of the team) O and dO rows (for D), Q, K, V, and its dK, dV.
        RowPrefetch next;
        {
          int64_t nitem = item + 1;
          if (nitem == item_end) nitem = per_head ? std::min(n_items, (chunk + team_size()) * n_kt) : n_items;
          if (!per_head && (nitem == n_items || nitem / n_kt != bh))
            next.add(dq + dqs.head(bh, sh.heads), L, dqs.row * sizeof(T), E * sizeof(T), true);
          if (nitem < n_items) {
            const int64_t nbh = nitem / n_kt, nk0 = (nitem % n_kt) * kKeyTile, nbc = std::min(kKeyTile, S - nk0);
            if (nbh != bh) {
              next.add(out + os.head(nbh, sh.heads), L, os.row * sizeof(T), Ev * sizeof(T), false);
              next.add(dout + ds.head(nbh, sh.heads), L, ds.row * sizeof(T), Ev * sizeof(T), false);
              next.add(P.q_rows(nbh), L, P.qs.row * sizeof(T), E * sizeof(T), false);
              if (per_head) next.add(dq + dqs.head(nbh, sh.heads), L, dqs.row * sizeof(T), E * sizeof(T), true);
            }
            next.add(P.k_rows(nbh) + nk0 * P.ks.row, nbc, P.ks.row * sizeof(T), E * sizeof(T), false);
            next.add(P.v_rows(nbh) + nk0 * P.vs.row, nbc, P.vs.row * sizeof(T), Ev * sizeof(T), false);
            next.add(dk + dks.head(nbh, sh.heads) + nk0 * dks.row, nbc, dks.row * sizeof(T), E * sizeof(T), true);
            next.add(dv + dvs.head(nbh, sh.heads) + nk0 * dvs.row, nbc, dvs.row * sizeof(T), Ev * sizeof(T), true);
          }
        }
        const int64_t lines_per_row = (next.lines_left() + (L - q_begin) - 1) / std::max<int64_t>(1, L - q_begin);
        // dK_j, dV_j are summed in place over the query tiles: the first that sees a band of
        // keys stores it (beta = 0), the next add; a band no query sees is zero. dQ likewise when
        // whole heads go out (per_head): key tile 0, seen by every query, stores it. Before,
        // buffers of the tile and the head summed them and were copied out row by row (5% of the
        // backward by perf, more into the strided windows of a packed gradient). Measured (1
        // thread, CPU time, medians, the builds alternating, Intel Xeon family 6 model 167, load
        // ~5): the GPT block's backward (16 x 4 heads, L = 256, E = 64, causal, q, k, v and the
        // gradients in packed (16, 256, 768) projections) 12.90 -> 11.43 ms; contiguous, 13.31 ->
        // 12.57 ms; L = 256 not causal 23.2 -> 21.5 ms, L = 100 (40 x 4 heads) 7.99 -> 6.94 ms,
        // L = 512 (8 x 4 heads) 25.5 -> 24.9 ms, L = 1024 (4 heads) unchanged.
        T* dk_rows = dk + dks.head(bh, sh.heads) + k0 * dks.row;
        T* dv_rows = dv + dvs.head(bh, sh.heads) + k0 * dvs.row;
        T* dq_rows = per_head ? dq + dqs.head(bh, sh.heads) : dq_part.data();
        const int64_t dq_ld = per_head ? dqs.row : E;
        const T dq_beta = per_head && k0 == 0 ? T(0) : T(1);
        auto zero_keys = [&](int64_t c0, int64_t cols) {
          for (int64_t j = c0; j < c0 + cols; ++j) {
            std::fill_n(dk_rows + j * dks.row, E, T(0));
            std::fill_n(dv_rows + j * dvs.row, Ev, T(0));
          }
        };
        if (q_begin >= L) zero_keys(0, bc);
        // K_j^T, V_j^T and K_j, laid out once for every query tile and band
        const auto kt = P.prepare_b(true, kj, P.ks.row, E, bc, kt_buf);
        const auto vt = P.prepare_b(true, vj, P.vs.row, Ev, bc, vt_buf);
        const auto kn = P.prepare_b(false, kj, P.ks.row, bc, E, k_buf);
        for (int64_t q0 = q_begin; q0 < L; q0 += kQueryTile) {
          const int64_t br = std::min(kQueryTile, L - q0);
          const T* qi = qb + q0 * P.qs.row;
          const T* doi = dob + q0 * ds.row;
          T *p = p_buf.data(), *dp = dp_buf.data(), *pd = dropout ? pd_buf.data() : p;
          // dO_i and Q_i, the B operands of dV and dK
          const auto don = P.prepare_b(false, doi, ds.row, br, Ev, do_buf);
          const auto qn = P.prepare_b(false, qi, P.qs.row, br, E, q_buf);
          // a causal tile that the diagonal cuts goes in bands (Problem::cut_by_diagonal)
          const int64_t band = P.cut_by_diagonal(q0, k0, bc) ? kCausalBand : std::max(br, bc);
          // --8<-- [start:backward_tiles]
          // per band of query rows, over the keys it can see: P, dP, dS and dQ
          for (int64_t r0 = 0; r0 < br; r0 += band) {
            const int64_t rows = std::min(band, br - r0), keys = P.band_keys(q0 + r0 + rows, k0, bc);
            if (keys <= 0) continue;  // these queries see none of the tile's keys
            T *pb = p + r0 * kKeyTile, *dpb = dp + r0 * kKeyTile;
            const T* qr = qi + r0 * P.qs.row;
            const T* dor = doi + r0 * ds.row;
            // P = exp(scale Q_i K_j^T + mask - lse_i): the forward's probabilities, recomputed
            P.product(false, rows, keys, E, T(P.opt.scale), qr, P.qs.row, kt, 0, T(0), pb, kKeyTile);
            P.apply_mask(pb, kKeyTile, bh, q0 + r0, rows, k0, keys);
            for (int64_t r = 0; r < rows; ++r) {
              next.step(lines_per_row);
              P.exp_sub_sum(pb + r * kKeyTile, keys, lse[bh * L + q0 + r0 + r]);
            }
            if (dropout) {
              for (int64_t r = 0; r < rows; ++r)
                std::copy(pb + r * kKeyTile, pb + r * kKeyTile + keys, pd + (r0 + r) * kKeyTile);
              P.apply_dropout(pd + r0 * kKeyTile, kKeyTile, bh, q0 + r0, rows, k0, keys);
            }
            // dP = dO_i V_j^T (through the dropout mask), then dS = P (dP - D)
            P.product(false, rows, keys, Ev, T(1), dor, ds.row, vt, 0, T(0), dpb, kKeyTile);
            if (dropout) P.apply_dropout(dpb, kKeyTile, bh, q0 + r0, rows, k0, keys);
            for (int64_t r = 0; r < rows; ++r)
              P.softmax_grad(pb + r * kKeyTile, dpb + r * kKeyTile, keys, d_row[q0 + r0 + r]);
            // dS is also the gradient of an additive mask, wanted only when the mask is trained
            // (a learned bias); then the caller gives a (B, H, L, S) buffer and sums it down
            if (dmask)
              for (int64_t r = 0; r < rows; ++r)
                std::copy(dpb + r * kKeyTile, dpb + r * kKeyTile + keys, dmask + (bh * L + q0 + r0 + r) * S + k0);
            // dQ_i += scale dS K_j
            P.product(false, rows, E, keys, T(P.opt.scale), dpb, kKeyTile, kn, 0, dq_beta, dq_rows + (q0 + r0) * dq_ld,
                      dq_ld);
          }
          // per band of keys, over the query rows that can see it: dV and dK
          for (int64_t c0 = 0; c0 < bc; c0 += band) {
            const int64_t cols = std::min(band, bc - c0), r_first = P.band_first_row(q0, br, k0 + c0);
            if (r_first >= br) {  // no query of the tile (nor of a later one) sees these keys
              if (q0 == q_begin) zero_keys(c0, cols);
              continue;
            }
            const int64_t rows = br - r_first;
            const T beta = q0 == q_begin ? T(0) : T(1);
            // dV_j += Pd^T dO_i;  dK_j += scale dS^T Q_i
            P.product(true, cols, Ev, rows, T(1), pd + r_first * kKeyTile + c0, kKeyTile, don, r_first, beta,
                      dv_rows + c0 * dvs.row, dvs.row);
            P.product(true, cols, E, rows, T(P.opt.scale), dp + r_first * kKeyTile + c0, kKeyTile, qn, r_first, beta,
                      dk_rows + c0 * dks.row, dks.row);
          }
          // --8<-- [end:backward_tiles]
        }
      }
      if (cur_bh >= 0) flush(cur_bh);
    }
  });
  // the shared heads' dQ: the slots of the chunks that share each, added in chunk order
  for (int64_t chunk = 0; !per_head && chunk < chunks; ++chunk) {
    const int64_t item_begin = n_items * chunk / chunks, item_end = n_items * (chunk + 1) / chunks;
    if (item_begin == item_end) continue;
    const int64_t first = item_begin / n_kt, last = (item_end - 1) / n_kt;
    for (int64_t bh = first; bh <= last; bh += std::max<int64_t>(1, last - first)) {
      const int64_t begin = bh * n_kt, end = (bh + 1) * n_kt;
      if (begin >= item_begin && end <= item_end) continue;  // whole: already stored
      const bool leads = begin >= item_begin;                 // the first chunk of the head stores
      const T* part = shared_dq.data() + (2 * chunk + (bh == first ? 0 : 1)) * L * E;
      T* dst = dq + dqs.head(bh, sh.heads);
      for (int64_t i = 0; i < L; ++i)
        for (int64_t c = 0; c < E; ++c)
          dst[i * dqs.row + c] = leads ? part[i * E + c] : dst[i * dqs.row + c] + part[i * E + c];
    }
  }
}

}  // namespace

void attention_backward(const void* q, AttentionStrides qs, const void* k, AttentionStrides ks, const void* v,
                        AttentionStrides vs, const void* out, AttentionStrides os, const void* dout,
                        AttentionStrides ds, const void* lse, void* dq, AttentionStrides dqs, void* dk,
                        AttentionStrides dks, void* dv, AttentionStrides dvs, DType dtype, const AttentionShape& shape,
                        const AttentionMask& mask, const AttentionOptions& opt, void* dmask) {
  MINIDL_DISPATCH_FLOAT(dtype, "scaled_dot_product_attention backward", {
    backward_impl<T>(make_problem<T>(q, qs, k, ks, v, vs, shape, mask, opt), static_cast<const T*>(out), os,
                     static_cast<const T*>(dout), ds, static_cast<const T*>(lse), static_cast<T*>(dq), dqs,
                     static_cast<T*>(dk), dks, static_cast<T*>(dv), dvs, static_cast<T*>(dmask));
  });
}

}  // namespace minidl
