// xoshiro256** (Blackman & Vigna, 2018): fast, 256-bit state, passes BigCrush. One global
// generator, seeded by md.manual_seed through splitmix64 as the authors recommend.
//
// Read top to bottom: the generator (next_u64) and its two derived draws, a uniform double in
// [0, 1) and an unbiased integer below n; seeding and state; then the fills, each a plain loop
// drawing in index order. That loop is the only implementation (no SIMD table, no threads):
// one sequential stream, so a seed gives the same numbers on every machine and thread count.
// Nothing here has a gradient.
#include "random.h"

#include <cmath>
#include <string>

#include "core/dtype_dispatch.h"

namespace minidl {
namespace {

uint64_t g_state[4];
uint64_t g_seed = 0;

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

inline uint64_t next_u64() {
  const uint64_t result = rotl(g_state[1] * 5, 7) * 9;
  const uint64_t t = g_state[1] << 17;
  g_state[2] ^= g_state[0];
  g_state[3] ^= g_state[1];
  g_state[1] ^= g_state[2];
  g_state[0] ^= g_state[3];
  g_state[2] ^= t;
  g_state[3] = rotl(g_state[3], 45);
  return result;
}

// uniform in [0, 1) with 53 random bits
inline double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

// unbiased integer in [0, n) (Lemire's multiply-shift with rejection)
inline uint64_t next_below(uint64_t n) {
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

struct Init { Init() { manual_seed(0x5eed5eedULL); } } g_init;

}  // namespace

void manual_seed(uint64_t seed) {
  g_seed = seed;
  uint64_t z = seed;
  for (auto& s : g_state) {  // splitmix64
    z += 0x9e3779b97f4a7c15ULL;
    uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    s = x ^ (x >> 31);
  }
}

uint64_t initial_seed() { return g_seed; }
void get_rng_state(uint64_t out[4]) { for (int i = 0; i < 4; ++i) out[i] = g_state[i]; }
void set_rng_state(const uint64_t in[4]) { for (int i = 0; i < 4; ++i) g_state[i] = in[i]; }

void fill_uniform(void* out, DType dtype, int64_t n, double low, double high) {
  MINIDL_DISPATCH_FLOAT(dtype, "rand", {
    T* o = static_cast<T*>(out);
    for (int64_t i = 0; i < n; ++i) {
      T v = static_cast<T>(low + (high - low) * next_double());
      o[i] = v < static_cast<T>(high) ? v : static_cast<T>(low);  // float rounding may reach high
    }
  });
}

void fill_normal(void* out, DType dtype, int64_t n, double mean, double std) {
  MINIDL_DISPATCH_FLOAT(dtype, "randn", {
    T* o = static_cast<T*>(out);
    // Box-Muller: two uniforms -> two independent N(0, 1)
    for (int64_t i = 0; i < n; i += 2) {
      double u1 = 1.0 - next_double();  // (0, 1]: log is finite
      double u2 = next_double();
      double r = std::sqrt(-2.0 * std::log(u1));
      o[i] = static_cast<T>(mean + std * r * std::cos(2 * M_PI * u2));
      if (i + 1 < n) o[i + 1] = static_cast<T>(mean + std * r * std::sin(2 * M_PI * u2));
    }
  });
}

void fill_randint(int64_t* out, int64_t n, int64_t low, int64_t high) {
  if (high <= low)
    throw KernelError("randint: high (" + std::to_string(high) + ") must be greater than low (" + std::to_string(low) + ")");
  const uint64_t span = static_cast<uint64_t>(high - low);
  for (int64_t i = 0; i < n; ++i) out[i] = low + static_cast<int64_t>(next_below(span));
}

void randperm(int64_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(next_below(static_cast<uint64_t>(i + 1)));
    int64_t t = out[i]; out[i] = out[j]; out[j] = t;
  }
}

void fill_bernoulli(uint8_t* out, int64_t n, double p) {
  for (int64_t i = 0; i < n; ++i) out[i] = next_double() < p;
}

}  // namespace minidl
