// Run-time choice of the kernel set (the way ATen's CPU_CAPABILITY and NumPy's dispatch work).
//
// Every cpp/ops/<c>/*_simd.cpp file is compiled twice, with -mavx2 -mfma and with -mavx512*, into
// the namespaces minidl::avx2 and minidl::avx512. Each file defines a table of function
// pointers; the matching reference file cpp/ops/<c>/<c>.cpp declares both tables with
// MINIDL_SIMD_TABLE and asks `simd_table(...)` for the one of the active instruction set.
// The "scalar" set is the plain reference loops, which build on every CPU.
#pragma once
#include <cstdint>

namespace minidl {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
bool cpu_supports(Isa isa);   // compiled in and reported by the CPU
Isa best_isa();               // best this CPU runs
Isa active_isa();             // the one kernels use now (starts as best, or $MINIDL_ISA)
void set_active_isa(Isa isa); // throws KernelError if this CPU lacks it

// --8<-- [start:simd_table]
// Picks the table of the active ISA; nullptr means "use the scalar reference".
template <class Table>
inline const Table* simd_table(const Table* avx2_table, const Table* avx512_table) {
  switch (active_isa()) {
    case Isa::avx512: return avx512_table;
    case Isa::avx2: return avx2_table;
    default: return nullptr;
  }
}

}  // namespace minidl

// Declares minidl::avx2::NAME and minidl::avx512::NAME (defined in cpp/ops/*/*_simd.cpp) and a
// function NAME_active() returning the active one or nullptr.
#if defined(MINIDL_HAVE_X86_SIMD)
#define MINIDL_SIMD_TABLE(Type, NAME)                                              \
  namespace minidl { namespace avx2 { extern const Type NAME; }                    \
                     namespace avx512 { extern const Type NAME; } }                \
  static inline const Type* NAME##_active() {                                      \
    return ::minidl::simd_table<Type>(&::minidl::avx2::NAME, &::minidl::avx512::NAME); \
  }
#else
#define MINIDL_SIMD_TABLE(Type, NAME) \
  static inline const Type* NAME##_active() { return nullptr; }
#endif
// --8<-- [end:simd_table]
