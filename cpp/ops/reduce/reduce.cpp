// Reductions over the middle axis of (outer, len, inner): sum, prod, max, min, argmax,
// argmin, logsumexp, any, all, and the variance.
//
// Read top to bottom:
//   1. The reference: one output element, x[0], x[stride], ..., x[(len-1) stride] reduced
//      (reduce_one, variance_one). float32 accumulates in double, so the reference is the
//      accurate side of every comparison. There are no backward kernels: each gradient is the
//      output gradient spread back over the reduced axis by the *Backward nodes of
//      python/minidl/ops/reduce.py (sum: g, mean: g / len, max/min: g at the winning index,
//      logsumexp: g softmax(x), var: 2 g (x - mean) / (len - correction)).
//      reduce_simd.cpp holds the float32 sum/max/min (ReduceSimd), tested against reduce_one.
//   2. Which path runs: an empty axis gives the identity (or throws); float32 sum/max/min on the
//      active SIMD set (one long row split over the threads, or rows/columns per thread);
//      bfloat16/float16 sums widened as they are read (sum_16bit); everything else the
//      reference, OpenMP over the outer * inner outputs.
#include "reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/copy/copy.h"

MINIDL_SIMD_TABLE(minidl::ReduceSimd, reduce_simd)

namespace minidl {
namespace {

// ---- reference: one output element --------------------------------------------------------

template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v); else return false;
}

// One output element: reduce x[0], x[stride], ..., x[(len-1)*stride].
//   sum = scale * sum_r x_r            prod = prod_r x_r
//   max / min: the extreme, NaN wins;  argmax / argmin: its first index
//   logsumexp = m + log sum_r exp(x_r - m), m = max_r x_r
//   any = OR_r (x_r != 0)              all = AND_r (x_r != 0)
// --8<-- [start:reduce_one]
template <class T>
void reduce_one(ReduceOp op, const T* x, int64_t len, int64_t stride, void* out, int64_t o, double scale) {
  switch (op) {
    case ReduceOp::sum: {
      Acc<T> acc = 0;
      for (int64_t r = 0; r < len; ++r) acc += x[r * stride];
      if constexpr (std::is_floating_point_v<T>) acc = static_cast<Acc<T>>(acc * scale);
      static_cast<T*>(out)[o] = static_cast<T>(acc);
      break;
    }
    case ReduceOp::prod: {
      Acc<T> acc = 1;
      for (int64_t r = 0; r < len; ++r) acc *= x[r * stride];
      static_cast<T*>(out)[o] = static_cast<T>(acc);
      break;
    }
    case ReduceOp::max: case ReduceOp::min: case ReduceOp::argmax: case ReduceOp::argmin: {
      const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      T best = x[0];
      int64_t best_i = 0;
      for (int64_t r = 1; r < len && !is_nan(best); ++r) {
        T v = x[r * stride];
        if (is_nan(v) || (want_max ? v > best : v < best)) { best = v; best_i = r; }
      }
      if (op == ReduceOp::max || op == ReduceOp::min) static_cast<T*>(out)[o] = best;
      else static_cast<int64_t*>(out)[o] = best_i;
      break;
    }
    case ReduceOp::logsumexp: {
      if constexpr (std::is_floating_point_v<T>) {
        T m = x[0];
        for (int64_t r = 1; r < len; ++r) m = x[r * stride] > m ? x[r * stride] : m;
        if (std::isinf(m)) { static_cast<T*>(out)[o] = m; break; }  // all -inf, or +inf present
        Acc<T> s = 0;
        for (int64_t r = 0; r < len; ++r) s += std::exp(static_cast<Acc<T>>(x[r * stride] - m));
        static_cast<T*>(out)[o] = static_cast<T>(m + std::log(s));
      }
      break;
    }
    case ReduceOp::any: case ReduceOp::all: {
      bool any = false, all = true;
      for (int64_t r = 0; r < len; ++r) {
        bool v = x[r * stride] != T(0);
        any |= v;
        all &= v;
      }
      static_cast<uint8_t*>(out)[o] = op == ReduceOp::any ? any : all;
      break;
    }
  }
}
// --8<-- [end:reduce_one]

// var = sum_r (x_r - mean)^2 / (len - correction), two passes (mean first): no cancellation
// of sum x^2 - len mean^2. denom = len - correction <= 0 gives NaN, as PyTorch.
// --8<-- [start:variance_one]
template <class T>
inline T variance_one(const T* row, int64_t len, int64_t stride, double denom) {
  double mean = 0;
  for (int64_t r = 0; r < len; ++r) mean += row[r * stride];
  mean /= static_cast<double>(len);
  double ss = 0;
  for (int64_t r = 0; r < len; ++r) {
    double d = row[r * stride] - mean;
    ss += d * d;
  }
  // PyTorch: nan when len - correction <= 0 (with a warning)
  return static_cast<T>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
}
// --8<-- [end:variance_one]

// ---- which path runs ----------------------------------------------------------------------

template <class T>
void reduce_typed(ReduceOp op, const T* x, int64_t outer, int64_t len, int64_t inner, void* out,
                  double scale) {
  const int64_t n_out = outer * inner;
  parallel_for(n_out, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t o = k / inner, i = k % inner;
      reduce_one<T>(op, x + o * len * inner + i, len, inner, out, k, scale);
    }
  });
}

