// Searching sorted lines and counting values (the rest of "sorting and selection"):
//
//   searchsorted  out[l, j] = the first i with seq[l, i] >= v[l, j]     (right: seq > v)
//                 i.e. where v would be inserted to keep seq[l] sorted; NaN sorts last.
//                 `sorter` (or null): seq[l] read in the order seq[l, sorter[l, i]].
//   bincount      out[v] = how many x == v (or the sum of their weights)
//   histc         out[b] = how many x fall in bin b of `bins` equal bins over [lo, hi]
//                 (x == hi goes to the last bin; outside or NaN: not counted)
//   unique        the distinct values, ascending (each NaN its own value, as PyTorch's sort-
//                 based CPU path), where each x went (inverse) and how many went there
//
// seq and values share one dtype (float32, float64 or int64); `lines` = 1 searches every value
// in one shared seq. bincount's x is int64, non-negative and below `bins` (checked in Python).
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

void searchsorted(const void* seq, const int64_t* sorter, const void* values, int64_t* out, DType dtype,
                  int64_t lines, int64_t seq_len, int64_t n_values, bool shared_seq, bool right);
// weights (n entries of wdtype) or null (out is int64 counts then); out has bins entries
void bincount(const int64_t* x, int64_t n, const void* weights, DType wdtype, void* out, int64_t bins);
// out: bins entries of x's dtype
void histc(const void* x, int64_t n, DType dtype, void* out, int64_t bins, double lo, double hi);
// values: room for n; inverse and counts: n entries each; returns how many distinct values
int64_t unique_sorted(const void* x, int64_t n, DType dtype, void* values, int64_t* inverse, int64_t* counts);

}  // namespace minidl
