// EmbeddingBag, forward and backward (formulas and shapes: embedding_bag.h).
//
// First the reference: the textbook loops of one bag (forward) and of the scatter into the
// weight rows (backward), side by side. Sums run in the weight's dtype in index order, as
// PyTorch's CPU kernel does. The scalar kernel set and float64 run them; the float32 SIMD set
// runs the same loops with the row operations of EmbeddingBagSimd (embedding_bag_simd.cpp),
// and tests compare the two (tests/test_embedding_bag.py, tests/cpp/test_kernels.cpp).
//
// Then which path runs. Forward: bags are independent, so threads split the bags. Backward:
// two bags may name the same weight row, so splitting bags would race on it; threads split
// the embedding dimension instead, in blocks of 16 columns (one 64-byte cache line of float32),
// and each walks every bag for its own columns: no atomics, no private copies of the table,
// and the result does not depend on the thread count (each element's additions keep index
// order). The max backward finds each column's argmax row again by rerunning the forward's
// comparison (the forward keeps no (B, D) index array).
#include "embedding_bag.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"

MINIDL_SIMD_TABLE(minidl::EmbeddingBagSimd, embedding_bag_simd)

namespace minidl {
namespace {

// ---- reference ---------------------------------------------------------------------

// --8<-- [start:bag_reference]
// out_b (D values) for the bag of indices idx[begin:end]
template <class T>
void bag_forward_reference(const T* weight, const int64_t* idx, int64_t begin, int64_t end, const T* psw, T* out_b,
                           int64_t dim, int64_t padding_idx, EmbeddingBagMode mode) {
  for (int64_t d = 0; d < dim; ++d) out_b[d] = T(0);
  int64_t count = 0;
  for (int64_t i = begin; i < end; ++i) {
    if (idx[i] == padding_idx) continue;
    const T* row = weight + idx[i] * dim;
    if (mode == EmbeddingBagMode::max) {
      // out = row if it is the first kept row or row > out: the first maximum wins
      for (int64_t d = 0; d < dim; ++d)
        if (count == 0 || row[d] > out_b[d]) out_b[d] = row[d];
    } else {
      // out += s_i row   (s_i = per_sample_weights[i], or 1)
      const T s = psw ? psw[i] : T(1);
      for (int64_t d = 0; d < dim; ++d) out_b[d] += s * row[d];
    }
    ++count;
  }
  // mean: out /= count (an empty bag stays 0)
  if (mode == EmbeddingBagMode::mean && count > 0)
    for (int64_t d = 0; d < dim; ++d) out_b[d] /= T(count);
}
// --8<-- [end:bag_reference]

// the indices of bag [begin, end) that are not padding
inline int64_t kept_count(const int64_t* idx, int64_t begin, int64_t end, int64_t padding_idx) {
  int64_t count = 0;
  for (int64_t i = begin; i < end; ++i) count += idx[i] != padding_idx;
  return count;
}

// Bag b's share of dweight, columns [c0, c1):
//   sum/mean: dweight[idx_i, c] += (s_i or 1 / count) g_b[c]
//   max:      dweight[argmax_c, c] += g_b[c], the argmax found by the forward's comparison
// `best` is scratch of c1 - c0 values, `arg` of c1 - c0 row numbers (mode max only).
template <class T>
void bag_backward_reference(const T* g_b, const T* weight, const int64_t* idx, int64_t begin, int64_t end,
                            const T* psw, T* grad_weight, int64_t dim, int64_t c0, int64_t c1, int64_t padding_idx,
                            EmbeddingBagMode mode, T* best, int64_t* arg) {
  if (mode == EmbeddingBagMode::max) {
    int64_t count = 0;
    for (int64_t i = begin; i < end; ++i) {
      if (idx[i] == padding_idx) continue;
      const T* row = weight + idx[i] * dim;
      for (int64_t c = c0; c < c1; ++c)
        if (count == 0 || row[c] > best[c - c0]) best[c - c0] = row[c], arg[c - c0] = idx[i];
      ++count;
    }
    if (count > 0)
      for (int64_t c = c0; c < c1; ++c) grad_weight[arg[c - c0] * dim + c] += g_b[c];
    return;
  }
  const int64_t count = mode == EmbeddingBagMode::mean ? kept_count(idx, begin, end, padding_idx) : 1;
  for (int64_t i = begin; i < end; ++i) {
    if (idx[i] == padding_idx) continue;
    const T s = psw ? psw[i] : T(1) / T(count);
    T* grow = grad_weight + idx[i] * dim;
    for (int64_t c = c0; c < c1; ++c) grow[c] += s * g_b[c];
  }
}

// ---- which path runs ---------------------------------------------------------------

// forward: bags per thread chunk, so that a chunk reads ~32K weight values or more
int64_t bag_grain(int64_t num_bags, int64_t num_indices, int64_t dim) {
  const int64_t per_bag = std::max<int64_t>(1, num_indices / std::max<int64_t>(num_bags, 1)) * dim;
  return std::max<int64_t>(1, 32768 / per_bag);
}

// --8<-- [start:bag_forward_impl]
template <class T>
void forward_impl(const T* weight, const int64_t* idx, const int64_t* start, const T* psw, T* out, int64_t bags,
                  int64_t dim, int64_t padding_idx, EmbeddingBagMode mode) {
  const EmbeddingBagSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = embedding_bag_simd_active();
  parallel_for(bags, bag_grain(bags, start[bags], dim), [&](int64_t bb, int64_t be) {
    for (int64_t b = bb; b < be; ++b) {
      T* out_b = out + b * dim;
      if constexpr (std::is_same<T, float>::value) {
        if (simd) {
          const int64_t count = simd->pool_bag(weight, idx + start[b], psw ? psw + start[b] : nullptr,
                                               start[b + 1] - start[b], start[be] - start[b], dim, padding_idx,
                                               mode == EmbeddingBagMode::max, out_b);
          if (mode == EmbeddingBagMode::mean && count > 0)
            for (int64_t d = 0; d < dim; ++d) out_b[d] /= float(count);
          continue;
        }
      }
      bag_forward_reference(weight, idx, start[b], start[b + 1], psw, out_b, dim, padding_idx, mode);
    }
  });
}
// --8<-- [end:bag_forward_impl]

// columns per block of the backward's split (16 float32 = one 64-byte cache line, so two
// threads never write the same line of a row that starts on a line boundary)
constexpr int64_t kColumnBlock = 16;

template <class T>
void backward_weight_impl(const T* g, const T* weight, const int64_t* idx, const int64_t* start, const T* psw,
                          T* grad_weight, int64_t bags, int64_t rows, int64_t dim, int64_t padding_idx,
                          EmbeddingBagMode mode) {
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(dim, 1)), [&](int64_t rb, int64_t re) {
    std::memset(grad_weight + rb * dim, 0, sizeof(T) * (re - rb) * dim);
  });
  const EmbeddingBagSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = embedding_bag_simd_active();
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
  const int64_t work = start[bags] * dim;
  parallel_for(blocks, work > 32768 ? 1 : blocks, [&](int64_t kb, int64_t ke) {
    const int64_t c0 = kb * kColumnBlock, c1 = std::min(dim, ke * kColumnBlock);
    std::vector<T> best(mode == EmbeddingBagMode::max ? c1 - c0 : 0);
    std::vector<int64_t> arg(best.size());
    for (int64_t b = 0; b < bags; ++b) {
      const T* g_b = g + b * dim;
      if constexpr (std::is_same<T, float>::value) {
        if (simd && mode != EmbeddingBagMode::max) {
          const int64_t count = mode == EmbeddingBagMode::mean ? kept_count(idx, start[b], start[b + 1], padding_idx)
                                                               : 1;
          for (int64_t i = start[b]; i < start[b + 1]; ++i) {
            if (idx[i] == padding_idx) continue;
            simd->axpy(g_b + c0, psw ? psw[i] : 1.0f / float(count), grad_weight + idx[i] * dim + c0, c1 - c0);
          }
          continue;
        }
      }
      bag_backward_reference(g_b, weight, idx, start[b], start[b + 1], psw, grad_weight, dim, c0, c1, padding_idx,
                             mode, best.data(), arg.data());
    }
  });
}

