// Mixed-precision bindings: GradScaler's fused inf/NaN check + unscale over a list of
// gradient arrays (minidl/amp.h), with the GIL released.
#include <string>
#include <vector>

#include "bindings/convert.h"
#include "amp.h"
#include "bindings/register.h"
#include "core/dtype_dispatch.h"

namespace minidl_py {
using namespace minidl;

namespace {

// grads: list of C-contiguous, writeable float32 or float64 arrays (one dtype per call).
// Scales them in place by inv_scale and returns True if any element was inf or NaN.
bool unscale_op(const py::sequence& grads, double inv_scale) {
  std::vector<py::array> keep;
  std::vector<void*> ptrs;
  std::vector<int64_t> sizes;
  DType dt = DType::f32;
  const size_t n = py::len(grads);
  for (size_t i = 0; i < n; ++i) {
    py::object item = grads[i];
    const std::string name = "amp_unscale_: grads[" + std::to_string(i) + "]";
    if (!py::isinstance<py::array>(item)) throw py::type_error(name + " is not a NumPy array");
    py::array a = py::reinterpret_borrow<py::array>(item);
    const DType d = dtype_of(a);
    if (d == DType::f16) throw py::value_error("Attempting to unscale FP16 gradients.");
    if (d != DType::f32 && d != DType::f64)
      throw py::type_error(name + " has dtype " + dtype_name(d) + "; float32 or float64 gradients are unscaled");
    if (i == 0) dt = d;
    else if (d != dt) throw py::type_error(name + " has dtype " + dtype_name(d) + ", grads[0] has " + dtype_name(dt));
    if (!(a.flags() & py::array::c_style)) throw py::value_error(name + " is not C-contiguous");
    if (!a.writeable()) throw py::value_error(name + " is read-only");
    ptrs.push_back(a.mutable_data());
    sizes.push_back(static_cast<int64_t>(a.size()));
    keep.push_back(std::move(a));
  }
  py::gil_scoped_release nogil;
  bool found = false;
  MINIDL_DISPATCH_FLOAT(dt, "amp_unscale_", {
    std::vector<T*> p;
    for (void* q : ptrs) p.push_back(static_cast<T*>(q));
    found = unscale_and_check<T>(static_cast<int64_t>(p.size()), p.data(), sizes.data(), static_cast<T>(inv_scale));
  });
  return found;
}

}  // namespace

void register_amp(py::module_& m) {
  m.def("amp_unscale_", &unscale_op, py::arg("grads"), py::arg("inv_scale"),
        "g *= inv_scale for every array; True if any element was inf/NaN (one pass)");
}

}  // namespace minidl_py
