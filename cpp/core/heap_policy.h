// How much freed memory malloc keeps for the next training step instead of returning it.
//
// A training step allocates its activations in the forward pass and frees them at the end of
// the backward pass: a ResNet-20 step at batch 64 frees ~140 MiB at once. glibc's malloc gives
// the free top of its heap back to the kernel (brk) once it exceeds M_TRIM_THRESHOLD, and
// serves blocks above M_MMAP_THRESHOLD with their own mmap, unmapped again at free. Either
// way the next step's forward pass page-faults the same memory back in, and the kernel zeroes
// every page first. Measured on the Xeon of README's Performance section (1 thread, a process
// running only minidl): with the old 64 MiB threshold a ResNet-20 step spent 22% of its time in
// the kernel (perf: exc_page_fault, clear_page_erms, brk) and took 243 ms; with the threshold
// below, 0% and 195 ms. A GPT block step: 199 -> 172 ms. (Run beside PyTorch in one process,
// as run_all.py does, PyTorch's live buffers sit above minidl's in the heap and hide this.)
//
// The model: keep up to one eighth of physical memory as free heap, at least 256 MiB (a
// CIFAR ResNet's step) and at most INT_MAX bytes (mallopt takes an int) -- the same trade as
// PyTorch's CUDA caching allocator, which keeps all freed device memory, but bounded.
#pragma once
#include <cstdint>

namespace minidl {

// Bytes of free heap top that malloc may keep (the value given to M_TRIM_THRESHOLD), from
// the physical memory size by the model above; 0 where the C library is not glibc.
int64_t heap_trim_threshold();

// Apply the policy once per process (module import): M_MMAP_THRESHOLD at glibc's maximum
// (32 MiB, so blocks up to that size come from the heap) and M_TRIM_THRESHOLD as above.
void keep_freed_buffers_in_heap();

}  // namespace minidl
