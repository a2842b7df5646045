// Bindings for EmbeddingBag (cpp/ops/embedding_bag/). The Python layer (nn/embedding_bag.py)
// turns the input forms (2-D input, offsets, include_last_offset) into indices + bag starts
// and checks the arguments; the checks here keep the kernels in bounds and give PyTorch's
// messages for bad offsets and indices (one pass over the indices, ~1% of the kernel's time).
#include <string>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "embedding_bag.h"

namespace minidl_py {
using namespace minidl;

namespace {

struct Bags {
  py::array weight, indices, start, psw;  // (a default py::array is an empty array, not None)
  bool has_psw = false;
  DType dtype;
  int64_t rows, dim, bags;
};

py::array int64_vector(const py::array& a, const char* what) {
  py::array c = contiguous(a);
  if (dtype_of(c) != DType::i64 || c.ndim() != 1)
    throw py::type_error(std::string("embedding_bag: ") + what + " must be a 1-D int64 array, got " + shape_str(c));
  return c;
}

Bags check_bags(const py::array& weight, const py::array& indices, const py::array& start, const py::object& psw) {
  Bags s;
  s.weight = contiguous(weight);
  s.dtype = float_dtype(s.weight, "embedding_bag");
  if (s.weight.ndim() != 2)
    throw py::value_error("embedding_bag: weight has to be a 2D array, got " + shape_str(s.weight));
  s.rows = s.weight.shape(0);
  s.dim = s.weight.shape(1);
  s.indices = int64_vector(indices, "indices");
  s.start = int64_vector(start, "bag starts");
  if (s.start.size() < 1) throw py::value_error("embedding_bag: bag starts need at least one entry");
  s.bags = s.start.size() - 1;
  const int64_t n = s.indices.size();
  const int64_t* st = static_cast<const int64_t*>(s.start.data());
  if (st[0] != 0)
    throw py::value_error("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                          "position 0. However, got " + std::to_string(st[0]));
  for (int64_t b = 0; b < s.bags; ++b) {
    if (st[b + 1] > n)  // PyTorch's message (it checks the last offset only)
      throw py::value_error("offsets[" + std::to_string(b + 1) + "] can not be greater than input's length " +
                            std::to_string(n) + " but got offsets[" + std::to_string(b + 1) + "] of " +
                            std::to_string(st[b + 1]));
    if (st[b + 1] < st[b])
      throw py::value_error("embedding_bag: offsets must be non-decreasing, got offsets[" + std::to_string(b + 1) +
                            "] = " + std::to_string(st[b + 1]) + " < offsets[" + std::to_string(b) +
                            "] = " + std::to_string(st[b]));
  }
  const int64_t* idx = static_cast<const int64_t*>(s.indices.data());
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= s.rows)
      throw py::index_error("embedding_bag: index " + std::to_string(i) + " of input takes value " +
                            std::to_string(idx[i]) + " which is out of range [0, " + std::to_string(s.rows) + ")");
  if (!psw.is_none()) {
    s.psw = contiguous(psw.cast<py::array>());
    s.has_psw = true;
    if (dtype_of(s.psw) != s.dtype || s.psw.size() != n)
      throw py::value_error("embedding_bag: per_sample_weights " + shape_str(s.psw) + " must have the dtype of weight "
                            "and one value per index (" + std::to_string(n) + ")");
  }
  return s;
}

const void* psw_data(const Bags& s) { return s.has_psw ? s.psw.data() : nullptr; }

// out (bags, dim)
py::array embedding_bag_op(const py::array& weight, const py::array& indices, const py::array& start,
                           const py::object& psw, int64_t padding_idx, EmbeddingBagMode mode) {
  Bags s = check_bags(weight, indices, start, psw);
  py::array out = empty_array(s.dtype, {s.bags, s.dim});
  MaybeReleaseGil nogil(s.indices.size() * s.dim);
  embedding_bag_forward(s.weight.data(), static_cast<const int64_t*>(s.indices.data()),
                        static_cast<const int64_t*>(s.start.data()), psw_data(s), out.mutable_data(), s.dtype, s.bags,
                        s.dim, padding_idx, mode);
  return out;
}

void check_grad(const Bags& s, const py::array& g) {
  if (dtype_of(g) != s.dtype || g.ndim() != 2 || g.shape(0) != s.bags || g.shape(1) != s.dim)
    throw py::value_error("embedding_bag backward: gradient " + shape_str(g) + " does not match (" +
                          std::to_string(s.bags) + ", " + std::to_string(s.dim) + ")");
}

// grad_weight (rows, dim)
py::array embedding_bag_backward_op(const py::array& grad_out, const py::array& weight, const py::array& indices,
                                    const py::array& start, const py::object& psw, int64_t padding_idx,
                                    EmbeddingBagMode mode) {
  Bags s = check_bags(weight, indices, start, psw);
  py::array g = contiguous(grad_out);
  check_grad(s, g);
  py::array gw = empty_array(s.dtype, {s.rows, s.dim});
  MaybeReleaseGil nogil(s.rows * s.dim);
  embedding_bag_backward_weight(g.data(), s.weight.data(), static_cast<const int64_t*>(s.indices.data()),
                                static_cast<const int64_t*>(s.start.data()), psw_data(s), gw.mutable_data(), s.dtype,
                                s.bags, s.rows, s.dim, padding_idx, mode);
  return gw;
}

// grad of per_sample_weights (number of indices,)
py::array embedding_bag_backward_psw_op(const py::array& grad_out, const py::array& weight, const py::array& indices,
                                        const py::array& start, int64_t padding_idx) {
  Bags s = check_bags(weight, indices, start, py::none());
  py::array g = contiguous(grad_out);
  check_grad(s, g);
  py::array gp = empty_array(s.dtype, {static_cast<int64_t>(s.indices.size())});
  MaybeReleaseGil nogil(s.indices.size() * s.dim);
  embedding_bag_backward_per_sample_weights(g.data(), s.weight.data(), static_cast<const int64_t*>(s.indices.data()),
                                            static_cast<const int64_t*>(s.start.data()), gp.mutable_data(), s.dtype,
                                            s.bags, s.indices.size(), s.dim, padding_idx);
  return gp;
}

}  // namespace

void register_embedding_bag(py::module_& m) {
  compare_members_by_identity(py::enum_<EmbeddingBagMode>(m, "EmbeddingBagMode")
      .value("sum", EmbeddingBagMode::sum).value("mean", EmbeddingBagMode::mean).value("max", EmbeddingBagMode::max));
  m.def("embedding_bag", &embedding_bag_op);
  m.def("embedding_bag_backward", &embedding_bag_backward_op);
  m.def("embedding_bag_backward_per_sample_weights", &embedding_bag_backward_psw_op);
}

}  // namespace minidl_py
