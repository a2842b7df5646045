// Bindings for copies and conversions (cpp/ops/copy/): contiguous, copy_ (strided, with a
// cast when dtypes differ), cast, and the two ops that write values into an array: fill_
// and arange (its loop is here; the 16-bit dtypes are rounded by cast_contiguous).
#include <cmath>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "copy.h"

namespace minidl_py {
using namespace minidl;

namespace {

// dst[...] = src broadcast to dst's shape (dst may be any strided view); casts when dtypes differ
void copy_into(const py::array& dst, const py::array& src) {
  if (!dst.writeable()) throw py::value_error("copy_: destination is read-only");
  std::vector<int64_t> shape = shape_of(dst);
  py::array s = src;
  if (!dst.dtype().equal(src.dtype())) {
    py::array sc = contiguous(src);
    py::array cast_out = empty_array(dtype_of(dst), shape_of(sc));
    cast_contiguous(sc.data(), dtype_of(sc), cast_out.mutable_data(), dtype_of(dst), sc.size());
    s = cast_out;
  }
  TensorView vs = broadcast_view(s, shape, "copy_"), vd = view_of(dst);
  MaybeReleaseGil nogil(vd.numel());
  copy_strided(vs, vd);
}

py::array cast_op(const py::array& x, DType dt) {
  py::array c = contiguous(x);
  py::array out = empty_array(dt, shape_of(c));
  const DType src_dtype = dtype_of(c);  // a Python call: before the GIL is released
  void* out_data = out.mutable_data();
  MaybeReleaseGil nogil(c.size());
  cast_contiguous(c.data(), src_dtype, out_data, dt, c.size());
  return out;
}

void fill_op(const py::array& x, double value) {
  if (!x.writeable()) throw py::value_error("fill_: array is read-only");
  TensorView v = view_of(x);
  MaybeReleaseGil nogil(v.numel());
  fill(v, value);
}

py::array arange_op(double start, double end, double step, DType dt) {
  if (step == 0) throw py::value_error("arange: step must be nonzero");
  const double span = (end - start) / step;
  const int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  py::array out = empty_array(dt, {n});
  if (dt == DType::i64) {
    auto* p = static_cast<int64_t*>(out.mutable_data());
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(start + i * step);
  } else if (dt == DType::f64) {
    auto* p = static_cast<double*>(out.mutable_data());
    for (int64_t i = 0; i < n; ++i) p[i] = start + i * step;
  } else {
    std::vector<float> tmp(n);
    for (int64_t i = 0; i < n; ++i) tmp[i] = static_cast<float>(start + i * step);
    cast_contiguous(tmp.data(), DType::f32, out.mutable_data(), dt, n);
  }
  return out;
}

}  // namespace

void register_copy(py::module_& m) {
  m.def("contiguous", &contiguous);
  m.def("copy_", &copy_into);
  m.def("cast", &cast_op);
  m.def("fill_", &fill_op);
  m.def("arange", &arange_op);
}

}  // namespace minidl_py
