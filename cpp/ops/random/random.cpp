// xoshiro256** (Blackman & Vigna, 2018): fast, 256-bit state, passes BigCrush. Each Rng (one
// md.Generator) owns its state, seeded by manual_seed through splitmix64 as the authors recommend.
//
// Read top to bottom: the generator (next_u64) and its two derived draws, a uniform double in
// [0, 1) and an unbiased integer below n; seeding; then the fills, each a plain loop drawing in
// index order: one sequential stream, so a seed gives the same numbers on every machine and
// thread count. (The normal fill draws its uniforms in that order too and only spreads the
// transforms of drawn uniforms over the threads and SIMD lanes, with the same bits on each:
// box_muller.h.) Nothing here has a gradient.
#include "random.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "box_muller.h"
#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"

MINIDL_SIMD_TABLE(minidl::RandomSimd, random_simd)

namespace minidl {
namespace {

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

// --8<-- [start:xoshiro]
// One xoshiro256** step on the state words s (the generator's, or a fill loop's copy:
// LocalStream)
inline uint64_t xoshiro_step(uint64_t* s) {
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t Rng::next_u64() { return xoshiro_step(state); }

// --8<-- [start:derived_draws]
// the top 53 bits as a double on [0, 1)
inline double to_unit_double(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }
double Rng::next_double() { return to_unit_double(next_u64()); }
// --8<-- [end:xoshiro]

namespace {

// An Rng's state copied into local words for one fill loop, so that the compiler keeps it in
// registers (a call per draw through the library's PLT took 12% of the normal fill once its
// transform was in vectors; rand 1M float32, 1 thread, 3.4 -> 1.8 ms, PyTorch 2.9, Intel Xeon
// family 6 model 167), and written back when the loop is done. The same draws as the Rng's own.
struct LocalStream {
  Rng& rng;
  uint64_t s[4];
  explicit LocalStream(Rng& r) : rng(r), s{r.state[0], r.state[1], r.state[2], r.state[3]} {}
  ~LocalStream() { std::copy(s, s + 4, rng.state); }
  LocalStream(const LocalStream&) = delete;
  LocalStream& operator=(const LocalStream&) = delete;
  double next_double() { return to_unit_double(xoshiro_step(s)); }
};

}  // namespace

// Lemire's multiply-shift with rejection: the high word of u * n is uniform on [0, n) once
// the low words that would over-represent some values are rejected
uint64_t Rng::next_below(uint64_t n) {
  __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<__uint128_t>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}
// --8<-- [end:derived_draws]

// --8<-- [start:seeding]
void Rng::manual_seed(uint64_t seed_value) {
  seed = seed_value;
  uint64_t z = seed_value;
  for (auto& s : state) {  // splitmix64
    z += 0x9e3779b97f4a7c15ULL;
    uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    s = x ^ (x >> 31);
  }
}
// --8<-- [end:seeding]

Rng& default_rng() {
  static Rng rng(0x5eed5eedULL);  // minidl's start-up seed since before Generators existed
  return rng;
}

namespace {

// float16 / bfloat16 (bit patterns): the draw rounded once more, with the same guard, since
// rounding to 11 or 8 significant bits reaches `high` often (1 draw in ~4000 for float16 on [0, 1))
template <uint16_t (*to_bits)(float), float (*from_bits)(uint16_t)>
void fill_uniform_lowp(Rng& rng, uint16_t* o, int64_t n, double low, double high) {
  const uint16_t low_bits = to_bits(static_cast<float>(low));
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t v = to_bits(static_cast<float>(low + (high - low) * rng.next_double()));
    o[i] = from_bits(v) < high ? v : low_bits;
  }
}

}  // namespace

// --8<-- [start:fill_uniform]
void fill_uniform(Rng& rng, void* out, DType dtype, int64_t n, double low, double high) {
  if (dtype == DType::f16)
    return fill_uniform_lowp<float_to_half, half_to_float>(rng, static_cast<uint16_t*>(out), n, low, high);
  if (dtype == DType::bf16)
    return fill_uniform_lowp<float_to_bfloat16, bfloat16_to_float>(rng, static_cast<uint16_t*>(out), n, low, high);
  MINIDL_DISPATCH_FLOAT(dtype, "rand", {
    T* o = static_cast<T*>(out);
    LocalStream stream(rng);
    for (int64_t i = 0; i < n; ++i) {
      T v = static_cast<T>(low + (high - low) * stream.next_double());
      o[i] = v < static_cast<T>(high) ? v : static_cast<T>(low);  // float rounding may reach high
    }
  });
}
// --8<-- [end:fill_uniform]

// --8<-- [start:box_muller]
// Box-Muller: two uniforms -> two independent N(0, 1) (the formula: box_muller.h). The uniforms
// are drawn in stream order on the calling thread, a block at a time (u0 = 1 - u in (0, 1], so
// the log is finite, then u1 for the angle); the transforms of the block then run on the
// threads, on the SIMD table when there is one. Each output is the same operations on the same
// two uniforms whatever the thread count and kernel set, so a seed gives the same numbers
// everywhere. Measured (randn 1M float32, 1 thread, Intel Xeon family 6 model 167, wall,
// medians of 20): 16.6 ms with libm's log and sincos per pair, 3.0 ms with box_muller.h on
// AVX-512 lanes, PyTorch 2.9 (float32 Box-Muller in vectors, whose values depend on the
// vector set); bench_random.py, paired: 3.4 against PyTorch's 4.1 ms.
constexpr int64_t kNormalBlockPairs = 1 << 13;  // 2 x 64 KiB of uniforms, in L2 for the transforms

namespace {

// u0[p] = 1 - u, u1[p] = u' for the next np pairs (u, u') of the stream
void draw_pairs(Rng& rng, double* u0, double* u1, int64_t np) {
  LocalStream stream(rng);
  for (int64_t p = 0; p < np; ++p) {
    u0[p] = 1.0 - stream.next_double();
    u1[p] = stream.next_double();
  }
}

// out[0 .. n) from the pairs: the active set's vectors for float32 and float64
template <class T>
void normal_pairs(const double* u0, const double* u1, int64_t n, double mean, double std, T* out) {
  if (const RandomSimd* simd = random_simd_active()) {
    if constexpr (std::is_same_v<T, float>) return simd->normal_pairs_f32(u0, u1, n, mean, std, out);
    if constexpr (std::is_same_v<T, double>) return simd->normal_pairs_f64(u0, u1, n, mean, std, out);
  }
  box_muller_pairs_scalar(u0, u1, n, mean, std, out);
}

}  // namespace

void fill_normal(Rng& rng, void* out, DType dtype, int64_t n, double mean, double std) {
  MINIDL_DISPATCH_FLOAT(dtype, "randn", {
    T* o = static_cast<T*>(out);
    const int64_t pairs = (n + 1) / 2;
    std::vector<double> u0(static_cast<size_t>(std::min(pairs, kNormalBlockPairs))), u1(u0.size());
    for (int64_t p0 = 0; p0 < pairs; p0 += kNormalBlockPairs) {
      const int64_t np = std::min(kNormalBlockPairs, pairs - p0);
      draw_pairs(rng, u0.data(), u1.data(), np);
      // pairs [b, e) of the block: outputs 2 (p0 + b) .. min(2 (p0 + e), n)
      parallel_for(np, 2048, [&](int64_t b, int64_t e) {
        const int64_t first = 2 * (p0 + b);
        normal_pairs(u0.data() + b, u1.data() + b, std::min(2 * (p0 + e), n) - first, mean, std, o + first);
      });
    }
  });
}
// --8<-- [end:box_muller]

void fill_randint(Rng& rng, int64_t* out, int64_t n, int64_t low, int64_t high) {
  if (high <= low)
    throw KernelError("randint: high (" + std::to_string(high) + ") must be greater than low (" + std::to_string(low) + ")");
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);  // no signed overflow
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + rng.next_below(span));
}

