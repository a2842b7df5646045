// Float32 EmbeddingBag row loops for one ISA: the vector versions of the inner loops of the
// reference kernels at the top of embedding_bag.cpp. A weight row (D values, typically
// 32..512) is read once per bag member; these loops keep the bag's output row in L1 while
// its member rows stream in.
#include "embedding_bag.h"
#include "core/vec.h"

#include <algorithm>

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// A bag's output is built one tile of 4 vectors (64 columns in AVX-512, 32 in AVX2) at a time,
// in registers, while the member rows stream past: one store per tile instead of a load and
// a store of the output per member. The rows come from anywhere in the table (a cache miss
// each), so the tile of the row kAhead members ahead is prefetched; 8 rows of lead hides
// several misses (8 and 16 rows of lead measured the same, within this VM's noise, on the
// 100k x 64 benchmark of bench_embedding_bag.py; fbgemm, PyTorch's kernel, prefetches too).
constexpr int64_t kVecsPerTile = 4, kAhead = 8;

inline int lanes(int64_t len, int64_t v) { return int(std::min<int64_t>(W, std::max<int64_t>(0, len - v * W))); }

enum class Pool { sum, weighted_sum, max };

// --8<-- [start:pool_tile]
// One tile of a bag: out[d0 : d0 + len] for columns d0.. of the rows (len <= a tile; kFull:
// len is a whole tile, so every load is a plain one and the loops over v are fixed). The pool
// kind and kFull are template arguments so that the loop over the bag's rows holds no branch
// but the padding test: with run-time tests there, the sum forward of bench_embedding_bag.py
// took 2.09 ms, with these 1.33 ms (1 thread, medians of 3 alternating runs).
template <Pool P, bool kFull>
int64_t pool_tile(const float* weight, const int64_t* idx, const float* psw, int64_t n, int64_t n_ahead,
                  int64_t dim, int64_t d0, int64_t len, int64_t padding_idx, float* out) {
  int r[kVecsPerTile];
  for (int64_t v = 0; v < kVecsPerTile; ++v) r[v] = kFull ? int(W) : lanes(len, v);
  Vec acc[kVecsPerTile];
  for (int64_t v = 0; v < kVecsPerTile; ++v) acc[v] = Vec::zero();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n_ahead)  // into the next bags too: their first rows are misses as well
      for (int64_t off = 0; off < (kFull ? kVecsPerTile * W : len); off += 16)
        _mm_prefetch(reinterpret_cast<const char*>(weight + idx[i + kAhead] * dim + d0 + off), _MM_HINT_T0);
    if (idx[i] == padding_idx) continue;
    const float* row = weight + idx[i] * dim + d0;
    Vec x[kVecsPerTile];
    for (int64_t v = 0; v < kVecsPerTile; ++v)
      x[v] = kFull || r[v] == W ? Vec::load(row + v * W) : r[v] > 0 ? Vec::load_partial(row + v * W, r[v]) : Vec::zero();
    if constexpr (P == Pool::max) {
      for (int64_t v = 0; v < kVecsPerTile; ++v) acc[v] = count == 0 ? x[v] : max(x[v], acc[v]);
    } else if constexpr (P == Pool::weighted_sum) {
      const Vec s = Vec::set1(psw[i]);
      for (int64_t v = 0; v < kVecsPerTile; ++v) acc[v] = fmadd(s, x[v], acc[v]);
    } else {
      for (int64_t v = 0; v < kVecsPerTile; ++v) acc[v] = acc[v] + x[v];
    }
    ++count;
  }
  for (int64_t v = 0; v < kVecsPerTile; ++v) {
    if (kFull || r[v] == W) acc[v].store(out + d0 + v * W);
    else if (r[v] > 0) acc[v].store_partial(out + d0 + v * W, r[v]);
  }
  return count;
}
// --8<-- [end:pool_tile]

template <Pool P>
int64_t pool_tiles(const float* weight, const int64_t* idx, const float* psw, int64_t n, int64_t n_ahead, int64_t dim,
                   int64_t padding_idx, float* out) {
  int64_t count = 0;
  for (int64_t d0 = 0; d0 < dim; d0 += kVecsPerTile * W) {
    const int64_t len = std::min<int64_t>(kVecsPerTile * W, dim - d0);
    count = len == kVecsPerTile * W ? pool_tile<P, true>(weight, idx, psw, n, n_ahead, dim, d0, len, padding_idx, out)
                                    : pool_tile<P, false>(weight, idx, psw, n, n_ahead, dim, d0, len, padding_idx, out);
  }
  return count;
}

// out[0:dim] = sum s_i weight[idx_i] (s_i = psw[i] or 1), or the running max from the first
// kept row on, out = x > out ? x : out, which is what max(x, out) computes (vmaxps returns its
// second operand unless the first is greater): PyTorch's update, so a NaN of the first row
// stays and a later NaN is skipped. Indices equal to padding_idx are skipped. Returns the
// number of rows kept (0: out is all zeros). idx[n:n_ahead] are the next bags' indices (prefetched).
int64_t pool_bag(const float* weight, const int64_t* idx, const float* psw, int64_t n, int64_t n_ahead,
                 int64_t dim, int64_t padding_idx, bool max_mode, float* out) {
  if (max_mode) return pool_tiles<Pool::max>(weight, idx, psw, n, n_ahead, dim, padding_idx, out);
  if (psw) return pool_tiles<Pool::weighted_sum>(weight, idx, psw, n, n_ahead, dim, padding_idx, out);
  return pool_tiles<Pool::sum>(weight, idx, psw, n, n_ahead, dim, padding_idx, out);
}

// y += a x
void axpy(const float* x, float a, float* y, int64_t n) {
  const Vec va = Vec::set1(a);
  int64_t i = 0;
  for (; i + W <= n; i += W) fmadd(va, Vec::load(x + i), Vec::load(y + i)).store(y + i);
  if (i < n) {
    const int r = int(n - i);
    fmadd(va, Vec::load_partial(x + i, r), Vec::load_partial(y + i, r)).store_partial(y + i, r);
  }
}

// sum x y, two accumulators to hide the FMA latency
float dot(const float* x, const float* y, int64_t n) {
  Vec s0 = Vec::zero(), s1 = Vec::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = fmadd(Vec::load(x + i), Vec::load(y + i), s0);
    s1 = fmadd(Vec::load(x + i + W), Vec::load(y + i + W), s1);
  }
  for (; i < n; i += W) {
    const int r = n - i >= W ? int(W) : int(n - i);
    s0 = fmadd(r == W ? Vec::load(x + i) : Vec::load_partial(x + i, r),
               r == W ? Vec::load(y + i) : Vec::load_partial(y + i, r), s0);
  }
  return reduce_add(s0 + s1);
}

}  // namespace

extern const EmbeddingBagSimd embedding_bag_simd = {&pool_bag, &axpy, &dot};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
