// Bindings for the scans along one dim and their backwards (cpp/ops/scan/).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "scan.h"

namespace minidl_py {
using namespace minidl;

namespace {

void split_dim(const py::array& x, int64_t dim, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = 1; inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape(d);
  len = x.shape(dim);
  for (int64_t d = dim + 1; d < x.ndim(); ++d) inner *= x.shape(d);
}

// y (x's dtype and shape) and, for max/min, the int64 indices (None otherwise)
py::tuple scan_op(const py::array& x_in, int64_t dim, ScanOp op, bool reverse) {
  py::array x = contiguous(x_in);
  int64_t outer, len, inner;
  split_dim(x, dim, outer, len, inner);
  const bool with_indices = op == ScanOp::max || op == ScanOp::min;
  py::array y = empty_array(dtype_of(x), shape_of(x));
  py::object indices = py::none();
  int64_t* pi = nullptr;
  if (with_indices) {
    py::array a = empty_array(DType::i64, shape_of(x));
    pi = static_cast<int64_t*>(a.mutable_data());
    indices = a;
  }
  if (x.size() > 0) {
    MaybeReleaseGil nogil(x.size());  // held again before the tuple below is built
    scan_lines(x.data(), y.mutable_data(), pi, dtype_of(x), op, outer, len, inner, reverse);
  }
  return py::make_tuple(y, indices);
}

template <void (*backward)(const void*, const void*, const void*, void*, DType, int64_t, int64_t, int64_t)>
py::array scan_backward_op(const py::array& x_in, const py::array& y_in, const py::array& g_in, int64_t dim) {
  py::array x = contiguous(x_in), y = contiguous(y_in), g = contiguous(g_in);
  const DType t = float_dtype(x, "scan backward");
  if (dtype_of(y) != t || dtype_of(g) != t || shape_of(y) != shape_of(x) || shape_of(g) != shape_of(x))
    throw py::value_error("scan backward: x, y and the gradient must share dtype and shape");
  int64_t outer, len, inner;
  split_dim(x, dim, outer, len, inner);
  py::array gx = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  if (x.size() > 0) backward(x.data(), y.data(), g.data(), gx.mutable_data(), t, outer, len, inner);
  return gx;
}

}  // namespace

void register_scan(py::module_& m) {
  compare_members_by_identity(py::enum_<ScanOp>(m, "ScanOp")
      .value("sum", ScanOp::sum).value("prod", ScanOp::prod).value("max", ScanOp::max)
      .value("min", ScanOp::min).value("logsumexp", ScanOp::logsumexp));
  m.def("scan", &scan_op);
  m.def("cumprod_backward", &scan_backward_op<cumprod_backward>);
  m.def("logcumsumexp_backward", &scan_backward_op<logcumsumexp_backward>);
}

}  // namespace minidl_py
