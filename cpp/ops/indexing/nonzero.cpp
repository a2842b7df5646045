// torch.nonzero: the coordinates of the non-zero elements, in row-major order.
//
// Two passes over P blocks of the flat input (P = threads): count the non-zeros of each
// block, then each block writes its coordinates from the prefix sum of the counts before it,
// so the order does not depend on the thread count. Reference loops only: the test is a
// compare per element and the write is sparse.
#include "nonzero.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace minidl {

namespace {

// Non-zero by bit pattern: floats ignore the sign bit (-0.0 is zero), integers and bools do not.
template <class Bits>
inline bool nonzero_bits(const Bits* x, int64_t i, Bits magnitude_mask) {
  return (x[i] & magnitude_mask) != 0;
}

template <class F>
void with_predicate(const void* x, DType dtype, const F& f) {
  switch (dtype) {
    case DType::f32: {
      const auto* p = static_cast<const uint32_t*>(x);
      f([p](int64_t i) { return nonzero_bits<uint32_t>(p, i, 0x7fffffffu); });
      break;
    }
    case DType::f64: {
      const auto* p = static_cast<const uint64_t*>(x);
      f([p](int64_t i) { return nonzero_bits<uint64_t>(p, i, 0x7fffffffffffffffull); });
      break;
    }
    case DType::f16:
    case DType::bf16: {
      const auto* p = static_cast<const uint16_t*>(x);
      f([p](int64_t i) { return nonzero_bits<uint16_t>(p, i, 0x7fffu); });
      break;
    }
    case DType::i64: {
      const auto* p = static_cast<const uint64_t*>(x);
      f([p](int64_t i) { return nonzero_bits<uint64_t>(p, i, ~0ull); });
      break;
    }
    default: {
      const auto* p = static_cast<const uint8_t*>(x);
      f([p](int64_t i) { return nonzero_bits<uint8_t>(p, i, 0xffu); });
      break;
    }
  }
}

}  // namespace

int64_t count_nonzero_flat(const void* x, DType dtype, int64_t n) {
  int64_t total = 0;
  with_predicate(x, dtype, [&](const auto& is_nonzero) {
    for (int64_t i = 0; i < n; ++i) total += is_nonzero(i);
  });
  return total;
}

void nonzero_coordinates(const void* x, DType dtype, const std::vector<int64_t>& shape, int64_t* out) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return;
  // --8<-- [start:nonzero_two_pass]
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / 65536));
  std::vector<int64_t> first(blocks + 1, 0);  // first[b]: the output row of block b's first hit
  with_predicate(x, dtype, [&](const auto& is_nonzero) {
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t c = 0;
        for (int64_t i = n * b / blocks; i < n * (b + 1) / blocks; ++i) c += is_nonzero(i);
        first[b + 1] = c;
      }
    });
    for (int64_t b = 0; b < blocks; ++b) first[b + 1] += first[b];
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      std::vector<int64_t> coord(ndim);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t begin = n * b / blocks, end = n * (b + 1) / blocks;
        int64_t rest = begin;  // the coordinates of element `begin`, then counted up like an odometer
        for (int64_t d = ndim - 1; d >= 0; --d) {
          coord[d] = rest % shape[d];
          rest /= shape[d];
        }
        int64_t* row = out + first[b] * ndim;
        for (int64_t i = begin; i < end; ++i) {
          if (is_nonzero(i)) {
            std::memcpy(row, coord.data(), ndim * sizeof(int64_t));
            row += ndim;
          }
          for (int64_t d = ndim - 1; d >= 0; --d) {
            if (++coord[d] < shape[d]) break;
            coord[d] = 0;
          }
        }
      }
    });
  });
  // --8<-- [end:nonzero_two_pass]
}

}  // namespace minidl
