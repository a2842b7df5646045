// Bindings for softmax and log_softmax over one dim (cpp/ops/softmax/), forward and backward.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "softmax.h"

namespace minidl_py {
using namespace minidl;

namespace {

void split_dim(const py::array& x, int64_t dim, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = 1; inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape(d);
  len = x.ndim() == 0 ? 1 : x.shape(dim);
  for (int64_t d = dim + 1; d < x.ndim(); ++d) inner *= x.shape(d);
}

py::array softmax_op(const py::array& x_in, int64_t dim, bool log) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, log ? "log_softmax" : "softmax");
  int64_t outer, len, inner;
  split_dim(x, dim, outer, len, inner);
  py::array y = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  if (x.size() > 0) softmax_forward(x.data(), y.mutable_data(), t, outer, len, inner, log);
  return y;
}

py::array softmax_backward_op(const py::array& gy_in, const py::array& y_in, int64_t dim, bool log) {
  py::array gy = contiguous(gy_in), y = contiguous(y_in);
  const DType t = float_dtype(y, "softmax backward");
  int64_t outer, len, inner;
  split_dim(y, dim, outer, len, inner);
  py::array gx = empty_array(t, shape_of(y));
  MaybeReleaseGil nogil(y.size());
  if (y.size() > 0) softmax_backward(gy.data(), y.data(), gx.mutable_data(), t, outer, len, inner, log);
  return gx;
}

}  // namespace

void register_softmax(py::module_& m) {
  m.def("softmax", &softmax_op);
  m.def("softmax_backward", &softmax_backward_op);
}

}  // namespace minidl_py
