// Bindings for RMS normalization (cpp/ops/rmsnorm/). The Python layer (nn/groupnorm.py) checks
// arguments and writes PyTorch-style error messages; the checks here only keep the kernels in
// bounds.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "rmsnorm.h"

namespace minidl_py {
using namespace minidl;

namespace {

// x (..., normalized) as rows of `cols`; throws unless it is a whole, non-empty number of rows
int64_t row_count(const py::array& x, int64_t cols, const char* what) {
  if (cols <= 0 || x.size() % cols != 0)
    throw py::value_error(std::string(what) + ": input " + shape_str(x) + " is not a whole number of rows of " +
                          std::to_string(cols));
  return x.size() / cols;
}

// weight (or None): dtype t, `cols` elements, made contiguous into `keep`
const void* row_weight(const py::object& o, DType t, int64_t cols, py::array& keep) {
  if (o.is_none()) return nullptr;
  keep = contiguous(o.cast<py::array>());
  if (dtype_of(keep) != t)
    throw py::type_error(std::string("rms_norm: weight has dtype ") + dtype_name(dtype_of(keep)) + ", expected " +
                         dtype_name(t));
  if (keep.size() != cols)
    throw py::value_error("rms_norm: weight " + shape_str(keep) + " should have " + std::to_string(cols) +
                          " elements");
  return keep.data();
}

// returns (y, rrms) with rrms of `rows`
py::tuple rms_norm_op(const py::array& x_in, int64_t cols, const py::object& weight, double eps) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "rms_norm");
  const int64_t rows = row_count(x, cols, "rms_norm");
  py::array kw;
  const void* w = row_weight(weight, t, cols, kw);
  py::array y = empty_array(t, shape_of(x)), rrms = empty_array(t, {rows});
  {
    MaybeReleaseGil nogil(x.size());
    rms_norm_forward(x.data(), y.mutable_data(), w, rrms.mutable_data(), t, rows, cols, eps);
  }
  return py::make_tuple(y, rrms);
}

py::tuple rms_norm_backward_op(const py::array& gy_in, const py::array& x_in, int64_t cols, const py::object& weight,
                               const py::array& rrms_in, bool need_input, bool need_weight) {
  py::array gy = contiguous(gy_in), x = contiguous(x_in);
  const DType t = float_dtype(x, "rms_norm backward");
  if (dtype_of(gy) != t || gy.size() != x.size())
    throw py::value_error("rms_norm backward: gradient " + shape_str(gy) + " does not match input " + shape_str(x));
  const int64_t rows = row_count(x, cols, "rms_norm backward");
  py::array kw;
  const void* w = row_weight(weight, t, cols, kw);
  py::array kr = contiguous(rrms_in);
  if (dtype_of(kr) != t || kr.size() != rows)
    throw py::value_error("rms_norm backward: saved statistics do not match " + std::to_string(rows) + " rows");
  py::object gx = py::none(), gw = py::none();
  py::array ax, aw;
  if (need_input) { ax = empty_array(t, shape_of(x)); gx = ax; }
  if (need_weight) { aw = empty_array(t, {cols}); gw = aw; }
  {
    MaybeReleaseGil nogil(x.size());
    rms_norm_backward(gy.data(), x.data(), w, kr.data(), need_input ? ax.mutable_data() : nullptr,
                      need_weight ? aw.mutable_data() : nullptr, t, rows, cols);
  }
  return py::make_tuple(gx, gw);
}

}  // namespace

void register_rmsnorm(py::module_& m) {
  m.def("rms_norm", &rms_norm_op);
  m.def("rms_norm_backward", &rms_norm_backward_op);
}

}  // namespace minidl_py
