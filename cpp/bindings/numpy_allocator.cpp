// NumPy's data allocator for minidl: every array's data starts on a 64-byte boundary.
//
// minidl's tensors are NumPy arrays, and glibc's malloc returns blocks 16 bytes past a 64-byte
// boundary (its chunk header), so a 64-byte vector load or an AMX tile row of a large array
// spans two cache lines. PyTorch's allocator aligns to 64. Measured on the Xeon of README's
// Performance section (1 thread, C++ harness): the AMX bf16 product 4096x256 @ (1024x256)^T
// took 1.80 ms with aligned operands and 2.21 ms with A and C 16 bytes off (12-22% across the
// GPT block's shapes). NumPy (>= 1.22) lets a library install its own allocator for the arrays
// created in the current context (PyDataMem_SetHandler, NEP 49); this is that allocator:
// malloc'd blocks with their data start rounded up to the boundary. In the same process, bf16
// 1024^3 through md.matmul: 2.38 -> 2.28 ms median (-4..6%), 4096x256x1024 -2..3%; the float32
// ResNet-20 and GPT steps did not move beyond the noise (their kernels read packed copies).
// The functions are called through NumPy's C-API table (the same table pybind11 uses), so the
// build needs no NumPy headers. Threads started later begin in a fresh context, with NumPy's
// own allocator: their arrays are only 16-byte aligned, which every kernel accepts.
#include <pybind11/numpy.h>

#if defined(__linux__)
#include <sys/mman.h>  // madvise
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "register.h"

namespace minidl_py {
namespace py = pybind11;

namespace {

constexpr std::size_t kAlign = 64;  // a cache line, and an AVX-512 vector / AMX tile row

// the version-1 layout of NumPy's PyDataMem_Handler (numpy/ndarraytypes.h)
struct DataMemAllocator {
  void* ctx;
  void* (*malloc)(void* ctx, std::size_t size);
  void* (*calloc)(void* ctx, std::size_t nelem, std::size_t elsize);
  void* (*realloc)(void* ctx, void* ptr, std::size_t new_size);
  void (*free)(void* ctx, void* ptr, std::size_t size);
};
struct DataMemHandler {
  char name[127];
  uint8_t version;
  DataMemAllocator allocator;
};

// Each block is over-allocated from malloc and its data start rounded up to the boundary; the
// 16 bytes before the data keep malloc's pointer and the data size (for realloc). Large calloc
// stays lazy: glibc serves it with fresh zero pages that are never written until used, so a
// large np.zeros costs no memory until it is touched (as with NumPy's own allocator).
constexpr std::size_t kHeader = 16, kSlack = kAlign + kHeader;

void* place(void* raw, std::size_t size) {
  if (raw == nullptr) return nullptr;
  const std::uintptr_t data = (reinterpret_cast<std::uintptr_t>(raw) + kHeader + kAlign - 1) & ~(kAlign - 1);
  reinterpret_cast<void**>(data)[-1] = raw;
  reinterpret_cast<std::size_t*>(data)[-2] = size;
  // NumPy's own allocator asks for transparent huge pages on arrays of 4 MiB and more (fewer TLB
  // misses in kernels that stream them); keep that
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (size >= (std::size_t(4) << 20)) {
    const std::uintptr_t page = 4096, first = (data + page - 1) & ~(page - 1);
    madvise(reinterpret_cast<void*>(first), (data + size - first) & ~(page - 1), MADV_HUGEPAGE);
  }
#endif
  return reinterpret_cast<void*>(data);
}

std::size_t data_size(void* data) { return reinterpret_cast<std::size_t*>(data)[-2]; }

void* aligned_malloc(void*, std::size_t size) {
  if (size > SIZE_MAX - kSlack) return nullptr;
  return place(std::malloc(size + kSlack), size);
}

void* aligned_calloc(void*, std::size_t nelem, std::size_t elsize) {
  if (elsize && nelem > (SIZE_MAX - kSlack) / elsize) return nullptr;  // too large: fail as calloc does
  return place(std::calloc(1, nelem * elsize + kSlack), nelem * elsize);
}

// realloc keeps the contents up to the smaller size; on failure the old block stays valid
void* aligned_realloc(void* ctx, void* ptr, std::size_t new_size) {
  void* q = aligned_malloc(ctx, new_size);
  if (q == nullptr || ptr == nullptr) return q;
  std::memcpy(q, ptr, std::min(data_size(ptr), new_size));
  std::free(reinterpret_cast<void**>(ptr)[-1]);
  return q;
}

void aligned_free(void*, void* ptr, std::size_t) {
  if (ptr != nullptr) std::free(reinterpret_cast<void**>(ptr)[-1]);
}

DataMemHandler aligned_handler = {
    "minidl_aligned_64", 1, {nullptr, aligned_malloc, aligned_calloc, aligned_realloc, aligned_free}};

// NumPy's C-API table and the two entries used here (numpy/__multiarray_api.h: 211, 304, 305)
void** numpy_api() {
  py::object capsule = py::detail::import_numpy_core_submodule("multiarray").attr("_ARRAY_API");
  return static_cast<void**>(PyCapsule_GetPointer(capsule.ptr(), nullptr));
}

bool numpy_has_handlers(void** api) {
  auto feature_version = reinterpret_cast<unsigned (*)()>(api[211]);
  return feature_version() >= 0xf;  // NPY_1_22_API_VERSION: PyDataMem_SetHandler exists
}

// Make ``enabled``'s allocator the current context's; returns the name now in use.
std::string use_aligned_allocator(bool enabled) {
  void** api = numpy_api();
  if (api == nullptr) throw py::error_already_set();
  if (!numpy_has_handlers(api)) return "default_allocator";
  // both kept for the life of the process (never released: arrays hold the capsules too, and
  // a static py::object would be destroyed after the interpreter)
  static PyObject* aligned = PyCapsule_New(&aligned_handler, "mem_handler", nullptr);
  static PyObject* numpy_default = nullptr;  // the handler found at the first call: NumPy's own
  if (aligned == nullptr) throw py::error_already_set();
  if (numpy_default == nullptr) {
    numpy_default = reinterpret_cast<PyObject* (*)()>(api[305])();  // PyDataMem_GetHandler
    if (numpy_default == nullptr) throw py::error_already_set();
  }
  auto set_handler = reinterpret_cast<PyObject* (*)(PyObject*)>(api[304]);
  PyObject* previous = set_handler(enabled ? aligned : numpy_default);
  if (previous == nullptr) throw py::error_already_set();
  Py_DECREF(previous);
  return enabled ? aligned_handler.name : "default_allocator";
}

}  // namespace

void register_numpy_allocator(py::module_& m) {
  use_aligned_allocator(true);  // at import: the arrays of this context from now on
  m.def("use_aligned_allocator", &use_aligned_allocator, py::arg("enabled"),
        "Make NumPy allocate the current context's arrays 64-byte aligned (True, the default since "
        "import) or with its own allocator (False); returns the allocator's name.");
}

}  // namespace minidl_py
