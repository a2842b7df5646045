// Binding of tril / triu (cpp/ops/triangular/): python/minidl/ops/triangular.py checks the
// arguments (at least 2 dims) and writes PyTorch's messages.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "triangular.h"

namespace minidl_py {
using namespace minidl;

namespace {

// a new array: x with the elements outside the triangle zeroed (x: any dtype, >= 2 dims)
py::array keep_triangle_op(const py::array& x_in, int64_t diagonal, bool lower) {
  py::array x = contiguous(x_in);
  if (x.ndim() < 2) throw py::value_error("triangle: expected at least 2 dims, got " + shape_str(x));
  const int64_t n = x.shape(x.ndim() - 2), m = x.shape(x.ndim() - 1);
  const int64_t batch = n * m == 0 ? 0 : static_cast<int64_t>(x.size()) / (n * m);
  py::array y = empty_array(dtype_of(x), shape_of(x));
  if (x.size() > 0) {
    MaybeReleaseGil nogil(x.size());
    keep_triangle(x.data(), y.mutable_data(), dtype_of(x), batch, n, m, diagonal, lower);
  }
  return y;
}

}  // namespace

void register_triangular(py::module_& m) {
  m.def("keep_triangle", &keep_triangle_op, "tril (lower) / triu: x with the other triangle zeroed",
        py::arg("x"), py::arg("diagonal"), py::arg("lower"));
}

}  // namespace minidl_py
