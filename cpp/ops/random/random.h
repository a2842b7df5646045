// The random number generators behind md.Generator, md.manual_seed, rand/randn/randint,
// randperm, the in-place distributions (uniform_, normal_, exponential_, ...), poisson and
// dropout masks: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
//
// A Generator is one Rng: 256 bits of state plus the seed it started from. Every fill takes
// the Rng to draw from, so two generators never disturb each other; default_rng() is the
// global one (md.default_generator). Each fill writes n contiguous elements of `out` in index
// order from that one stream (it is sequential, so a seed gives the same numbers on every
// machine and thread count). Only the normal fill's transform of the drawn uniforms has a SIMD
// table and threads, and it gives the same bits on every one of them (box_muller.h).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

struct Rng {
  // PyTorch's default seed for a fresh torch.Generator(), so initial_seed() reads the same
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;

  uint64_t state[4];
  uint64_t seed;

  explicit Rng(uint64_t seed_value = kDefaultSeed) { manual_seed(seed_value); }
  void manual_seed(uint64_t seed_value);  // splitmix64 expands the seed into the 4 words
  uint64_t next_u64();                    // the xoshiro256** step
  double next_double();                   // uniform on [0, 1), 53 random bits
  uint64_t next_below(uint64_t n);        // unbiased integer on [0, n)
};

// md.default_generator's state: what every draw without generator= uses
Rng& default_rng();

void fill_uniform(Rng& rng, void* out, DType dtype, int64_t n, double low, double high);  // [low, high)
void fill_normal(Rng& rng, void* out, DType dtype, int64_t n, double mean, double std);   // Box-Muller
void fill_randint(Rng& rng, int64_t* out, int64_t n, int64_t low, int64_t high);           // [low, high)
void randperm(Rng& rng, int64_t* out, int64_t n);                                          // Fisher-Yates
// out[i] = (uniform < p) as bool bytes
void fill_bernoulli(Rng& rng, uint8_t* out, int64_t n, double p);
// out[i] = (uniform < p[i]) as 0.0 / 1.0; every p[i] must lie in [0, 1] (KernelError otherwise)
void fill_bernoulli_tensor(Rng& rng, double* out, const double* p, int64_t n);

// The distributions of Tensor's in-place samplers, all by inversion of one uniform u:
//   exponential(lambda):  -log(1 - u) / lambda                       (lambda > 0)
//   geometric(p):         floor(log(1 - u) / log(1 - p)) + 1 >= 1    (0 < p < 1)
//   cauchy(median, sigma): median + sigma tan(pi (u - 1/2))          (sigma > 0)
//   log_normal(mean, std): exp(N(mean, std^2))                        (std > 0)
void fill_exponential(Rng& rng, double* out, int64_t n, double lambda);
void fill_geometric(Rng& rng, double* out, int64_t n, double p);
void fill_cauchy(Rng& rng, double* out, int64_t n, double median, double sigma);
void fill_log_normal(Rng& rng, double* out, int64_t n, double mean, double std);

// out[i] ~ Poisson(rate[i]); every rate must be finite and >= 0 (KernelError otherwise).
// Knuth's product of uniforms below rate 10, Hormann's PTRS transformed rejection from 10 on.
void fill_poisson(Rng& rng, double* out, const double* rate, int64_t n);

// The normal fill's transform for one ISA (random_simd.cpp): out[0 .. n) from the uniform pairs
// (u0[p], u1[p]), p < ceil(n / 2), z0 of pair p at out[2p] and z1 at out[2p + 1] (box_muller.h:
// the same bits as the scalar reference on every kernel set).
struct RandomSimd {
  void (*normal_pairs_f32)(const double* u0, const double* u1, int64_t n, double mean, double std, float* out);
  void (*normal_pairs_f64)(const double* u0, const double* u1, int64_t n, double mean, double std, double* out);
};

// md.multinomial: num_samples category indices per row of `weights` (float32 or float64,
// rows x categories, contiguous, non-negative, finite, each row summing to > 0: KernelError
// with PyTorch's message otherwise), with or without replacement, into out (rows x
// num_samples). See multinomial.cpp for the two methods.
void multinomial(Rng& rng, DType dtype, const void* weights, int64_t rows, int64_t categories, int64_t num_samples,
                 bool replacement, int64_t* out);

}  // namespace minidl
