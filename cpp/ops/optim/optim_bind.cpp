// Optimizer bindings: each call takes Python lists of NumPy arrays (one per parameter of a
// parameter group), checks them, and runs the multi-tensor kernel of minidl/optim.h with
// the GIL released.
#include <string>
#include <vector>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "optim.h"

namespace minidl_py {
using namespace minidl;

namespace {

// The arrays of one optimizer call, checked against params (same count, dtype, shape,
// C-contiguous, writeable where the kernel writes).
struct ArrayList {
  std::vector<py::array> arrays;   // keeps every buffer alive for the call
  std::vector<void*> ptrs;
};

ArrayList gather(const py::sequence& seq, const char* fn, const char* what, bool write,
                 const ArrayList* like, DType* dtype) {
  ArrayList out;
  const size_t n = py::len(seq);
  if (like && n != like->arrays.size())
    throw py::value_error(std::string(fn) + ": got " + std::to_string(n) + " " + what + " for " +
                          std::to_string(like->arrays.size()) + " params");
  for (size_t i = 0; i < n; ++i) {
    py::object item = seq[i];
    const std::string name = std::string(fn) + ": " + what + "[" + std::to_string(i) + "]";
    if (!py::isinstance<py::array>(item))
      throw py::type_error(name + " is a " + std::string(py::str(py::type::handle_of(item).attr("__name__"))) +
                           ", expected a NumPy array");
    py::array a = py::reinterpret_borrow<py::array>(item);
    const DType dt = dtype_of(a);
    if (dt != DType::f32 && dt != DType::f64)
      throw py::type_error(name + " has dtype " + std::string(py::str(a.dtype())) +
                           "; optimizers update float32 and float64 tensors");
    if (i == 0 && !like) *dtype = dt;
    else if (dt != *dtype)
      throw py::type_error(name + " has dtype " + std::string(py::str(a.dtype())) + ", params have " +
                           std::string(py::str(numpy_dtype(*dtype))));
    if (!(a.flags() & py::array::c_style))
      throw py::value_error(name + " is not C-contiguous");
    if (write && !a.writeable()) throw py::value_error(name + " is read-only");
    if (like && shape_of(a) != shape_of(like->arrays[i]))
      throw py::value_error(name + " has shape " + shape_str(a) + " but params[" + std::to_string(i) +
                            "] has shape " + shape_str(like->arrays[i]));
    out.ptrs.push_back(const_cast<void*>(a.data()));
    out.arrays.push_back(std::move(a));
  }
  return out;
}

std::vector<int64_t> sizes_of(const ArrayList& l) {
  std::vector<int64_t> s;
  for (const auto& a : l.arrays) s.push_back(static_cast<int64_t>(a.size()));
  return s;
}

int64_t total_of(const std::vector<int64_t>& sizes) {
  int64_t t = 0;
  for (int64_t s : sizes) t += s;
  return t;
}

template <class T>
T* const* as(const ArrayList& l) {
  return reinterpret_cast<T* const*>(l.ptrs.data());
}

void check_count(size_t got, size_t want, const char* fn, const char* what) {
  if (got != want)
    throw py::value_error(std::string(fn) + ": got " + std::to_string(got) + " " + what + " for " +
                          std::to_string(want) + " params");
}

void sgd_step_py(const py::sequence& params, const py::sequence& grads, const py::sequence& bufs,
                 const std::vector<bool>& first_step, double lr, double momentum, double dampening,
                 double weight_decay, bool nesterov, bool maximize) {
  DType dt = DType::f32;
  ArrayList p = gather(params, "sgd_step", "params", true, nullptr, &dt);
  ArrayList g = gather(grads, "sgd_step", "grads", false, &p, &dt);
  const bool has_buf = momentum != 0.0;
  ArrayList b = has_buf ? gather(bufs, "sgd_step", "momentum_buffers", true, &p, &dt) : ArrayList{};
  std::vector<uint8_t> first(p.arrays.size(), 0);
  if (has_buf) {
    check_count(first_step.size(), p.arrays.size(), "sgd_step", "first_step flags");
    for (size_t i = 0; i < first.size(); ++i) first[i] = first_step[i];
  }
  const std::vector<int64_t> sizes = sizes_of(p);
  const int64_t n = static_cast<int64_t>(sizes.size());
  MaybeReleaseGil nogil(total_of(sizes));
  if (dt == DType::f32)
    sgd_step<float>(n, as<float>(p), as<float>(g), as<float>(b), first.data(), sizes.data(), lr, momentum,
                    dampening, weight_decay, nesterov, maximize);
  else
    sgd_step<double>(n, as<double>(p), as<double>(g), as<double>(b), first.data(), sizes.data(), lr, momentum,
                     dampening, weight_decay, nesterov, maximize);
}

void adam_step_py(const py::sequence& params, const py::sequence& grads, const py::sequence& exp_avgs,
                  const py::sequence& exp_avg_sqs, const py::sequence& max_exp_avg_sqs,
                  const std::vector<double>& steps, double lr, double beta1, double beta2, double eps,
                  double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
  DType dt = DType::f32;
  ArrayList p = gather(params, "adam_step", "params", true, nullptr, &dt);
  ArrayList g = gather(grads, "adam_step", "grads", false, &p, &dt);
  ArrayList m = gather(exp_avgs, "adam_step", "exp_avgs", true, &p, &dt);
  ArrayList v = gather(exp_avg_sqs, "adam_step", "exp_avg_sqs", true, &p, &dt);
  ArrayList vmax = amsgrad ? gather(max_exp_avg_sqs, "adam_step", "max_exp_avg_sqs", true, &p, &dt) : ArrayList{};
  check_count(steps.size(), p.arrays.size(), "adam_step", "steps");
  const std::vector<int64_t> sizes = sizes_of(p);
  const int64_t n = static_cast<int64_t>(sizes.size());
  MaybeReleaseGil nogil(total_of(sizes));
  if (dt == DType::f32)
    adam_step<float>(n, as<float>(p), as<float>(g), as<float>(m), as<float>(v), as<float>(vmax), sizes.data(),
                     steps.data(), lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled);
  else
    adam_step<double>(n, as<double>(p), as<double>(g), as<double>(m), as<double>(v), as<double>(vmax),
                      sizes.data(), steps.data(), lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                      decoupled);
}

std::vector<double> lamb_step_py(const py::sequence& params, const py::sequence& grads,
                                 const py::sequence& exp_avgs, const py::sequence& exp_avg_sqs,
                                 const std::vector<double>& steps, double lr, double beta1, double beta2,
                                 double eps, double weight_decay) {
  DType dt = DType::f32;
  ArrayList p = gather(params, "lamb_step", "params", true, nullptr, &dt);
  ArrayList g = gather(grads, "lamb_step", "grads", false, &p, &dt);
  ArrayList m = gather(exp_avgs, "lamb_step", "exp_avgs", true, &p, &dt);
  ArrayList v = gather(exp_avg_sqs, "lamb_step", "exp_avg_sqs", true, &p, &dt);
  check_count(steps.size(), p.arrays.size(), "lamb_step", "steps");
  const std::vector<int64_t> sizes = sizes_of(p);
  const int64_t n = static_cast<int64_t>(sizes.size());
  std::vector<double> ratios(sizes.size(), 1.0);
  MaybeReleaseGil nogil(total_of(sizes));
  if (dt == DType::f32)
    lamb_step<float>(n, as<float>(p), as<float>(g), as<float>(m), as<float>(v), sizes.data(), steps.data(), lr,
                     beta1, beta2, eps, weight_decay, ratios.data());
  else
    lamb_step<double>(n, as<double>(p), as<double>(g), as<double>(m), as<double>(v), sizes.data(), steps.data(),
                      lr, beta1, beta2, eps, weight_decay, ratios.data());
  return ratios;
}

}  // namespace

void register_optim(py::module_& m) {
  m.def("sgd_step", &sgd_step_py, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
        py::arg("first_step"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        "SGD over every array of `params` in one multi-tensor pass (in place).");
  m.def("adam_step", &adam_step_py, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
        py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("decoupled"), "Adam (decoupled=False) or AdamW (decoupled=True) in one multi-tensor pass.");
  m.def("lamb_step", &lamb_step_py, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
        py::arg("exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"),
        "LAMB (You et al. 2020, Alg. 2); returns the trust ratio of every tensor.");
}

}  // namespace minidl_py
