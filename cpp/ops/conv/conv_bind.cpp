// Bindings for 2-D convolution (cpp/ops/conv/conv.cpp; bfloat16 / float16 tensors go to
// cpp/ops/conv/conv_lowp.cpp). Conv1d arrives here as H == 1.
// The Python layer (python/minidl/nn/conv.py) raises PyTorch's messages for bad arguments;
// the checks here only guarantee that no kernel reads or writes out of bounds.
#include <stdexcept>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "conv.h"
#include "conv_lowp.h"
#include "conv_tune.h"
#include "core/dtype_dispatch.h"

namespace minidl_py {
using namespace minidl;

namespace {

using Pair = std::pair<int64_t, int64_t>;

DType conv_dtype(const py::array& a, const char* what) {
  const DType t = dtype_of(a);
  if (t != DType::f32 && t != DType::f64 && t != DType::bf16 && t != DType::f16)
    throw py::type_error(std::string(what) + ": expected a float32, float64, bfloat16 or float16 tensor, got " +
                         dtype_name(t));
  return t;
}

bool is_low(DType t) { return t == DType::bf16 || t == DType::f16; }
const uint16_t* u16(const void* p) { return static_cast<const uint16_t*>(p); }
uint16_t* u16(void* p) { return static_cast<uint16_t*>(p); }

void check_reference(DType t, bool reference) {
  if (reference && is_low(t))
    throw py::type_error(std::string("conv2d: reference=True supports float32 and float64, got ") + dtype_name(t));
}

// x: the input's shape (the input itself is not needed for its gradient)
ConvShape make_shape(const std::vector<int64_t>& x, const py::array& w, Pair stride, Pair padding, Pair dilation,
                     int64_t groups) {
  if (x.size() != 4 || w.ndim() != 4)
    throw py::value_error("conv2d: expected 4-D input and weight, got input " + shape_str(x) + " and weight " + shape_str(w));
  ConvShape s;
  s.N = x[0]; s.C = x[1]; s.H = x[2]; s.W = x[3];
  s.K = w.shape(0); s.R = w.shape(2); s.S = w.shape(3);
  s.stride_h = stride.first; s.stride_w = stride.second;
  s.pad_h = padding.first; s.pad_w = padding.second;
  s.dil_h = dilation.first; s.dil_w = dilation.second;
  s.groups = groups;
  if (groups < 1 || s.C % groups != 0 || s.K % groups != 0 || w.shape(1) * groups != s.C)
    throw py::value_error("conv2d: weight " + shape_str(w) + " with groups=" + std::to_string(groups) +
                          " does not match input " + shape_str(x));
  if (!s.finish())
    throw py::value_error("conv2d: kernel " + shape_str(w) + " does not fit input " + shape_str(x) +
                          " with the given stride, padding and dilation");
  return s;
}

void check_same(const py::array& a, DType t, const char* what) {
  if (dtype_of(a) != t)
    throw py::type_error(std::string("conv2d: ") + what + " dtype " + dtype_name(dtype_of(a)) +
                         " does not match input dtype " + dtype_name(t));
}

py::array conv2d_forward_op(const py::array& x_in, const py::array& w_in, py::object bias_obj, Pair stride,
                            Pair padding, Pair dilation, int64_t groups, bool reference) {
  py::array x = contiguous(x_in), w = contiguous(w_in);
  const DType t = conv_dtype(x, "conv2d");
  check_same(w, t, "weight");
  const ConvShape s = make_shape(shape_of(x), w, stride, padding, dilation, groups);
  py::array b;
  const void* bp = nullptr;
  if (!bias_obj.is_none()) {
    b = contiguous(bias_obj.cast<py::array>());
    check_same(b, t, "bias");
    if (b.ndim() != 1 || b.shape(0) != s.K)
      throw py::value_error("conv2d: bias " + shape_str(b) + " does not match " + std::to_string(s.K) + " output channels");
    bp = b.data();
  }
  check_reference(t, reference);
  py::array y = empty_array(t, {s.N, s.K, s.P, s.Q});
  MaybeReleaseGil nogil(s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S);
  if (is_low(t)) {
    conv2d_lowp_forward(s, t, u16(x.data()), u16(w.data()), u16(bp), u16(y.mutable_data()));
  } else if (reference) {
    MINIDL_DISPATCH_FLOAT(t, "conv2d reference",
                          conv2d_forward_reference<T>(s, static_cast<const T*>(x.data()), static_cast<const T*>(w.data()),
                                                      static_cast<const T*>(bp), static_cast<T*>(y.mutable_data())));
  } else {
    conv2d_forward(s, t, x.data(), w.data(), bp, y.mutable_data());
  }
  return y;
}

// returns (grad_input or None, grad_weight or None, grad_bias or None)
py::tuple conv2d_backward_op(const py::array& gy_in, const py::array& x_in, const py::array& w_in, Pair stride,
                             Pair padding, Pair dilation, int64_t groups, bool need_input, bool need_weight,
                             bool need_bias, bool reference) {
  py::array gy = contiguous(gy_in), x = contiguous(x_in), w = contiguous(w_in);
  const DType t = conv_dtype(x, "conv2d backward");
  check_same(w, t, "weight");
  check_same(gy, t, "gradient");
  const ConvShape s = make_shape(shape_of(x), w, stride, padding, dilation, groups);
  if (gy.ndim() != 4 || gy.shape(0) != s.N || gy.shape(1) != s.K || gy.shape(2) != s.P || gy.shape(3) != s.Q)
    throw py::value_error("conv2d backward: gradient " + shape_str(gy) + " does not match the output shape " +
                          shape_str(std::vector<int64_t>{s.N, s.K, s.P, s.Q}));
  check_reference(t, reference);
  py::object gx = py::none(), gw = py::none(), gb = py::none();
  void *gxp = nullptr, *gwp = nullptr, *gbp = nullptr;
  if (need_input) { py::array a = empty_array(t, shape_of(x)); gxp = a.mutable_data(); gx = a; }
  if (need_weight) { py::array a = empty_array(t, shape_of(w)); gwp = a.mutable_data(); gw = a; }
  if (need_bias) { py::array a = empty_array(t, {s.K}); gbp = a.mutable_data(); gb = a; }
  {
    MaybeReleaseGil nogil(s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S);
    if (is_low(t)) {
      if (gxp) conv2d_lowp_backward_input(s, t, u16(gy.data()), u16(w.data()), u16(gxp));
      if (gwp || gbp) conv2d_lowp_backward_weight(s, t, u16(gy.data()), u16(x.data()), u16(gwp), u16(gbp));
    } else if (reference) {
      MINIDL_DISPATCH_FLOAT(t, "conv2d reference backward",
                            conv2d_backward_reference<T>(s, static_cast<const T*>(gy.data()),
                                                         static_cast<const T*>(x.data()),
                                                         static_cast<const T*>(w.data()), static_cast<T*>(gxp),
                                                         static_cast<T*>(gwp), static_cast<T*>(gbp)));
    } else {
      if (gxp) conv2d_backward_input(s, t, gy.data(), w.data(), gxp);
      if (gwp || gbp) conv2d_backward_weight(s, t, gy.data(), x.data(), gwp, gbp);
    }
  }
  return py::make_tuple(gx, gw, gb);
}

// the input gradient alone, for an input of shape x_shape: (N, C, H, W), grad_x[n, c] starting
// from start[c] (start: None or C values). ConvTranspose's forward with its bias.
py::array conv2d_backward_input_op(const py::array& gy_in, const py::array& w_in, const std::vector<int64_t>& x_shape,
                                   Pair stride, Pair padding, Pair dilation, int64_t groups, const py::object& start) {
  py::array gy = contiguous(gy_in), w = contiguous(w_in);
  const DType t = conv_dtype(gy, "conv2d backward input");
  check_same(w, t, "weight");
  const ConvShape s = make_shape(x_shape, w, stride, padding, dilation, groups);
  if (gy.ndim() != 4 || gy.shape(0) != s.N || gy.shape(1) != s.K || gy.shape(2) != s.P || gy.shape(3) != s.Q)
    throw py::value_error("conv2d backward input: gradient " + shape_str(gy) + " does not match the output shape " +
                          shape_str(std::vector<int64_t>{s.N, s.K, s.P, s.Q}));
  py::array st;
  if (!start.is_none()) {
    st = contiguous(start.cast<py::array>());
    check_same(st, t, "start");
    if (st.size() != s.C || is_low(t))
      throw py::value_error("conv2d backward input: start " + shape_str(st) + " must hold " + std::to_string(s.C) +
                            " float32 or float64 values");
  }
  py::array gx = empty_array(t, x_shape);
  MaybeReleaseGil nogil(s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S);
  if (is_low(t)) conv2d_lowp_backward_input(s, t, u16(gy.data()), u16(w.data()), u16(gx.mutable_data()));
  else conv2d_backward_input(s, t, gy.data(), w.data(), gx.mutable_data(), start.is_none() ? nullptr : st.data());
  return gx;
}

std::string lowp_path(const py::array& x, const py::array& w, Pair stride, Pair padding, Pair dilation,
                      int64_t groups) {
  const DType t = conv_dtype(x, "conv2d_lowp_path");
  if (!is_low(t)) throw py::type_error(std::string("conv2d_lowp_path: expected bfloat16 or float16, got ") + dtype_name(t));
  return conv2d_lowp_path(make_shape(shape_of(x), w, stride, padding, dilation, groups), t);
}

// F.unfold / F.fold geometry: images (N, C, H, W), kernel (R, S); false when it does not fit
ConvShape fold_shape(int64_t N, int64_t C, int64_t H, int64_t W, Pair kernel, Pair stride, Pair padding,
                     Pair dilation) {
  ConvShape s;
  s.N = N; s.C = C; s.H = H; s.W = W; s.K = 1; s.R = kernel.first; s.S = kernel.second;
  s.stride_h = stride.first; s.stride_w = stride.second;
  s.pad_h = padding.first; s.pad_w = padding.second;
  s.dil_h = dilation.first; s.dil_w = dilation.second;
  if (!s.finish())
    throw py::value_error("unfold/fold: kernel " + shape_str(std::vector<int64_t>{s.R, s.S}) + " does not fit the " +
                          shape_str(std::vector<int64_t>{H, W}) + " image with the given stride, padding and dilation");
  return s;
}

// x (N, C, H, W) -> col (N, C R S, P Q)
py::array unfold_op(const py::array& x_in, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "unfold");
  if (x.ndim() != 4) throw py::value_error("unfold: expected a 4-D input, got " + shape_str(x));
  const ConvShape s = fold_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), kernel, stride, padding, dilation);
  py::array col = empty_array(t, {s.N, s.C * s.R * s.S, s.P * s.Q});
  MaybeReleaseGil nogil(col.size());
  conv2d_unfold(s, t, x.data(), col.mutable_data());
  return col;
}

