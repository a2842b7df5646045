// Threading shared by the convolution paths (conv.cpp: im2col + GEMM, conv_direct.cpp):
// threads take whole images, handed out in chunks from an atomic counter. No arithmetic here:
// images are independent in the reference loops (top of conv.cpp), so any split gives the
// same y and dx bits. The weight gradient sums over images, so it goes through
// over_image_slots: partial sums per fixed range of images (not per thread), added in a fixed
// order, so that the same inputs give the same bits in every run at a given thread count.
// Each path zeroes a slot on the thread that fills it and adds the slots up along memory on all
// threads (a parallel_for over the elements, slots in order per element): done on the calling
// thread alone, that was the serial part that kept 2 threads at 1.4x one on 32->64 s2 @16.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "conv.h"
#include "core/cpu_caches.h"
#include "core/parallel.h"

namespace minidl {
namespace conv_detail {

// Threads that take whole images; 1 means "images in turn" (a GEMM inside may thread itself).
inline int image_threads(const ConvShape& s) {
  int nt = num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  const int64_t fma = s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S;
  if (fma < (int64_t{1} << 18)) nt = 1;
  if (s.N < nt) nt = 1;
  return nt;
}

// Runs body(tid, n0, n1) over image ranges of `chunk` images, handed out dynamically: on a
// machine shared with other jobs a descheduled thread would otherwise hold back its static
// half of the batch (measured: 2 threads slower than 1 on a busy 2-core machine).
template <class F>
void over_images(const ConvShape& s, int nt, int64_t chunk, const F& body) {
  chunk = std::max<int64_t>(1, chunk);
  if (nt <= 1) {
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) body(0, n0, std::min(s.N, n0 + chunk));
    return;
  }
#ifdef _OPENMP
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    for (int64_t n0 = next.fetch_add(chunk); n0 < s.N; n0 = next.fetch_add(chunk))
      body(tid, n0, std::min(s.N, n0 + chunk));
  }
#else
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) body(0, n0, std::min(s.N, n0 + chunk));
#endif
}

// How many partial sums of slot_floats floats a weight gradient keeps with nt threads: k per
// thread, k = 1..4. More slots than threads let a thread that finishes early take another
// range while a descheduled one holds its own (the reason over_images hands out chunks), but
// only while all of them fit in the L2 cache: each slot is zeroed, written and added up once,
// and beyond L2 that traffic cost more than the balance gained (Winograd's 64->64 @8 dW, 590 KB
// a slot, Conv2d fwd+bwd at 2 threads: 0.76 of PyTorch's time with 2 slots, 0.95 with 8). A
// multiple of nt: with 3 ranges on 2 threads one thread runs two while the other waits (0.84).
inline int reduction_slots(int nt, int64_t slot_floats) {
  if (nt <= 1) return 1;
  const int64_t l2_floats = cpu_caches().l2.size / int64_t(sizeof(float));
  const int64_t fit = l2_floats / std::max<int64_t>(1, slot_floats);
  return nt * int(std::clamp<int64_t>(fit / nt, 1, 4));
}

// Runs body(slot, n0, n1) over `slots` fixed, contiguous ranges of the images (slot i: images
// [i N / slots, (i + 1) N / slots), in chunks of `chunk`, in order), the ranges handed out to nt
// threads from an atomic counter. A sum into slot i's partial thus always covers the same
// images in the same order, whichever thread runs it: deterministic, unlike a sum per thread
// over dynamically handed-out chunks (the resnet lab's training at 2 threads differed from
// run to run by that: plain-20's final loss 1.21 or 1.32 for the same seed).
template <class F>
void over_image_slots(const ConvShape& s, int nt, int slots, int64_t chunk, const F& body) {
  chunk = std::max<int64_t>(1, chunk);
  const auto run_slot = [&](int i) {
    const int64_t a = s.N * i / slots, b = s.N * (i + 1) / slots;
    for (int64_t n0 = a; n0 < b; n0 += chunk) body(i, n0, std::min(b, n0 + chunk));
  };
  if (nt <= 1 || slots <= 1) {
    for (int i = 0; i < slots; ++i) run_slot(i);
    return;
  }
#ifdef _OPENMP
  std::atomic<int> next{0};
#pragma omp parallel num_threads(nt)
  for (int i = next.fetch_add(1); i < slots; i = next.fetch_add(1)) run_slot(i);
#else
  for (int i = 0; i < slots; ++i) run_slot(i);
#endif
}

}  // namespace conv_detail
}  // namespace minidl
