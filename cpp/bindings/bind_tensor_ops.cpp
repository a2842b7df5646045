// Bindings for the tensor ops: elementwise, reductions, copies/casts, matrix products.
#include <algorithm>
#include <cmath>

#include "convert.h"
#include "ops/copy/copy.h"
#include "ops/elementwise/elementwise.h"
#include "ops/gemm/gemm.h"
#include "ops/gemm/gemm_lowp.h"
#include "ops/reduce/reduce.h"

namespace minidl_py {
using namespace minidl;

namespace {

py::array binary_op(int op_code, const py::array& a, const py::array& b) {
  const auto op = static_cast<BinaryOp>(op_code);
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
void binary_inplace(int op_code, const py::array& out, const py::array& b) {
  if (!out.dtype().equal(b.dtype())) throw py::type_error("in-place op: operand dtypes differ");
  if (!out.writeable()) throw py::value_error("in-place op on a read-only array");
  std::vector<int64_t> shape = shape_of(out);
  TensorView vo = view_of(out);
  TensorView vb = broadcast_view(b, shape, "in-place op");
  MaybeReleaseGil nogil(vo.numel());
  binary(static_cast<BinaryOp>(op_code), vo, vb, vo);
}

py::array binary_scalar_op(int op_code, const py::array& a, double s, bool scalar_first) {
  const auto op = static_cast<BinaryOp>(op_code);
  py::array out = empty_array(binary_is_comparison(op) ? DType::b8 : dtype_of(a), shape_of(a));
  TensorView va = view_of(a), vo = view_of(out);  // view_of calls Python: before the GIL is released
  MaybeReleaseGil nogil(vo.numel());
  binary_scalar(op, va, s, scalar_first, vo);
  return out;
}

void binary_scalar_inplace(int op_code, const py::array& out, double s) {
  if (!out.writeable()) throw py::value_error("in-place op on a read-only array");
  TensorView vo = view_of(out);
  MaybeReleaseGil nogil(vo.numel());
  binary_scalar(static_cast<BinaryOp>(op_code), vo, s, false, vo);
}

py::array unary_op(int op_code, const py::array& x) {
  const auto op = static_cast<UnaryOp>(op_code);
  const bool predicate = op == UnaryOp::logical_not || op == UnaryOp::isnan || op == UnaryOp::isinf ||
                         op == UnaryOp::isfinite;
  py::array out = empty_array(predicate ? DType::b8 : dtype_of(x), shape_of(x));
  TensorView vx = view_of(x), vo = view_of(out);  // view_of calls Python: before the GIL is released
  MaybeReleaseGil nogil(vo.numel());
  unary(op, vx, vo);
  return out;
}

void unary_inplace(int op_code, const py::array& x) {
  TensorView v = view_of(x);
  MaybeReleaseGil nogil(v.numel());
  unary(static_cast<UnaryOp>(op_code), v, v);
}

py::array clamp_op(const py::array& x, py::object lo, py::object hi) {
  // every Python call (bound conversion, view_of) happens before the GIL is released
  const bool has_lo = !lo.is_none(), has_hi = !hi.is_none();
  const double lo_v = has_lo ? lo.cast<double>() : 0.0, hi_v = has_hi ? hi.cast<double>() : 0.0;
  py::array out = empty_array(dtype_of(x), shape_of(x));
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

// dst[...] = src broadcast to dst's shape (dst may be any strided view); casts when dtypes differ
void copy_into(const py::array& dst, const py::array& src) {
  if (!dst.writeable()) throw py::value_error("copy_: destination is read-only");
  std::vector<int64_t> shape = shape_of(dst);
  py::array s = src;
  if (!dst.dtype().equal(src.dtype())) {
    py::array sc = contiguous(src);
    py::array cast_out = empty_array(dtype_of(dst), shape_of(sc));
    cast_contiguous(sc.data(), dtype_of(sc), cast_out.mutable_data(), dtype_of(dst), sc.size());
    s = cast_out;
  }
  TensorView vs = broadcast_view(s, shape, "copy_"), vd = view_of(dst);
  MaybeReleaseGil nogil(vd.numel());
  copy_strided(vs, vd);
}

py::array cast_op(const py::array& x, int dtype_code) {
  py::array c = contiguous(x);
  const DType dt = static_cast<DType>(dtype_code);
  py::array out = empty_array(dt, shape_of(c));
  const DType src_dtype = dtype_of(c);  // a Python call: before the GIL is released
  void* out_data = out.mutable_data();
  MaybeReleaseGil nogil(c.size());
  cast_contiguous(c.data(), src_dtype, out_data, dt, c.size());
  return out;
}

void fill_op(const py::array& x, double value) {
  if (!x.writeable()) throw py::value_error("fill_: array is read-only");
  TensorView v = view_of(x);
  MaybeReleaseGil nogil(v.numel());
  fill(v, value);
}

py::array arange_op(double start, double end, double step, int dtype_code) {
  if (step == 0) throw py::value_error("arange: step must be nonzero");
  const double span = (end - start) / step;
  const int64_t n = span > 0 ? static_cast<int64_t>(std::ceil(span)) : 0;
  const DType dt = static_cast<DType>(dtype_code);
  py::array out = empty_array(dt, {n});
  if (dt == DType::i64) {
    auto* p = static_cast<int64_t*>(out.mutable_data());
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(start + i * step);
  } else if (dt == DType::f64) {
    auto* p = static_cast<double*>(out.mutable_data());
    for (int64_t i = 0; i < n; ++i) p[i] = start + i * step;
  } else {
    std::vector<float> tmp(n);
    for (int64_t i = 0; i < n; ++i) tmp[i] = static_cast<float>(start + i * step);
    cast_contiguous(tmp.data(), DType::f32, out.mutable_data(), dt, n);
  }
  return out;
}

// Reduce `x` over `dims` (sorted, unique, non-negative). The kept dims stay in order.
py::array reduce_op(int op_code, const py::array& x, std::vector<int64_t> dims, bool keepdim, double scale,
                    double correction, bool is_var) {
  const auto op = static_cast<ReduceOp>(op_code);
  const int nd = static_cast<int>(x.ndim());
  std::vector<bool> reduced(nd, false);
  for (int64_t d : dims) reduced[d] = true;
  std::vector<int64_t> out_shape, kept_shape;
  int64_t len = 1;
  for (int d = 0; d < nd; ++d) {
    if (reduced[d]) { len *= x.shape(d); if (keepdim) out_shape.push_back(1); }
    else { out_shape.push_back(x.shape(d)); kept_shape.push_back(x.shape(d)); }
  }
  DType out_dtype = dtype_of(x);
  if (op == ReduceOp::argmax || op == ReduceOp::argmin) out_dtype = DType::i64;
  if (op == ReduceOp::any || op == ReduceOp::all) out_dtype = DType::b8;
  py::array out = empty_array(out_dtype, out_shape);
  // Layout (outer, len, inner): direct when x is contiguous and the reduced dims are one block;
  // otherwise permute kept dims first, reduced dims last, and copy (inner = 1).
  int first = -1, last = -1;
  for (int d = 0; d < nd; ++d) if (reduced[d]) { if (first < 0) first = d; last = d; }
  bool block = first >= 0;
  for (int d = first; block && d <= last; ++d) if (!reduced[d]) block = false;
  py::array src = x;
  int64_t outer = 1, inner = 1;
  if (block && (x.flags() & py::array::c_style)) {
    for (int d = 0; d < first; ++d) outer *= x.shape(d);
    for (int d = last + 1; d < nd; ++d) inner *= x.shape(d);
  } else if (first < 0) {
    outer = x.size();  // no dims: reduce over nothing (len 1)
    src = contiguous(x);
  } else {
    TensorView v = view_of(x), p = v;
    int k = 0;
    for (int d = 0; d < nd; ++d) if (!reduced[d]) { p.shape[k] = v.shape[d]; p.strides[k] = v.strides[d]; ++k; }
    for (int d = 0; d < nd; ++d) if (reduced[d]) { p.shape[k] = v.shape[d]; p.strides[k] = v.strides[d]; ++k; }
    py::array buf = empty_array(dtype_of(x), shape_of(x));
    TensorView b = view_of(buf);
    for (int d = 0; d < nd; ++d) b.shape[d] = p.shape[d];
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; --d) { b.strides[d] = s; s *= b.shape[d]; }
    copy_strided(p, b);
    src = buf;
    for (int64_t s2 : kept_shape) outer *= s2;
  }
  const DType src_dtype = dtype_of(src);  // Python calls: before the GIL is released
  const void* src_data = src.data();
  void* out_data = out.mutable_data();
  MaybeReleaseGil nogil(x.size());
  if (is_var) variance(src_data, src_dtype, outer, len, inner, out_data, correction);
  else reduce(op, src_data, src_dtype, outer, len, inner, out_data, scale);
  return out;
}

// --- matrix products ---------------------------------------------------------------
// A 2-D operand as GEMM wants it: row-major (trans = false) or a transposed row-major view
// (trans = true), with its leading dimension. Anything else is copied to contiguous first.
struct GemmOperand {
  py::array keep;  // owns a contiguous copy when one was needed
  const void* ptr;
  bool trans;
  int64_t ld;
};

GemmOperand gemm_operand(const py::array& a, int row_dim, int col_dim) {
  const int64_t item = a.itemsize();
  const int64_t rows = a.shape(row_dim), cols = a.shape(col_dim);
  const int64_t rs = a.strides(row_dim) / item, cs = a.strides(col_dim) / item;
  if ((cs == 1 || cols == 1) && (rs >= std::max<int64_t>(cols, 1) || rows == 1))
    return {a, a.data(), false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rs == 1 || rows == 1) && (cs >= std::max<int64_t>(rows, 1) || cols == 1))
    return {a, a.data(), true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  py::array c = contiguous(a);
  return {c, c.data(), false, std::max<int64_t>(cols, 1)};
}

// out = beta*out + a @ b for 2-D a (M x K), b (K x N); out (M x N) contiguous, float32 when
// a and b are 16-bit (float32 accumulation, cpp/ops/gemm/gemm_lowp.h)
void gemm_into(const py::array& a, const py::array& b, py::array& out, double beta) {
  const DType dt = dtype_of(a);
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  GemmOperand A = gemm_operand(a, 0, 1), B = gemm_operand(b, 0, 1);
  MaybeReleaseGil nogil(M * N * K);
  if (dt == DType::f32)
    sgemm(A.trans, B.trans, M, N, K, 1.0f, static_cast<const float*>(A.ptr), A.ld, static_cast<const float*>(B.ptr),
          B.ld, static_cast<float>(beta), static_cast<float*>(out.mutable_data()), N);
  else if (dt == DType::bf16 || dt == DType::f16)
    gemm_lowp(dt, A.trans, B.trans, M, N, K, 1.0f, static_cast<const uint16_t*>(A.ptr), A.ld,
              static_cast<const uint16_t*>(B.ptr), B.ld, static_cast<float>(beta), static_cast<float*>(out.mutable_data()), N);
  else
    dgemm(A.trans, B.trans, M, N, K, 1.0, static_cast<const double*>(A.ptr), A.ld, static_cast<const double*>(B.ptr),
          B.ld, beta, static_cast<double*>(out.mutable_data()), N);
}

bool is_16bit(DType t) { return t == DType::bf16 || t == DType::f16; }

// the float32 accumulator of a 16-bit product rounded to the operands' dtype, or kept in
// float32 when out_f32 (the GEMM's own output type)
py::array finish_lowp(const py::array& acc, DType dt, bool out_f32) {
  if (out_f32) return acc;
  py::array out = empty_array(dt, shape_of(acc));
  const float* src = static_cast<const float*>(acc.data());
  void* dst = out.mutable_data();
  MaybeReleaseGil nogil(acc.size());
  cast_contiguous(src, DType::f32, dst, dt, acc.size());
  return out;
}

void check_float_pair(const py::array& a, const py::array& b, const char* what) {
  const DType da = dtype_of(a), db = dtype_of(b);
  if (da != db)
    throw py::type_error(std::string(what) + ": expected both operands to have the same dtype, got " + dtype_name(da) +
                         " and " + dtype_name(db));
  if (da != DType::f32 && da != DType::f64 && !is_16bit(da))
    throw py::type_error(std::string(what) + ": supports float32, float64, float16 and bfloat16, got " + dtype_name(da));
}

py::array mm_op(const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "mm");
  if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("mm: expected 2-D operands");
  if (a.shape(1) != b.shape(0))
    throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(a.shape(0)) + "x" +
                          std::to_string(a.shape(1)) + " and " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(b.shape(1)) + ")");
  const DType dt = dtype_of(a);
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, {a.shape(0), b.shape(1)});
  gemm_into(a, b, out, 0.0);
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

// bias (N,) or broadcastable to (M, N), + a @ b: the Linear layer's forward in one GEMM
py::array addmm_op(const py::array& bias, const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "addmm");
  if (a.shape(1) != b.shape(0))
    throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(a.shape(0)) + "x" +
                          std::to_string(a.shape(1)) + " and " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(b.shape(1)) + ")");
  std::vector<int64_t> shape{a.shape(0), b.shape(1)};
  const DType dt = dtype_of(a);
  if (dtype_of(bias) != dt)
    throw py::type_error(std::string("addmm: bias dtype ") + dtype_name(dtype_of(bias)) + " differs from the operands' " +
                         dtype_name(dt));
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, shape);
  if (is_16bit(dt)) {  // bias widened into the float32 accumulator (exact)
    py::array bc = contiguous(bias);
    py::array bf = empty_array(DType::f32, shape_of(bc));
    cast_contiguous(bc.data(), dt, bf.mutable_data(), DType::f32, bc.size());
    copy_strided(broadcast_view(bf, shape, "addmm bias"), view_of(out));
  } else {
    copy_strided(broadcast_view(bias, shape, "addmm bias"), view_of(out));
  }
  gemm_into(a, b, out, 1.0);
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

