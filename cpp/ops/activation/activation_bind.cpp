// Bindings for the activation functions (cpp/ops/activation/): the Activation enum, forward
// and backward with the parameters p, q of activation.h.
#include "activation.h"
#include "bindings/convert.h"
#include "bindings/register.h"

namespace minidl_py {
using namespace minidl;

namespace {

// float32 / float64, or a 16-bit float (computed in float32 inside, see activation.cpp)
DType activation_dtype(const py::array& a, const char* what) {
  const DType t = dtype_of(a);
  return t == DType::bf16 || t == DType::f16 ? t : float_dtype(a, what);
}

py::array activation_op(Activation act, const py::array& x_in, double param, double q) {
  py::array x = contiguous(x_in);
  const DType t = activation_dtype(x, "activation");
  py::array y = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  activation_forward(act, x.data(), y.mutable_data(), t, x.size(), param, q);
  return y;
}

// A gradient that is one value broadcast over the whole shape (every stride 0: what y.sum() and
// y.mean() pass back) is read as that one value, not copied out to the full size first.
// Measured (relu of (1024, 1024) float32, forward + backward of y.sum(), 1 thread): the copy
// was 7% of the samples.
bool is_one_value(const py::array& a) {
  if (a.size() <= 1) return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.shape(d) > 1 && a.strides(d) != 0) return false;
  return true;
}

py::array activation_backward_op(Activation act, const py::array& gy_in, const py::array& saved_in, double param,
                                 double q) {
  py::array saved = contiguous(saved_in);
  const bool one_value = is_one_value(gy_in) && gy_in.size() == saved.size();
  py::array gy = one_value ? gy_in : contiguous(gy_in);
  const DType t = activation_dtype(saved, "activation backward");
  if (dtype_of(gy) != t || gy.size() != saved.size()) throw py::value_error("activation backward: gradient does not match");
  py::array gx = empty_array(t, shape_of(saved));
  MaybeReleaseGil nogil(gy.size());
  activation_backward(act, gy.data(), saved.data(), gx.mutable_data(), t, gy.size(), param, q, one_value ? 0 : 1);
  return gx;
}

// the backward of an activation whose output gradient is ga + gb (float32 / float64 only)
py::array activation_backward_sum_op(Activation act, const py::array& ga_in, const py::array& gb_in,
                                     const py::array& saved_in, double param, double q) {
  py::array ga = contiguous(ga_in), gb = contiguous(gb_in), saved = contiguous(saved_in);
  const DType t = float_dtype(saved, "activation backward");
  if (dtype_of(ga) != t || dtype_of(gb) != t || shape_of(ga) != shape_of(saved) || shape_of(gb) != shape_of(saved))
    throw py::value_error("activation backward: gradients " + shape_str(ga) + " and " + shape_str(gb) +
                          " do not match the saved " + shape_str(saved) + " of dtype " + dtype_name(t));
  py::array gx = empty_array(t, shape_of(saved));
  MaybeReleaseGil nogil(saved.size());
  activation_backward_sum(act, ga.data(), gb.data(), saved.data(), gx.mutable_data(), t, saved.size(), param, q);
  return gx;
}

}  // namespace

void register_activation(py::module_& m) {
  // used by name from Python (python/minidl/ops/array.py)
  compare_members_by_identity(py::enum_<Activation>(m, "Activation")
      .value("relu", Activation::relu).value("leaky_relu", Activation::leaky_relu)
      .value("sigmoid", Activation::sigmoid).value("tanh", Activation::tanh).value("gelu", Activation::gelu)
      .value("gelu_tanh", Activation::gelu_tanh).value("silu", Activation::silu).value("mish", Activation::mish)
      .value("elu", Activation::elu).value("celu", Activation::celu).value("softplus", Activation::softplus)
      .value("softsign", Activation::softsign).value("hardtanh", Activation::hardtanh)
      .value("hardswish", Activation::hardswish).value("hardsigmoid", Activation::hardsigmoid)
      .value("logsigmoid", Activation::logsigmoid).value("softshrink", Activation::softshrink)
      .value("hardshrink", Activation::hardshrink).value("threshold", Activation::threshold));
  m.def("activation", &activation_op, py::arg("act"), py::arg("x"), py::arg("p"), py::arg("q") = 0.0);
  m.def("activation_backward", &activation_backward_op, py::arg("act"), py::arg("gy"), py::arg("saved"), py::arg("p"),
        py::arg("q") = 0.0);
  m.def("activation_backward_sum", &activation_backward_sum_op, py::arg("act"), py::arg("ga"), py::arg("gb"),
        py::arg("saved"), py::arg("p"), py::arg("q") = 0.0);
  m.def("activation_backward_uses_output", [](Activation act) { return activation_backward_uses_output(act); });
}

}  // namespace minidl_py
