// Multinomial sampling (md.multinomial): category indices drawn per row with probability
// proportional to non-negative weights, with or without replacement, from one Rng.
//
// With replacement: inverse-CDF. cdf_i = (w_0 + ... + w_i) / total; a uniform u picks the
// first i with cdf_i > u, so a zero-weight category (an empty interval) is never drawn.
// Without replacement: the "exponential race" (Efraimidis & Spirakis, 2006, in PyTorch's form):
// key_i = w_i / E_i with E_i ~ Exp(1); the num_samples largest keys, in decreasing order, are
// distributed as drawing one category at a time and removing it. Zero weights get key 0 and
// come last, lowest index first.
//
// The uniforms are drawn row by row in index order (num_samples per row with replacement,
// one per category without), so a seed gives the same samples everywhere.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/dtype_dispatch.h"
#include "random.h"

namespace minidl {
namespace {

// PyTorch's messages for bad weights
template <class T>
void check_row(const T* w, int64_t categories) {
  double total = 0.0;
  for (int64_t c = 0; c < categories; ++c) {
    if (!std::isfinite(w[c]) || w[c] < 0)
      throw KernelError("probability tensor contains either `inf`, `nan` or element < 0");
    total += w[c];
  }
  if (!(total > 0)) throw KernelError("invalid multinomial distribution (sum of probabilities <= 0)");
}

template <class T>
void draw_with_replacement(Rng& rng, const T* w, int64_t categories, int64_t num_samples, int64_t* out,
                           std::vector<double>& cdf) {
  double total = 0.0;  // summed in the same order as the running sums below, so cdf[last] == 1 exactly
  int64_t last_nonzero = 0;
  for (int64_t c = 0; c < categories; ++c) {
    total += w[c];
    if (w[c] > 0) last_nonzero = c;
  }
  double running = 0.0;
  for (int64_t c = 0; c < categories; ++c) {
    running += w[c];
    cdf[c] = running / total;
  }
  for (int64_t s = 0; s < num_samples; ++s) {
    const double u = rng.next_double();
    const int64_t i = std::upper_bound(cdf.begin(), cdf.begin() + categories, u) - cdf.begin();
    out[s] = std::min(i, last_nonzero);  // u within rounding of 1 could pass the last bin
  }
}

template <class T>
void draw_without_replacement(Rng& rng, const T* w, int64_t categories, int64_t num_samples, int64_t* out,
                              std::vector<double>& key, std::vector<int64_t>& order) {
  for (int64_t c = 0; c < categories; ++c) {
    const double e = -std::log1p(-rng.next_double());  // Exp(1); 0 only when u = 0 exactly
    key[c] = w[c] == 0 ? 0.0 : e == 0 ? INFINITY : w[c] / e;
  }
  std::iota(order.begin(), order.begin() + categories, int64_t{0});
  std::partial_sort(order.begin(), order.begin() + num_samples, order.begin() + categories,
                    [&](int64_t a, int64_t b) { return key[a] > key[b] || (key[a] == key[b] && a < b); });
  std::copy(order.begin(), order.begin() + num_samples, out);
}

// float32 weights are read as they are (no float64 copy of the whole input): every sum and
// key is in double either way, so the draws are the same as from the weights cast to float64
template <class T>
void multinomial_rows(Rng& rng, const T* weights, int64_t rows, int64_t categories, int64_t num_samples,
                      bool replacement, int64_t* out) {
  for (int64_t r = 0; r < rows; ++r) check_row(weights + r * categories, categories);
  std::vector<double> scratch(categories);
  std::vector<int64_t> order(replacement ? 0 : categories);
  for (int64_t r = 0; r < rows; ++r) {
    const T* w = weights + r * categories;
    if (replacement)
      draw_with_replacement(rng, w, categories, num_samples, out + r * num_samples, scratch);
    else
      draw_without_replacement(rng, w, categories, num_samples, out + r * num_samples, scratch, order);
  }
}

}  // namespace

void multinomial(Rng& rng, DType dtype, const void* weights, int64_t rows, int64_t categories, int64_t num_samples,
                 bool replacement, int64_t* out) {
  if (num_samples <= 0) throw KernelError("cannot sample n_sample <= 0 samples");
  if (!replacement && num_samples > categories)
    throw KernelError("cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  MINIDL_DISPATCH_FLOAT(dtype, "multinomial", {
    multinomial_rows(rng, static_cast<const T*>(weights), rows, categories, num_samples, replacement, out);
  });
}

}  // namespace minidl