// (B, M, K) @ (B, K, N); a batch dim of 1 broadcasts (stride 0)
py::array bmm_op(const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "bmm");
  if (a.ndim() != 3 || b.ndim() != 3) throw py::value_error("bmm: expected 3-D operands");
  const int64_t Ba = a.shape(0), Bb = b.shape(0);
  if (Ba != Bb && Ba != 1 && Bb != 1)
    throw py::value_error("bmm: batch sizes " + std::to_string(Ba) + " and " + std::to_string(Bb) + " differ");
  if (a.shape(2) != b.shape(1))
    throw py::value_error("bmm: shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be multiplied");
  const int64_t batch = std::max(Ba, Bb), M = a.shape(1), K = a.shape(2), N = b.shape(2);
  const DType dt = dtype_of(a);
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, {batch, M, N});
  GemmOperand A = gemm_operand(a, 1, 2), B = gemm_operand(b, 1, 2);
  // a copied operand is contiguous (B, rows, cols); batch stride from the array actually used
  const int64_t sa = Ba == 1 ? 0 : A.keep.strides(0) / A.keep.itemsize();
  const int64_t sb = Bb == 1 ? 0 : B.keep.strides(0) / B.keep.itemsize();
  const bool is_f32 = dt == DType::f32;
  {
  MaybeReleaseGil nogil(batch * M * N * K);
  if (is_16bit(dt))
    gemm_lowp_batched(dt, A.trans, B.trans, batch, M, N, K, 1.0f, static_cast<const uint16_t*>(A.ptr), A.ld, sa,
                      static_cast<const uint16_t*>(B.ptr), B.ld, sb, 0.0f, static_cast<float*>(out.mutable_data()), N, M * N);
  else if (is_f32)
    sgemm_batched(A.trans, B.trans, batch, M, N, K, 1.0f, static_cast<const float*>(A.ptr), A.ld, sa,
                  static_cast<const float*>(B.ptr), B.ld, sb, 0.0f, static_cast<float*>(out.mutable_data()), N, M * N);
  else
    dgemm_batched(A.trans, B.trans, batch, M, N, K, 1.0, static_cast<const double*>(A.ptr), A.ld, sa,
                  static_cast<const double*>(B.ptr), B.ld, sb, 0.0, static_cast<double*>(out.mutable_data()), N, M * N);
  }
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

}  // namespace

