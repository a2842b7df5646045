// Bindings for the loss kernels (cpp/ops/loss/loss*.cpp): cross-entropy, focal, the pointwise
// losses (MSE, L1, BCE, BCE with logits) and NLL.
#include "bindings/convert.h"
#include "bindings/register.h"
#include "loss.h"

namespace minidl_py {
using namespace minidl;

namespace {

// an optional array, contiguous, of dtype t and `n` elements (n < 0: any)
const void* optional_array(py::object obj, py::array& keep, DType t, int64_t n, const char* what) {
  if (obj.is_none()) return nullptr;
  keep = contiguous(obj.cast<py::array>());
  if (dtype_of(keep) != t)
    throw py::type_error(std::string(what) + " must have the input's dtype " + dtype_name(t) + ", got " +
                         dtype_name(dtype_of(keep)));
  if (n >= 0 && keep.size() != n)
    throw py::value_error(std::string(what) + " has " + std::to_string(keep.size()) + " elements, expected " +
                          std::to_string(n));
  return keep.data();
}

struct Targets {
  py::array keep;
  const int64_t* index = nullptr;
  const void* prob = nullptr;
};

Targets targets_of(const py::array& target, DType t, int64_t N, int64_t C) {
  Targets r;
  r.keep = contiguous(target);
  if (dtype_of(r.keep) == DType::i64) {
    if (r.keep.size() != N)
      throw py::value_error("cross_entropy: expected " + std::to_string(N) + " class indices, got target of shape " +
                            shape_str(target));
    r.index = static_cast<const int64_t*>(r.keep.data());
  } else {
    if (dtype_of(r.keep) != t)
      throw py::type_error("cross_entropy: probability targets must have the input's dtype");
    if (r.keep.size() != N * C)
      throw py::value_error("cross_entropy: probability target of shape " + shape_str(target) +
                            " does not match the input (" + std::to_string(N) + ", " + std::to_string(C) + ")");
    r.prob = r.keep.data();
  }
  return r;
}

// (N, C, inner) logits with N * inner class indices: the spatial kernels (an NCHW map, C not moved)
const int64_t* spatial_targets(const py::array& x, const py::array& target, py::array& keep) {
  keep = contiguous(target);
  if (dtype_of(keep) != DType::i64 || keep.size() != x.shape(0) * x.shape(2))
    throw py::value_error("cross_entropy: (N, C, d) logits take N * d int64 class indices, got target of shape " +
                          shape_str(target));
  return static_cast<const int64_t*>(keep.data());
}

py::tuple ce_forward(const py::array& x_in, const py::array& target, py::object weight, int64_t ignore_index,
                     double smoothing) {
  py::array x = contiguous(x_in);
  const DType t = float_dtype(x, "cross_entropy");
  if (x.ndim() == 3) {
    const int64_t N = x.shape(0), C = x.shape(1), inner = x.shape(2);
    py::array tkeep, wkeep;
    const int64_t* tg = spatial_targets(x, target, tkeep);
    const void* w = optional_array(weight, wkeep, t, C, "cross_entropy weight");
    py::array loss = empty_array(t, {N * inner}), lse = empty_array(t, {N * inner});
    double wsum = 0;
    {
      MaybeReleaseGil nogil(x.size());
      if (x.size() > 0)
        cross_entropy_forward_spatial(x.data(), t, N, C, inner, tg, w, ignore_index, smoothing, loss.mutable_data(),
                                      lse.mutable_data(), &wsum);
    }
    return py::make_tuple(loss, lse, wsum);
  }
  const int64_t N = x.shape(0), C = x.shape(1);
  Targets tg = targets_of(target, t, N, C);
  py::array wkeep;
  const void* w = optional_array(weight, wkeep, t, C, "cross_entropy weight");
  py::array loss = empty_array(t, {N}), lse = empty_array(t, {N});
  double wsum = 0;
  {
    MaybeReleaseGil nogil(N * C);
    cross_entropy_forward(x.data(), t, N, C, tg.index, tg.prob, w, ignore_index, smoothing, loss.mutable_data(),
                          lse.mutable_data(), &wsum);
  }
  return py::make_tuple(loss, lse, wsum);
}

py::array ce_backward(const py::array& x_in, const py::array& lse, const py::array& g_in, double scale,
                      const py::array& target, py::object weight, int64_t ignore_index, double smoothing) {
  py::array x = contiguous(x_in), g = contiguous(g_in);
  const DType t = float_dtype(x, "cross_entropy backward");
  if (x.ndim() == 3) {
    const int64_t N = x.shape(0), C = x.shape(1), inner = x.shape(2);
    py::array tkeep, wkeep;
    const int64_t* tg = spatial_targets(x, target, tkeep);
    const void* w = optional_array(weight, wkeep, t, C, "cross_entropy weight");
    py::array dx = empty_array(t, {N, C, inner});
    MaybeReleaseGil nogil(x.size());
    if (x.size() > 0)
      cross_entropy_backward_spatial(x.data(), lse.data(), g.data(), g.size() == 1, scale, t, N, C, inner, tg, w,
                                     ignore_index, smoothing, dx.mutable_data());
    return dx;
  }
  const int64_t N = x.shape(0), C = x.shape(1);
  Targets tg = targets_of(target, t, N, C);
  py::array wkeep;
  const void* w = optional_array(weight, wkeep, t, C, "cross_entropy weight");
  py::array dx = empty_array(t, {N, C});
  MaybeReleaseGil nogil(N * C);
  cross_entropy_backward(x.data(), lse.data(), g.data(), g.size() == 1, scale, t, N, C, tg.index, tg.prob, w,
                         ignore_index, smoothing, dx.mutable_data());
  return dx;
}

py::tuple focal_fwd(const py::array& x_in, const py::array& target_in, py::object alpha, double alpha_scalar,
                    double gamma) {
  py::array x = contiguous(x_in), target = contiguous(target_in);
  const DType t = float_dtype(x, "focal_loss");
  const int64_t N = x.shape(0), C = x.shape(1);
  if (dtype_of(target) != DType::i64 || target.size() != N)
    throw py::value_error("focal_loss: target must be N = " + std::to_string(N) + " int64 class indices");
  py::array akeep;
  const void* a = optional_array(alpha, akeep, t, C, "focal_loss alpha");
  py::array loss = empty_array(t, {N}), lse = empty_array(t, {N});
  MaybeReleaseGil nogil(N * C);
  focal_forward(x.data(), t, N, C, static_cast<const int64_t*>(target.data()), a, alpha_scalar, gamma,
                loss.mutable_data(), lse.mutable_data());
  return py::make_tuple(loss, lse);
}

py::array focal_bwd(const py::array& x_in, const py::array& lse, const py::array& g_in, double scale,
                    const py::array& target_in, py::object alpha, double alpha_scalar, double gamma) {
  py::array x = contiguous(x_in), g = contiguous(g_in), target = contiguous(target_in);
  const DType t = float_dtype(x, "focal_loss backward");
  const int64_t N = x.shape(0), C = x.shape(1);
  py::array akeep;
  const void* a = optional_array(alpha, akeep, t, C, "focal_loss alpha");
  py::array dx = empty_array(t, {N, C});
  MaybeReleaseGil nogil(N * C);
  focal_backward(x.data(), lse.data(), g.data(), g.size() == 1, scale, t, N, C,
                 static_cast<const int64_t*>(target.data()), a, alpha_scalar, gamma, dx.mutable_data());
  return dx;
}

py::tuple pw_forward(PointwiseLoss kind, const py::array& x_in, const py::array& y_in, py::object weight,
                     py::object pos_weight, bool elementwise) {
  py::array x = contiguous(x_in), y = contiguous(y_in);
  const DType t = float_dtype(x, "loss");
  if (dtype_of(y) != t) throw py::type_error("loss: target dtype must match the input dtype");
  if (y.size() != x.size()) throw py::value_error("loss: input and target sizes differ");
  py::array wkeep, pwkeep;
  const void* w = optional_array(weight, wkeep, t, x.size(), "loss weight");
  const void* pw = optional_array(pos_weight, pwkeep, t, -1, "pos_weight");
  const int64_t pw_len = pw ? pwkeep.size() : 1;
  py::object out = py::none();
  void* outp = nullptr;
  if (elementwise) {
    py::array o = empty_array(t, shape_of(x));
    outp = o.mutable_data();
    out = o;
  }
  double sum = 0;
  {
    MaybeReleaseGil nogil(x.size());
    pointwise_loss_forward(kind, x.data(), y.data(), w, pw, pw_len, t, x.size(), outp, &sum);
  }
  return py::make_tuple(out, sum);
}

py::array pw_backward(PointwiseLoss kind, const py::array& x_in, const py::array& y_in, py::object weight,
                      py::object pos_weight, const py::array& g_in, double scale) {
  py::array x = contiguous(x_in), y = contiguous(y_in), g = contiguous(g_in);
  const DType t = float_dtype(x, "loss backward");
  py::array wkeep, pwkeep;
  const void* w = optional_array(weight, wkeep, t, x.size(), "loss weight");
  const void* pw = optional_array(pos_weight, pwkeep, t, -1, "pos_weight");
  py::array dx = empty_array(t, shape_of(x));
  MaybeReleaseGil nogil(x.size());
  pointwise_loss_backward(kind, x.data(), y.data(), w, pw, pw ? pwkeep.size() : 1, g.data(), g.size() == 1, scale,
                          t, x.size(), dx.mutable_data());
  return dx;
}

py::tuple nll_forward_op(const py::array& logp_in, const py::array& target_in, py::object weight_obj, int64_t ignore_index) {
  py::array logp = contiguous(logp_in), target = contiguous(target_in);
  const DType t = float_dtype(logp, "nll_loss");
  if (dtype_of(target) != DType::i64) throw py::type_error("nll_loss: target must be an int64 (Long) tensor of class indices");
  const int64_t N = logp.shape(0), C = logp.shape(1);
  py::array weight;
  const void* wptr = nullptr;
  if (!weight_obj.is_none()) {
    weight = contiguous(weight_obj.cast<py::array>());
    if (weight.size() != C) throw py::value_error("nll_loss: weight has " + std::to_string(weight.size()) + " elements, expected " + std::to_string(C));
    wptr = weight.data();
  }
  py::array out = empty_array(t, {N});
  double wsum = 0;
  nll_forward(logp.data(), static_cast<const int64_t*>(target.data()), wptr, t, N, C, ignore_index, out.mutable_data(), &wsum);
  return py::make_tuple(out, wsum);
}

py::array nll_backward_op(const py::array& g_in, const py::array& target_in, py::object weight_obj, int64_t ignore_index, int64_t C) {
  py::array g = contiguous(g_in), target = contiguous(target_in);
  const DType t = float_dtype(g, "nll_loss backward");
  const int64_t N = target.size();
  const void* wptr = nullptr;
  py::array weight;
  if (!weight_obj.is_none()) { weight = contiguous(weight_obj.cast<py::array>()); wptr = weight.data(); }
  py::array out = empty_array(t, {N, C});
  nll_backward(g.data(), g.size() == 1 && N != 1, static_cast<const int64_t*>(target.data()), wptr, t, N, C, ignore_index, out.mutable_data());
  return out;
}

}  // namespace

void register_loss(py::module_& m) {
  // used by name from Python (python/minidl/nn/loss.py)
  compare_members_by_identity(py::enum_<PointwiseLoss>(m, "PointwiseLoss")
      .value("mse", PointwiseLoss::mse).value("l1", PointwiseLoss::l1).value("bce", PointwiseLoss::bce)
      .value("bce_with_logits", PointwiseLoss::bce_with_logits));
  m.def("cross_entropy_forward", &ce_forward);
  m.def("cross_entropy_backward", &ce_backward);
  m.def("focal_forward", &focal_fwd);
  m.def("focal_backward", &focal_bwd);
  m.def("pointwise_loss", &pw_forward);
  m.def("pointwise_loss_backward", &pw_backward);
  m.def("nll_forward", &nll_forward_op);
  m.def("nll_backward", &nll_backward_op);
}

}  // namespace minidl_py
