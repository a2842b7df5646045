// Fused scaled dot-product attention, forward and backward (the formulas: attention.h).
//
// The textbook formula O = softmax(Q K^T scale + mask) V would store the L x S weights; the
// algorithm here never does (FlashAttention): it walks tiles of keys with an online softmax,
// and the backward recomputes each tile of weights from the saved row log-sum-exp. It is the
// same algorithm on every kernel set, so the reference is this file read top to bottom with
// the scalar pieces plugged in:
//   1. the row operations of the online softmax and of its gradient, the plain loops below
//      (row max, exp and sum, scale; dot, softmax gradient; dropout), side by side;
//   2. the tiled forward and backward (forward_impl, backward_impl), adjacent, one comment
//      per step, with the tile products through gemm_reference (gemm.h).
// Float32 on a SIMD set swaps in AttentionSimd (attention_simd.cpp) for 1. and the GEMM
// micro-kernel for the products; tests/cpp/test_kernels.cpp and tests/test_attention.py
// compare the kernel sets, and tests/test_attention.py checks both against PyTorch's SDPA.
//
// Then which path runs: Problem (the operands of one call and its kernels) and the dtype
// dispatch at the bottom.
//
// --8<-- [start:tile_sizes]
// Tiles: kQueryTile x kKeyTile scores (128 x 128 floats = 64 KiB) stay in L2 together with the
// Q tile, the K and V tiles (128 x 64 floats each) and the output accumulator. Measured (one
// thread, B=8 H=8 E=64, L=S=512 and 2048, Zen 5 EPYC): 64x128, 96x128, 96x256, 192x128 and
// 144x64 are within 8% of each other; the tile GEMMs run at ~175 (forward) to ~195 (backward)
// GFLOP/s per core there, close to its AVX-512 FMA peak, so the time is in the products.
// Causal attention wastes the masked half of the tiles on the diagonal: with 96 x 128 tiles
// the backward of the GPT block's attention (16 x 4 heads, L = 256, E = 64) computed 3.75
// tiles' worth of 128 x 128 products per head where 2 are needed. The diagonal tiles now go
// in bands of kCausalBand rows and keys that skip the masked blocks (cut_by_diagonal below),
// which computes 62.5% of a diagonal tile instead of all of it. Measured on a Xeon with
// AVX-512 (KVM, 1 thread, CPU time, min of 7, load ~2 on 2 cores; PyTorch 2.13's flash kernel
// 11.2 / 26.8 ms): forward / backward 8.1 / 19.3 ms before, 7.2 / 15.4 ms with 128 x 128 tiles
// and 32-row bands (96 x 128: 7.2 / 15.9; 64 x 64: 7.9 / 15.6; bands of 64: 7.6 / 16.3;
// 32 x 32 tiles without bands: 8.1 / 16.3, the products too small). Longer causal sequences
// gain less (same Xeon, load ~1: L = 512, 64 heads, backward 66.1 -> 54.3 ms; L = 2048, 8
// heads, 97.6 -> 89.4 ms). Without a mask, L = 1024, 128 x 128 was as fast as 96 x 128
// (forward 41 vs 42 ms, backward 82 vs 85 ms); 192 or 256 query rows and 256 or 512 keys
// measured within 5% at L = 2048 and slower at the GPT block's causal L = 256.
// With the tile products on B panels laid out once per tile (AttentionSimd::panel_product),
// a band costs little more than its products, and bands of 16 (56% of a diagonal tile)
// beat 32 (62.5%) and 8: GPT block shape, 1 thread, CPU time, medians of 40 runs, the three
// builds alternating 3 times, load ~5 (same Xeon): forward 7.6-8.1 / 7.3-7.7 / 8.1-8.3 ms,
// backward 16.9-17.5 / 16.3-17.0 / 17.4-17.7 ms for bands of 32 / 16 / 8; L = 1024 (4 x 4
// heads) and L = 100 (40 x 4 heads) 0-9% faster with 16 than with 32.
// --8<-- [end:tile_sizes]
//
// Threads: the forward splits (batch*head, query tile) pairs dynamically (causal tiles differ
// in cost). The backward needs, for a key tile, every query tile (to sum dK and dV), and dQ
// sums over key tiles, so it works on ranges of (batch*head, key tile) pairs and accumulates
// dQ of the current head in a private L x E buffer, written out when the range moves on to
// the next head. With many heads (>= 4 per thread, the usual case) a range is one whole
// head, handed out dynamically: no two threads ever touch the same dQ, and a thread slowed
// down by other load does not hold the others up. With few heads (long sequences, small
// batch) the pairs are cut into one contiguous range per thread, so the key tiles of one
// head are shared; a head that straddles two ranges is added under a lock. Either way there
// are no atomics in the inner loops and the extra memory is one L x E buffer per thread
// (not one dQ per thread, and never L x S).
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "ops/gemm/gemm.h"
#include "core/parallel.h"
#include "core/row_prefetch.h"

