// Runtime: the DType enum, which kernel set (ISA) runs, threads, build features, the heap
// policy, and the bfloat16 NumPy dtype that the Python layer registers at import.
#include "convert.h"
#include "core/cpu_caches.h"
#include "core/dispatch.h"
#include "core/heap_policy.h"
#include "core/parallel.h"
#include "register.h"

namespace minidl_py {
using namespace minidl;

namespace {

Isa isa_from_name(const std::string& name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (name == isa_name(isa)) return isa;
  throw py::value_error("unknown kernel set '" + name + "' (expected 'avx512', 'avx2' or 'scalar')");
}

py::dict cache_level_dict(const CacheLevel& l) {
  py::dict d;
  d["size"] = l.size, d["ways"] = l.ways, d["line"] = l.line, d["shared_by"] = l.shared_by;
  return d;
}

}  // namespace

void register_runtime(py::module_& m) {
  // the data caches as the GEMM's block-size model reads them (core/cpu_caches.h)
  m.def("cpu_caches", [] {
    const CpuCaches& c = cpu_caches();
    py::dict d;
    d["l1d"] = cache_level_dict(c.l1d), d["l2"] = cache_level_dict(c.l2), d["l3"] = cache_level_dict(c.l3);
    d["source"] = c.source;
    return d;
  });
  // the element types, used by name from Python (python/minidl/dtypes.py: dtype.code)
  compare_members_by_identity(py::enum_<DType>(m, "DType")
      .value("f32", DType::f32).value("f64", DType::f64).value("f16", DType::f16).value("bf16", DType::bf16)
      .value("i64", DType::i64).value("b8", DType::b8));
  // Keep a training step's freed activations in the heap for the next step instead of
  // page-faulting them back in every step (core/heap_policy.h has the measurement)
  keep_freed_buffers_in_heap();
  m.def("heap_trim_threshold", &heap_trim_threshold);
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
}

}  // namespace minidl_py
