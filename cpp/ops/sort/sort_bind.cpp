// Bindings for sort, topk, kthvalue and their backward along one dim (sort.h), and for
// searchsorted, bincount, histc, unique (search.h).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "search.h"
#include "sort.h"

namespace minidl_py {
using namespace minidl;

namespace {

// x's shape seen as (outer, len, inner) around `dim`
void split_dim(const std::vector<int64_t>& shape, int64_t dim, int64_t& outer, int64_t& len, int64_t& inner) {
  outer = 1; inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  len = shape[dim];
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
}

// (values, indices) with x's dtype and int64, of x's shape with dim resized to k
std::pair<py::array, py::array> sort_results(const py::array& x, int64_t dim, int64_t k) {
  std::vector<int64_t> shape = shape_of(x);
  shape[dim] = k;
  return {empty_array(dtype_of(x), shape), empty_array(DType::i64, shape)};
}

py::tuple sort_op(const py::array& x_in, int64_t dim, bool descending) {
  py::array x = contiguous(x_in);
  int64_t outer, len, inner;
  split_dim(shape_of(x), dim, outer, len, inner);
  auto [values, indices] = sort_results(x, dim, len);
  if (x.size() > 0) {
    MaybeReleaseGil nogil(x.size() * 8);  // held again before the tuple below is built
    sort_lines(x.data(), values.mutable_data(), static_cast<int64_t*>(indices.mutable_data()), dtype_of(x), outer,
               len, inner, descending);
  }
  return py::make_tuple(values, indices);
}

py::tuple topk_op(const py::array& x_in, int64_t k, int64_t dim, bool largest) {
  py::array x = contiguous(x_in);
  int64_t outer, len, inner;
  split_dim(shape_of(x), dim, outer, len, inner);
  if (k < 0 || k > len) throw py::index_error("selected index k out of range");
  auto [values, indices] = sort_results(x, dim, k);
  if (x.size() > 0 && k > 0) {
    MaybeReleaseGil nogil(x.size() * 4);
    topk_lines(x.data(), values.mutable_data(), static_cast<int64_t*>(indices.mutable_data()), dtype_of(x), outer,
               len, inner, k, largest);
  }
  return py::make_tuple(values, indices);
}

// (values, indices) of x's shape without dim; k from 1
py::tuple kthvalue_op(const py::array& x_in, int64_t k, int64_t dim, bool nan_wins) {
  py::array x = contiguous(x_in);
  int64_t outer, len, inner;
  split_dim(shape_of(x), dim, outer, len, inner);
  if (k < 1 || k > len) throw py::index_error("kthvalue(): selected number k out of range");
  std::vector<int64_t> shape = shape_of(x);
  shape.erase(shape.begin() + dim);
  py::array values = empty_array(dtype_of(x), shape), indices = empty_array(DType::i64, shape);
  if (x.size() > 0) {
    MaybeReleaseGil nogil(x.size() * 2);
    kthvalue_lines(x.data(), values.mutable_data(), static_cast<int64_t*>(indices.mutable_data()), dtype_of(x),
                   outer, len, inner, k, nan_wins);
  }
  return py::make_tuple(values, indices);
}

// gx of `shape` (float dtype of g): gx[.., idx[.., j, ..], ..] += g[.., j, ..] along dim
py::array scatter_add_op(const py::array& g_in, const py::array& idx_in, const std::vector<int64_t>& shape, int64_t dim) {
  py::array g = contiguous(g_in), idx = contiguous(idx_in);
  const DType t = float_dtype(g, "sort backward");
  if (dtype_of(idx) != DType::i64) throw py::type_error("sort backward: indices must be int64");
  int64_t outer, len, inner, k_outer, k, k_inner;
  split_dim(shape, dim, outer, len, inner);
  split_dim(shape_of(g), dim, k_outer, k, k_inner);
  if (k_outer != outer || k_inner != inner || shape_of(idx) != shape_of(g))
    throw py::value_error("sort backward: gradient " + shape_str(g) + " and indices " + shape_str(idx) +
                          " do not fit the input shape " + shape_str(shape));
  py::array gx = empty_array(t, shape);
  MaybeReleaseGil nogil(gx.size());
  if (gx.size() > 0)
    scatter_add_lines(g.data(), static_cast<const int64_t*>(idx.data()), gx.mutable_data(), t, outer, k, len, inner);
  return gx;
}

// seq (lines, seq_len) or 1-D (shared by every value); values (lines, n) with seq's dtype;
// sorter like seq or None. Shapes and dtypes are checked in Python (python/minidl/ops/sort.py).
py::array searchsorted_op(const py::array& seq_in, const py::array& values_in, const py::object& sorter_in,
                          bool right) {
  py::array seq = contiguous(seq_in), values = contiguous(values_in);
  const int64_t seq_len = seq.ndim() ? seq.shape(seq.ndim() - 1) : 1;
  const int64_t n = values.ndim() ? values.shape(values.ndim() - 1) : 1;
  const bool shared = seq.ndim() <= 1;
  const int64_t lines = n ? values.size() / n : 0;
  py::array sorter;
  const int64_t* ps = nullptr;
  if (!sorter_in.is_none()) {
    sorter = contiguous(sorter_in.cast<py::array>());
    ps = static_cast<const int64_t*>(sorter.data());
  }
  py::array out = empty_array(DType::i64, shape_of(values));
  if (values.size() > 0) {
    MaybeReleaseGil nogil(values.size() * 8);
    searchsorted(seq.data(), ps, values.data(), static_cast<int64_t*>(out.mutable_data()), dtype_of(seq), lines,
                 seq_len, n, shared, right);
  }
  return out;
}

py::array bincount_op(const py::array& x_in, const py::object& weights_in, int64_t bins) {
  py::array x = contiguous(x_in);
  if (weights_in.is_none()) {
    py::array out = empty_array(DType::i64, {bins});
    bincount(static_cast<const int64_t*>(x.data()), x.size(), nullptr, DType::i64, out.mutable_data(), bins);
    return out;
  }
  py::array w = contiguous(weights_in.cast<py::array>());
  const DType t = float_dtype(w, "bincount weights");
  py::array out = empty_array(t, {bins});
  bincount(static_cast<const int64_t*>(x.data()), x.size(), w.data(), t, out.mutable_data(), bins);
  return out;
}

py::array histc_op(const py::array& x_in, int64_t bins, double lo, double hi) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "histc");
  py::array out = empty_array(t, {bins});
  histc(x.data(), x.size(), t, out.mutable_data(), bins, lo, hi);
  return out;
}

// (values, inverse, counts) of the flattened x: values and counts have one entry per distinct value
py::tuple unique_op(const py::array& x_in) {
  py::array x = contiguous(x_in);
  const int64_t n = x.size();
  py::array values = empty_array(dtype_of(x), {n}), inverse = empty_array(DType::i64, shape_of(x)),
            counts = empty_array(DType::i64, {n});
  const int64_t groups = unique_sorted(x.data(), n, dtype_of(x), values.mutable_data(),
                                       static_cast<int64_t*>(inverse.mutable_data()),
                                       static_cast<int64_t*>(counts.mutable_data()));
  py::slice first(0, groups, 1);
  return py::make_tuple(values[first], inverse, counts[first]);
}

}  // namespace

void register_sort(py::module_& m) {
  m.def("sort", &sort_op);
  m.def("topk", &topk_op);
  m.def("kthvalue", &kthvalue_op);
  m.def("searchsorted", &searchsorted_op);
  m.def("bincount", &bincount_op);
  m.def("histc", &histc_op);
  m.def("unique", &unique_op);
  m.def("scatter_add_along", &scatter_add_op);
}

}  // namespace minidl_py
