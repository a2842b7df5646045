// Mean and biased variance of values that arrive in runs (a LayerNorm row is one run, a
// BatchNorm channel is N runs), by the corrected two-pass algorithm (Chan, Golub & LeVeque
// 1983; Higham, "Accuracy and Stability of Numerical Algorithms", sec. 1.9):
//   pass 1:  pilot p = sum(x) / n
//   pass 2:  d = x - p,  mean = p + sum(d) / n,  var = (sum(d^2) - sum(d)^2 / n) / n
// The second term of mean repairs the rounding of the pass-1 sum, and the second term of var
// is the matching correction (exactly zero in exact arithmetic). A constant row gets its own
// value back as the mean, so it normalises to exactly 0 (issue 14: the float32 SIMD sum of
// seven values of 1000.3 alone gave a mean a few ulps off, and outputs of 0.0193).
// Here: the scalar reference of the per-run sums (in double, as every reference kernel sums)
// and the finishing formulas; the float32 SIMD loops are in row_stats_simd.h.
#pragma once
#include <algorithm>
#include <cstdint>

namespace minidl {

// sum x over one run
template <class T>
double run_sum_reference(const T* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

// *sum_d += sum d, *sum_d2 += sum d^2 over one run, with d = x - pilot
template <class T>
void run_sum_dev_reference(const T* x, int64_t n, double pilot, double* sum_d, double* sum_d2) {
  double s = 0, q = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - pilot;
    s += d;
    q += d * d;
  }
  *sum_d += s;
  *sum_d2 += q;
}

struct MeanVar {
  double mean, var;  // var biased (divided by n)
};

// the pass-2 sums over all n values -> mean and biased variance (n > 0)
inline MeanVar finish_mean_var(double pilot, double sum_d, double sum_d2, int64_t n) {
  const double shift = sum_d / double(n);
  // the correction can round the variance of a constant row to a tiny negative number
  return {pilot + shift, std::max(0.0, (sum_d2 - sum_d * shift) / double(n))};
}

}  // namespace minidl
