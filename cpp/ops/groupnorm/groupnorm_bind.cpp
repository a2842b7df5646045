// Bindings for group normalization (cpp/ops/groupnorm/). The Python layer (nn/groupnorm.py)
// checks arguments and writes PyTorch-style error messages; the checks here only keep the
// kernels in bounds.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "groupnorm.h"

namespace minidl_py {
using namespace minidl;

namespace {

// x (N, C, *) with C divisible by groups -> the kernel's (n, c, s) view
GroupNormShape group_shape(const py::array& x, int64_t groups, const char* what) {
  if (x.ndim() < 2)
    throw py::value_error(std::string(what) + ": input " + shape_str(x) + " should be (N, C, *)");
  GroupNormShape sh;
  sh.n = x.shape(0);
  sh.c = x.shape(1);
  sh.s = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) sh.s *= x.shape(i);
  sh.groups = groups;
  if (groups <= 0 || sh.c % groups != 0)
    throw py::value_error(std::string(what) + ": " + std::to_string(sh.c) + " channels do not split into " +
                          std::to_string(groups) + " groups");
  return sh;
}

// gamma/beta (or None): dtype t, C elements, made contiguous into `keep`
const void* channel_param(const py::object& o, DType t, int64_t c, const char* what, py::array& keep) {
  if (o.is_none()) return nullptr;
  keep = contiguous(o.cast<py::array>());
  if (dtype_of(keep) != t)
    throw py::type_error(std::string("group_norm: ") + what + " has dtype " + dtype_name(dtype_of(keep)) +
                         ", expected " + dtype_name(t));
  if (keep.size() != c)
    throw py::value_error(std::string("group_norm: ") + what + " " + shape_str(keep) + " should have " +
                          std::to_string(c) + " elements");
  return keep.data();
}

// returns (y, mean, rstd), mean and rstd of (N, groups)
py::tuple group_norm_op(const py::array& x_in, int64_t groups, const py::object& weight, const py::object& bias,
                        double eps) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "group_norm");
  const GroupNormShape sh = group_shape(x, groups, "group_norm");
  py::array kw, kb;
  const void* w = channel_param(weight, t, sh.c, "weight", kw);
  const void* b = channel_param(bias, t, sh.c, "bias", kb);
  py::array y = empty_array(t, shape_of(x));
  py::array mean = empty_array(t, {sh.n, groups}), rstd = empty_array(t, {sh.n, groups});
  {
    MaybeReleaseGil nogil(x.size());
    group_norm_forward(x.data(), y.mutable_data(), w, b, mean.mutable_data(), rstd.mutable_data(), t, sh, eps);
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple group_norm_backward_op(const py::array& gy_in, const py::array& x_in, int64_t groups,
                                 const py::object& weight, const py::array& mean_in, const py::array& rstd_in,
                                 bool need_input, bool need_weight, bool need_bias) {
  py::array gy = contiguous(gy_in), x = contiguous(x_in);
  const DType t = float_dtype(x, "group_norm backward");
  if (dtype_of(gy) != t || shape_of(gy) != shape_of(x))
    throw py::value_error("group_norm backward: gradient " + shape_str(gy) + " does not match input " + shape_str(x));
  const GroupNormShape sh = group_shape(x, groups, "group_norm backward");
  py::array kw;
  const void* w = channel_param(weight, t, sh.c, "weight", kw);
  py::array km = contiguous(mean_in), kr = contiguous(rstd_in);
  if (dtype_of(km) != t || dtype_of(kr) != t || km.size() != sh.n * groups || kr.size() != sh.n * groups)
    throw py::value_error("group_norm backward: saved statistics do not match " + std::to_string(sh.n * groups) +
                          " groups");
  py::object gx = py::none(), gw = py::none(), gb = py::none();
  py::array ax, aw, ab;
  if (need_input) { ax = empty_array(t, shape_of(x)); gx = ax; }
  if (need_weight) { aw = empty_array(t, {sh.c}); gw = aw; }
  if (need_bias) { ab = empty_array(t, {sh.c}); gb = ab; }
  {
    MaybeReleaseGil nogil(x.size());
    group_norm_backward(gy.data(), x.data(), w, km.data(), kr.data(), need_input ? ax.mutable_data() : nullptr,
                        need_weight ? aw.mutable_data() : nullptr, need_bias ? ab.mutable_data() : nullptr, t, sh);
  }
  return py::make_tuple(gx, gw, gb);
}

}  // namespace

void register_groupnorm(py::module_& m) {
  m.def("group_norm", &group_norm_op);
  m.def("group_norm_backward", &group_norm_backward_op);
}

}  // namespace minidl_py
