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
inline Vec load_lanes(const float* p, int r) { return r == W ? Vec::load(p) : Vec::load_partial(p, r); }

// out[0:dim] = sum s_i weight[idx_i] (s_i = psw[i] or 1), or the running max from the first
// kept row on, out = x > out ? x : out, which is what max(x, out) computes (vmaxps returns its
// second operand unless the first is greater): PyTorch's update, so a NaN of the first row
// stays and a later NaN is skipped. Indices equal to padding_idx are skipped. Returns the
// number of rows kept (0: out is all zeros). idx[n:n_ahead] are the next bags' indices (prefetched).
int64_t pool_bag(const float* weight, const int64_t* idx, const float* psw, int64_t n, int64_t n_ahead,
                 int64_t dim, int64_t padding_idx, bool max_mode, float* out) {
  int64_t count = 0;
  for (int64_t d0 = 0; d0 < dim; d0 += kVecsPerTile * W) {
    const int64_t len = std::min<int64_t>(kVecsPerTile * W, dim - d0);
    Vec acc[kVecsPerTile];
    for (int64_t v = 0; v < kVecsPerTile; ++v) acc[v] = Vec::zero();
    count = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (i + kAhead < n_ahead)  // into the next bags too: their first rows are misses as well
        for (int64_t off = 0; off < len; off += 16)
          _mm_prefetch(reinterpret_cast<const char*>(weight + idx[i + kAhead] * dim + d0 + off), _MM_HINT_T0);
      if (idx[i] == padding_idx) continue;
      const float* row = weight + idx[i] * dim + d0;
      const Vec s = Vec::set1(psw ? psw[i] : 1.0f);
      for (int64_t v = 0; v < kVecsPerTile; ++v) {
        const int r = lanes(len, v);
        if (r == 0) break;
        const Vec x = load_lanes(row + v * W, r);
        acc[v] = !max_mode ? fmadd(s, x, acc[v]) : count == 0 ? x : max(x, acc[v]);
      }
      ++count;
    }
    for (int64_t v = 0; v < kVecsPerTile; ++v) {
      const int r = lanes(len, v);
      if (r == W) acc[v].store(out + d0 + v * W);
      else if (r > 0) acc[v].store_partial(out + d0 + v * W, r);
    }
  }
  return count;
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
