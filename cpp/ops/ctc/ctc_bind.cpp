// Bindings for the CTC loss forward and backward (cpp/ops/ctc/). The Python layer
// (python/minidl/nn/ctc.py) checks shapes and lengths with PyTorch's messages and lays the
// targets out as one int64 array with a start offset per sample; these functions check again
// everything a kernel would read out of bounds with, and the labels themselves.
#include <string>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "ctc.h"

namespace minidl_py {
using namespace minidl;

namespace {

using Int64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

struct CtcArgs {
  CtcShape shape;
  const int64_t *targets, *offsets, *input_lengths, *target_lengths;
};

CtcArgs check_args(const py::array& log_probs, const Int64Array& targets, const Int64Array& offsets,
                   const Int64Array& input_lengths, const Int64Array& target_lengths, int64_t max_target_length,
                   int64_t blank) {
  if (log_probs.ndim() != 3) throw py::value_error("ctc_loss: log_probs must be (T, N, C), got " + shape_str(log_probs));
  CtcArgs a{{log_probs.shape(0), log_probs.shape(1), log_probs.shape(2), max_target_length, blank},
            targets.data(), offsets.data(), input_lengths.data(), target_lengths.data()};
  const int64_t N = a.shape.N, C = a.shape.C, n_targets = targets.size();
  if (offsets.size() != N || input_lengths.size() != N || target_lengths.size() != N)
    throw py::value_error("ctc_loss: target offsets, input_lengths and target_lengths need one entry per sample");
  if (blank < 0 || blank >= C) throw py::value_error("blank must be in label range");
  for (int64_t b = 0; b < N; ++b) {
    const int64_t il = a.input_lengths[b], tl = a.target_lengths[b], off = a.offsets[b];
    if (il < 0 || il > a.shape.T || tl < 0 || tl > max_target_length || off < 0 || off + tl > n_targets)
      throw py::value_error("ctc_loss: sample " + std::to_string(b) + " has lengths out of range");
    for (int64_t i = 0; i < tl; ++i) {
      const int64_t label = a.targets[off + i];
      if (label < 0 || label >= C)
        throw py::index_error("ctc_loss: target " + std::to_string(label) + " (sample " + std::to_string(b) +
                              ", position " + std::to_string(i) + ") is out of range for " + std::to_string(C) +
                              " classes: labels must be in [0, " + std::to_string(C) + ")");
      if (label == blank)
        throw py::value_error("ctc_loss: target (sample " + std::to_string(b) + ", position " + std::to_string(i) +
                              ") is the blank label " + std::to_string(blank) +
                              "; the blank cannot be a target: make the labels skip it, or only pad past "
                              "target_lengths with it");
    }
  }
  return a;
}

// (nll (N), log_alpha (N, T, 2 max_target_length + 1)) in log_probs' dtype
py::tuple ctc_forward_op(const py::array& log_probs_in, const Int64Array& targets, const Int64Array& offsets,
                         const Int64Array& input_lengths, const Int64Array& target_lengths,
                         int64_t max_target_length, int64_t blank) {
  py::array log_probs = contiguous(log_probs_in);
  const DType t = float_dtype(log_probs, "ctc_loss");
  const CtcArgs a = check_args(log_probs, targets, offsets, input_lengths, target_lengths, max_target_length, blank);
  py::array nll = empty_array(t, {a.shape.N});
  py::array log_alpha = empty_array(t, {a.shape.N, a.shape.T, 2 * max_target_length + 1});
  {
    MaybeReleaseGil nogil(log_alpha.size());
    ctc_loss_forward(log_probs.data(), t, a.shape, a.targets, a.offsets, a.input_lengths, a.target_lengths,
                     nll.mutable_data(), log_alpha.mutable_data());
  }
  return py::make_tuple(nll, log_alpha);
}

// grad_log_probs (T, N, C)
py::array ctc_backward_op(const py::array& grad_out_in, const py::array& log_probs_in, const Int64Array& targets,
                          const Int64Array& offsets, const Int64Array& input_lengths,
                          const Int64Array& target_lengths, const py::array& nll_in, const py::array& log_alpha_in,
                          int64_t max_target_length, int64_t blank, bool zero_infinity) {
  py::array log_probs = contiguous(log_probs_in), grad_out = contiguous(grad_out_in), nll = contiguous(nll_in),
            log_alpha = contiguous(log_alpha_in);
  const DType t = float_dtype(log_probs, "ctc_loss backward");
  const CtcArgs a = check_args(log_probs, targets, offsets, input_lengths, target_lengths, max_target_length, blank);
  const std::vector<int64_t> alpha_shape{a.shape.N, a.shape.T, 2 * max_target_length + 1};
  if (dtype_of(grad_out) != t || dtype_of(nll) != t || dtype_of(log_alpha) != t || grad_out.size() != a.shape.N ||
      nll.size() != a.shape.N || shape_of(log_alpha) != alpha_shape)
    throw py::value_error("ctc_loss backward: grad_out, nll and log_alpha do not match log_probs");
  py::array grad = empty_array(t, shape_of(log_probs));
  {
    MaybeReleaseGil nogil(log_alpha.size());
    ctc_loss_backward(grad_out.data(), log_probs.data(), t, a.shape, a.targets, a.offsets, a.input_lengths,
                      a.target_lengths, nll.data(), log_alpha.data(), zero_infinity, grad.mutable_data());
  }
  return grad;
}

}  // namespace

void register_ctc(py::module_& m) {
  m.def("ctc_loss_forward", &ctc_forward_op);
  m.def("ctc_loss_backward", &ctc_backward_op);
}

}  // namespace minidl_py