void randperm(Rng& rng, int64_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(rng.next_below(static_cast<uint64_t>(i + 1)));
    int64_t t = out[i]; out[i] = out[j]; out[j] = t;
  }
}

// --8<-- [start:bernoulli]
void fill_bernoulli(Rng& rng, uint8_t* out, int64_t n, double p) {
  for (int64_t i = 0; i < n; ++i) out[i] = rng.next_double() < p;
}
// --8<-- [end:bernoulli]

void fill_bernoulli_tensor(Rng& rng, double* out, const double* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!(p[i] >= 0.0 && p[i] <= 1.0))  // also NaN
      throw KernelError("bernoulli: probability " + std::to_string(p[i]) + " at index " + std::to_string(i) +
                        " is outside [0, 1]");
  for (int64_t i = 0; i < n; ++i) out[i] = rng.next_double() < p[i] ? 1.0 : 0.0;
}

void fill_exponential(Rng& rng, double* out, int64_t n, double lambda) {
  for (int64_t i = 0; i < n; ++i) out[i] = -std::log1p(-rng.next_double()) / lambda;
}

void fill_geometric(Rng& rng, double* out, int64_t n, double p) {
  const double log_q = std::log1p(-p);
  // 1 - u lies in (0, 1], so the log is finite and the smallest value is 1
  for (int64_t i = 0; i < n; ++i) out[i] = std::floor(std::log1p(-rng.next_double()) / log_q) + 1.0;
}

