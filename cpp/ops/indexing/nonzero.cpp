// torch.nonzero: the coordinates of the non-zero elements, in row-major order.
//
// Two passes over P pieces of the flat input (P = threads, at least 64K elements each): count
// the non-zeros of each piece, then each piece writes its coordinates from the prefix sum of
// the counts before it, so the order does not depend on the thread count. Reference loops
// only, written so that the compiler can keep them free of branches on the data:
//   - the count is a sum of compares, which GCC vectorizes;
//   - the write goes along the rows of the last dim: the other coordinates are fixed for a row,
//     and every element writes its coordinates to the next free result row, which moves on only
//     when the element is non-zero. A branch on the element instead mispredicts on every change
//     of a random mask: (a > 1) of a 1024 x 1024 normal matrix (16% True), 1 thread, took 6.5 ms
//     with the branch, an odometer step per element and a third pass (a separate total count);
//     see bench_indexing.py for the times now.
#include "nonzero.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

namespace minidl {

namespace {

// Non-zero by bit pattern: floats ignore the sign bit (-0.0 is zero), integers and bools do not.
template <class F>
void with_bits(DType dtype, const F& f) {
  switch (dtype) {
    case DType::f32: return f(uint32_t{}, uint32_t{0x7fffffffu});
    case DType::f64: return f(uint64_t{}, uint64_t{0x7fffffffffffffffull});
    case DType::f16:
    case DType::bf16: return f(uint16_t{}, uint16_t{0x7fffu});
    case DType::i64: return f(uint64_t{}, ~uint64_t{0});
    default: return f(uint8_t{}, uint8_t{0xffu});
  }
}

// --8<-- [start:nonzero_two_pass]
// piece p of n elements: [n p / P, n (p + 1) / P)
inline int64_t piece_begin(int64_t n, int64_t p, int64_t pieces) { return n * p / pieces; }

template <class Bits>
int64_t count_range(const Bits* x, int64_t begin, int64_t end, Bits mask) {
  int64_t c = 0;
  for (int64_t i = begin; i < end; ++i) c += (x[i] & mask) != 0;
  return c;
}

// The rows of the non-zeros among elements [begin, end) (of a tensor of extents shape) from `row`
// on. ND: the dim count when it is known at compile time (1..4), 0 when it is not.
template <int ND, class Bits>
void write_range(const Bits* x, Bits mask, const std::vector<int64_t>& shape, int64_t begin, int64_t end,
                 int64_t* row, const int64_t* row_end) {
  const int64_t nd = ND ? ND : static_cast<int64_t>(shape.size());
  const int64_t last = shape[nd - 1];
  std::vector<int64_t> coord(nd);
  int64_t rest = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    coord[d] = rest % shape[d];
    rest /= shape[d];
  }
  for (int64_t i = begin; i < end;) {
    // the rest of the current row of the last dim: the other coordinates stay as they are
    const int64_t stop = std::min(end, i + (last - coord[nd - 1]));
    for (int64_t j = coord[nd - 1]; i < stop; ++i, ++j) {
      if (row != row_end) {  // true but past the piece's last non-zero: predicted
        for (int64_t d = 0; d + 1 < nd; ++d) row[d] = coord[d];
        row[nd - 1] = j;
      }
      row += ((x[i] & mask) != 0) * nd;
    }
    // the next row: carry into the leading coordinates
    coord[nd - 1] = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      if (++coord[d] < shape[d]) break;
      coord[d] = 0;
    }
  }
}

}  // namespace

NonzeroPieces nonzero_count(const void* x, DType dtype, int64_t n) {
  NonzeroPieces pieces;
  const int64_t count = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n / 65536));
  pieces.first.assign(count + 1, 0);
  with_bits(dtype, [&](auto zero, auto mask) {
    using Bits = decltype(zero);
    const Bits* p = static_cast<const Bits*>(x);
    parallel_for(count, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t q = p0; q < p1; ++q)
        pieces.first[q + 1] = count_range(p, piece_begin(n, q, count), piece_begin(n, q + 1, count), mask);
    });
  });
  for (int64_t q = 0; q < count; ++q) pieces.first[q + 1] += pieces.first[q];
  return pieces;
}

void nonzero_coordinates(const void* x, DType dtype, const std::vector<int64_t>& shape, const NonzeroPieces& pieces,
                         int64_t* out) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0 || ndim == 0 || pieces.count() == 0) return;  // ndim 0: rows of no coordinates
  const int64_t count = pieces.pieces();
  with_bits(dtype, [&](auto zero, auto mask) {
    using Bits = decltype(zero);
    const Bits* p = static_cast<const Bits*>(x);
    parallel_for(count, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t q = p0; q < p1; ++q) {
        const int64_t begin = piece_begin(n, q, count), end = piece_begin(n, q + 1, count);
        int64_t* row = out + pieces.first[q] * ndim;
        const int64_t* row_end = out + pieces.first[q + 1] * ndim;
        switch (ndim) {
          case 1: write_range<1>(p, mask, shape, begin, end, row, row_end); break;
          case 2: write_range<2>(p, mask, shape, begin, end, row, row_end); break;
          case 3: write_range<3>(p, mask, shape, begin, end, row, row_end); break;
          case 4: write_range<4>(p, mask, shape, begin, end, row, row_end); break;
          default: write_range<0>(p, mask, shape, begin, end, row, row_end);
        }
      }
    });
  });
}
// --8<-- [end:nonzero_two_pass]

}  // namespace minidl
