// searchsorted (bucketize), bincount, histc, unique: the reference loops and their threads.
//
// Read top to bottom: the binary search of one value (PyTorch's comparisons, so NaN goes past
// every number), the counting loops, then unique (a stable sort of (value, index) pairs and one
// walk over the groups). Only searchsorted runs threaded (every value is independent); the
// counting loops write shared bins and are bound by memory already.
#include "search.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace minidl {
namespace {

// --8<-- [start:bisect]
// first i in [0, len) with !(seq[i] < v) (lower) or seq[i] > v (upper), seq read through
// `order` when given. Written as !(mid >= v) so that a NaN v runs past every number (PyTorch).
template <class T>
int64_t bisect(const T* seq, const int64_t* order, int64_t len, T v, bool right) {
  int64_t lo = 0, hi = len;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    const T m = seq[order ? order[mid] : mid];
    const bool go_right = right ? !(m > v) : !(m >= v);
    if (go_right) lo = mid + 1; else hi = mid;
  }
  return lo;
}
// --8<-- [end:bisect]

template <class T>
inline bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (!std::isnan(a) && std::isnan(b)) || a < b;
  return a < b;
}

}  // namespace

void searchsorted(const void* seq, const int64_t* sorter, const void* values, int64_t* out, DType dtype,
                  int64_t lines, int64_t seq_len, int64_t n_values, bool shared_seq, bool right) {
  MINIDL_DISPATCH_NUMERIC(dtype, "searchsorted", {
    const T* ps = static_cast<const T*>(seq);
    const T* pv = static_cast<const T*>(values);
    // one task per ~4K values: a search is ~log2(len) dependent loads
    parallel_for(lines * n_values, 4096, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const int64_t line = shared_seq ? 0 : j / n_values;
        out[j] = bisect(ps + line * seq_len, sorter ? sorter + line * seq_len : nullptr, seq_len, pv[j], right);
      }
    });
  });
}

void bincount(const int64_t* x, int64_t n, const void* weights, DType wdtype, void* out, int64_t bins) {
  if (!weights) {
    int64_t* po = static_cast<int64_t*>(out);
    std::fill(po, po + bins, int64_t{0});
    for (int64_t i = 0; i < n; ++i) ++po[x[i]];  // out[v] = #{i : x_i = v}
    return;
  }
  MINIDL_DISPATCH_FLOAT(wdtype, "bincount", {
    const T* pw = static_cast<const T*>(weights);
    T* po = static_cast<T*>(out);
    std::fill(po, po + bins, T(0));
    for (int64_t i = 0; i < n; ++i) po[x[i]] += pw[i];  // out[v] = sum_{i : x_i = v} w_i
  });
}

void histc(const void* x, int64_t n, DType dtype, void* out, int64_t bins, double lo, double hi) {
  MINIDL_DISPATCH_FLOAT(dtype, "histc", {
    const T* px = static_cast<const T*>(x);
    T* po = static_cast<T*>(out);
    std::fill(po, po + bins, T(0));
    const double scale = bins / (hi - lo);
    for (int64_t i = 0; i < n; ++i) {
      const double v = px[i];
      if (!(v >= lo && v <= hi)) continue;  // outside [lo, hi], or NaN
      // bin b holds [lo + b w, lo + (b + 1) w); hi itself goes to the last bin
      const int64_t b = std::min(static_cast<int64_t>((v - lo) * scale), bins - 1);
      po[b] += T(1);
    }
  });
}

int64_t unique_sorted(const void* x, int64_t n, DType dtype, void* values, int64_t* inverse, int64_t* counts) {
  int64_t groups = 0;
  MINIDL_DISPATCH_NUMERIC(dtype, "unique", {
    const T* px = static_cast<const T*>(x);
    T* pv = static_cast<T*>(values);
    std::vector<std::pair<T, int64_t>> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = {px[i], i};
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return less_nan_last(a.first, b.first); });
    // a new group wherever the value changes; NaN != NaN, so each NaN starts its own
    for (int64_t r = 0; r < n; ++r) {
      if (r == 0 || !(order[r].first == order[r - 1].first)) {
        pv[groups] = order[r].first;
        counts[groups] = 0;
        ++groups;
      }
      inverse[order[r].second] = groups - 1;
      ++counts[groups - 1];
    }
  });
  return groups;
}

}  // namespace minidl
