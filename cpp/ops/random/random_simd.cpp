// The normal fill's Box-Muller transform for one ISA (RandomSimd): box_muller.h's formula on
// VecD lanes (core/vec_f64.h: 8 doubles with AVX-512, 4 with AVX2), the same operations in the
// same order as the scalar lane, so every kernel set gives the same bits (built with
// -ffp-contract=off, see box_muller.h). The pairs' outputs are interleaved on the way out (z0
// of pair p at 2p, z1 at 2p + 1) and rounded to float32 for a float32 tensor, as the scalar
// cast rounds.
#include "box_muller.h"
#include "core/vec_f64.h"
#include "random.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

// out[0 .. 2 width) = z0[0], z1[0], z0[1], z1[1], ...
#if defined(__AVX512F__)
inline void interleave(VecD z0, VecD z1, VecD& lo, VecD& hi) {
  lo.v = _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), z1.v);
  hi.v = _mm512_permutex2var_pd(z0.v, _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), z1.v);
}
#else
inline void interleave(VecD z0, VecD z1, VecD& lo, VecD& hi) {
  const __m256d l = _mm256_unpacklo_pd(z0.v, z1.v), h = _mm256_unpackhi_pd(z0.v, z1.v);  // pairs 0, 2 | 1, 3
  lo.v = _mm256_permute2f128_pd(l, h, 0x20);
  hi.v = _mm256_permute2f128_pd(l, h, 0x31);
}
#endif
inline void store_pairs(VecD z0, VecD z1, double* out) {
  VecD lo, hi;
  interleave(z0, z1, lo, hi);
  lo.store(out);
  hi.store(out + VecD::width);
}
inline void store_pairs(VecD z0, VecD z1, float* out) {
  VecD lo, hi;
  interleave(z0, z1, lo, hi);
  lo.store_f32(out);
  hi.store_f32(out + VecD::width);
}

// out[0 .. n) from pairs (u0[p], u1[p]), p < ceil(n / 2): z0 of pair p at 2p, z1 at 2p + 1
template <class T>
void normal_pairs(const double* u0, const double* u1, int64_t n, double mean, double std, T* out) {
  const VecD vmean = VecD::set1(mean), vstd = VecD::set1(std);
  int64_t p = 0;
  for (; 2 * (p + VecD::width) <= n; p += VecD::width) {
    VecD z0, z1;
    box_muller(VecD::load(u0 + p), VecD::load(u1 + p), vmean, vstd, z0, z1);
    store_pairs(z0, z1, out + 2 * p);
  }
  // the last pairs on the scalar lane: the same operations, the same bits
  box_muller_pairs_scalar(u0 + p, u1 + p, n - 2 * p, mean, std, out + 2 * p);
}

void normal_pairs_f32(const double* u0, const double* u1, int64_t n, double mean, double std, float* out) {
  normal_pairs(u0, u1, n, mean, std, out);
}
void normal_pairs_f64(const double* u0, const double* u1, int64_t n, double mean, double std, double* out) {
  normal_pairs(u0, u1, n, mean, std, out);
}

}  // namespace

extern const RandomSimd random_simd = {&normal_pairs_f32, &normal_pairs_f64};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
