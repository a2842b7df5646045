// One register function per concept: each defines that concept's pybind11 functions on the
// module (cpp/ops/<c>/<c>_bind.cpp; runtime in cpp/bindings/runtime.cpp). module.cpp calls them.
#pragma once
#include <pybind11/pybind11.h>

namespace minidl_py {

void register_runtime(pybind11::module_& m);  // kernel sets, threads, build features
void register_numpy_allocator(pybind11::module_& m);  // 64-byte aligned array data (numpy_allocator.cpp)
void register_dlpack(pybind11::module_& m);   // sharing memory with other libraries (ops/dlpack/dlpack_bind.cpp)
void register_random(pybind11::module_& m);
void register_copy(pybind11::module_& m);
void register_elementwise(pybind11::module_& m);
void register_reduce(pybind11::module_& m);
void register_gemm(pybind11::module_& m);
void register_indexing(pybind11::module_& m);
void register_activation(pybind11::module_& m);
void register_softmax(pybind11::module_& m);
void register_loss(pybind11::module_& m);
void register_layernorm(pybind11::module_& m);
void register_batchnorm(pybind11::module_& m);
void register_groupnorm(pybind11::module_& m);  // GroupNorm, InstanceNorm
void register_rmsnorm(pybind11::module_& m);
void register_pooling(pybind11::module_& m);
void register_conv(pybind11::module_& m);
void register_attention(pybind11::module_& m);
void register_rnn(pybind11::module_& m);
void register_optim(pybind11::module_& m);
void register_amp(pybind11::module_& m);
void register_sort(pybind11::module_& m);
void register_scan(pybind11::module_& m);
void register_triangular(pybind11::module_& m);
void register_ctc(pybind11::module_& m);
void register_interpolate(pybind11::module_& m);
void register_decomposition(pybind11::module_& m);
void register_embedding_bag(pybind11::module_& m);

}  // namespace minidl_py
