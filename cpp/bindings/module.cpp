// The extension module minidl._C: each concept registers its own functions
// (cpp/ops/<c>/<c>_bind.cpp), from the tensor basics up to the layers and optimizers.
#include "register.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "minidl's C++ kernels (see cpp/ops/<concept>/)";
  using namespace minidl_py;
  register_runtime(m);
  register_numpy_allocator(m);
  register_dlpack(m);
  register_random(m);
  // tensor ops
  register_copy(m);
  register_elementwise(m);
  register_reduce(m);
  register_gemm(m);
  register_indexing(m);
  // neural-network layers
  register_activation(m);
  register_softmax(m);
  register_loss(m);
  register_ctc(m);
  register_layernorm(m);
  register_batchnorm(m);
  register_groupnorm(m);
  register_rmsnorm(m);
  register_pooling(m);
  register_conv(m);
  register_attention(m);
  register_rnn(m);
  // training
  register_optim(m);
  register_amp(m);
  register_sort(m);
  register_scan(m);
  register_triangular(m);
  register_interpolate(m);
  register_decomposition(m);
  register_embedding_bag(m);
}