// col (N, C R S, P Q) -> x (N, C, H, W) with (H, W) = output_size
py::array fold_op(const py::array& col_in, Pair output_size, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  py::array col = contiguous(col_in);
  const DType t = float_dtype(col, "fold");
  const int64_t RS = kernel.first * kernel.second;
  if (col.ndim() != 3 || RS <= 0 || col.shape(1) % RS != 0)
    throw py::value_error("fold: expected a 3-D input with a multiple of the kernel size rows, got " + shape_str(col));
  const ConvShape s = fold_shape(col.shape(0), col.shape(1) / RS, output_size.first, output_size.second, kernel, stride,
                                 padding, dilation);
  if (col.shape(2) != s.P * s.Q)
    throw py::value_error("fold: input " + shape_str(col) + " should have " + std::to_string(s.P * s.Q) + " columns");
  py::array x = empty_array(t, {s.N, s.C, s.H, s.W});
  MaybeReleaseGil nogil(col.size());
  conv2d_fold(s, t, col.data(), x.mutable_data());
  return x;
}

}  // namespace

void register_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_op, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("reference") = false);
  m.def("conv2d_backward", &conv2d_backward_op, py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("need_input"), py::arg("need_weight"),
        py::arg("need_bias"), py::arg("reference") = false);
  m.def("unfold", &unfold_op, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"));
  m.def("fold", &fold_op, py::arg("col"), py::arg("output_size"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"));
  m.def("conv2d_backward_input", &conv2d_backward_input_op, py::arg("grad_y"), py::arg("weight"),
        py::arg("input_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("start") = py::none());
  // which path a 16-bit convolution takes with the active kernel set: "bf16_gemm" or "convert_f32"
  m.def("conv2d_lowp_path", &lowp_path, py::arg("x"), py::arg("weight"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"));
  // path choice by measurement, float32 and 16-bit (conv_tune.cpp; policy and cache in python/minidl/tuning.py)
  m.def("conv2d_force_path", [](const std::string& name) {
    ConvPath p;
    if (!conv_path_from_name(name, &p)) throw py::value_error("conv2d_force_path: unknown path '" + name +
                                                              "' (auto, direct, im2col, winograd, bf16_gemm or convert_f32)");
    conv_force_path(p);
  });
  m.def("conv2d_forced_path", [] { return std::string(conv_path_name(conv_forced_path())); });
  m.def("conv2d_measurements", &conv_measurements);
  m.def("conv2d_clear_choices", &conv_clear_choices);
  m.def("conv2d_choices", [] { return choices_dict(conv_choices()); });
  // one remembered choice; False (nothing stored) for a class or path this build cannot read
  m.def("conv2d_set_choice", &conv_set_choice);
}

}  // namespace minidl_py
