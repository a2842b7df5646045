// Runtime: kernel-set dispatch, threads, the random generator, and the module itself.
#include <cstdlib>  // defines __GLIBC__ on glibc systems
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "convert.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "ops/random/random.h"

namespace minidl_py {
using namespace minidl;

namespace {

std::vector<int64_t> checked_shape(const std::vector<int64_t>& shape, const char* what) {
  for (int64_t s : shape)
    if (s < 0) throw py::value_error(std::string(what) + ": negative dimension " + std::to_string(s) + " in size " + shape_str(shape));
  return shape;
}

Isa isa_from_name(const std::string& name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (name == isa_name(isa)) return isa;
  throw py::value_error("unknown kernel set '" + name + "' (expected 'avx512', 'avx2' or 'scalar')");
}

}  // namespace

void init_runtime(py::module_& m) {
  m.def("_register_bfloat16", [](py::object dt) { bfloat16_dtype() = dt; });
  m.def("isa_name", []() { return std::string(isa_name(active_isa())); });
  m.def("set_isa", [](const std::string& name) { set_active_isa(isa_from_name(name)); });
  m.def("available_isas", []() {
    std::vector<std::string> r;
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar})
      if (cpu_supports(isa)) r.push_back(isa_name(isa));
    return r;
  });
  m.def("set_num_threads", &set_num_threads);
  m.def("get_num_threads", &num_threads);
  m.def("has_openmp", []() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
  });
  m.def("has_cuda", []() {
#ifdef MINIDL_WITH_CUDA
    return true;
#else
    return false;
#endif
  });

  m.def("manual_seed", [](uint64_t s) { manual_seed(s); });
  m.def("initial_seed", &initial_seed);
  m.def("get_rng_state", []() {
    uint64_t s[4];
    get_rng_state(s);
    return std::vector<uint64_t>(s, s + 4);
  });
  m.def("set_rng_state", [](const std::vector<uint64_t>& s) {
    if (s.size() != 4) throw py::value_error("rng state must have 4 words");
    set_rng_state(s.data());
  });
  m.def("rand", [](const std::vector<int64_t>& shape, int dt, double low, double high) {
    py::array out = empty_array(static_cast<DType>(dt), checked_shape(shape, "rand"));
    fill_uniform(out.mutable_data(), static_cast<DType>(dt), out.size(), low, high);
    return out;
  });
  m.def("randn", [](const std::vector<int64_t>& shape, int dt, double mean, double std) {
    py::array out = empty_array(static_cast<DType>(dt), checked_shape(shape, "randn"));
    fill_normal(out.mutable_data(), static_cast<DType>(dt), out.size(), mean, std);
    return out;
  });
  m.def("randint", [](int64_t low, int64_t high, const std::vector<int64_t>& shape) {
    py::array out = empty_array(DType::i64, checked_shape(shape, "randint"));
    fill_randint(static_cast<int64_t*>(out.mutable_data()), out.size(), low, high);
    return out;
  });
  m.def("randperm", [](int64_t n) {
    if (n < 0) throw py::value_error("randperm: n must be non-negative, got " + std::to_string(n));
    py::array out = empty_array(DType::i64, {n});
    randperm(static_cast<int64_t*>(out.mutable_data()), n);
    return out;
  });
  m.def("bernoulli", [](const std::vector<int64_t>& shape, double p) {
    py::array out = empty_array(DType::b8, checked_shape(shape, "bernoulli"));
    fill_bernoulli(static_cast<uint8_t*>(out.mutable_data()), out.size(), p);
    return out;
  });
}

}  // namespace minidl_py

PYBIND11_MODULE(_C, m) {
  m.doc() = "minidl's C++ kernels (see cpp/ops/<concept>/)";
  // Keep freed activation/gradient buffers in the heap instead of returning them to the
  // kernel: otherwise every training step page-faults them back in (NOTES-build.md).
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
  minidl_py::init_runtime(m);
  minidl_py::init_tensor_ops(m);
  minidl_py::init_nn_ops(m);
  minidl_py::init_loss(m);
  minidl_py::init_optim(m);
  minidl_py::init_pool_norm(m);
  minidl_py::init_conv(m);
  minidl_py::init_attention(m);
  minidl_py::init_rnn(m);
  minidl_py::init_amp(m);
}
