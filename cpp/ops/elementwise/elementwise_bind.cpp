// Bindings for the elementwise ops (cpp/ops/elementwise/): binary (arithmetic, comparisons,
// logical) with broadcasting, unary, clamp and where; in place where the name ends in _.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "elementwise.h"

namespace minidl_py {
using namespace minidl;

namespace {

py::array binary_op(BinaryOp op, const py::array& a, const py::array& b) {
  if (!a.dtype().equal(b.dtype()))
    throw py::type_error("binary op: operands have different dtypes " + std::string(py::str(a.dtype())) + " and " +
                         std::string(py::str(b.dtype())));
  std::vector<int64_t> shape = broadcast_shapes(a, b, "binary op");
  py::array out = empty_array(binary_is_comparison(op) ? DType::b8 : dtype_of(a), shape);
  TensorView va = broadcast_view(a, shape, "binary op"), vb = broadcast_view(b, shape, "binary op");
  TensorView vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  binary(op, va, vb, vo);
  return out;
}

// out = out (op) b, b broadcast to out's shape
// --8<-- [start:binary_inplace]
void binary_inplace(BinaryOp op, const py::array& out, const py::array& b) {
  if (!out.dtype().equal(b.dtype())) throw py::type_error("in-place op: operand dtypes differ");
  if (!out.writeable()) throw py::value_error("in-place op on a read-only array");
  std::vector<int64_t> shape = shape_of(out);
  TensorView vo = view_of(out);
  TensorView vb = broadcast_view(b, shape, "in-place op");
  MaybeReleaseGil nogil(vo.numel());
  binary(op, vo, vb, vo);
}
// --8<-- [end:binary_inplace]

// x <- x + s y (add_scaled) or lerp(x, y, s), in place; y broadcast to x's shape, same dtype
void scaled_update_inplace(ScaledOp op, const py::array& x, const py::array& y, double s) {
  if (!x.dtype().equal(y.dtype())) throw py::type_error("in-place op: operand dtypes differ");
  if (!x.writeable()) throw py::value_error("in-place op on a read-only array");
  TensorView vx = view_of(x), vy = broadcast_view(y, shape_of(x), "in-place op");
  MaybeReleaseGil nogil(vx.numel());
  scaled_update(op, vx, vy, s, vx);
}

// the same into a new array of `shape` (x and y broadcast to it): lerp(x, y, s) out of place
py::array scaled_update_op(ScaledOp op, const py::array& x, const py::array& y, double s, std::vector<int64_t> shape) {
  if (!x.dtype().equal(y.dtype())) throw py::type_error("scaled_update: operand dtypes differ");
  py::array out = empty_array(dtype_of(x), shape);
  TensorView vx = broadcast_view(x, shape, "scaled_update"), vy = broadcast_view(y, shape, "scaled_update");
  TensorView vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  scaled_update(op, vx, vy, s, vo);
  return out;
}

// addcmul / addcdiv: into a new array of `shape` (x, t1, t2 broadcast to it), or into x in place
// (t1, t2 broadcast to x's shape); one dtype, float32 or float64
py::array addc_op(AddcOp op, const py::array& x, const py::array& t1, const py::array& t2, double s,
                  std::vector<int64_t> shape) {
  if (!x.dtype().equal(t1.dtype()) || !x.dtype().equal(t2.dtype())) throw py::type_error("addc: operand dtypes differ");
  py::array out = empty_array(dtype_of(x), shape);
  TensorView vx = broadcast_view(x, shape, "addc"), v1 = broadcast_view(t1, shape, "addc"),
             v2 = broadcast_view(t2, shape, "addc"), vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  addc(op, vx, v1, v2, s, vo);
  return out;
}

void addc_inplace(AddcOp op, const py::array& x, const py::array& t1, const py::array& t2, double s) {
  if (!x.dtype().equal(t1.dtype()) || !x.dtype().equal(t2.dtype())) throw py::type_error("in-place op: operand dtypes differ");
  if (!x.writeable()) throw py::value_error("in-place op on a read-only array");
  const std::vector<int64_t> shape = shape_of(x);
  TensorView vx = view_of(x), v1 = broadcast_view(t1, shape, "in-place op"), v2 = broadcast_view(t2, shape, "in-place op");
  MaybeReleaseGil nogil(vx.numel());
  addc(op, vx, v1, v2, s, vx);
}

py::array binary_scalar_op(BinaryOp op, const py::array& a, double s, bool scalar_first) {
  py::array out = empty_array(binary_is_comparison(op) ? DType::b8 : dtype_of(a), shape_of(a));
  TensorView va = view_of(a), vo = view_of(out);  // view_of calls Python: before the GIL is released
  MaybeReleaseGil nogil(vo.numel());
  binary_scalar(op, va, s, scalar_first, vo);
  return out;
}

void binary_scalar_inplace(BinaryOp op, const py::array& out, double s) {
  if (!out.writeable()) throw py::value_error("in-place op on a read-only array");
  TensorView vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  binary_scalar(op, vo, s, false, vo);
}

py::array unary_op(UnaryOp op, const py::array& x) {
  const bool predicate = op == UnaryOp::logical_not || op == UnaryOp::isnan || op == UnaryOp::isinf ||
                         op == UnaryOp::isfinite;
  py::array out = empty_array(predicate ? DType::b8 : dtype_of(x), shape_of(x));
  TensorView vx = view_of(x), vo = view_of(out);  // view_of calls Python: before the GIL is released
  MaybeReleaseGil nogil(vo.numel());
  unary(op, vx, vo);
  return out;
}

void unary_inplace(UnaryOp op, const py::array& x) {
  TensorView v = view_of(x);
  MaybeReleaseGil nogil(v.numel());
  unary(op, v, v);
}

// out: None (a new array) or x itself (clamp in place, one pass: x.clamp_() without autograd,
// clip_grad_value_); the kernel reads each element before it writes it
py::array clamp_op(const py::array& x, py::object lo, py::object hi, py::object out_obj) {
  // every Python call (bound conversion, view_of) happens before the GIL is released
  const bool has_lo = !lo.is_none(), has_hi = !hi.is_none();
  const double lo_v = has_lo ? lo.cast<double>() : 0.0, hi_v = has_hi ? hi.cast<double>() : 0.0;
  py::array out;
  if (out_obj.is_none()) {
    out = empty_array(dtype_of(x), shape_of(x));
  } else {
    out = out_obj.cast<py::array>();
    if (!out.is(x)) throw py::value_error("clamp: out must be the input itself (in place) or None");
    if (!out.writeable()) throw py::value_error("clamp: the input is read-only, it cannot be clamped in place");
  }
  TensorView vx = view_of(x), vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  clamp(vx, has_lo, lo_v, has_hi, hi_v, vo);
  return out;
}

py::array clamp_backward_op(const py::array& g, const py::array& x, py::object lo, py::object hi) {
  py::array out = empty_array(dtype_of(x), shape_of(x));
  TensorView vo = view_of(out);
  clamp_backward(view_of(g), view_of(x), !lo.is_none(), lo.is_none() ? 0.0 : lo.cast<double>(), !hi.is_none(),
                 hi.is_none() ? 0.0 : hi.cast<double>(), vo);
  return out;
}

py::array where_op(const py::array& cond, const py::array& a, const py::array& b) {
  if (dtype_of(cond) != DType::b8) throw py::type_error("where: condition must be a bool tensor");
  if (!a.dtype().equal(b.dtype())) throw py::type_error("where: the two value tensors have different dtypes");
  std::vector<int64_t> shape =
      broadcast_shapes(broadcast_shapes(shape_of(cond), shape_of(a), "where"), shape_of(b), "where");
  py::array out = empty_array(dtype_of(a), shape);
  TensorView vc = broadcast_view(cond, shape, "where"), va = broadcast_view(a, shape, "where"),
             vb = broadcast_view(b, shape, "where"), vo = view_of(out);  // Python calls: before releasing the GIL
  MaybeReleaseGil nogil(vo.numel());
  where(vc, va, vb, vo);
  return out;
}

}  // namespace

void register_elementwise(py::module_& m) {
  // the op codes, used by name from Python (python/minidl/ops/array.py)
  compare_members_by_identity(py::enum_<BinaryOp>(m, "BinaryOp")
      .value("add", BinaryOp::add).value("sub", BinaryOp::sub).value("mul", BinaryOp::mul)
      .value("div", BinaryOp::div).value("pow", BinaryOp::pow).value("maximum", BinaryOp::maximum)
      .value("minimum", BinaryOp::minimum)
      .value("eq", BinaryOp::eq).value("ne", BinaryOp::ne).value("lt", BinaryOp::lt).value("le", BinaryOp::le)
      .value("gt", BinaryOp::gt).value("ge", BinaryOp::ge)
      .value("logical_and", BinaryOp::logical_and).value("logical_or", BinaryOp::logical_or)
      .value("logical_xor", BinaryOp::logical_xor)
      .value("floor_divide", BinaryOp::floor_divide).value("remainder", BinaryOp::remainder));
  compare_members_by_identity(py::enum_<UnaryOp>(m, "UnaryOp")
      .value("neg", UnaryOp::neg).value("abs", UnaryOp::abs).value("exp", UnaryOp::exp).value("log", UnaryOp::log)
      .value("sqrt", UnaryOp::sqrt).value("rsqrt", UnaryOp::rsqrt).value("square", UnaryOp::square)
      .value("reciprocal", UnaryOp::reciprocal).value("sign", UnaryOp::sign).value("sin", UnaryOp::sin)
      .value("cos", UnaryOp::cos).value("log1p", UnaryOp::log1p).value("expm1", UnaryOp::expm1)
      .value("floor", UnaryOp::floor).value("ceil", UnaryOp::ceil).value("round", UnaryOp::round)
      .value("trunc", UnaryOp::trunc).value("logical_not", UnaryOp::logical_not).value("isnan", UnaryOp::isnan)
      .value("isinf", UnaryOp::isinf).value("isfinite", UnaryOp::isfinite)
      .value("erf", UnaryOp::erf).value("erfinv", UnaryOp::erfinv));
  m.def("binary", &binary_op);
  m.def("binary_", &binary_inplace);
  py::enum_<ScaledOp>(m, "ScaledOp").value("add_scaled", ScaledOp::add_scaled).value("lerp", ScaledOp::lerp);
  m.def("scaled_update_", &scaled_update_inplace);
  m.def("scaled_update", &scaled_update_op);
  py::enum_<AddcOp>(m, "AddcOp").value("mul", AddcOp::mul).value("div", AddcOp::div);
  m.def("addc", &addc_op);
  m.def("addc_", &addc_inplace);
  m.def("binary_scalar", &binary_scalar_op);
  m.def("binary_scalar_", &binary_scalar_inplace);
  m.def("unary", &unary_op);
  m.def("unary_", &unary_inplace);
  m.def("clamp", &clamp_op, py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("out") = py::none());
  m.def("clamp_backward", &clamp_backward_op);
  m.def("where", &where_op);
}

}  // namespace minidl_py
