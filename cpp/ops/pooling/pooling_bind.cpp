// Bindings for pooling (max, avg, adaptive avg). The Python layer (nn/pooling.py) checks
// arguments and writes PyTorch's error messages; the checks here only keep the kernels in
// bounds.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "pooling.h"

namespace minidl_py {
using namespace minidl;

namespace {

void require_4d(const py::array& x, const char* what) {
  if (x.ndim() != 4) throw py::value_error(std::string(what) + ": expected a 4-D (N, C, H, W) array, got " + shape_str(x));
}

// geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w)
Pool2dShape pool_shape(const std::vector<int64_t>& shape, const std::vector<int64_t>& g, bool ceil_mode,
                       const char* what) {
  if (g.size() != 8) throw py::value_error(std::string(what) + ": geometry needs 8 integers");
  Pool2dShape s;
  s.planes = shape[0] * shape[1];
  s.in_h = shape[2];
  s.in_w = shape[3];
  s.kernel_h = g[0]; s.kernel_w = g[1]; s.stride_h = g[2]; s.stride_w = g[3];
  s.pad_h = g[4]; s.pad_w = g[5]; s.dilation_h = g[6]; s.dilation_w = g[7];
  if (s.kernel_h < 1 || s.kernel_w < 1 || s.stride_h < 1 || s.stride_w < 1 || s.dilation_h < 1 ||
      s.dilation_w < 1 || s.pad_h < 0 || s.pad_w < 0 || 2 * s.pad_h > s.kernel_h || 2 * s.pad_w > s.kernel_w)
    throw py::value_error(std::string(what) + ": invalid kernel/stride/padding/dilation");
  s.out_h = pool_output_size(s.in_h, s.kernel_h, s.pad_h, s.stride_h, s.dilation_h, ceil_mode);
  s.out_w = pool_output_size(s.in_w, s.kernel_w, s.pad_w, s.stride_w, s.dilation_w, ceil_mode);
  if (s.out_h < 1 || s.out_w < 1)
    throw py::value_error(std::string(what) + ": output size is too small for input " + shape_str(shape));
  return s;
}

// float32 / float64, or (max pooling) a 16-bit float, pooled in float32 inside (pool.cpp)
DType pool_dtype(const py::array& a, const char* what) {
  const DType t = dtype_of(a);
  return t == DType::bf16 || t == DType::f16 ? t : float_dtype(a, what);
}

py::tuple max_pool2d_op(const py::array& x_in, const std::vector<int64_t>& geometry, bool ceil_mode) {
  py::array x = contiguous(x_in);
  require_4d(x, "max_pool2d");
  const DType t = pool_dtype(x, "max_pool2d");
  const Pool2dShape s = pool_shape(shape_of(x), geometry, ceil_mode, "max_pool2d");
  py::array y = empty_array(t, {x.shape(0), x.shape(1), s.out_h, s.out_w});
  py::array idx = empty_array(DType::i64, {x.shape(0), x.shape(1), s.out_h, s.out_w});
  {
    MaybeReleaseGil nogil(x.size());
    if (y.size() > 0) max_pool2d_forward(x.data(), y.mutable_data(), static_cast<int64_t*>(idx.mutable_data()), t, s);
  }
  return py::make_tuple(y, idx);
}

py::array max_pool2d_backward_op(const py::array& gy_in, const py::array& idx_in, int64_t in_h, int64_t in_w) {
  py::array gy = contiguous(gy_in), idx = contiguous(idx_in);
  require_4d(gy, "max_pool2d backward");
  const DType t = pool_dtype(gy, "max_pool2d backward");
  if (dtype_of(idx) != DType::i64 || shape_of(idx) != shape_of(gy))
    throw py::value_error("max_pool2d backward: indices " + shape_str(idx) + " do not match the gradient " + shape_str(gy));
  Pool2dShape s;
  s.planes = gy.shape(0) * gy.shape(1);
  s.in_h = in_h; s.in_w = in_w; s.out_h = gy.shape(2); s.out_w = gy.shape(3);
  // every index must land inside its input plane
  const int64_t* pi = static_cast<const int64_t*>(idx.data());
  for (int64_t i = 0; i < idx.size(); ++i)
    if (pi[i] < 0 || pi[i] >= in_h * in_w)
      throw py::value_error("max_pool2d backward: index " + std::to_string(pi[i]) + " out of range for a " +
                            std::to_string(in_h) + "x" + std::to_string(in_w) + " plane");
  py::array gx = empty_array(t, {gy.shape(0), gy.shape(1), in_h, in_w});
  MaybeReleaseGil nogil(gx.size());
  if (gx.size() > 0) max_pool2d_backward(gy.data(), pi, gx.mutable_data(), t, s);
  return gx;
}

py::array avg_pool2d_op(const py::array& x_in, const std::vector<int64_t>& geometry, bool ceil_mode,
                        bool count_include_pad, int64_t divisor_override) {
  py::array x = contiguous(x_in);
  require_4d(x, "avg_pool2d");
  const DType t = float_dtype(x, "avg_pool2d");
  const Pool2dShape s = pool_shape(shape_of(x), geometry, ceil_mode, "avg_pool2d");
  py::array y = empty_array(t, {x.shape(0), x.shape(1), s.out_h, s.out_w});
  MaybeReleaseGil nogil(x.size());
  if (y.size() > 0) avg_pool2d_forward(x.data(), y.mutable_data(), t, s, count_include_pad, divisor_override);
  return y;
}

py::array avg_pool2d_backward_op(const py::array& gy_in, int64_t in_h, int64_t in_w,
                                 const std::vector<int64_t>& geometry, bool ceil_mode, bool count_include_pad,
                                 int64_t divisor_override) {
  py::array gy = contiguous(gy_in);
  require_4d(gy, "avg_pool2d backward");
  const DType t = float_dtype(gy, "avg_pool2d backward");
  const Pool2dShape s = pool_shape({gy.shape(0), gy.shape(1), in_h, in_w}, geometry, ceil_mode, "avg_pool2d backward");
  if (s.out_h != gy.shape(2) || s.out_w != gy.shape(3))
    throw py::value_error("avg_pool2d backward: gradient " + shape_str(gy) + " does not match the output size");
  py::array gx = empty_array(t, {gy.shape(0), gy.shape(1), in_h, in_w});
  MaybeReleaseGil nogil(gx.size());
  if (gx.size() > 0) avg_pool2d_backward(gy.data(), gx.mutable_data(), t, s, count_include_pad, divisor_override);
  return gx;
}

py::array adaptive_avg_pool2d_op(const py::array& x_in, int64_t out_h, int64_t out_w) {
  py::array x = contiguous(x_in);
  require_4d(x, "adaptive_avg_pool2d");
  const DType t = float_dtype(x, "adaptive_avg_pool2d");
  if (out_h < 0 || out_w < 0 || x.shape(2) < 1 || x.shape(3) < 1)
    throw py::value_error("adaptive_avg_pool2d: bad output size for input " + shape_str(x));
  py::array y = empty_array(t, {x.shape(0), x.shape(1), out_h, out_w});
  MaybeReleaseGil nogil(x.size());
  if (y.size() > 0)
    adaptive_avg_pool2d_forward(x.data(), y.mutable_data(), t, x.shape(0) * x.shape(1), x.shape(2), x.shape(3), out_h, out_w);
  return y;
}

py::array adaptive_avg_pool2d_backward_op(const py::array& gy_in, int64_t in_h, int64_t in_w) {
  py::array gy = contiguous(gy_in);
  require_4d(gy, "adaptive_avg_pool2d backward");
  const DType t = float_dtype(gy, "adaptive_avg_pool2d backward");
  py::array gx = empty_array(t, {gy.shape(0), gy.shape(1), in_h, in_w});
  MaybeReleaseGil nogil(gx.size());
  if (gx.size() > 0)
    adaptive_avg_pool2d_backward(gy.data(), gx.mutable_data(), t, gy.shape(0) * gy.shape(1), in_h, in_w, gy.shape(2), gy.shape(3));
  return gx;
}

}  // namespace

void register_pooling(py::module_& m) {
  m.def("max_pool2d", &max_pool2d_op);
  m.def("max_pool2d_backward", &max_pool2d_backward_op);
  m.def("avg_pool2d", &avg_pool2d_op);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_op);
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d_op);
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward_op);
}

}  // namespace minidl_py
