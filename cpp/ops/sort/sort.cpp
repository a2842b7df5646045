// Sort, top-k and their shared backward (a scatter-add along the axis), line by line.
//
// Read top to bottom:
//   1. The order: `before(a, b)` says whether value a comes before b; NaN is the largest value.
//   2. The reference for one line: gather the line into (value, index) pairs, sort them,
//      write values and indices back. Sorting pairs that sit together in memory is ~2x faster
//      than sorting indices that point into the line (one cache line per comparison instead
//      of two).
//   3. A radix sort for float32 lines of 256 or more (the same order, ~10x faster per line).
//   4. Which path runs: OpenMP over the lines; float32 long lines radix, the rest stable_sort.
#include "sort.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace minidl {
namespace {

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  return false;
}

// a before b in ascending order: numbers by <, NaN after every number (PyTorch's order)
template <class T>
inline bool less_nan_last(T a, T b) {
  return (!is_nan(a) && is_nan(b)) || a < b;
}

template <class T>
using Pair = std::pair<T, int64_t>;  // (value, index along the axis)

template <class T>
void gather_line(const T* x, int64_t len, int64_t stride, std::vector<Pair<T>>& line) {
  line.resize(static_cast<size_t>(len));
  for (int64_t r = 0; r < len; ++r) line[r] = {x[r * stride], r};
}

template <class T>
void scatter_line(const std::vector<Pair<T>>& line, int64_t count, T* values, int64_t* indices, int64_t stride) {
  for (int64_t j = 0; j < count; ++j) {
    values[j * stride] = line[j].first;
    indices[j * stride] = line[j].second;
  }
}

// --8<-- [start:sort_line_reference]
// sort one line: a stable sort on the value alone keeps ties in input order
template <class T>
void sort_line_reference(const T* x, T* values, int64_t* indices, int64_t len, int64_t stride, bool descending,
                         std::vector<Pair<T>>& line) {
  gather_line(x, len, stride, line);
  if (descending)
    std::stable_sort(line.begin(), line.end(), [](const Pair<T>& a, const Pair<T>& b) {
      return less_nan_last(b.first, a.first);
    });
  else
    std::stable_sort(line.begin(), line.end(), [](const Pair<T>& a, const Pair<T>& b) {
      return less_nan_last(a.first, b.first);
    });
  scatter_line(line, len, values, indices, stride);
}
// --8<-- [end:sort_line_reference]

// float32 lines of 256 or more: an LSD radix sort of 32-bit keys that order like the floats,
// in 3 passes of 11 bits, carrying the index in the low half of each 64-bit item. Each pass is
// stable, so ties keep input order as in the stable_sort above, which it must equal.
// 64 x 50k float32, 1 thread: 522 ms with stable_sort of pairs (1.04-1.14x PyTorch).
//   key(v) = bits(v) with the sign bit flipped when v >= 0, all bits flipped when v < 0
//   (-0.0 is read as +0.0 and every NaN as the largest key, so they tie as comparisons do);
//   descending flips every key bit, which keeps equal keys equal (ties stay in input order).
constexpr int64_t kRadixMinLen = 256;

