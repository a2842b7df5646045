// Bindings for batch normalization (cpp/ops/batchnorm/). The Python layer (nn/batchnorm.py)
// checks arguments and writes PyTorch's error messages; the checks here only keep the
// kernels in bounds.
#include "batchnorm.h"
#include "bindings/convert.h"
#include "bindings/register.h"

namespace minidl_py {
using namespace minidl;

namespace {

BatchNormShape bn_shape(const py::array& x) {
  if (x.ndim() < 2) throw py::value_error("batch_norm: expected at least 2-D (N, C, ...) input, got " + shape_str(x));
  BatchNormShape sh;
  sh.n = x.shape(0);
  sh.c = x.shape(1);
  for (int d = 2; d < x.ndim(); ++d) sh.s *= x.shape(d);
  return sh;
}

// a per-channel array (or None): contiguous, dtype t, C elements; `writable` ones must be
// the caller's own buffer since the kernel updates it in place
const void* channel_ptr(const py::object& o, DType t, int64_t c, const char* what, py::array& keep) {
  if (o.is_none()) return nullptr;
  keep = o.cast<py::array>();
  if (dtype_of(keep) != t)
    throw py::type_error(std::string("batch_norm: ") + what + " has dtype " + dtype_name(dtype_of(keep)) +
                         ", expected " + dtype_name(t));
  if (keep.size() != c)
    throw py::value_error(std::string("batch_norm: ") + what + " should contain " + std::to_string(c) +
                          " elements not " + std::to_string(keep.size()));
  keep = contiguous(keep);
  return keep.data();
}

void* writable_channel_ptr(const py::object& o, DType t, int64_t c, const char* what, py::array& keep) {
  if (o.is_none()) return nullptr;
  channel_ptr(o, t, c, what, keep);
  py::array orig = o.cast<py::array>();
  if (!keep.is(orig) || !orig.writeable())
    throw py::value_error(std::string("batch_norm: ") + what + " must be a contiguous, writable buffer");
  return keep.mutable_data();
}

bool is_low(DType t) { return t == DType::bf16 || t == DType::f16; }

// x's dtype: float32/float64, or bfloat16/float16 (batchnorm_lowp.cpp: then every
// per-channel array is float32)
DType input_dtype(const py::array& x, const char* what) {
  const DType t = dtype_of(x);
  return is_low(t) ? t : float_dtype(x, what);
}

py::tuple batch_norm_op(const py::array& x_in, const py::object& weight, const py::object& bias,
                        const py::object& running_mean, const py::object& running_var, bool use_batch_stats,
                        double momentum, double eps) {
  py::array x = contiguous(x_in);
  const DType xt = input_dtype(x, "batch_norm");
  const DType t = is_low(xt) ? DType::f32 : xt;  // the per-channel arrays' dtype
  const BatchNormShape sh = bn_shape(x);
  py::array kw, kb, krm, krv;
  const void* w = channel_ptr(weight, t, sh.c, "weight", kw);
  const void* b = channel_ptr(bias, t, sh.c, "bias", kb);
  void* rm = writable_channel_ptr(running_mean, t, sh.c, "running_mean", krm);
  void* rv = writable_channel_ptr(running_var, t, sh.c, "running_var", krv);
  if (!use_batch_stats && (!rm || !rv))
    throw py::value_error("batch_norm: running_mean and running_var are required when not using batch statistics");
  py::array y = empty_array(xt, shape_of(x));
  py::array mean = empty_array(t, {sh.c}), invstd = empty_array(t, {sh.c});
  // how y was computed per channel (BatchNormAffine), for a backward fused with a ReLU (for a
  // 16-bit input: the float32 y before its rounding)
  py::array affine = empty_array(DType::f64, {sh.c, 4});
  {
    MaybeReleaseGil nogil(x.size());
    if (is_low(xt)) {
      auto f = [](const void* p) { return static_cast<float*>(const_cast<void*>(p)); };
      batch_norm_forward_lowp(static_cast<const uint16_t*>(x.data()), static_cast<uint16_t*>(y.mutable_data()), xt,
                              f(w), f(b), f(rm), f(rv), f(mean.mutable_data()), f(invstd.mutable_data()), sh,
                              use_batch_stats, momentum, eps, static_cast<double*>(affine.mutable_data()));
    } else {
      batch_norm_forward(x.data(), y.mutable_data(), w, b, rm, rv, mean.mutable_data(), invstd.mutable_data(), t, sh,
                         use_batch_stats, momentum, eps, static_cast<double*>(affine.mutable_data()));
    }
  }
  return py::make_tuple(y, mean, invstd, affine);
}

py::tuple batch_norm_backward_op(const py::array& gy_in, const py::array& x_in, const py::object& weight,
                                 const py::array& mean_in, const py::array& invstd_in, bool use_batch_stats,
                                 bool need_input, bool need_weight, bool need_bias, const py::object& relu_affine) {
  py::array gy = contiguous(gy_in), x = contiguous(x_in);
  const DType xt = input_dtype(x, "batch_norm backward");
  const DType t = is_low(xt) ? DType::f32 : xt;  // the per-channel arrays' dtype
  if (dtype_of(gy) != xt || shape_of(gy) != shape_of(x))
    throw py::value_error("batch_norm backward: gradient " + shape_str(gy) + " does not match input " + shape_str(x));
  const BatchNormShape sh = bn_shape(x);
  py::array kw, km, ki;
  const void* w = channel_ptr(weight, t, sh.c, "weight", kw);
  const void* mean = channel_ptr(mean_in, t, sh.c, "saved mean", km);
  const void* invstd = channel_ptr(invstd_in, t, sh.c, "saved invstd", ki);
  // relu_affine: the forward's 4th result; the gradient is then that of relu(batch_norm(x))
  py::array ka;
  const double* relu = nullptr;
  if (!relu_affine.is_none()) {
    ka = relu_affine.cast<py::array>();
    if (dtype_of(ka) != DType::f64 || ka.size() != 4 * sh.c)
      throw py::value_error("batch_norm backward: relu_affine should be the float64 (C, 4) array of the forward, got " +
                            shape_str(ka));
    ka = contiguous(ka);
    relu = static_cast<const double*>(ka.data());
  }
  py::object gx = py::none(), gw = py::none(), gb = py::none();
  py::array ax, aw, ab;
  if (need_input) { ax = empty_array(xt, shape_of(x)); gx = ax; }
  if (need_weight) { aw = empty_array(t, {sh.c}); gw = aw; }
  if (need_bias) { ab = empty_array(t, {sh.c}); gb = ab; }
  {
    MaybeReleaseGil nogil(x.size());
    void* gxp = need_input ? ax.mutable_data() : nullptr;
    void* gwp = need_weight ? aw.mutable_data() : nullptr;
    void* gbp = need_bias ? ab.mutable_data() : nullptr;
    if (is_low(xt)) {
      auto f = [](const void* p) { return static_cast<const float*>(p); };
      batch_norm_backward_lowp(static_cast<const uint16_t*>(gy.data()), static_cast<const uint16_t*>(x.data()), xt,
                               f(w), f(mean), f(invstd), static_cast<uint16_t*>(gxp), static_cast<float*>(gwp),
                               static_cast<float*>(gbp), sh, use_batch_stats, relu);
    } else {
      batch_norm_backward(gy.data(), x.data(), w, mean, invstd, gxp, gwp, gbp, t, sh, use_batch_stats, relu);
    }
  }
  return py::make_tuple(gx, gw, gb);
}

}  // namespace

void register_batchnorm(py::module_& m) {
  m.def("batch_norm", &batch_norm_op);
  m.def("batch_norm_backward", &batch_norm_backward_op, py::arg("gy"), py::arg("x"), py::arg("weight"),
        py::arg("mean"), py::arg("invstd"), py::arg("use_batch_stats"), py::arg("need_input"), py::arg("need_weight"),
        py::arg("need_bias"), py::arg("relu_affine") = py::none());
}

}  // namespace minidl_py
