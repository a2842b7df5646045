// EmbeddingBag: the sum, mean or max of the weight rows a bag of indices names, one output row
// per bag, without materialising the (indices, D) matrix of gathered rows.
//
// weight (V, D) row-major; indices (N) int64 in [0, V); bag b holds indices[start[b] : start[b+1]]
// (start has B + 1 entries, non-decreasing); per_sample_weights s (N) or null (= 1); an index equal
// to padding_idx (-1: none) is left out of its bag and of its count.
//   sum:  out[b] = sum_{i in b} s_i weight[idx_i]
//   mean: out[b] = (1 / count_b) sum_{i in b} weight[idx_i]      (count_b: indices kept)
//   max:  out[b, d] = max_{i in b} weight[idx_i, d]              (the first maximum wins; as in
//         PyTorch, out = row if row > out, so a NaN of the bag's first row stays, a later one not)
// An empty bag (or one of padding only) gives zeros.
// Backward, with g = dL/dout (B, D):
//   sum/mean: dweight[idx_i] += (s_i or 1 / count_b) g[b]        (a scatter-add into weight rows)
//   max:      dweight[argmax_{b,d}, d] += g[b, d]                 (argmax: first row reaching the max)
//   dL/ds_i = <g[b], weight[idx_i]>                               (sum mode with per_sample_weights)
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

enum class EmbeddingBagMode : int { sum = 0, mean = 1, max = 2 };

// out (B, D) is written whole. per_sample_weights may be null.
void embedding_bag_forward(const void* weight, const int64_t* indices, const int64_t* bag_start,
                           const void* per_sample_weights, void* out, DType dtype, int64_t num_bags, int64_t dim,
                           int64_t padding_idx, EmbeddingBagMode mode);

// grad_weight (V, D) is written whole (zeros where no bag uses a row); mode max reads weight to
// find the argmax rows again.
void embedding_bag_backward_weight(const void* grad_out, const void* weight,
                                   const int64_t* indices, const int64_t* bag_start,
                                   const void* per_sample_weights, void* grad_weight, DType dtype,
                                   int64_t num_bags, int64_t num_embeddings, int64_t dim, int64_t padding_idx,
                                   EmbeddingBagMode mode);

// grad_psw (N) = <g[bag of i], weight[idx_i]> (0 for a padding index or an index in no bag)
void embedding_bag_backward_per_sample_weights(const void* grad_out, const void* weight, const int64_t* indices,
                                               const int64_t* bag_start, void* grad_psw, DType dtype,
                                               int64_t num_bags, int64_t num_indices, int64_t dim,
                                               int64_t padding_idx);

// Float32 row loops of one ISA (embedding_bag_simd.cpp), the vector versions of the inner loops
// of the reference kernels at the top of embedding_bag.cpp.
struct EmbeddingBagSimd {
  // one bag: out[0:dim] = sum s_i weight[idx_i] (psw null: s = 1) or, with max_mode, the
  // forward's running max; idx[0:n] are the bag's indices, padding_idx ones skipped, and
  // idx[n:n_ahead] the next bags' (only prefetched). Returns the number kept.
  int64_t (*pool_bag)(const float* weight, const int64_t* idx, const float* psw, int64_t n, int64_t n_ahead,
                      int64_t dim, int64_t padding_idx, bool max_mode, float* out);
  void (*axpy)(const float* x, float a, float* y, int64_t n);   // y += a x
  float (*dot)(const float* x, const float* y, int64_t n);      // sum x y
};

}  // namespace minidl