// --8<-- [start:float_key]
inline uint32_t float_key(float v) {
  if (std::isnan(v)) return 0xffffffffu;
  if (v == 0.f) v = 0.f;  // -0.0 -> +0.0
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
// --8<-- [end:float_key]

void sort_line_radix_f32(const float* x, float* values, int64_t* indices, int64_t len, int64_t stride,
                         bool descending, std::vector<uint64_t>& a, std::vector<uint64_t>& b) {
  a.resize(static_cast<size_t>(len));
  b.resize(static_cast<size_t>(len));
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  uint32_t count[3][kBuckets] = {};
  const uint32_t flip = descending ? 0xffffffffu : 0u;
  for (int64_t r = 0; r < len; ++r) {  // the items, and all 3 digit histograms in one pass
    const uint32_t key = float_key(x[r * stride]) ^ flip;
    a[r] = (static_cast<uint64_t>(key) << 32) | static_cast<uint32_t>(r);
    ++count[0][key & (kBuckets - 1)];
    ++count[1][(key >> kBits) & (kBuckets - 1)];
    ++count[2][key >> (2 * kBits)];
  }
  for (int pass = 0; pass < 3; ++pass) {
    uint32_t start = 0;  // bucket -> its first slot
    for (int d = 0; d < kBuckets; ++d) {
      const uint32_t c = count[pass][d];
      count[pass][d] = start;
      start += c;
    }
    const int shift = 32 + pass * kBits;
    for (int64_t r = 0; r < len; ++r) b[count[pass][(a[r] >> shift) & (kBuckets - 1)]++] = a[r];
    a.swap(b);
  }
  for (int64_t j = 0; j < len; ++j) {
    const int64_t r = static_cast<int64_t>(a[j] & 0xffffffffu);
    values[j * stride] = x[r * stride];
    indices[j * stride] = r;
  }
}

// --8<-- [start:sort_line]
// the path for one line: radix for long float32 lines, the reference otherwise
template <class T>
void sort_line(const T* x, T* values, int64_t* indices, int64_t len, int64_t stride, bool descending,
               std::vector<Pair<T>>& line, std::vector<uint64_t>& items, std::vector<uint64_t>& spare) {
  if constexpr (std::is_same_v<T, float>)
    if (len >= kRadixMinLen && len <= INT32_MAX) {
      sort_line_radix_f32(x, values, indices, len, stride, descending, items, spare);
      return;
    }
  sort_line_reference(x, values, indices, len, stride, descending, line);
}
// --8<-- [end:sort_line]

// top k of one line: nth_element puts the k first in front in O(len), then only those k are
// sorted (O(k log k)). The index breaks ties, so the order is total and the answer unique.
template <class T>
void topk_line_reference(const T* x, T* values, int64_t* indices, int64_t len, int64_t stride, int64_t k,
                         bool largest, std::vector<Pair<T>>& line) {
  gather_line(x, len, stride, line);
  auto first = [largest](const Pair<T>& a, const Pair<T>& b) {
    const bool a_first = largest ? less_nan_last(b.first, a.first) : less_nan_last(a.first, b.first);
    const bool b_first = largest ? less_nan_last(a.first, b.first) : less_nan_last(b.first, a.first);
    return a_first || (!b_first && a.second < b.second);
  };
  if (k < len) std::nth_element(line.begin(), line.begin() + k, line.end(), first);
  std::sort(line.begin(), line.begin() + k, first);
  scatter_line(line, k, values, indices, stride);
}

// top k of one line when k is small next to len: one pass that keeps candidates in a buffer
// of up to 4k (value, index) pairs. When it fills, nth_element keeps its k best, and the k-th
// of them becomes the bar: later elements come with larger indices, so one that only ties the
// bar loses, and one value comparison rejects it without a copy. The test runs branch-free over
// blocks of 64 (vectorized), and most blocks end there once the bar is high. `kLargest` is a
// template argument so that the comparison is a couple of instructions.
// 64 x 50k float32, 1 thread, k = 10 / k = 1000 (PyTorch 6-10 / 27-50 ms in the same runs):
// gather + nth_element 76 / 79 ms; a k-heap 11 / 62 ms (log k moves per accepted element);
// this buffer 11.6 / 21 ms with a bool `any`, 2.1 / 18 ms with an int one (GCC vectorizes the
// int | reduction only).
template <bool kLargest, class T>
inline bool value_before(T a, T b) {
  return kLargest ? less_nan_last(b, a) : less_nan_last(a, b);
}

template <bool kLargest, class T>
void topk_line_buffered(const T* x, T* values, int64_t* indices, int64_t len, int64_t stride, int64_t k,
                        std::vector<Pair<T>>& buf) {
  auto first = [](const Pair<T>& a, const Pair<T>& b) {
    return value_before<kLargest>(a.first, b.first) ||
           (!value_before<kLargest>(b.first, a.first) && a.second < b.second);
  };
  const size_t cap = static_cast<size_t>(4 * k);
  buf.clear();
  bool have_bar = false;
  T bar = T(0);
  auto keep_best_k = [&]() {  // buf -> its k best; the bar is the k-th
    std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.end(), first);
    buf.resize(static_cast<size_t>(k));
    bar = buf[k - 1].first;
    have_bar = true;
  };
  auto beats_bar = [&bar](T v) {  // value_before(v, bar) written with & | so that it vectorizes
    return kLargest ? (((bar == bar) & (v != v)) | (bar < v)) : (((v == v) & (bar != bar)) | (v < bar));
  };
  constexpr int64_t kBlock = 64;
  for (int64_t r0 = 0; r0 < len; r0 += kBlock) {
    const int64_t r1 = std::min(r0 + kBlock, len);
    if (have_bar) {
      int any = 0;  // an int, not a bool: GCC vectorizes an int | reduction
      if (stride == 1)  // the usual case (dim=-1), a loop of its own so that it vectorizes
        for (int64_t r = r0; r < r1; ++r) any |= static_cast<int>(beats_bar(x[r]));
      else
        for (int64_t r = r0; r < r1; ++r) any |= static_cast<int>(beats_bar(x[r * stride]));
      if (!any) continue;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const T v = x[r * stride];
      if (have_bar && !beats_bar(v)) continue;
      buf.push_back({v, r});
      if (buf.size() == cap) keep_best_k();
    }
  }
  if (static_cast<int64_t>(buf.size()) > k) keep_best_k();
  std::sort(buf.begin(), buf.end(), first);
  scatter_line(buf, k, values, indices, stride);
}

