// Bindings for row gather / scatter-add (cpp/ops/indexing/): embedding lookups and their
// gradients, advanced-index backward.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "indexing.h"

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

}  // namespace

void register_indexing(py::module_& m) {
  m.def("gather_rows", &gather_rows_op);
  m.def("scatter_add_rows", &scatter_add_rows_op);
}

}  // namespace minidl_py
