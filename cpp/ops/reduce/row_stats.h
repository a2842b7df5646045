// Mean and biased variance of values that arrive in runs (a LayerNorm row is one run, a
// BatchNorm channel is N runs), by the shifted two-pass algorithm (Chan, Golub & LeVeque 1983;
// Higham, "Accuracy and Stability of Numerical Algorithms", sec. 1.9):
//   pass 1:  mean = shift + sum(x - shift) / n,  shift = the first value
//   pass 2:  var = sum((x - m)^2) / n - (mean - m)^2
// where m is the mean as pass 2 sees it (the float32 SIMD loops get it rounded to float32; the
// second term of var accounts for that rounding, since sum(x - mean) = 0).
// Why the shift: a float32 sum of n values near 1000 is off by a few ulps of 1000, so a mean
// taken from it is off too, and (x - mean) rstd then shifts every output of a low-spread row
// (issue 14: a constant row of 1000.3 gave 0.0193 instead of 0). The x - shift are small and
// exact for such a row, so their sum is accurate; a constant row sums to exactly 0 and gets its
// own value back as the mean, so it normalises to exactly 0.
// Here: the scalar reference of the per-run sums (in double, as every reference kernel sums)
// and the finishing formulas; the float32 SIMD loops are in row_stats_simd.h.
#pragma once
#include <algorithm>
#include <cstdint>

namespace minidl {

// sum (x - shift) over one run
template <class T>
double run_sum_shifted_reference(const T* x, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) - shift;
  return s;
}

// sum (x - mean)^2 over one run
template <class T>
double run_sum_sq_dev_reference(const T* x, int64_t n, double mean) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - mean;
    s += d * d;
  }
  return s;
}

struct MeanVar {
  double mean, var;  // var biased (divided by n)
};

// pass 2's sum over all n values (n > 0) -> the biased variance; mean_lo = mean - m, the part
// of the mean that pass 2 did not see (0 for the double reference)
inline double finish_var(double sum_sq_dev, int64_t n, double mean_lo) {
  // the correction can round the variance of a constant row to a tiny negative number
  return std::max(0.0, sum_sq_dev / double(n) - mean_lo * mean_lo);
}

}  // namespace minidl
