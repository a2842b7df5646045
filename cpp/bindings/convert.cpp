#include "convert.h"

#include <stdexcept>

#include "ops/copy/copy.h"

namespace minidl_py {

py::object& bfloat16_dtype() {
  static py::object* obj = new py::object(py::none());
  return *obj;
}

DType dtype_of(const py::array& a) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f') {
    if (size == 4) return DType::f32;
    if (size == 8) return DType::f64;
    if (size == 2) return DType::f16;
  }
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'b' && size == 1) return DType::b8;
  if (!bfloat16_dtype().is_none() && dt.equal(bfloat16_dtype())) return DType::bf16;
  throw py::type_error("unsupported array dtype " + std::string(py::str(dt)) +
                       " (minidl has float32, float64, float16, bfloat16, int64 and bool)");
}

py::dtype numpy_dtype(DType t) {
  switch (t) {
    case DType::f32: return py::dtype::of<float>();
    case DType::f64: return py::dtype::of<double>();
    case DType::f16: return py::dtype("float16");
    case DType::bf16: return py::reinterpret_borrow<py::dtype>(bfloat16_dtype());
    case DType::i64: return py::dtype::of<int64_t>();
    case DType::b8: return py::dtype::of<bool>();
  }
  return py::dtype::of<float>();
}

void compare_members_by_identity(py::handle enum_type) {
  // deleted, the type inherits object's slots: == and != by identity, hash of the address
  for (const char* name : {"__eq__", "__ne__", "__hash__", "__init__", "__getstate__", "__setstate__"})
    py::delattr(enum_type, name);
  enum_type.attr("__reduce__") = py::cpp_function(
      [](py::handle member) {
        return py::make_tuple(py::module_::import("builtins").attr("getattr"),
                              py::make_tuple(py::type::handle_of(member), member.attr("name")));
      },
      py::is_method(enum_type));
}

DType float_dtype(const py::array& a, const char* what) {
  const DType t = dtype_of(a);
  if (t != DType::f32 && t != DType::f64)
    throw py::type_error(std::string(what) + ": expected a float32 or float64 tensor, got " + dtype_name(t));
  return t;
}

TensorView view_of(const py::array& a) {
  TensorView v;
  v.dtype = dtype_of(a);
  v.ndim = static_cast<int>(a.ndim());
  if (v.ndim > minidl::kMaxDims) throw py::value_error("minidl supports at most 16 dimensions");
  v.data = const_cast<void*>(a.data());
  const int64_t item = a.itemsize();
  for (int d = 0; d < v.ndim; ++d) {
    v.shape[d] = a.shape(d);
    if (a.strides(d) % item != 0) throw py::value_error("array strides are not a multiple of its item size");
    v.strides[d] = a.strides(d) / item;
  }
  return v;
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::string shape_str(const py::array& a) { return shape_str(shape_of(a)); }

py::array empty_array(DType t, const std::vector<int64_t>& shape) {
  return py::array(numpy_dtype(t), std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::array contiguous(const py::array& a) {
  if (a.flags() & py::array::c_style) return a;
  py::array out = empty_array(dtype_of(a), shape_of(a));
  TensorView src = view_of(a), dst = view_of(out);
  MaybeReleaseGil nogil(src.numel());
  minidl::copy_strided(src, dst);
  return out;
}

// --8<-- [start:broadcast]
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                      const char* what) {
  const int na = static_cast<int>(a.size()), nb = static_cast<int>(b.size());
  const int n = na > nb ? na : nb;
  std::vector<int64_t> out(n);
  for (int i = 0; i < n; ++i) {
    const int64_t da = i < n - na ? 1 : a[i - (n - na)];
    const int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
    if (da != db && da != 1 && db != 1)  // PyTorch's RuntimeError and message (what: unused, kept for callers)
      throw std::runtime_error("The size of tensor a (" + std::to_string(da) + ") must match the size of tensor b (" +
                               std::to_string(db) + ") at non-singleton dimension " + std::to_string(i));
    out[i] = da == 1 ? db : da;
  }
  return out;
}
// --8<-- [end:broadcast]

std::vector<int64_t> broadcast_shapes(const py::array& a, const py::array& b, const char* what) {
  return broadcast_shapes(shape_of(a), shape_of(b), what);
}

// --8<-- [start:broadcast_view]
// a that does not broadcast to shape (the output's, in place): PyTorch's RuntimeError, the size
// mismatch when the two shapes do not broadcast at all, else the output's shape against theirs
[[noreturn]] void throw_not_broadcast(const py::array& a, const std::vector<int64_t>& shape, const char* what) {
  const std::vector<int64_t> both = broadcast_shapes(shape, shape_of(a), what);
  throw std::runtime_error("output with shape " + shape_str(shape) + " doesn't match the broadcast shape " +
                           shape_str(both));
}

TensorView broadcast_view(const py::array& a, const std::vector<int64_t>& shape, const char* what) {
  TensorView src = view_of(a);
  TensorView v = src;
  const int n = static_cast<int>(shape.size());
  if (src.ndim > n) throw_not_broadcast(a, shape, what);
  v.ndim = n;
  for (int i = 0; i < n; ++i) {
    const int j = i - (n - src.ndim);
    const int64_t s = j < 0 ? 1 : src.shape[j];
    if (s != shape[i] && s != 1) throw_not_broadcast(a, shape, what);
    v.shape[i] = shape[i];
    v.strides[i] = (j < 0 || s == 1) ? 0 : src.strides[j];
  }
  return v;
}
// --8<-- [end:broadcast_view]

py::dict choices_dict(const std::vector<std::pair<std::string, std::string>>& choices) {
  py::dict d;
  for (const auto& kv : choices) d[py::str(kv.first)] = py::str(kv.second);
  return d;
}

}  // namespace minidl_py
