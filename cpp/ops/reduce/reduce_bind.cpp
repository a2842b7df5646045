// Bindings for the reductions (cpp/ops/reduce/): sum, prod, max, min, arg*, logsumexp,
// any, all and variance over any set of dims.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "ops/copy/copy.h"
#include "reduce.h"

namespace minidl_py {
using namespace minidl;

namespace {

// Reduce `x` over `dims` (sorted, unique, non-negative). The kept dims stay in order.
py::array reduce_op(ReduceOp op, const py::array& x, std::vector<int64_t> dims, bool keepdim, double scale,
                    double correction, bool is_var) {
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
  if (op == ReduceOp::sum_squares && out_dtype != DType::f32 && out_dtype != DType::f64)
    throw py::type_error("reduce: sum_squares takes float32 or float64");
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

}  // namespace

void register_reduce(py::module_& m) {
  // used by name from Python (python/minidl/ops/array.py)
  compare_members_by_identity(py::enum_<ReduceOp>(m, "ReduceOp")
      .value("sum", ReduceOp::sum).value("prod", ReduceOp::prod).value("max", ReduceOp::max)
      .value("min", ReduceOp::min).value("argmax", ReduceOp::argmax).value("argmin", ReduceOp::argmin)
      .value("logsumexp", ReduceOp::logsumexp).value("any", ReduceOp::any).value("all", ReduceOp::all)
      .value("sum_squares", ReduceOp::sum_squares));
  m.def("reduce", &reduce_op);
}

}  // namespace minidl_py
