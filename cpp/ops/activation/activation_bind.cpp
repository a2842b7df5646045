// Bindings for the activation functions (cpp/ops/activation/): relu, leaky_relu, sigmoid,
// tanh, gelu, gelu_tanh, forward and backward.
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

py::array activation_op(int act, const py::array& x_in, double param) {
  py::array x = contiguous(x_in);
  const DType t = activation_dtype(x, "activation");
  py::array y = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  activation_forward(static_cast<Activation>(act), x.data(), y.mutable_data(), t, x.size(), param);
  return y;
}

py::array activation_backward_op(int act, const py::array& gy_in, const py::array& saved_in, double param) {
  py::array gy = contiguous(gy_in), saved = contiguous(saved_in);
  const DType t = activation_dtype(saved, "activation backward");
  if (dtype_of(gy) != t || gy.size() != saved.size()) throw py::value_error("activation backward: gradient does not match");
  py::array gx = empty_array(t, shape_of(saved));
  MaybeReleaseGil nogil(gy.size());
  activation_backward(static_cast<Activation>(act), gy.data(), saved.data(), gx.mutable_data(), t, gy.size(), param);
  return gx;
}

}  // namespace

void register_activation(py::module_& m) {
  m.def("activation", &activation_op);
  m.def("activation_backward", &activation_backward_op);
  m.def("activation_backward_uses_output", [](int act) { return activation_backward_uses_output(static_cast<Activation>(act)); });
}

}  // namespace minidl_py
