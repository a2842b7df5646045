// Bindings for interpolation (cpp/ops/interpolate/). The Python layer (nn/interpolate.py)
// checks the arguments and writes PyTorch's error messages; the checks here only keep the
// kernels in bounds.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "interpolate.h"

namespace minidl_py {
using namespace minidl;

namespace {

// (N, C, spatial...) with 1 to 3 spatial dims -> the kernel's geometry
InterpShape interp_shape(const std::vector<int64_t>& shape, const std::vector<int64_t>& spatial_out,
                         const std::vector<double>& scales, InterpMode mode, bool align_corners, bool antialias,
                         const char* what) {
  const int spatial = static_cast<int>(shape.size()) - 2;
  if (spatial < 1 || spatial > 3 || static_cast<int>(spatial_out.size()) != spatial ||
      static_cast<int>(scales.size()) != spatial)
    throw py::value_error(std::string(what) + ": expected a 3-D to 5-D array and one output size and scale per "
                          "spatial dim, got " + shape_str(shape));
  InterpShape s;
  s.planes = shape[0] * shape[1];
  s.spatial = spatial;
  s.mode = mode;
  s.align_corners = align_corners;
  s.antialias = antialias && (mode == InterpMode::linear || mode == InterpMode::cubic);
  for (int k = 0; k < spatial; ++k) {
    const int slot = 3 - spatial + k;
    s.in[slot] = shape[2 + k];
    s.out[slot] = spatial_out[k];
    s.scale[slot] = scales[k];
    if (s.in[slot] < 1 || s.out[slot] < 1)
      throw py::value_error(std::string(what) + ": input and output sizes must be positive, got input " +
                            shape_str(shape) + " and output size " + shape_str(spatial_out));
  }
  return s;
}

py::array interpolate_op(const py::array& x_in, const std::vector<int64_t>& out_size, const std::vector<double>& scales,
                         InterpMode mode, bool align_corners, bool antialias) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "interpolate");
  const std::vector<int64_t> shape = shape_of(x);
  const InterpShape s = interp_shape(shape, out_size, scales, mode, align_corners, antialias, "interpolate");
  std::vector<int64_t> y_shape = {shape[0], shape[1]};
  y_shape.insert(y_shape.end(), out_size.begin(), out_size.end());
  py::array y = empty_array(t, y_shape);
  MaybeReleaseGil nogil(y.size());
  if (y.size() > 0) interpolate_forward(x.data(), y.mutable_data(), t, s);
  return y;
}

// gx of input shape `in_shape` from gy (N, C, out...)
py::array interpolate_backward_op(const py::array& gy_in, const std::vector<int64_t>& in_shape,
                                  const std::vector<double>& scales, InterpMode mode, bool align_corners,
                                  bool antialias) {
  py::array gy = contiguous(gy_in);
  const DType t = float_dtype(gy, "interpolate backward");
  const std::vector<int64_t> g_shape = shape_of(gy);
  if (g_shape.size() != in_shape.size() || g_shape.size() < 3 || g_shape[0] != in_shape[0] || g_shape[1] != in_shape[1])
    throw py::value_error("interpolate backward: gradient " + shape_str(g_shape) + " does not match input " +
                          shape_str(in_shape));
  const std::vector<int64_t> out_size(g_shape.begin() + 2, g_shape.end());
  const InterpShape s =
      interp_shape(in_shape, out_size, scales, mode, align_corners, antialias, "interpolate backward");
  py::array gx = empty_array(t, in_shape);
  MaybeReleaseGil nogil(gx.size() + gy.size());
  if (gx.size() > 0) interpolate_backward(gy.data(), gx.mutable_data(), t, s);
  return gx;
}

}  // namespace

void register_interpolate(py::module_& m) {
  compare_members_by_identity(py::enum_<InterpMode>(m, "InterpMode")
                                  .value("nearest", InterpMode::nearest)
                                  .value("nearest_exact", InterpMode::nearest_exact)
                                  .value("linear", InterpMode::linear)
                                  .value("cubic", InterpMode::cubic));
  m.def("interpolate", &interpolate_op,
        "resample (N, C, spatial...) to out_size (mode: an InterpMode; scales <= 0: none given; antialias: "
        "linear / cubic only)");
  m.def("interpolate_backward", &interpolate_backward_op, "the adjoint of interpolate");
}

}  // namespace minidl_py
