// The random number generator behind md.manual_seed, randn/rand/randint, randperm and
// dropout masks (bernoulli): xoshiro256** (Blackman & Vigna), seeded through splitmix64.
// Each fill writes n contiguous elements of `out` in index order from the one global stream;
// no SIMD table (the stream is sequential).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

void manual_seed(uint64_t seed);
uint64_t initial_seed();
// The generator's 4 x 64-bit state, for saving and restoring.
void get_rng_state(uint64_t out[4]);
void set_rng_state(const uint64_t in[4]);

void fill_uniform(void* out, DType dtype, int64_t n, double low, double high);  // [low, high)
void fill_normal(void* out, DType dtype, int64_t n, double mean, double std);   // Box-Muller
void fill_randint(int64_t* out, int64_t n, int64_t low, int64_t high);           // [low, high)
void randperm(int64_t* out, int64_t n);                                          // Fisher-Yates
// out[i] = (uniform < p) as bool bytes
void fill_bernoulli(uint8_t* out, int64_t n, double p);

}  // namespace minidl
