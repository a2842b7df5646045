// tril / triu (triangular.h). Rows are independent: the threads take whole rows of the
// (batch * n) rows (parallel_for with a grain of 64 KiB of output, so a small matrix stays on
// one thread). Measured, float32 2048 x 2048 on one thread: the Python loop of one fill per
// row it replaces (a copy of the matrix, then 2048 fills of ~0.3 us of call overhead each)
// took 3.35 ms against PyTorch's 2.87 ms.
#include "triangular.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace minidl {

void keep_triangle(const void* x, void* y, DType dtype, int64_t batch, int64_t n, int64_t m, int64_t diagonal,
                   bool lower) {
  const int64_t item = dtype_size(dtype), row_bytes = m * item;
  const char* src = static_cast<const char*>(x);
  char* dst = static_cast<char*>(y);
  const int64_t grain = std::max<int64_t>(1, (64 << 10) / std::max<int64_t>(row_bytes, 1));
  // --8<-- [start:keep_triangle_rows]
  parallel_for(batch * n, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % n;
      // kept columns [lo, hi): tril j <= i + diagonal, triu j >= i + diagonal
      int64_t lo = lower ? 0 : i + diagonal, hi = lower ? i + diagonal + 1 : m;
      lo = std::clamp<int64_t>(lo, 0, m);
      hi = std::clamp<int64_t>(hi, lo, m);
      const char* xs = src + r * row_bytes;
      char* ys = dst + r * row_bytes;
      std::memset(ys, 0, static_cast<size_t>(lo * item));  // (0 bytes is 0.0 in every float dtype, false, 0)
      std::memcpy(ys + lo * item, xs + lo * item, static_cast<size_t>((hi - lo) * item));
      std::memset(ys + hi * item, 0, static_cast<size_t>((m - hi) * item));
    }
  });
  // --8<-- [end:keep_triangle_rows]
}

}  // namespace minidl