// k-th smallest of one line (k from 1): nth_element in the (value, index) order, O(len)
template <class T>
void kthvalue_line_reference(const T* x, T* value, int64_t* index, int64_t len, int64_t stride, int64_t k,
                             bool nan_wins, std::vector<Pair<T>>& line) {
  if (nan_wins)
    for (int64_t r = 0; r < len; ++r)
      if (is_nan(x[r * stride])) {
        *value = x[r * stride];
        *index = r;
        return;
      }
  gather_line(x, len, stride, line);
  auto first = [](const Pair<T>& a, const Pair<T>& b) {
    return less_nan_last(a.first, b.first) || (!less_nan_last(b.first, a.first) && a.second < b.second);
  };
  std::nth_element(line.begin(), line.begin() + (k - 1), line.end(), first);
  *value = line[k - 1].first;
  *index = line[k - 1].second;
}

// lines per parallel task: about 16K elements
int64_t line_grain(int64_t len) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)); }

// offset of line number `l` of (outer, len, inner) in a tensor whose axis has `axis` entries
inline int64_t line_offset(int64_t l, int64_t axis, int64_t inner) { return (l / inner) * axis * inner + (l % inner); }

}  // namespace

void sort_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                int64_t inner, bool descending) {
  MINIDL_DISPATCH_NUMERIC(dtype, "sort", {
    const T* px = static_cast<const T*>(x);
    T* pv = static_cast<T*>(values);
    parallel_for(outer * inner, line_grain(len), [&](int64_t b, int64_t e) {
      std::vector<Pair<T>> line;  // buffers per task, reused by its lines
      std::vector<uint64_t> items, spare;
      for (int64_t l = b; l < e; ++l) {
        const int64_t o = line_offset(l, len, inner);
        sort_line(px + o, pv + o, indices + o, len, inner, descending, line, items, spare);
      }
    });
  });
}

void topk_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                int64_t inner, int64_t k, bool largest) {
  MINIDL_DISPATCH_NUMERIC(dtype, "topk", {
    const T* px = static_cast<const T*>(x);
    T* pv = static_cast<T*>(values);
    parallel_for(outer * inner, line_grain(len), [&](int64_t b, int64_t e) {
      std::vector<Pair<T>> line;
      for (int64_t l = b; l < e; ++l) {
        const T* in = px + line_offset(l, len, inner);
        T* v = pv + line_offset(l, k, inner);
        int64_t* i = indices + line_offset(l, k, inner);
        if (k * 8 <= len)  // most elements fall below the bar
          largest ? topk_line_buffered<true>(in, v, i, len, inner, k, line)
                  : topk_line_buffered<false>(in, v, i, len, inner, k, line);
        else
          topk_line_reference(in, v, i, len, inner, k, largest, line);
      }
    });
  });
}

void kthvalue_lines(const void* x, void* values, int64_t* indices, DType dtype, int64_t outer, int64_t len,
                    int64_t inner, int64_t k, bool nan_wins) {
  MINIDL_DISPATCH_NUMERIC(dtype, "kthvalue", {
    const T* px = static_cast<const T*>(x);
    T* pv = static_cast<T*>(values);
    parallel_for(outer * inner, line_grain(len), [&](int64_t b, int64_t e) {
      std::vector<Pair<T>> line;
      for (int64_t l = b; l < e; ++l)  // line l's result sits at l in the (outer, inner) output
        kthvalue_line_reference(px + line_offset(l, len, inner), pv + l, indices + l, len, inner, k, nan_wins, line);
    });
  });
}

void scatter_add_lines(const void* g, const int64_t* idx, void* gx, DType dtype, int64_t outer, int64_t k,
                       int64_t len, int64_t inner) {
  MINIDL_DISPATCH_FLOAT(dtype, "sort backward", {
    const T* pg = static_cast<const T*>(g);
    T* po = static_cast<T*>(gx);
    std::fill(po, po + outer * len * inner, T(0));
    // gx[o, idx[o, j, i], i] += g[o, j, i]: each task owns whole outer slices, so no two
    // tasks write the same gx element
    parallel_for(outer, line_grain(k * inner), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t j = 0; j < k; ++j)
          for (int64_t i = 0; i < inner; ++i) {
            const int64_t src = (o * k + j) * inner + i;
            po[(o * len + idx[src]) * inner + i] += pg[src];
          }
    });
  });
}

}  // namespace minidl