void fill_cauchy(Rng& rng, double* out, int64_t n, double median, double sigma) {
  for (int64_t i = 0; i < n; ++i) out[i] = median + sigma * std::tan(M_PI * (rng.next_double() - 0.5));
}

void fill_log_normal(Rng& rng, double* out, int64_t n, double mean, double std) {
  fill_normal(rng, out, DType::f64, n, mean, std);
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(out[i]);
}

namespace {

// One rate's sampler, its constants computed once: a tensor of one repeated rate (the usual
// case) pays for exp, sqrt, log and two divisions once instead of per element.
struct PoissonSampler {
  double rate = -1.0;
  double limit = 0.0;                                          // Knuth
  double slam = 0, loglam = 0, a = 0, b = 0, inv_alpha = 0, vr = 0;  // PTRS

  explicit PoissonSampler(double r) : rate(r) {
    if (r < 10.0) {
      limit = std::exp(-r);
    } else {
      slam = std::sqrt(r);
      loglam = std::log(r);
      b = 0.931 + 2.53 * slam;
      a = -0.059 + 0.02483 * b;
      inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
      vr = 0.9277 - 3.6224 / (b - 2);
    }
  }

  double draw(Rng& rng) const { return rate == 0.0 ? 0.0 : rate < 10.0 ? knuth(rng) : ptrs(rng); }

  // Knuth (TAOCP vol. 2, 3.4.1): multiply uniforms until the product falls to exp(-rate); the
  // count of factors before that is Poisson(rate). Takes rate + 1 draws on average, so it is
  // used only for small rates.
  double knuth(Rng& rng) const {
    double count = 0.0, product = rng.next_double();
    while (product > limit) {
      count += 1.0;
      product *= rng.next_double();
    }
    return count;
  }

  // PTRS, "transformed rejection with squeeze" (W. Hormann, "The transformed rejection method
  // for generating Poisson random variables", Insurance: Mathematics and Economics 12, 1993):
  // k = floor((2a / us + b) u + rate + 0.43) from two uniforms, accepted at once in the
  // squeeze region (~86% of draws at rate 10, more at larger rates), else by comparing against
  // log of the Poisson pmf. About 1.2 pairs of uniforms per draw at any rate >= 10. The same
  // constants as NumPy's random_poisson_ptrs and PyTorch's sample_poisson.
  double ptrs(Rng& rng) const {
    for (;;) {
      const double u = rng.next_double() - 0.5;
      const double v = rng.next_double();
      const double us = 0.5 - std::fabs(u);
      const double k = std::floor((2 * a / us + b) * u + rate + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <= -rate + k * loglam - std::lgamma(k + 1))
        return k;
    }
  }
};

}  // namespace

void fill_poisson(Rng& rng, double* out, const double* rate, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!(rate[i] >= 0.0) || std::isinf(rate[i]))  // NaN fails the first test
      throw KernelError("poisson: rate " + std::to_string(rate[i]) + " at index " + std::to_string(i) +
                        " is not a finite non-negative number");
  PoissonSampler sampler(n > 0 ? rate[0] : 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (rate[i] != sampler.rate) sampler = PoissonSampler(rate[i]);
    out[i] = sampler.draw(rng);
  }
}

}  // namespace minidl
