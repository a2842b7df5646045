// Bindings for the neural-network kernels: activations, softmax, NLL, row gather/scatter.
#include "convert.h"
#include "ops/activation/activation.h"
#include "ops/indexing/indexing.h"
#include "ops/loss/loss.h"
#include "ops/softmax/softmax.h"

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

void split_dim(const py::array& x, int64_t dim, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = 1; inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape(d);
  len = x.ndim() == 0 ? 1 : x.shape(dim);
  for (int64_t d = dim + 1; d < x.ndim(); ++d) inner *= x.shape(d);
}

py::array softmax_op(const py::array& x_in, int64_t dim, bool log) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, log ? "log_softmax" : "softmax");
  int64_t outer, len, inner;
  split_dim(x, dim, outer, len, inner);
  py::array y = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  if (x.size() > 0) softmax_forward(x.data(), y.mutable_data(), t, outer, len, inner, log);
  return y;
}

py::array softmax_backward_op(const py::array& gy_in, const py::array& y_in, int64_t dim, bool log) {
  py::array gy = contiguous(gy_in), y = contiguous(y_in);
  const DType t = float_dtype(y, "softmax backward");
  int64_t outer, len, inner;
  split_dim(y, dim, outer, len, inner);
  py::array gx = empty_array(t, shape_of(y));
  MaybeReleaseGil nogil(y.size());
  if (y.size() > 0) softmax_backward(gy.data(), y.data(), gx.mutable_data(), t, outer, len, inner, log);
  return gx;
}

py::tuple nll_forward_op(const py::array& logp_in, const py::array& target_in, py::object weight_obj, int64_t ignore_index) {
  py::array logp = contiguous(logp_in), target = contiguous(target_in);
  const DType t = float_dtype(logp, "nll_loss");
  if (dtype_of(target) != DType::i64) throw py::type_error("nll_loss: target must be an int64 (Long) tensor of class indices");
  const int64_t N = logp.shape(0), C = logp.shape(1);
  py::array weight;
  const void* wptr = nullptr;
  if (!weight_obj.is_none()) {
    weight = contiguous(weight_obj.cast<py::array>());
    if (weight.size() != C) throw py::value_error("nll_loss: weight has " + std::to_string(weight.size()) + " elements, expected " + std::to_string(C));
    wptr = weight.data();
  }
  py::array out = empty_array(t, {N});
  double wsum = 0;
  nll_forward(logp.data(), static_cast<const int64_t*>(target.data()), wptr, t, N, C, ignore_index, out.mutable_data(), &wsum);
  return py::make_tuple(out, wsum);
}

py::array nll_backward_op(const py::array& g_in, const py::array& target_in, py::object weight_obj, int64_t ignore_index, int64_t C) {
  py::array g = contiguous(g_in), target = contiguous(target_in);
  const DType t = float_dtype(g, "nll_loss backward");
  const int64_t N = target.size();
  const void* wptr = nullptr;
  py::array weight;
  if (!weight_obj.is_none()) { weight = contiguous(weight_obj.cast<py::array>()); wptr = weight.data(); }
  py::array out = empty_array(t, {N, C});
  nll_backward(g.data(), g.size() == 1 && N != 1, static_cast<const int64_t*>(target.data()), wptr, t, N, C, ignore_index, out.mutable_data());
  return out;
}

// src viewed as (rows, row); idx int64 of any shape -> out (idx.shape..., row...)
py::array gather_rows_op(const py::array& src_in, const py::array& idx_in) {
  py::array src = contiguous(src_in), idx = contiguous(idx_in);
  if (dtype_of(idx) != DType::i64) throw py::type_error("index must be an int64 tensor");
  if (src.ndim() < 1) throw py::value_error("gather_rows: source must have at least one dimension");
  const int64_t rows = src.shape(0), row = rows ? src.size() / rows : 0;
  std::vector<int64_t> shape = shape_of(idx);
  for (int64_t d = 1; d < src.ndim(); ++d) shape.push_back(src.shape(d));
  py::array out = empty_array(dtype_of(src), shape);
  gather_rows(src.data(), dtype_of(src), rows, row, static_cast<const int64_t*>(idx.data()), idx.size(), out.mutable_data());
  return out;
}

// dst (rows, ...) += scatter of src (idx.size, ...) at idx
void scatter_add_rows_op(const py::array& dst, const py::array& idx_in, const py::array& src_in) {
  py::array src = contiguous(src_in), idx = contiguous(idx_in);
  if (!(dst.flags() & py::array::c_style)) throw py::value_error("scatter_add_rows: destination must be contiguous");
  if (!src.dtype().equal(dst.dtype())) throw py::type_error("scatter_add_rows: dtypes differ");
  const int64_t rows = dst.shape(0), row = rows ? dst.size() / rows : 0;
  if (src.size() != idx.size() * row) throw py::value_error("scatter_add_rows: source size does not match index");
  scatter_add_rows(src.data(), dtype_of(src), row, static_cast<const int64_t*>(idx.data()), idx.size(),
                   const_cast<void*>(dst.data()), rows);
}

}  // namespace

void init_nn_ops(py::module_& m) {
  m.def("activation", &activation_op);
  m.def("activation_backward", &activation_backward_op);
  m.def("activation_backward_uses_output", [](int act) { return activation_backward_uses_output(static_cast<Activation>(act)); });
  m.def("softmax", &softmax_op);
  m.def("softmax_backward", &softmax_backward_op);
  m.def("nll_forward", &nll_forward_op);
  m.def("nll_backward", &nll_backward_op);
  m.def("gather_rows", &gather_rows_op);
  m.def("scatter_add_rows", &scatter_add_rows_op);
}

}  // namespace minidl_py