MINIDL_SIMD_TABLE(minidl::AttentionSimd, attention_simd)

namespace minidl {
namespace {

constexpr int64_t kQueryTile = 128;
constexpr int64_t kKeyTile = 128;
constexpr int64_t kCausalBand = 16;
// the bands of both tiles lie on one grid (see Problem::cut_by_diagonal)
static_assert(kQueryTile % kCausalBand == 0 && kKeyTile % kCausalBand == 0, "tiles must be whole bands");

// The counter-based dropout generator described in attention.h (keep(row_key, j) of the
// reference dropout below).
inline uint32_t dropout_hash(uint32_t row_key, uint32_t j) {
  uint32_t x = row_key + j * 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  return x ^ (x >> 16);
}
inline uint32_t dropout_row_key(uint64_t seed, int64_t row) {
  uint64_t z = seed + static_cast<uint64_t>(row) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<uint32_t>(z ^ (z >> 31));
}
inline bool dropout_keep(uint32_t row_key, uint32_t j, uint32_t threshold) {
  return (dropout_hash(row_key, j) >> 8) >= threshold;
}

inline uint32_t dropout_threshold(double p) { return static_cast<uint32_t>(std::llround(p * 16777216.0)); }

// --8<-- [start:row_reference]
// ---- reference: the row operations -------------------------------------------------
// Forward, per query row of scores x (one key tile at a time):
//   m_new = max(m, max_j x_j),  x_j = exp(x_j - m_new),  l = l exp(m - m_new) + sum_j x_j,
//   and the output row so far is scaled by exp(m - m_new).

// max_j x_j
template <class T>
T row_max_reference(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// x = exp(x - m); returns sum x
template <class T>
T exp_sub_sum_reference(T* x, int64_t n, T m) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += (x[i] = std::exp(x[i] - m));
  return s;
}

// x *= a
template <class T>
void scale_row_reference(T* x, int64_t n, T a) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

// Backward, per query row: D = dot(dO, O) = sum_j P_j dP_j, then dS_j = P_j (dP_j - D).

// sum a b
template <class T>
T dot_reference(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// dp = p (dp - d)
template <class T>
void softmax_grad_reference(const T* p, T* dp, int64_t n, T d) {
  for (int64_t i = 0; i < n; ++i) dp[i] = p[i] * (dp[i] - d);
}
// --8<-- [end:row_reference]

// Dropout on the weights, the same mask in the forward and the backward:
// x[c] = keep(row_key, col0 + c) ? x[c] * scale : 0
template <class T>
void dropout_row_reference(T* x, int64_t n, uint32_t row_key, uint32_t col0, uint32_t threshold, T scale) {
  for (int64_t c = 0; c < n; ++c)
    x[c] = dropout_keep(row_key, static_cast<uint32_t>(col0 + c), threshold) ? x[c] * scale : T(0);
}

// ---- the tiled forward and backward --------------------------------------------------
// Problem<T> (defined below) holds the operands of one call: P.matmul is a tile GEMM, P.row_max,
// P.exp_sub_sum, ... the row operations above or their SIMD versions.
template <class T>
struct Problem;

// Threads in the running team (1 outside a parallel region).
inline int64_t team_size() {
#ifdef _OPENMP
  return omp_in_parallel() ? omp_get_num_threads() : 1;
#else
  return 1;
#endif
}

// Runs f(item) for items [0, n) on the team, handing them out dynamically.
template <class F>
void parallel_items(int64_t n, const F& f) {
#ifdef _OPENMP
  const int nt = num_threads();
  if (nt > 1 && n > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast<int>(std::min<int64_t>(nt, n)))
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) f(i);
}

template <class T>
void forward_impl(const Problem<T>& P, T* out, AttentionStrides os, T* lse) {
  const AttentionShape& sh = P.sh;
  const int64_t n_qt = (sh.q_len + kQueryTile - 1) / kQueryTile;
  const int64_t Ev = sh.v_dim;
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const bool dropout = P.opt.dropout_p > 0;
  const int64_t n_items = sh.batch * sh.heads * n_qt;
  parallel_items(n_items, [&](int64_t item) {
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
  if (!per_head)  // shared heads are added into
    for (int64_t bh = 0; bh < n_bh; ++bh)
      for (int64_t i = 0; i < L; ++i) std::fill_n(dq + dqs.head(bh, sh.heads) + i * dqs.row, E, T(0));
  parallel_items(chunks, [&](int64_t chunk) {
    thread_local std::vector<T> p_buf, pd_buf, dp_buf, dk_acc, dv_acc, dq_part, d_row, kt_buf, vt_buf, k_buf,
        do_buf, q_buf;
    p_buf.resize(kQueryTile * kKeyTile);
    pd_buf.resize(dropout ? kQueryTile * kKeyTile : 0);
    dp_buf.resize(kQueryTile * kKeyTile);
    dk_acc.resize(kKeyTile * E);
    dv_acc.resize(kKeyTile * Ev);
    dq_part.resize(L * E);
    d_row.resize(L);
    {
      const int64_t item_begin = n_items * chunk / chunks, item_end = n_items * (chunk + 1) / chunks;
      int64_t cur_bh = -1;
      // dQ of head cur_bh into the result: stored when this chunk computed every key tile of
      // it, added under a lock when the head is shared with a neighbouring chunk
      auto flush = [&](int64_t bh) {
        T* dst = dq + dqs.head(bh, sh.heads);
        const bool whole = bh * n_kt >= item_begin && (bh + 1) * n_kt <= item_end;
        if (whole) {
          for (int64_t i = 0; i < L; ++i) std::copy_n(dq_part.data() + i * E, E, dst + i * dqs.row);
        } else {
#ifdef _OPENMP
#pragma omp critical(minidl_attention_dq)
#endif
          for (int64_t i = 0; i < L; ++i)
            for (int64_t c = 0; c < E; ++c) dst[i * dqs.row + c] += dq_part[i * E + c];
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
          std::fill(dq_part.begin(), dq_part.end(), T(0));
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
          if (nitem == n_items || nitem / n_kt != bh)
            next.add(dq + dqs.head(bh, sh.heads), L, dqs.row * sizeof(T), E * sizeof(T), true);
          if (nitem < n_items) {
            const int64_t nbh = nitem / n_kt, nk0 = (nitem % n_kt) * kKeyTile, nbc = std::min(kKeyTile, S - nk0);
            if (nbh != bh) {
              next.add(out + os.head(nbh, sh.heads), L, os.row * sizeof(T), Ev * sizeof(T), false);
              next.add(dout + ds.head(nbh, sh.heads), L, ds.row * sizeof(T), Ev * sizeof(T), false);
              next.add(P.q_rows(nbh), L, P.qs.row * sizeof(T), E * sizeof(T), false);
            }
            next.add(P.k_rows(nbh) + nk0 * P.ks.row, nbc, P.ks.row * sizeof(T), E * sizeof(T), false);
            next.add(P.v_rows(nbh) + nk0 * P.vs.row, nbc, P.vs.row * sizeof(T), Ev * sizeof(T), false);
            next.add(dk + dks.head(nbh, sh.heads) + nk0 * dks.row, nbc, dks.row * sizeof(T), E * sizeof(T), true);
            next.add(dv + dvs.head(nbh, sh.heads) + nk0 * dvs.row, nbc, dvs.row * sizeof(T), Ev * sizeof(T), true);
          }
        }
        const int64_t lines_per_row = (next.lines_left() + (L - q_begin) - 1) / std::max<int64_t>(1, L - q_begin);
        std::fill(dk_acc.begin(), dk_acc.end(), T(0));
        std::fill(dv_acc.begin(), dv_acc.end(), T(0));
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
            P.product(false, rows, E, keys, T(P.opt.scale), dpb, kKeyTile, kn, 0, T(1), dq_part.data() + (q0 + r0) * E,
                      E);
          }
          // per band of keys, over the query rows that can see it: dV and dK
          for (int64_t c0 = 0; c0 < bc; c0 += band) {
            const int64_t cols = std::min(band, bc - c0), r_first = P.band_first_row(q0, br, k0 + c0);
            if (r_first >= br) continue;  // no query of the tile sees these keys
            const int64_t rows = br - r_first;
            // dV_j += Pd^T dO_i;  dK_j += scale dS^T Q_i
            P.product(true, cols, Ev, rows, T(1), pd + r_first * kKeyTile + c0, kKeyTile, don, r_first, T(1),
                      dv_acc.data() + c0 * Ev, Ev);
            P.product(true, cols, E, rows, T(P.opt.scale), dp + r_first * kKeyTile + c0, kKeyTile, qn, r_first, T(1),
                      dk_acc.data() + c0 * E, E);
          }
          // --8<-- [end:backward_tiles]
        }
        T* dk_rows = dk + dks.head(bh, sh.heads) + k0 * dks.row;
        T* dv_rows = dv + dvs.head(bh, sh.heads) + k0 * dvs.row;
        for (int64_t j = 0; j < bc; ++j) {
          std::copy_n(dk_acc.data() + j * E, E, dk_rows + j * dks.row);
          std::copy_n(dv_acc.data() + j * Ev, Ev, dv_rows + j * dvs.row);
        }
      }
      if (cur_bh >= 0) flush(cur_bh);
    }
  });
}

// ---- which path runs ---------------------------------------------------------------

// Everything one call needs, typed, and which kernels run: the tile products through the GEMM
// micro-kernel (float32 on a SIMD set) or gemm_reference, the row operations through
// AttentionSimd (float32 on a SIMD set) or the reference loops above.
template <class T>
struct Problem {
  const T *q, *k, *v;
  AttentionStrides qs, ks, vs;
  AttentionShape sh;
  AttentionMask mask;
  AttentionOptions opt;
  const AttentionSimd* simd;  // null: scalar reference rows
  uint32_t drop_threshold;

