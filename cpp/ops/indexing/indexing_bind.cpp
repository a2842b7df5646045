// Bindings for row gather / scatter-add (cpp/ops/indexing/): embedding lookups and their
// gradients, advanced-index backward.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "indexing.h"
#include "indexing_dim.h"
#include "nonzero.h"

namespace minidl_py {
using namespace minidl;

namespace {

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

// (outer, size, inner) of a contiguous array about its axis `dim` (already non-negative)
struct AxisSplit {
  int64_t outer = 1, size = 1, inner = 1;
};
AxisSplit split_at(const py::array& a, int dim) {
  if (dim < 0 || dim >= std::max<int>(1, static_cast<int>(a.ndim())))
    throw py::index_error("dimension out of range");
  AxisSplit s;
  if (a.ndim() == 0) return s;  // a 0-d tensor is indexed as a 1-element vector, as in PyTorch
  for (int d = 0; d < a.ndim(); ++d) {
    if (d < dim) s.outer *= a.shape(d);
    else if (d == dim) s.size = a.shape(d);
    else s.inner *= a.shape(d);
  }
  return s;
}

ScatterReduce reduction(int op) {
  if (op < 0 || op > static_cast<int>(ScatterReduce::amin)) throw py::value_error("unknown scatter reduction");
  return static_cast<ScatterReduce>(op);
}

const int64_t* index_data(const py::array& idx) {
  if (dtype_of(idx) != DType::i64) throw py::type_error("index must be an int64 tensor");
  return static_cast<const int64_t*>(idx.data());
}

void* writable_contiguous(const py::array& dst, const char* what) {
  if (!(dst.flags() & py::array::c_style) || !dst.writeable())
    throw py::value_error(std::string(what) + ": destination must be a writable contiguous array");
  return const_cast<void*>(dst.data());
}

// torch.gather; idx has src's extents except along dim (the Python layer arranges it)
py::array gather_dim_op(const py::array& src_in, const py::array& idx_in, int dim) {
  py::array src = contiguous(src_in), idx = contiguous(idx_in);
  const AxisSplit s = split_at(src, dim), i = split_at(idx, dim);
  if (s.outer != i.outer || s.inner != i.inner) throw py::value_error("gather_dim: index and source extents differ");
  py::array out = empty_array(dtype_of(src), shape_of(idx));
  gather_dim(src.data(), dtype_of(src), s.outer, s.size, s.inner, index_data(idx), i.size, out.mutable_data(), dim);
  return out;
}

// dst[.., idx, ..] (op)= src in place; src has idx's shape
void scatter_dim_op(const py::array& dst, const py::array& idx_in, const py::array& src_in, int dim, int op) {
  py::array idx = contiguous(idx_in), src = contiguous(src_in);
  const AxisSplit d = split_at(dst, dim), i = split_at(idx, dim);
  if (d.outer != i.outer || d.inner != i.inner || src.size() != idx.size())
    throw py::value_error("scatter_dim: index, source and destination extents differ");
  if (!src.dtype().equal(dst.dtype())) throw py::type_error("scatter_dim: dtypes differ");
  scatter_dim(writable_contiguous(dst, "scatter_dim"), dtype_of(dst), d.outer, d.size, d.inner, index_data(idx), i.size,
              src.data(), reduction(op), dim);
}

// torch.index_select; idx is a vector
py::array index_select_dim_op(const py::array& src_in, const py::array& idx_in, int dim) {
  py::array src = contiguous(src_in), idx = contiguous(idx_in);
  const AxisSplit s = split_at(src, dim);
  std::vector<int64_t> shape = shape_of(src);
  if (!shape.empty()) shape[dim] = idx.size();
  else if (idx.ndim() == 1) shape.push_back(idx.size());  // a 0-d source with a 1-element index: (1,)
  py::array out = empty_array(dtype_of(src), shape);
  index_select_dim(src.data(), dtype_of(src), s.outer, s.size, s.inner, index_data(idx), idx.size(), out.mutable_data(),
                   dim);
  return out;
}

// dst[.., idx[k], ..] (= or += alpha *) src[.., k, ..] in place
void index_put_dim_op(const py::array& dst, const py::array& idx_in, const py::array& src_in, int dim, int op,
                      double alpha) {
  py::array idx = contiguous(idx_in), src = contiguous(src_in);
  const AxisSplit d = split_at(dst, dim);
  if (src.size() != d.outer * idx.size() * d.inner) throw py::value_error("index_put_dim: source size does not match");
  if (!src.dtype().equal(dst.dtype())) throw py::type_error("index_put_dim: dtypes differ");
  index_put_dim(writable_contiguous(dst, "index_put_dim"), dtype_of(dst), d.outer, d.size, d.inner, index_data(idx),
                idx.size(), src.data(), reduction(op), alpha, dim);
}

// torch.nonzero: (count, ndim) int64 coordinates of the non-zero elements
py::array nonzero_op(const py::array& x_in) {
  py::array x = contiguous(x_in);
  const std::vector<int64_t> shape = shape_of(x);
  const NonzeroPieces pieces = nonzero_count(x.data(), dtype_of(x), x.size());
  py::array out = empty_array(DType::i64, {pieces.count(), static_cast<int64_t>(shape.size())});
  nonzero_coordinates(x.data(), dtype_of(x), shape, pieces, static_cast<int64_t*>(out.mutable_data()));
  return out;
}

}  // namespace

void register_indexing(py::module_& m) {
  m.def("gather_rows", &gather_rows_op);
  m.def("scatter_add_rows", &scatter_add_rows_op);
  m.def("gather_dim", &gather_dim_op);
  m.def("scatter_dim_", &scatter_dim_op);
  m.def("index_select_dim", &index_select_dim_op);
  m.def("index_put_dim_", &index_put_dim_op);
  m.def("nonzero", &nonzero_op);
}

}  // namespace minidl_py
