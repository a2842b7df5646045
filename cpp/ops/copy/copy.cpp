// Strided copy, fill and dtype casts.
//
// Read top to bottom:
//   1. The reference: the 16-bit conversions written out bit by bit (round to nearest even, as
//      IEEE 754 and ml_dtypes do), each narrowing beside its widening, then the array loops
//      with CastSimd's signatures (f32_to_f16_reference, ...) and cast_loop for the other
//      dtypes. copy_simd.cpp has the F16C / AVX-512 versions (CastSimd), which must agree with
//      these bit for bit. (A cast's gradient is the cast back, done by the caller.)
//   2. Which path runs: every cast goes through float32 when a 16-bit type is involved, the
//      16-bit loops on the active SIMD set or the reference; f64 / i64 / bool among themselves
//      directly. cast_contiguous works in L1-sized blocks split over the threads; copy_strided
//      dispatches on the element size (a copy moves bytes), rows split by StridedLoop.
#include "copy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype_dispatch.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "core/strided_loop.h"

MINIDL_SIMD_TABLE(minidl::CastSimd, cast_simd)

namespace minidl {

// ---- reference: one value -----------------------------------------------------------------

static inline uint32_t float_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static inline float bits_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// --8<-- [start:bf16_round_reference]
uint16_t float_to_bfloat16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  // round to nearest even on the 16 dropped bits
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
// --8<-- [end:bf16_round_reference]

float bfloat16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

// --8<-- [start:f16_round_reference]
uint16_t float_to_half(float f) {
  uint32_t u = float_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {  // normal half: rebias exponent 127 -> 15, round the 13 dropped bits
    uint32_t r = abs - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  // subnormal half (or zero): value = m * 2^-24; shift the implicit-1 mantissa into place
  if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
  uint32_t exp = abs >> 23;
  uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126u - exp;  // 14 .. 24
  uint32_t halfway = 1u << (shift - 1);
  uint32_t rest = mant & ((1u << shift) - 1u);
  uint32_t q = mant >> shift;
  if (rest > halfway || (rest == halfway && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}
// --8<-- [end:f16_round_reference]

float half_to_float(uint16_t h) {
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);
    float v = std::ldexp(static_cast<float>(mant), -24);  // subnormal: m * 2^-24
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

namespace {

// ---- reference: arrays (CastSimd's signatures), and the casts among f32 / f64 / i64 / bool ----

inline void f32_to_f16_reference(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_half(src[i]);
}
inline void f16_to_f32_reference(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}
inline void f32_to_bf16_reference(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_bfloat16(src[i]);
}
inline void bf16_to_f32_reference(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(src[i]);
}

// d = cast(s): x -> bool is x != 0; float -> int64 truncates toward zero, inf / NaN give 0
template <class Src, class Dst>
void cast_loop(const Src* s, Dst* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<Dst, uint8_t>) d[i] = s[i] != Src(0);
    else if constexpr (std::is_same_v<Dst, int64_t> && std::is_floating_point_v<Src>)
      d[i] = std::isfinite(s[i]) ? static_cast<int64_t>(s[i]) : 0;
    else d[i] = static_cast<Dst>(s[i]);
  }
}

// ---- which path runs ----------------------------------------------------------------------

// the same values, to dtype dt (f32, f64, i64 or bool)
template <class Src>
void cast_loop_to(const Src* s, void* d, DType dt, int64_t n) {
  MINIDL_DISPATCH_ALL(dt, "cast", cast_loop(s, static_cast<T*>(d), n));
}

// anything -> float32: the 16-bit types go through float32 for every cast
void to_f32(const void* src, DType st, float* dst, int64_t n) {
  const CastSimd* simd = cast_simd_active();
  switch (st) {
    case DType::f32: std::memcpy(dst, src, n * 4); break;
    case DType::f16:
      if (simd) simd->f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
      else f16_to_f32_reference(static_cast<const uint16_t*>(src), dst, n);
      break;
    case DType::bf16:
      if (simd) simd->bf16_to_f32(static_cast<const uint16_t*>(src), dst, n);
      else bf16_to_f32_reference(static_cast<const uint16_t*>(src), dst, n);
      break;
    default: MINIDL_DISPATCH_ALL(st, "cast", cast_loop(static_cast<const T*>(src), dst, n));
  }
}

// float32 -> anything
void from_f32(const float* src, void* dst, DType dt, int64_t n) {
  const CastSimd* simd = cast_simd_active();
  switch (dt) {
    case DType::f32: std::memcpy(dst, src, n * 4); break;
    case DType::f16:
      if (simd) simd->f32_to_f16(src, static_cast<uint16_t*>(dst), n);
      else f32_to_f16_reference(src, static_cast<uint16_t*>(dst), n);
      break;
    case DType::bf16:
      if (simd) simd->f32_to_bf16(src, static_cast<uint16_t*>(dst), n);
      else f32_to_bf16_reference(src, static_cast<uint16_t*>(dst), n);
      break;
    default: cast_loop_to(src, dst, dt, n);
  }
}

bool is16(DType t) { return t == DType::f16 || t == DType::bf16; }

template <class T>
T as_value(double v) {
  if constexpr (std::is_same_v<T, uint8_t>) return v != 0.0;
  else if constexpr (std::is_same_v<T, int64_t>) return std::isfinite(v) ? static_cast<int64_t>(v) : 0;
  else return static_cast<T>(v);
}

// A transpose-like copy: dst contiguous, the source walks dst's last dim a with a stride other
// than 1 while another dim b has stride 1 (x.t().contiguous(), NCHW -> NHWC, heads merged back
// after attention). Element by element along a, every read lands in another cache line (and
// another page when the stride is 4 KiB); in tiles of kTransposeTile values along a and b, a
// tile's source lines (along b) and destination lines (along a) stay in L1 until the tile is
// done. Measured (Xeon family 6 model 167, 1 thread, medians): (1024, 1024) float32 transposed
// 6.7 -> 1.25 ms (PyTorch 1.16), (32, 64, 32, 32) NCHW -> NHWC 2.0 -> 1.2 ms (PyTorch 1.7).
// A last dim a shorter than a tile (pixel_shuffle's (N, C, H, r, W, r), r = 2) takes the tiles
// too when b comes just before it: the copy of pixel_shuffle's permute at (32, 64, 32, 32)
// 3.1 -> 1.0 ms (the whole pixel_shuffle, PyTorch's kernel: 5.0).
constexpr int64_t kTransposeTile = 32;

template <class T>
bool copy_transposed(const TensorView& src, const TensorView& dst) {
  const int nd = dst.ndim, a = nd - 1;
  if (nd < 2 || !dst.is_contiguous() || src.strides[a] == 1 || dst.shape[a] < 2) return false;
  int b = -1;
  for (int d = nd - 2; d >= 0 && b < 0; --d)
    if (src.strides[d] == 1 && dst.shape[d] >= kTransposeTile) b = d;
  // a short last dim (pixel_shuffle's r x r blocks, interleaved channels): only with b just
  // before it, so that a tile's destination is one contiguous run of rows
  if (b < 0 || (dst.shape[a] < kTransposeTile && b != a - 1)) return false;
  int64_t outer = 1;
  for (int d = 0; d < nd; ++d)
    if (d != a && d != b) outer *= dst.shape[d];
  const int64_t na = dst.shape[a], nb = dst.shape[b], sa = src.strides[a], db = dst.strides[b];
  const int64_t tiles_b = (nb + kTransposeTile - 1) / kTransposeTile;
  const T* s = static_cast<const T*>(src.data);
  T* d = static_cast<T*>(dst.data);
  // one work item: kTransposeTile rows along b of one outer index, all of a
  int other[kMaxDims], n_other = 0;  // the dims that are neither a nor b, outermost first
  for (int k = 0; k < nd; ++k)
    if (k != a && k != b) other[n_other++] = k;
  parallel_for(outer * tiles_b, std::max<int64_t>(1, (1 << 16) / (kTransposeTile * na)), [&](int64_t w0, int64_t w1) {
    // the outer index of w0 by division once, then counted up like an odometer (divisions per
    // item cost as much as a short-a item's copy: pixel_shuffle 5.7 -> 4.7 ms, measured while a
    // NumPy copy thrown away by every refused view, since removed, took ~3.8 ms of both)
    int64_t idx[kMaxDims] = {}, s_off = 0, d_off = 0, rest = w0 / tiles_b;
    for (int j = n_other - 1; j >= 0; --j) {
      const int k = other[j];
      idx[j] = rest % dst.shape[k];
      rest /= dst.shape[k];
      s_off += idx[j] * src.strides[k];
      d_off += idx[j] * dst.strides[k];
    }
    for (int64_t w = w0; w < w1; ++w) {
      if (w != w0 && w % tiles_b == 0)
        for (int j = n_other - 1; j >= 0; --j) {
          const int k = other[j];
          s_off += src.strides[k];
          d_off += dst.strides[k];
          if (++idx[j] < dst.shape[k]) break;
          s_off -= dst.shape[k] * src.strides[k];
          d_off -= dst.shape[k] * dst.strides[k];
          idx[j] = 0;
        }
      const int64_t b0 = (w % tiles_b) * kTransposeTile, b1 = std::min(nb, b0 + kTransposeTile);
      if (na < kTransposeTile) {  // short a: each source row along b read once, stored at a stride
        for (int64_t ia = 0; ia < na; ++ia) {
          T* out = d + d_off + ia;
          const T* in = s + s_off + ia * sa;
          for (int64_t ib = b0; ib < b1; ++ib) out[ib * db] = in[ib];
        }
        continue;
      }
      for (int64_t a0 = 0; a0 < na; a0 += kTransposeTile) {
        const int64_t a1 = std::min(na, a0 + kTransposeTile);
        for (int64_t ib = b0; ib < b1; ++ib) {
          T* row = d + d_off + ib * db;
          const T* col = s + s_off + ib;
          for (int64_t ia = a0; ia < a1; ++ia) row[ia] = col[ia * sa];
        }
      }
    }
  });
  return true;
}

template <class T>
void copy_typed(const TensorView& src, const TensorView& dst) {
  if (copy_transposed<T>(src, dst)) return;
  const int64_t* strides[2] = {src.strides, dst.strides};
  StridedLoop<2> loop(dst.ndim, dst.shape, strides);
  const T* s = static_cast<const T*>(src.data);
  T* d = static_cast<T*>(dst.data);
  const int64_t ss = loop.inner_stride(0), ds = loop.inner_stride(1);
  loop.for_each_row([&](const int64_t* off, int64_t n) {
    const T* sp = s + off[0];
    T* dp = d + off[1];
    if (ss == 1 && ds == 1) std::memcpy(dp, sp, n * sizeof(T));
    // a broadcast source (expand, the ones of sum's gradient): one value stored along the row,
    // which the compiler vectorises; the general loop below stored it one element at a time
    // (a (1024, 1024) ones gradient made contiguous: 0.39 -> 0.17 ms, Intel Xeon family 6 model 167)
    else if (ss == 0 && ds == 1) std::fill_n(dp, n, sp[0]);
    else for (int64_t i = 0; i < n; ++i) dp[i * ds] = sp[i * ss];
  }, 1 << 18);
}

}  // namespace

void copy_strided(const TensorView& src, const TensorView& dst) {
  if (src.dtype != dst.dtype) throw KernelError("copy_strided: dtypes differ");
  if (src.ndim != dst.ndim) throw KernelError("copy_strided: ranks differ");
  for (int d = 0; d < dst.ndim; ++d)
    if (src.shape[d] != dst.shape[d]) throw KernelError("copy_strided: shapes differ");
  switch (dtype_size(dst.dtype)) {
    case 1: copy_typed<uint8_t>(src, dst); break;
    case 2: copy_typed<uint16_t>(src, dst); break;
    case 4: copy_typed<uint32_t>(src, dst); break;
    case 8: copy_typed<uint64_t>(src, dst); break;
  }
}

// --8<-- [start:cast_path]
void cast_to_f32(const void* src, DType st, float* dst, int64_t n) { to_f32(src, st, dst, n); }
void cast_from_f32(const float* src, void* dst, DType dt, int64_t n) { from_f32(src, dst, dt, n); }

void cast_contiguous(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (st == dt) { std::memcpy(dst, src, n * dtype_size(st)); return; }
  // Work in blocks so 16-bit conversions go through a small float32 buffer kept in L1.
  const int64_t block = 4096;
  parallel_for((n + block - 1) / block, 64, [&](int64_t b0, int64_t b1) {
    float buf[4096];
    for (int64_t b = b0; b < b1; ++b) {
      int64_t i0 = b * block, m = (i0 + block <= n) ? block : n - i0;
      const char* s = static_cast<const char*>(src) + i0 * dtype_size(st);
      char* d = static_cast<char*>(dst) + i0 * dtype_size(dt);
      if (st == DType::f32) { from_f32(reinterpret_cast<const float*>(s), d, dt, m); continue; }
      if (dt == DType::f32) { to_f32(s, st, reinterpret_cast<float*>(d), m); continue; }
      if (is16(st) || is16(dt)) { to_f32(s, st, buf, m); from_f32(buf, d, dt, m); continue; }
      // f64 / i64 / b8 among themselves: exact, no float32 detour
      MINIDL_DISPATCH_ALL(st, "cast", cast_loop_to(reinterpret_cast<const T*>(s), d, dt, m));
    }
  });
}
// --8<-- [end:cast_path]

void fill(const TensorView& dst, double value) {
  TensorView src = dst;
  for (int d = 0; d < src.ndim; ++d) src.strides[d] = 0;
  alignas(8) unsigned char scalar[8];
  switch (dst.dtype) {
    case DType::f16: { uint16_t v = float_to_half(static_cast<float>(value)); std::memcpy(scalar, &v, 2); break; }
    case DType::bf16: { uint16_t v = float_to_bfloat16(static_cast<float>(value)); std::memcpy(scalar, &v, 2); break; }
    default: MINIDL_DISPATCH_ALL(dst.dtype, "fill", {
      const T v = as_value<T>(value);
      std::memcpy(scalar, &v, sizeof(T));
    });
  }
  src.data = scalar;
  copy_strided(src, dst);
}

}  // namespace minidl