  const T* q_rows(int64_t bh) const { return q + qs.head(bh, sh.heads); }
  const T* k_rows(int64_t bh) const { return k + ks.head(bh, sh.heads); }
  const T* v_rows(int64_t bh) const { return v + vs.head(bh, sh.heads); }

  // --8<-- [start:problem_matmul]
  // The B operand of tile products, op(B) (k x n): where it lies (b, ldb, tb), and on a SIMD set
  // its micro-kernel panels (AttentionSimd::pack_panels, or B itself when it is row-major and
  // whole panels wide), laid out once per tile by prepare_b and read by every band.
  struct TileB {
    const T* b;
    int64_t ldb;
    bool tb;
    const T* panels;  // null: the reference products read b
    int64_t p_row, p_panel;
  };
  TileB prepare_b(bool tb, const T* b, int64_t ldb, int64_t k, int64_t n, std::vector<T>& buf) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) {
        const int64_t w = simd->panel_width;
        if (!tb && n % w == 0) return {b, ldb, tb, b, ldb, w};
        buf.resize((n + w - 1) / w * w * k);
        simd->pack_panels(tb, b, ldb, k, n, buf.data());
        return {b, ldb, tb, buf.data(), w, k * w};
      }
    return {b, ldb, tb, nullptr, 0, 0};
  }
  // C (m x n, ldc) = alpha op(A) op(B)[k0 : k0 + kk, 0 : n] + beta C on the calling thread
  void product(bool ta, int64_t m, int64_t n, int64_t kk, T alpha, const T* a, int64_t lda, const TileB& B,
               int64_t k0, T beta, T* c, int64_t ldc) const {
    if constexpr (std::is_same<T, float>::value)
      if (B.panels) {
        simd->panel_product(ta, m, n, kk, alpha, a, lda, B.panels + k0 * B.p_row, B.p_row, B.p_panel, beta, c, ldc);
        return;
      }
    gemm_reference<T>(ta, B.tb, m, n, kk, alpha, a, lda, B.tb ? B.b + k0 : B.b + k0 * B.ldb, B.ldb, beta, c, ldc);
  }
  // --8<-- [end:problem_matmul]

