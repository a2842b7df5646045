// Bindings for fused (flash) scaled dot-product attention. The Python layer
// (nn/attention.py) checks arguments and writes PyTorch-style error messages; the checks here
// only keep the kernels in bounds.
#include <cstring>

#include "attention.h"
#include "bindings/convert.h"
#include "bindings/register.h"

namespace minidl_py {
using namespace minidl;

namespace {

// A (B, H, rows, cols) operand: the array (made contiguous if its last dimension is not, or a
// stride is negative) and its element strides.
py::array attention_operand(const py::array& a_in, DType t, const char* what, AttentionStrides& st) {
  if (a_in.ndim() != 4)
    throw py::value_error(std::string("scaled_dot_product_attention: ") + what + " must be 4-D, got " + shape_str(a_in));
  if (dtype_of(a_in) != t)
    throw py::type_error(std::string("scaled_dot_product_attention: ") + what + " has dtype " +
                         dtype_name(dtype_of(a_in)) + ", expected " + dtype_name(t));
  py::array a = a_in;
  const int64_t item = a.itemsize();
  bool ok = a.shape(3) <= 1 || a.strides(3) == item;
  for (int d = 0; d < 3; ++d) ok = ok && a.strides(d) >= 0 && a.strides(d) % item == 0;
  if (!ok) a = contiguous(a);
  st.b = a.strides(0) / item;
  st.h = a.strides(1) / item;
  st.row = a.strides(2) / item;
  return a;
}

struct AttentionCall {
  py::array q, k, v, mask;
  AttentionStrides qs, ks, vs;
  AttentionShape shape;
  AttentionMask m;
  AttentionOptions opt;
  DType t;
};

AttentionCall attention_call(const py::array& q, const py::array& k, const py::array& v, const py::object& mask,
                             double scale, bool causal, double dropout_p, uint64_t seed) {
  AttentionCall c;
  c.t = float_dtype(q, "scaled_dot_product_attention");
  c.q = attention_operand(q, c.t, "query", c.qs);
  c.k = attention_operand(k, c.t, "key", c.ks);
  c.v = attention_operand(v, c.t, "value", c.vs);
  c.shape.batch = c.q.shape(0);
  c.shape.heads = c.q.shape(1);
  c.shape.q_len = c.q.shape(2);
  c.shape.head_dim = c.q.shape(3);
  c.shape.kv_len = c.k.shape(2);
  c.shape.v_dim = c.v.shape(3);
  for (const py::array* a : {&c.k, &c.v})
    if (a->shape(0) != c.shape.batch || a->shape(1) != c.shape.heads)
      throw py::value_error("scaled_dot_product_attention: batch/head dims differ: query " + shape_str(c.q) +
                            ", key " + shape_str(c.k) + ", value " + shape_str(c.v));
  if (c.k.shape(3) != c.shape.head_dim || c.v.shape(2) != c.shape.kv_len)
    throw py::value_error("scaled_dot_product_attention: query " + shape_str(c.q) + ", key " + shape_str(c.k) +
                          ", value " + shape_str(c.v) + " do not fit (need E(query) = E(key), S(key) = S(value))");
  if (!mask.is_none()) {
    c.mask = mask.cast<py::array>();
    const std::vector<int64_t> full = {c.shape.batch, c.shape.heads, c.shape.q_len, c.shape.kv_len};
    const DType mt = dtype_of(c.mask);
    if (mt != DType::b8 && mt != c.t)
      throw py::type_error(std::string("scaled_dot_product_attention: attn_mask must be bool or ") +
                           dtype_name(c.t) + ", got " + dtype_name(mt));
    const TensorView mv = broadcast_view(c.mask, full, "attn_mask");  // stride 0 where broadcast
    c.m.data = mv.data;
    c.m.is_bool = mt == DType::b8;
    c.m.b = mv.strides[0];
    c.m.h = mv.strides[1];
    c.m.row = mv.strides[2];
    c.m.col = mv.strides[3];
  }
  c.opt.scale = scale;
  c.opt.causal = causal;
  c.opt.dropout_p = dropout_p;
  c.opt.seed = seed;
  if (!(dropout_p >= 0 && dropout_p < 1))
    throw py::value_error("scaled_dot_product_attention: dropout_p must be in [0, 1), got " + std::to_string(dropout_p));
  return c;
}

// returns (out (B, H, L, Ev), lse (B, H, L))
py::tuple attention_forward_op(const py::array& q, const py::array& k, const py::array& v, const py::object& mask,
                               double scale, bool causal, double dropout_p, uint64_t seed) {
  AttentionCall c = attention_call(q, k, v, mask, scale, causal, dropout_p, seed);
  const AttentionShape& s = c.shape;
  py::array out = empty_array(c.t, {s.batch, s.heads, s.q_len, s.v_dim});
  py::array lse = empty_array(c.t, {s.batch, s.heads, s.q_len});
  if (out.size() == 0) return py::make_tuple(out, lse);
  {
    MaybeReleaseGil nogil(s.batch * s.heads * s.q_len * s.kv_len);
    attention_forward(c.q.data(), c.qs, c.k.data(), c.ks, c.v.data(), c.vs, out.mutable_data(), lse.mutable_data(),
                      c.t, s, c.m, c.opt);
  }
  return py::make_tuple(out, lse);
}

// returns (dq, dk, dv, dscores), contiguous, shaped like q, k, v; dscores (B, H, L, S) is the
// gradient of an additive mask, computed only when want_mask_grad (else None)
py::tuple attention_backward_op(const py::array& dout_in, const py::array& q, const py::array& k, const py::array& v,
                                const py::array& out_in, const py::array& lse_in, const py::object& mask, double scale,
                                bool causal, double dropout_p, uint64_t seed, bool want_mask_grad) {
  AttentionCall c = attention_call(q, k, v, mask, scale, causal, dropout_p, seed);
  const AttentionShape& s = c.shape;
  AttentionStrides ds;
  py::array dout = attention_operand(dout_in, c.t, "grad_output", ds);
  py::array out = contiguous(out_in), lse = contiguous(lse_in);
  const std::vector<int64_t> out_shape = {s.batch, s.heads, s.q_len, s.v_dim};
  if (shape_of(dout) != out_shape || shape_of(out) != out_shape || dtype_of(out) != c.t || dtype_of(lse) != c.t ||
      lse.size() != s.batch * s.heads * s.q_len)
    throw py::value_error("scaled_dot_product_attention backward: gradient " + shape_str(dout) + " / output " +
                          shape_str(out) + " do not match " + shape_str(out_shape));
  py::array dq = empty_array(c.t, {s.batch, s.heads, s.q_len, s.head_dim});
  py::array dk = empty_array(c.t, {s.batch, s.heads, s.kv_len, s.head_dim});
  py::array dv = empty_array(c.t, {s.batch, s.heads, s.kv_len, s.v_dim});
  py::object dmask_obj = py::none();
  py::array dmask;
  if (want_mask_grad) {
    dmask = empty_array(c.t, {s.batch, s.heads, s.q_len, s.kv_len});
    if (dmask.size()) std::memset(dmask.mutable_data(), 0, dmask.nbytes());
    dmask_obj = dmask;
  }
  if (dq.size() + dk.size() + dv.size() == 0) return py::make_tuple(dq, dk, dv, dmask_obj);
  if (s.q_len == 0 || s.kv_len == 0) {  // nothing attends: every gradient is zero
    for (py::array* a : {&dq, &dk, &dv})
      if (a->size()) std::memset(a->mutable_data(), 0, a->nbytes());
    return py::make_tuple(dq, dk, dv, dmask_obj);
  }
  {
    MaybeReleaseGil nogil(s.batch * s.heads * s.q_len * s.kv_len);
    attention_backward(c.q.data(), c.qs, c.k.data(), c.ks, c.v.data(), c.vs, out.data(), dout.data(), ds, lse.data(),
                       dq.mutable_data(), dk.mutable_data(), dv.mutable_data(), c.t, s, c.m, c.opt,
                       want_mask_grad ? dmask.mutable_data() : nullptr);
  }
  return py::make_tuple(dq, dk, dv, dmask_obj);
}

}  // namespace

void register_attention(py::module_& m) {
  m.def("attention_forward", &attention_forward_op);
  m.def("attention_backward", &attention_backward_op);
  m.def("attention_dropout_keep", &attention_dropout_keep);
}

}  // namespace minidl_py
