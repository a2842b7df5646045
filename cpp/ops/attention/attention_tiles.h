// The pieces of the fused attention that its forward (attention.cpp) and its backward
// (attention_backward.cpp) share, internal to this folder: the tile sizes, the dropout
// generator, the reference row operations of the online softmax and of its gradient, and
// Problem<T>, the operands of one call with the kernels that run on them (the tile products
// through the GEMM micro-kernel or gemm_reference, the rows through AttentionSimd or the
// reference loops). Everything is in an unnamed namespace: each file gets its own copy.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "attention.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/gemm/gemm.h"

MINIDL_SIMD_TABLE(minidl::AttentionSimd, attention_simd)

namespace minidl {
namespace {

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

// Threads in the running team (1 outside a parallel region).
inline int64_t team_size() {
#ifdef _OPENMP
  return omp_in_parallel() ? omp_get_num_threads() : 1;
#else
  return 1;
#endif
}

// Runs f(item) for items [0, n) on the team, handing them out dynamically; on the calling thread
// when the call's multiply-adds (fma) are too few to pay for waking the team (kParallelMinFma,
// as the GEMM): a KV-cache step's attention, 1 query x 256 keys x 4 heads, took 0.091 ms on 2
// threads against 0.028 on 1 (the Xeon).
template <class F>
void parallel_items(int64_t n, int64_t fma, const F& f) {
#ifdef _OPENMP
  const int nt = num_threads();
  if (nt > 1 && n > 1 && fma >= kParallelMinFma && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast<int>(std::min<int64_t>(nt, n)))
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) f(i);
}

// ---- the operands of one call and which kernels run -------------------------------

// Everything one call needs, typed, and which kernels run: the tile products through the GEMM
// micro-kernel (float32 on a SIMD set) or gemm_reference, the row operations through
// AttentionSimd (float32 on a SIMD set) or the reference loops above. The forward and the
// backward of a tile: forward_impl (attention.cpp) and backward_impl (attention_backward.cpp).
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
}  // namespace minidl