template <class T>
void backward_psw_impl(const T* g, const T* weight, const int64_t* idx, const int64_t* start, T* grad_psw,
                       int64_t bags, int64_t n, int64_t dim, int64_t padding_idx) {
  const EmbeddingBagSimd* simd = nullptr;
  if constexpr (std::is_same<T, float>::value) simd = embedding_bag_simd_active();
  for (int64_t i = 0; i < n; ++i) grad_psw[i] = T(0);
  parallel_for(bags, bag_grain(bags, start[bags], dim), [&](int64_t bb, int64_t be) {
    for (int64_t b = bb; b < be; ++b)
      for (int64_t i = start[b]; i < start[b + 1]; ++i) {
        if (idx[i] == padding_idx) continue;
        const T* row = weight + idx[i] * dim;
        const T* g_b = g + b * dim;
        if constexpr (std::is_same<T, float>::value) {
          if (simd) {
            grad_psw[i] = simd->dot(g_b, row, dim);
            continue;
          }
        }
        // dL/ds_i = <g_b, weight[idx_i]>
        T dot = T(0);
        for (int64_t d = 0; d < dim; ++d) dot += g_b[d] * row[d];
        grad_psw[i] = dot;
      }
  });
}

}  // namespace

void embedding_bag_forward(const void* weight, const int64_t* indices, const int64_t* bag_start,
                           const void* per_sample_weights, void* out, DType dtype, int64_t num_bags, int64_t dim,
                           int64_t padding_idx, EmbeddingBagMode mode) {
  MINIDL_DISPATCH_FLOAT(dtype, "embedding_bag", {
    forward_impl<T>(static_cast<const T*>(weight), indices, bag_start, static_cast<const T*>(per_sample_weights),
                    static_cast<T*>(out), num_bags, dim, padding_idx, mode);
  });
}

void embedding_bag_backward_weight(const void* grad_out, const void* weight,
                                   const int64_t* indices, const int64_t* bag_start,
                                   const void* per_sample_weights, void* grad_weight, DType dtype,
                                   int64_t num_bags, int64_t num_embeddings, int64_t dim, int64_t padding_idx,
                                   EmbeddingBagMode mode) {
  MINIDL_DISPATCH_FLOAT(dtype, "embedding_bag_backward", {
    backward_weight_impl<T>(static_cast<const T*>(grad_out), static_cast<const T*>(weight), indices, bag_start,
                            static_cast<const T*>(per_sample_weights), static_cast<T*>(grad_weight), num_bags,
                            num_embeddings, dim, padding_idx, mode);
  });
}

void embedding_bag_backward_per_sample_weights(const void* grad_out, const void* weight, const int64_t* indices,
                                               const int64_t* bag_start, void* grad_psw, DType dtype,
                                               int64_t num_bags, int64_t num_indices, int64_t dim,
                                               int64_t padding_idx) {
  MINIDL_DISPATCH_FLOAT(dtype, "embedding_bag_backward", {
    backward_psw_impl<T>(static_cast<const T*>(grad_out), static_cast<const T*>(weight), indices, bag_start,
                         static_cast<T*>(grad_psw), num_bags, num_indices, dim, padding_idx);
  });
}

}  // namespace minidl
