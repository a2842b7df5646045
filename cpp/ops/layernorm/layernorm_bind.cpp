// Bindings for layer normalization (cpp/ops/layernorm/). The Python layer (nn/layernorm.py)
// checks arguments and writes PyTorch-style error messages; the checks here only keep the
// kernels in bounds.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "layernorm.h"

namespace minidl_py {
using namespace minidl;

namespace {

// weight/bias (or None): dtype t, `cols` elements, made contiguous into `keep`
const void* row_param(const py::object& o, DType t, int64_t cols, const char* what, py::array& keep) {
  if (o.is_none()) return nullptr;
  keep = contiguous(o.cast<py::array>());
  if (dtype_of(keep) != t)
    throw py::type_error(std::string("layer_norm: ") + what + " has dtype " + dtype_name(dtype_of(keep)) +
                         ", expected " + dtype_name(t));
  if (keep.size() != cols)
    throw py::value_error(std::string("layer_norm: ") + what + " " + shape_str(keep) + " should have " +
                          std::to_string(cols) + " elements");
  return keep.data();
}

// x (..., normalized) viewed as rows x cols; returns (y, mean, rstd) with mean/rstd of `rows`
py::tuple layer_norm_op(const py::array& x_in, int64_t cols, const py::object& weight, const py::object& bias,
                        double eps) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "layer_norm");
  if (cols <= 0 || x.size() % cols != 0)
    throw py::value_error("layer_norm: input " + shape_str(x) + " is not a whole number of rows of " +
                          std::to_string(cols));
  const int64_t rows = x.size() / cols;
  py::array kw, kb;
  const void* w = row_param(weight, t, cols, "weight", kw);
  const void* b = row_param(bias, t, cols, "bias", kb);
  py::array y = empty_array(t, shape_of(x));
  py::array mean = empty_array(t, {rows}), rstd = empty_array(t, {rows});
  {
    MaybeReleaseGil nogil(x.size());
    layer_norm_forward(x.data(), y.mutable_data(), w, b, mean.mutable_data(), rstd.mutable_data(), t, rows, cols, eps);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple layer_norm_backward_op(const py::array& gy_in, const py::array& x_in, int64_t cols,
                                 const py::object& weight, const py::array& mean_in, const py::array& rstd_in,
                                 bool need_input, bool need_weight, bool need_bias) {
  py::array gy = contiguous(gy_in), x = contiguous(x_in);
  const DType t = float_dtype(x, "layer_norm backward");
  if (dtype_of(gy) != t || gy.size() != x.size())
    throw py::value_error("layer_norm backward: gradient " + shape_str(gy) + " does not match input " + shape_str(x));
  if (cols <= 0 || x.size() % cols != 0)
    throw py::value_error("layer_norm backward: input " + shape_str(x) + " is not a whole number of rows");
  const int64_t rows = x.size() / cols;
  py::array kw, km, kr;
  const void* w = row_param(weight, t, cols, "weight", kw);
  km = contiguous(mean_in);
  kr = contiguous(rstd_in);
  if (dtype_of(km) != t || dtype_of(kr) != t || km.size() != rows || kr.size() != rows)
    throw py::value_error("layer_norm backward: saved statistics do not match " + std::to_string(rows) + " rows");
  py::object gx = py::none(), gw = py::none(), gb = py::none();
  py::array ax, aw, ab;
  if (need_input) { ax = empty_array(t, shape_of(x)); gx = ax; }
  if (need_weight) { aw = empty_array(t, {cols}); gw = aw; }
  if (need_bias) { ab = empty_array(t, {cols}); gb = ab; }
  {
    MaybeReleaseGil nogil(x.size());
    layer_norm_backward(gy.data(), x.data(), w, km.data(), kr.data(), need_input ? ax.mutable_data() : nullptr,
                        need_weight ? aw.mutable_data() : nullptr, need_bias ? ab.mutable_data() : nullptr, t, rows,
                        cols);
  }
  return py::make_tuple(gx, gw, gb);
}

}  // namespace

void register_layernorm(py::module_& m) {
  m.def("layer_norm", &layer_norm_op);
  m.def("layer_norm_backward", &layer_norm_backward_op);
}

}  // namespace minidl_py
