// addcmul / addcdiv in one pass with PyTorch's arithmetic (the formulas: elementwise.h), over
// broadcast operands: the reference row that every dtype runs, then which path runs (a float32
// row whose operands are contiguous or one value goes to the active set's addc_f32,
// elementwise_simd.cpp). Python: python/minidl/ops/linalg.py (addcmul, addcdiv and their
// in-place forms, AddcBackward).
#include <cmath>
#include <type_traits>

#include "core/dispatch.h"
#include "core/dtype_dispatch.h"
#include "core/strided_loop.h"
#include "elementwise.h"

MINIDL_SIMD_TABLE(minidl::ElementwiseSimd, elementwise_simd)

namespace minidl {
namespace {

// --8<-- [start:addc_reference]
// addcmul / addcdiv, one element as PyTorch computes it: x + s t1 t2 with the last product and
// the sum in one fused multiply-add (what its compiled kernel does: 0 of 1M float32 results
// differ from fma(s t1, t2, x), 146K from the two roundings), x + (s t1) / t2 unfused
template <class T>
inline void addc_row_reference(AddcOp op, const T* x, int64_t sx, const T* t1, int64_t s1, const T* t2, int64_t s2,
                               T s, T* out, int64_t so, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T a = s * t1[i * s1];
    out[i * so] = op == AddcOp::mul ? std::fma(a, t2[i * s2], x[i * sx]) : x[i * sx] + a / t2[i * s2];
  }
}
// --8<-- [end:addc_reference]

}  // namespace

void addc(AddcOp op, const TensorView& x, const TensorView& t1, const TensorView& t2, double s, const TensorView& out) {
  const int64_t* strides[4] = {x.strides, t1.strides, t2.strides, out.strides};
  StridedLoop<4> loop(out.ndim, out.shape, strides);
  const int64_t sx = loop.inner_stride(0), s1 = loop.inner_stride(1), s2 = loop.inner_stride(2),
                so = loop.inner_stride(3);
  MINIDL_DISPATCH_FLOAT(out.dtype, op == AddcOp::mul ? "addcmul" : "addcdiv", {
    const ElementwiseSimd* simd = nullptr;
    if constexpr (std::is_same_v<T, float>) simd = elementwise_simd_active();
    const T* px = static_cast<const T*>(x.data);
    const T* p1 = static_cast<const T*>(t1.data);
    const T* p2 = static_cast<const T*>(t2.data);
    T* po = static_cast<T*>(out.data);
    loop.for_each_row([&](const int64_t* off, int64_t n) {
      if (simd && so == 1 && sx <= 1 && s1 <= 1 && s2 <= 1) {  // (set for float32 only)
        simd->addc_f32(op, reinterpret_cast<const float*>(px + off[0]), sx, reinterpret_cast<const float*>(p1 + off[1]),
                       s1, reinterpret_cast<const float*>(p2 + off[2]), s2, static_cast<float>(s),
                       reinterpret_cast<float*>(po + off[3]), n);
        return;
      }
      addc_row_reference(op, px + off[0], sx, p1 + off[1], s1, p2 + off[2], s2, static_cast<T>(s), po + off[3], so, n);
    });
  });
}

}  // namespace minidl