void init_tensor_ops(py::module_& m) {
  m.def("binary", &binary_op);
  m.def("binary_", &binary_inplace);
  m.def("binary_scalar", &binary_scalar_op);
  m.def("binary_scalar_", &binary_scalar_inplace);
  m.def("unary", &unary_op);
  m.def("unary_", &unary_inplace);
  m.def("clamp", &clamp_op);
  m.def("clamp_backward", &clamp_backward_op);
  m.def("where", &where_op);
  m.def("contiguous", &contiguous);
  m.def("copy_", &copy_into);
  m.def("cast", &cast_op);
  m.def("fill_", &fill_op);
  m.def("arange", &arange_op);
  m.def("reduce", &reduce_op);
  // float16/bfloat16 operands: float32 accumulation, result rounded to the operands' dtype
  // unless out_f32 (then the float32 accumulator itself)
  m.def("mm", &mm_op, py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("addmm", &addmm_op, py::arg("bias"), py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("bmm", &bmm_op, py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("gemm_lowp_path", [](const std::string& dt) {
    if (dt != "bfloat16" && dt != "float16") throw py::value_error("gemm_lowp_path: bfloat16 or float16, got " + dt);
    return std::string(gemm_lowp_path(dt == "bfloat16" ? DType::bf16 : DType::f16));
  });
}

}  // namespace minidl_py
