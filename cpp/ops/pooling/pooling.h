// 2-D pooling on NCHW tensors: max (with arg-max indices), average, adaptive average.
// Every kernel works on N*C independent planes (parallel over planes) of contiguous float
// data. 1-D pooling is the H = 1 case.
#pragma once
#include <cstdint>

#include "core/tensor_view.h"

namespace minidl {

// Geometry of one pooling call. Output size (PyTorch's pooling_output_shape):
//   out = floor_or_ceil((in + 2 pad - dil (k - 1) - 1) / stride) + 1,
// and in ceil mode the last window must start inside the input or the left padding.
struct Pool2dShape {
  int64_t planes = 0;           // N * C
  int64_t in_h = 0, in_w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode);

// y[p, oh, ow] = max over the window (padding counts as -inf), indices = h * in_w + w of the
// first maximum (NaN wins, as in PyTorch). indices may not be null.
void max_pool2d_forward(const void* x, void* y, int64_t* indices, DType dtype, const Pool2dShape& s);
// gx = 0, then gx[p, indices[p, o]] += gy[p, o].
void max_pool2d_backward(const void* gy, const int64_t* indices, void* gx, DType dtype, const Pool2dShape& s);

// y = sum over the window clipped to the input / divisor, divisor = divisor_override if > 0,
// else the window size clipped to the padded input (count_include_pad) or to the input.
void avg_pool2d_forward(const void* x, void* y, DType dtype, const Pool2dShape& s, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool2d_backward(const void* gy, void* gx, DType dtype, const Pool2dShape& s, bool count_include_pad,
                         int64_t divisor_override);

// Output cell i averages input rows [floor(i H / OH), ceil((i + 1) H / OH)) (same for columns).
void adaptive_avg_pool2d_forward(const void* x, void* y, DType dtype, int64_t planes, int64_t in_h,
                                 int64_t in_w, int64_t out_h, int64_t out_w);
void adaptive_avg_pool2d_backward(const void* gy, void* gx, DType dtype, int64_t planes, int64_t in_h,
                                  int64_t in_w, int64_t out_h, int64_t out_w);

// Float32 fast paths for one plane; each returns false when it does not handle the shape.
struct PoolSimd {
  bool (*max_pool_plane_f32)(const float* x, float* y, int64_t* indices, const Pool2dShape& s);
};

}  // namespace minidl