  // Scores tile s (rows q0.., keys k0..; row stride ld) gets the causal and explicit masks.
  void apply_mask(T* s, int64_t ld, int64_t bh, int64_t q0, int64_t br, int64_t k0, int64_t bc) const {
    const T neg_inf = -std::numeric_limits<T>::infinity();
    if (mask.data) {
      const int64_t off = (bh / sh.heads) * mask.b + (bh % sh.heads) * mask.h;
      for (int64_t r = 0; r < br; ++r) {
        T* row = s + r * ld;
        const int64_t base = off + (q0 + r) * mask.row + k0 * mask.col;
        if (mask.is_bool) {
          const uint8_t* m = static_cast<const uint8_t*>(mask.data) + base;
          for (int64_t c = 0; c < bc; ++c)
            if (!m[c * mask.col]) row[c] = neg_inf;
        } else {
          const T* m = static_cast<const T*>(mask.data) + base;
          for (int64_t c = 0; c < bc; ++c) row[c] += m[c * mask.col];
        }
      }
    }
    if (opt.causal && k0 + bc - 1 > q0) {  // some key j > query i in this tile
      for (int64_t r = 0; r < br; ++r) {
        const int64_t first_masked = std::max<int64_t>(q0 + r + 1 - k0, 0);
        for (int64_t c = first_masked; c < bc; ++c) s[r * ld + c] = neg_inf;
      }
    }
  }

