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

// A (B, H, rows, cols) result: contiguous, or in (B, rows, H, cols) order when `heads_inner`
// (returned as a (B, H, rows, cols) view); its element strides in st.
py::array attention_result(DType t, int64_t b, int64_t h, int64_t rows, int64_t cols, bool heads_inner,
                           AttentionStrides& st) {
  if (!heads_inner) {
    st = {h * rows * cols, rows * cols, cols};
    return empty_array(t, {b, h, rows, cols});
  }
  st = {rows * h * cols, cols, h * cols};
  return empty_array(t, {b, rows, h, cols}).attr("transpose")(0, 2, 1, 3).cast<py::array>();
}

// Where the caller gives the gradient arrays (windows of one packed gradient): each must be
// (B, H, rows, cols) of dtype t with a contiguous last dimension and non-negative strides.
void check_grad_target(const py::array& a, DType t, const std::vector<int64_t>& shape, const char* what,
                       AttentionStrides& st) {
  const int64_t item = a.itemsize();
  bool ok = shape_of(a) == shape && dtype_of(a) == t && a.writeable() && (shape[3] <= 1 || a.strides(3) == item);
  for (int d = 0; ok && d < 3; ++d) ok = a.strides(d) >= 0 && a.strides(d) % item == 0;
  if (!ok)
    throw py::value_error(std::string("scaled_dot_product_attention backward: ") + what + " target " +
                          shape_str(a) + " (" + dtype_name(dtype_of(a)) + ") must be a writeable " +
                          shape_str(shape) + " " + dtype_name(t) + " array with a contiguous last dimension");
  st = {a.strides(0) / item, a.strides(1) / item, a.strides(2) / item};
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

// returns (out (B, H, L, Ev), lse (B, H, L)); out is laid out as the query: in (B, L, H, Ev)
// order when the query's heads are interleaved in its rows (split off a packed projection, as
// PyTorch's flash kernel does), so that merging the heads back is a view, not a copy
py::tuple attention_forward_op(const py::array& q, const py::array& k, const py::array& v, const py::object& mask,
                               double scale, bool causal, double dropout_p, uint64_t seed) {
  AttentionCall c = attention_call(q, k, v, mask, scale, causal, dropout_p, seed);
  const AttentionShape& s = c.shape;
  AttentionStrides os;
  const bool heads_inner = s.heads > 1 && s.q_len > 1 && c.qs.h < c.qs.row;
  py::array out = attention_result(c.t, s.batch, s.heads, s.q_len, s.v_dim, heads_inner, os);
  py::array lse = empty_array(c.t, {s.batch, s.heads, s.q_len});
  if (out.size() == 0) return py::make_tuple(out, lse);
  {
    MaybeReleaseGil nogil(s.batch * s.heads * s.q_len * s.kv_len);
    attention_forward(c.q.data(), c.qs, c.k.data(), c.ks, c.v.data(), c.vs, out.mutable_data(), os,
                      lse.mutable_data(), c.t, s, c.m, c.opt);
  }
  return py::make_tuple(out, lse);
}

// returns (dq, dk, dv, dscores) shaped like q, k, v: written into grads_into (a tuple of three
// arrays, e.g. the windows of one packed gradient) when given, else new contiguous arrays;
// dscores (B, H, L, S) is the gradient of an additive mask, computed only when want_mask_grad
// (else None)
py::tuple attention_backward_op(const py::array& dout_in, const py::array& q, const py::array& k, const py::array& v,
                                const py::array& out_in, const py::array& lse_in, const py::object& mask, double scale,
                                bool causal, double dropout_p, uint64_t seed, bool want_mask_grad,
                                const py::object& grads_into) {
  AttentionCall c = attention_call(q, k, v, mask, scale, causal, dropout_p, seed);
  const AttentionShape& s = c.shape;
  AttentionStrides ds, os;
  py::array dout = attention_operand(dout_in, c.t, "grad_output", ds);
  py::array out = attention_operand(out_in, c.t, "output", os), lse = contiguous(lse_in);
  const std::vector<int64_t> out_shape = {s.batch, s.heads, s.q_len, s.v_dim};
  if (shape_of(dout) != out_shape || shape_of(out) != out_shape || dtype_of(out) != c.t || dtype_of(lse) != c.t ||
      lse.size() != s.batch * s.heads * s.q_len)
    throw py::value_error("scaled_dot_product_attention backward: gradient " + shape_str(dout) + " / output " +
                          shape_str(out) + " do not match " + shape_str(out_shape));
  const std::vector<int64_t> q_shape = {s.batch, s.heads, s.q_len, s.head_dim},
                             k_shape = {s.batch, s.heads, s.kv_len, s.head_dim},
                             v_shape = {s.batch, s.heads, s.kv_len, s.v_dim};
  py::array dq, dk, dv;
  AttentionStrides dqs, dks, dvs;
  if (grads_into.is_none()) {
    dq = attention_result(c.t, s.batch, s.heads, s.q_len, s.head_dim, false, dqs);
    dk = attention_result(c.t, s.batch, s.heads, s.kv_len, s.head_dim, false, dks);
    dv = attention_result(c.t, s.batch, s.heads, s.kv_len, s.v_dim, false, dvs);
  } else {
    const py::tuple into = grads_into.cast<py::tuple>();
    if (into.size() != 3)
      throw py::value_error("scaled_dot_product_attention backward: grads_into must hold 3 arrays (dq, dk, dv)");
    dq = into[0].cast<py::array>();
    dk = into[1].cast<py::array>();
    dv = into[2].cast<py::array>();
    check_grad_target(dq, c.t, q_shape, "dq", dqs);
    check_grad_target(dk, c.t, k_shape, "dk", dks);
    check_grad_target(dv, c.t, v_shape, "dv", dvs);
  }
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
      if (a->size()) a->attr("fill")(0);
    return py::make_tuple(dq, dk, dv, dmask_obj);
  }
  {
    MaybeReleaseGil nogil(s.batch * s.heads * s.q_len * s.kv_len);
    attention_backward(c.q.data(), c.qs, c.k.data(), c.ks, c.v.data(), c.vs, out.data(), os, dout.data(), ds,
                       lse.data(), dq.mutable_data(), dqs, dk.mutable_data(), dks, dv.mutable_data(), dvs, c.t, s, c.m,
                       c.opt, want_mask_grad ? dmask.mutable_data() : nullptr);
  }
  return py::make_tuple(dq, dk, dv, dmask_obj);
}

}  // namespace

void register_attention(py::module_& m) {
  m.def("attention_forward", &attention_forward_op);
  m.def("attention_backward", &attention_backward_op, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask"), py::arg("scale"), py::arg("causal"), py::arg("dropout_p"),
        py::arg("seed"), py::arg("want_mask_grad"), py::arg("grads_into") = py::none());
  m.def("attention_dropout_keep", &attention_dropout_keep);
}

}  // namespace minidl_py
