// TensorView: what a kernel sees of a tensor -- a pointer, a shape, element strides, a dtype.
// Kernels never see Python; the bindings build these from NumPy arrays.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace minidl {

// Exported to Python as _C.DType (cpp/bindings/runtime.cpp) and used there by name.
enum class DType : int { f32 = 0, f64 = 1, f16 = 2, bf16 = 3, i64 = 4, b8 = 5 };

inline int64_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::i64: return 8;
    case DType::b8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::i64: return "int64";
    case DType::b8: return "bool";
  }
  return "?";
}

constexpr int kMaxDims = 16;

// A strided N-d view. Strides are in elements (not bytes); a stride of 0 broadcasts.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      if (shape[d] != 1 && strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }
};

// Kernels report bad arguments with this; pybind11 turns it into ValueError.
struct KernelError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// An index (class target, gather row) outside its range; pybind11 turns it into IndexError,
// as PyTorch raises for "Target 4 is out of bounds".
struct KernelIndexError : std::out_of_range {
  using std::out_of_range::out_of_range;
};

}  // namespace minidl