  // p *= keep / (1 - p_drop) over a tile (the same mask in the forward and the backward)
  void apply_dropout(T* p, int64_t ld, int64_t bh, int64_t q0, int64_t br, int64_t k0, int64_t bc) const {
    const T keep_scale = T(1.0 / (1.0 - opt.dropout_p));
    for (int64_t r = 0; r < br; ++r) {
      const uint32_t key = dropout_row_key(opt.seed, bh * sh.q_len + q0 + r);
      T* row = p + r * ld;
      if constexpr (std::is_same<T, float>::value)
        if (simd) {
          simd->dropout_row(row, bc, key, static_cast<uint32_t>(k0), drop_threshold, keep_scale);
          continue;
        }
      dropout_row_reference(row, bc, key, static_cast<uint32_t>(k0), drop_threshold, keep_scale);
    }
  }

  T row_max(const T* x, int64_t n) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) return simd->row_max(x, n);
    return row_max_reference(x, n);
  }
  T exp_sub_sum(T* x, int64_t n, T m) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) return simd->exp_sub_sum(x, n, m);
    return exp_sub_sum_reference(x, n, m);
  }
  void scale_row(T* x, int64_t n, T a) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) return simd->scale(x, n, a);
    scale_row_reference(x, n, a);
  }
  T dot(const T* a, const T* b, int64_t n) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) return simd->dot(a, b, n);
    return dot_reference(a, b, n);
  }
  void softmax_grad(const T* p, T* dp, int64_t n, T d) const {
    if constexpr (std::is_same<T, float>::value)
      if (simd) return simd->softmax_grad(p, dp, n, d);
    softmax_grad_reference(p, dp, n, d);
  }

  // Causal banding. A tile whose keys k0 .. k0+bc-1 include one past some of its queries
  // (k0 + bc - 1 > q0) is cut by the diagonal; there the products run per band of
  // kCausalBand query rows over only the keys that band can see, and per band of keys over
  // only the rows that see them. Bands lie on one grid of absolute positions (the tiles are
  // multiples of the band), so every entry a key band reads was computed by a query band:
  // masked ones as 0, the others as the weights.
  bool cut_by_diagonal(int64_t q0, int64_t k0, int64_t bc) const { return opt.causal && k0 + bc - 1 > q0; }
  // keys of the tile [k0, k0+bc) computed for the query rows ending at q_end (exclusive):
  // those they see, rounded up to the band grid; <= 0 when they see none
  int64_t band_keys(int64_t q_end, int64_t k0, int64_t bc) const {
    if (!opt.causal) return bc;
    const int64_t seen = q_end - k0;
    return seen <= 0 ? 0 : std::min(bc, (seen + kCausalBand - 1) / kCausalBand * kCausalBand);
  }
  // first row of the query tile [q0, q0+br) that sees key `key` (br when none does)
  int64_t band_first_row(int64_t q0, int64_t br, int64_t key) const {
    return opt.causal ? std::min(br, std::max<int64_t>(0, key - q0)) : 0;
  }

  // last key (exclusive) a query tile ending at q_end can see
  int64_t key_end(int64_t q_end) const { return opt.causal ? std::min(sh.kv_len, q_end) : sh.kv_len; }
};

template <class T>
Problem<T> make_problem(const void* q, AttentionStrides qs, const void* k, AttentionStrides ks, const void* v,
                        AttentionStrides vs, const AttentionShape& shape, const AttentionMask& mask,
                        const AttentionOptions& opt) {
  if (!(opt.dropout_p >= 0 && opt.dropout_p < 1))
    throw KernelError("attention: dropout_p must be in [0, 1), got " + std::to_string(opt.dropout_p));
  Problem<T> p{static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), qs, ks, vs, shape,
               mask, opt, nullptr, dropout_threshold(opt.dropout_p)};
  if constexpr (std::is_same<T, float>::value) {
    p.simd = attention_simd_active();
  }
  return p;
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
