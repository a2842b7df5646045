// DLPack: sharing a tensor's memory with another library (PyTorch, NumPy, JAX, CuPy ...)
// without a copy. The protocol (https://dmlc.github.io/dlpack/latest/) is a C struct that
// describes the memory (pointer, device, dtype, shape, strides) plus a deleter the consumer
// calls when it no longer needs it, passed inside a PyCapsule named "dltensor" (DLPack 1.0
// adds "dltensor_versioned" with a version and flags). The consumer renames the capsule to
// "used_dltensor" when it takes ownership, so a capsule is imported at most once.
//
// Why minidl does this itself instead of calling numpy.from_dlpack / ndarray.__dlpack__:
// NumPy's implementation refuses dtypes NumPy does not have, bfloat16 among them (ml_dtypes'
// bfloat16 is a NumPy user dtype), and bfloat16 is what mixed-precision weights are stored in.
//
// python/minidl/ops/dlpack.py calls these two functions (md.from_dlpack, Tensor.__dlpack__).
#include <Python.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/convert.h"
#include "bindings/register.h"

namespace minidl_py {
namespace {

// --- the DLPack ABI (dlpack.h, v1.0; the legacy struct is v0.8's and unchanged since) -------
enum DLDeviceType : int32_t { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3 };
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
enum DLDataTypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null = compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
struct DLPackVersion {
  uint32_t major, minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint64_t kDLPackFlagReadOnly = 1;

// --- import: a capsule -> a NumPy array over the same memory ----------------------------------

// The NumPy dtype of a DLPack dtype (bfloat16 through ml_dtypes); TypeError for the rest.
py::dtype numpy_dtype_of(const DLDataType& t) {
  if (t.lanes != 1) throw py::type_error("from_dlpack: vector dtypes (lanes = " + std::to_string(t.lanes) +
                                         ") are not supported");
  const int bytes = t.bits / 8;
  if (t.bits % 8 == 0 && bytes >= 1) {
    switch (t.code) {
      case kDLFloat:
        if (bytes == 2 || bytes == 4 || bytes == 8) return py::dtype("float" + std::to_string(t.bits));
        break;
      case kDLBfloat:
        if (bytes == 2 && !bfloat16_dtype().is_none()) return numpy_dtype(DType::bf16);
        break;
      case kDLInt:
        if (bytes <= 8) return py::dtype("int" + std::to_string(t.bits));
        break;
      case kDLUInt:
        if (bytes <= 8) return py::dtype("uint" + std::to_string(t.bits));
        break;
      case kDLBool:
        if (bytes == 1) return py::dtype::of<bool>();
        break;
      case kDLComplex:
        throw py::type_error("from_dlpack: complex tensors are not supported (minidl has no complex dtype)");
      default:
        break;
    }
  }
  throw py::type_error("from_dlpack: unsupported DLPack dtype (code " + std::to_string(t.code) + ", " +
                       std::to_string(t.bits) + " bits)");
}

// --8<-- [start:dlpack_import]
// An array viewing dl's memory; `owner` keeps the producer's memory alive and is the array's base.
py::array array_over(const DLTensor& dl, py::object owner, bool read_only) {
  if (dl.device.device_type != kDLCPU && dl.device.device_type != kDLCUDAHost)
    throw py::buffer_error("from_dlpack: the tensor lives on device type " + std::to_string(dl.device.device_type) +
                           (dl.device.device_type == kDLCUDA ? " (CUDA)" : "") +
                           "; minidl runs on the CPU: move it there first (e.g. t.cpu())");
  if (dl.ndim < 0 || dl.ndim > 64) throw py::value_error("from_dlpack: bad ndim " + std::to_string(dl.ndim));
  const py::dtype dt = numpy_dtype_of(dl.dtype);
  const int64_t item = dt.itemsize();
  std::vector<py::ssize_t> shape(dl.ndim), strides(dl.ndim);
  int64_t numel = 1;
  for (int i = 0; i < dl.ndim; ++i) {
    if (dl.shape[i] < 0) throw py::value_error("from_dlpack: negative size in the shape");
    shape[i] = dl.shape[i];
    numel *= dl.shape[i];
  }
  int64_t compact = item;
  for (int i = dl.ndim - 1; i >= 0; --i) {  // bytes; compact row-major when strides is null
    strides[i] = dl.strides ? dl.strides[i] * item : compact;
    compact *= shape[i];
  }
  if (numel == 0) return py::array(dt, shape);  // (its pointer may be null)
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  py::array out(dt, shape, strides, data, owner);
  if (read_only) out.attr("setflags")(py::arg("write") = false);
  return out;
}
// --8<-- [end:dlpack_import]

py::array from_dlpack_capsule(const py::capsule& capsule) {
  PyObject* cap = capsule.ptr();
  const char* name = PyCapsule_GetName(cap);
  const std::string n = name ? name : "";
  if (n == "used_dltensor" || n == "used_dltensor_versioned")
    throw py::value_error("from_dlpack: this DLPack capsule was already consumed (a capsule can be imported once; "
                          "call the producer's __dlpack__() again for a new one)");
  if (n == "dltensor") {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    // the base object owns m from now on: its destructor calls the producer's deleter
    py::capsule owner(m, [](void* p) {
      auto* mt = static_cast<DLManagedTensor*>(p);
      if (mt->deleter) mt->deleter(mt);
    });
    PyCapsule_SetName(cap, "used_dltensor");
    return array_over(m->dl_tensor, owner, false);
  }
  if (n == "dltensor_versioned") {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, "dltensor_versioned"));
    if (m->version.major > 1)
      throw py::buffer_error("from_dlpack: DLPack version " + std::to_string(m->version.major) +
                             " is newer than the 1.x minidl reads");
    py::capsule owner(m, [](void* p) {
      auto* mt = static_cast<DLManagedTensorVersioned*>(p);
      if (mt->deleter) mt->deleter(mt);
    });
    PyCapsule_SetName(cap, "used_dltensor_versioned");
    return array_over(m->dl_tensor, owner, (m->flags & kDLPackFlagReadOnly) != 0);
  }
  throw py::type_error("from_dlpack: expected a DLPack capsule (named 'dltensor'), got one named '" + n + "'");
}

// --- export: a NumPy array -> a capsule over the same memory ----------------------------------

// What the capsule owns: the DLPack struct, its shape and strides, and a reference to the array.
struct Export {
  DLManagedTensor managed;
  std::vector<int64_t> shape, strides;
  PyObject* array;
};

void delete_export(DLManagedTensor* self) {
  auto* e = static_cast<Export*>(self->manager_ctx);
  // the consumer may call the deleter from any thread, with or without the GIL
  PyGILState_STATE gil = PyGILState_Ensure();
  Py_XDECREF(e->array);
  PyGILState_Release(gil);
  delete e;
}

DLDataType dlpack_dtype_of(const py::array& a) {
  switch (dtype_of(a)) {  // (TypeError for a dtype minidl does not store)
    case DType::f32: return {kDLFloat, 32, 1};
    case DType::f64: return {kDLFloat, 64, 1};
    case DType::f16: return {kDLFloat, 16, 1};
    case DType::bf16: return {kDLBfloat, 16, 1};
    case DType::i64: return {kDLInt, 64, 1};
    case DType::b8: return {kDLBool, 8, 1};
  }
  return {kDLFloat, 32, 1};
}

// --8<-- [start:dlpack_export]
py::capsule to_dlpack(const py::array& a) {
  if (!a.writeable())
    throw py::buffer_error("__dlpack__: the tensor's memory is read-only, and a legacy DLPack capsule cannot say so "
                           "(copy it first: t.clone())");
  const int64_t item = a.itemsize();
  auto* e = new Export();
  e->managed.dl_tensor.dtype = dlpack_dtype_of(a);
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    e->shape.push_back(a.shape(i));
    if (a.strides(i) % item != 0) {
      delete e;
      throw py::buffer_error("__dlpack__: strides that are not a multiple of the element size cannot be exported");
    }
    e->strides.push_back(a.strides(i) / item);
  }
  e->array = a.ptr();
  Py_INCREF(e->array);
  DLTensor& t = e->managed.dl_tensor;
  t.data = const_cast<void*>(a.data());
  t.device = {kDLCPU, 0};
  t.ndim = static_cast<int32_t>(a.ndim());
  t.shape = e->shape.data();
  t.strides = e->strides.data();
  t.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = delete_export;
  // an unconsumed capsule frees what it owns; a consumed one ("used_dltensor") leaves that to
  // the consumer, who calls the deleter when done
  return py::capsule(&e->managed, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    } else {
      PyErr_Clear();
    }
  });
}
// --8<-- [end:dlpack_export]

}  // namespace

void register_dlpack(py::module_& m) {
  m.def("from_dlpack_capsule", &from_dlpack_capsule,
        "a DLPack capsule -> a NumPy array over the same memory (the capsule is marked consumed)");
  m.def("to_dlpack", &to_dlpack, "a NumPy array -> a DLPack capsule over the same memory");
}

}  // namespace minidl_py
