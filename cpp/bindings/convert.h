// NumPy array <-> TensorView, the only place that knows both worlds.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "core/tensor_view.h"

namespace py = pybind11;

namespace minidl_py {

using minidl::DType;
using minidl::TensorView;

// numpy dtype of ml_dtypes.bfloat16, registered by python/minidl/dtypes.py at import
py::object& bfloat16_dtype();

DType dtype_of(const py::array& a);
py::dtype numpy_dtype(DType t);
TensorView view_of(const py::array& a);
std::string shape_str(const py::array& a);
std::string shape_str(const std::vector<int64_t>& s);
py::array empty_array(DType t, const std::vector<int64_t>& shape);
std::vector<int64_t> shape_of(const py::array& a);
// a C-contiguous array with the same values (a itself when already contiguous)
py::array contiguous(const py::array& a);
// same as view_of but broadcast (stride 0) to `shape`; throws ValueError naming both shapes
TensorView broadcast_view(const py::array& a, const std::vector<int64_t>& shape, const char* what);
std::vector<int64_t> broadcast_shapes(const py::array& a, const py::array& b, const char* what);
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                      const char* what);

// the dtype of a float32/float64 array; TypeError naming `what` otherwise
DType float_dtype(const py::array& a, const char* what);

// a tuned kernel family's remembered choices, (shape class, path name) pairs, as the
// {shape class: path} dict python/minidl/tuning.py stores in the cache file
py::dict choices_dict(const std::vector<std::pair<std::string, std::string>>& choices);

// For an exported py::enum_ (DType, BinaryOp, ...; Python uses the members by name): its
// members compare and hash by identity, with CPython's own object slots (~10 ns), instead of
// py::enum_'s C++ __eq__/__hash__ (~0.2 us a call), because the Python layer tests op codes
// on every op (`op == A.DIV`, `act in _USES_OUTPUT`). Exact, since each member exists once,
// as the class attribute of its name: the int constructor is removed (a kernel never sees an
// out-of-range code) and copy / pickle give back that same member.
void compare_members_by_identity(py::handle enum_type);

// releases the GIL for the scope when the work is big enough to be worth it (~0.1 us)
struct MaybeReleaseGil {
  explicit MaybeReleaseGil(int64_t work) : release(work > 32768) {
    if (release) state = PyEval_SaveThread();
  }
  ~MaybeReleaseGil() {
    if (release) PyEval_RestoreThread(state);
  }
  bool release;
  PyThreadState* state = nullptr;
};

}  // namespace minidl_py
