// Bindings for the decompositions (cpp/ops/decomposition/): batches of matrices (*, m, n) in, NumPy
// arrays out. Dtype float32 / float64 (the Python layer checks it and names the problem).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "decomposition.h"

namespace minidl_py {
using namespace minidl;

namespace {

// the batch dims of a (*, m, n) array and its batch size
std::vector<int64_t> batch_shape(const py::array& a, const char* what, int64_t& batch) {
  if (a.ndim() < 2) throw py::value_error(std::string(what) + ": expected a (*, m, n) array of matrices");
  std::vector<int64_t> shape = shape_of(a);
  shape.resize(shape.size() - 2);
  batch = 1;
  for (int64_t d : shape) batch *= d;
  return shape;
}

std::vector<int64_t> with(std::vector<int64_t> shape, std::initializer_list<int64_t> tail) {
  shape.insert(shape.end(), tail);
  return shape;
}

// (U or None, S, Vh or None, count of matrices with non-finite values)
py::tuple svd(const py::array& a_in, bool compute_uv, bool full_matrices) {
  py::array a = contiguous(a_in);
  const DType t = float_dtype(a, "linalg.svd");
  int64_t batch;
  const std::vector<int64_t> outer = batch_shape(a, "linalg.svd", batch);
  const int64_t m = a.shape(a.ndim() - 2), n = a.shape(a.ndim() - 1), k = std::min(m, n);
  py::array s = empty_array(t, with(outer, {k}));
  py::object u = py::none(), vh = py::none();
  void* pu = nullptr;
  void* pv = nullptr;
  if (compute_uv) {
    py::array ua = empty_array(t, with(outer, {m, full_matrices ? m : k}));
    py::array va = empty_array(t, with(outer, {full_matrices ? n : k, n}));
    pu = ua.mutable_data();
    pv = va.mutable_data();
    u = ua;
    vh = va;
  }
  int64_t non_finite = 0;
  {
    MaybeReleaseGil nogil(batch * m * n * std::max<int64_t>(k, 1));
    non_finite = svd_jacobi(a.data(), pu, s.mutable_data(), pv, t, batch, m, n, full_matrices);
  }
  return py::make_tuple(u, s, vh, non_finite);
}

// (Q or None, R)
py::tuple qr(const py::array& a_in, bool compute_q, bool complete) {
  py::array a = contiguous(a_in);
  const DType t = float_dtype(a, "linalg.qr");
  int64_t batch;
  const std::vector<int64_t> outer = batch_shape(a, "linalg.qr", batch);
  const int64_t m = a.shape(a.ndim() - 2), n = a.shape(a.ndim() - 1), k = std::min(m, n);
  py::array r = empty_array(t, with(outer, {complete ? m : k, n}));
  py::object q = py::none();
  void* pq = nullptr;
  if (compute_q) {
    py::array qa = empty_array(t, with(outer, {m, complete ? m : k}));
    pq = qa.mutable_data();
    q = qa;
  }
  {
    MaybeReleaseGil nogil(batch * m * n * std::max<int64_t>(k, 1));
    qr_householder(a.data(), pq, r.mutable_data(), t, batch, m, n, complete);
  }
  return py::make_tuple(q, r);
}

// X = B R^-T for R (*, n, n) upper triangular and B (*, rows, n) with the same batch dims
py::array solve_upper_transposed(const py::array& r_in, const py::array& b_in) {
  py::array r = contiguous(r_in), b = contiguous(b_in);
  const DType t = float_dtype(b, "triangular solve");
  int64_t batch, batch_b;
  const std::vector<int64_t> outer = batch_shape(r, "triangular solve", batch);
  batch_shape(b, "triangular solve", batch_b);
  const int64_t n = r.shape(r.ndim() - 1), rows = b.shape(b.ndim() - 2);
  if (dtype_of(r) != t || batch != batch_b || r.shape(r.ndim() - 2) != n || b.shape(b.ndim() - 1) != n)
    throw py::value_error("triangular solve: R must be (*, n, n) and B (*, rows, n), same batch and dtype; got " +
                          shape_str(r) + " and " + shape_str(b));
  py::array x = empty_array(t, shape_of(b));
  MaybeReleaseGil nogil(batch * rows * n * n);
  solve_upper_transposed_right(r.data(), b.data(), x.mutable_data(), t, batch, rows, n);
  return x;
}

}  // namespace

void register_decomposition(py::module_& m) {
  m.def("svd", &svd, py::arg("a"), py::arg("compute_uv"), py::arg("full_matrices"));
  m.def("qr", &qr, py::arg("a"), py::arg("compute_q"), py::arg("complete"));
  m.def("solve_upper_transposed", &solve_upper_transposed, py::arg("r"), py::arg("b"));
}

}  // namespace minidl_py
