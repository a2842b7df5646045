// Kernel-set selection and the global thread count.
#include "dispatch.h"

#include <cstdlib>
#include <cstring>

#include "parallel.h"
#include "tensor_view.h"

namespace minidl {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

// --8<-- [start:cpu_detect]
bool cpu_supports(Isa isa) {
  if (isa == Isa::scalar) return true;
#if defined(MINIDL_HAVE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (isa == Isa::avx2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  if (isa == Isa::avx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#endif
  return false;
}

bool cpu_has_avx512_bf16() {
#if defined(MINIDL_HAVE_X86_SIMD) && (defined(__GNUC__) || defined(__clang__)) && __GNUC__ >= 12
  __builtin_cpu_init();
  return cpu_supports(Isa::avx512) && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

Isa best_isa() {
  if (cpu_supports(Isa::avx512)) return Isa::avx512;
  if (cpu_supports(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

static Isa initial_isa() {
  Isa isa = best_isa();
  // MINIDL_ISA=avx2|scalar lets tests and users run a lesser set on this CPU.
  if (const char* env = std::getenv("MINIDL_ISA")) {
    for (Isa cand : {Isa::scalar, Isa::avx2, Isa::avx512})
      if (std::strcmp(env, isa_name(cand)) == 0 && cpu_supports(cand)) isa = cand;
  }
  return isa;
}

static Isa g_active_isa = initial_isa();
// --8<-- [end:cpu_detect]

Isa active_isa() { return g_active_isa; }

void set_active_isa(Isa isa) {
  if (!cpu_supports(isa))
    throw KernelError(std::string("kernel set '") + isa_name(isa) +
                      "' is not available on this CPU or build");
  g_active_isa = isa;
}

static int initial_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int g_num_threads = initial_threads();

int num_threads() { return g_num_threads; }

void set_num_threads(int n) {
  if (n < 1) throw KernelError("set_num_threads: the thread count must be >= 1, got " + std::to_string(n));
  g_num_threads = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

}  // namespace minidl