// 16-bit sums (bfloat16 / float16; a Linear layer's bias gradient under autocast, sum_to of a
// broadcast 16-bit gradient): the 16-bit values are read once and widened as they are read,
// summed in float32 (the reference: double), and each result is rounded once to the 16-bit
// dtype, as PyTorch's CPU sum does. Widening to a float32 copy first wrote and re-read twice
// the bytes: a column sum of (4096, 256) bfloat16 took 0.50 ms that way, 0.07 ms here; of
// (4096, 1024) 2.03 -> 0.61 ms (Xeon, 1 thread, min of 9 CPU-time runs). The slabs (outer) are
// the only parallel unit, as for float32. Splitting one slab's columns among 2 threads was
// tried (wall clock, lower quartile of 60, load average 4 on the 2-core VM): (4096, 256)
// 0.07 -> 0.15-0.19 ms (waking the team costs more than the work), (4096, 768) 0.35-0.40 ->
// 0.33, (4096, 1024) 0.50-0.56 -> 0.32-0.49: about 0.25 ms of a GPT block step's 2-thread
// time, not kept.
float widened(uint16_t v, DType dtype) { return dtype == DType::bf16 ? bfloat16_to_float(v) : half_to_float(v); }

void sum_16bit(const uint16_t* x, DType dtype, int64_t outer, int64_t len, int64_t inner, uint16_t* out,
               double scale) {
  std::vector<float> acc(static_cast<size_t>(outer * inner));
  float* a = acc.data();
  const ReduceSimd* simd = reduce_simd_active();
  if (simd && simd->sum_lowp && len > 0) {
    parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len * inner, 1)), [&](int64_t b, int64_t e) {
      simd->sum_lowp(x + b * len * inner, dtype, e - b, len, inner, a + b * inner, static_cast<float>(scale));
    });
  } else {  // the reference: double accumulation of the widened values
    parallel_for(outer * inner, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const uint16_t* p = x + (k / inner) * len * inner + k % inner;
        double s = 0;
        for (int64_t r = 0; r < len; ++r) s += widened(p[r * inner], dtype);
        a[k] = static_cast<float>(s * scale);
      }
    });
  }
  cast_contiguous(a, DType::f32, out, dtype, outer * inner);
}

}  // namespace

// --8<-- [start:which_path]
void reduce(ReduceOp op, const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner,
            void* out, double scale) {
  if ((dtype == DType::bf16 || dtype == DType::f16) && op == ReduceOp::sum)
    return sum_16bit(static_cast<const uint16_t*>(x), dtype, outer, len, inner, static_cast<uint16_t*>(out), scale);
  if (len == 0 && (op == ReduceOp::max || op == ReduceOp::min || op == ReduceOp::argmax ||
                   op == ReduceOp::argmin || op == ReduceOp::logsumexp))
    throw KernelError("cannot reduce over a dimension of size 0 (max/min/argmax/argmin/logsumexp need an element)");
  if (len == 0) {
    // empty sums/products/any/all still produce their identity
    for (int64_t k = 0; k < outer * inner; ++k) {
      MINIDL_DISPATCH_ALL(dtype, "reduce", {
        if (op == ReduceOp::any || op == ReduceOp::all) static_cast<uint8_t*>(out)[k] = op == ReduceOp::all;
        else static_cast<T*>(out)[k] = static_cast<T>(op == ReduceOp::prod ? 1 : 0);
      });
    }
    return;
  }
  if (dtype == DType::f32 && op != ReduceOp::any && op != ReduceOp::all) {
    if (const ReduceSimd* simd = reduce_simd_active()) {
      const float* xf = static_cast<const float*>(x);
      float* of = static_cast<float*>(out);
      const float sc = static_cast<float>(scale);
      bool done = true;
      if (outer == 1 && inner == 1 && len > (1 << 18) && num_threads() > 1 &&
          (op == ReduceOp::sum || op == ReduceOp::max || op == ReduceOp::min)) {
        // one long row: each thread reduces a slice, then the partials are combined
        float partial[64];
        const int64_t parts = std::min<int64_t>(64, num_threads());
        parallel_for(parts, 1, [&](int64_t b, int64_t e) {
          for (int64_t p = b; p < e; ++p)
            if (!simd->reduce_f32(op, xf + len * p / parts, 1, len * (p + 1) / parts - len * p / parts, 1,
                                  partial + p, 1.0f))
              done = false;
        });
        if (done) {
          double acc = partial[0];
          for (int64_t p = 1; p < parts; ++p) {
            const float v = partial[p];
            if (op == ReduceOp::sum) acc += v;
            else if (std::isnan(acc)) break;
            else if (std::isnan(v) || (op == ReduceOp::max ? v > acc : v < acc)) acc = v;
          }
          *of = static_cast<float>(op == ReduceOp::sum ? acc * scale : acc);
          return;
        }
      } else {
        parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(len * inner, 1)), [&](int64_t b, int64_t e) {
          if (!simd->reduce_f32(op, xf + b * len * inner, e - b, len, inner, of + b * inner, sc)) done = false;
        });
        if (done) return;
      }
    }
  }
  MINIDL_DISPATCH_ALL(dtype, "reduce", reduce_typed<T>(op, static_cast<const T*>(x), outer, len, inner, out, scale));
}
// --8<-- [end:which_path]

void variance(const void* x, DType dtype, int64_t outer, int64_t len, int64_t inner, void* out,
              double correction) {
  MINIDL_DISPATCH_FLOAT(dtype, "var", {
    const T* px = static_cast<const T*>(x);
    T* po = static_cast<T*>(out);
    const double denom = static_cast<double>(len) - correction;
    parallel_for(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        po[k] = variance_one(px + (k / inner) * len * inner + (k % inner), len, inner, denom);
    });
  });
}

}  // namespace minidl
