// Float32 fused recurrent cells for one ISA: the vector versions of cpp/ops/rnn/rnn_cells.h
// (same formulas, same argument order; see there for the equations). One pass over the n
// hidden units of a batch row: the gate pre-activations are summed, activated, combined into
// the new cell / hidden state and stored, all in registers, so each step's pointwise part
// reads its inputs once and writes its outputs once. The forward cells use vec.h's rational
// sigmoid and tanh (absolute error <= 3.4e-7, no exp, no division): with 3 sigmoids and 2 tanh
// per LSTM unit, the exp-based ones made the cell 8% of an LSTM forward. The LSTM backward
// recomputes the forward's tanh(c) the same way: keeping it in `work` instead (a fifth block)
// measured no faster, the backward cell being bound by its memory traffic, and costs T B H
// more floats per layer.
#include "rnn.h"
#include "core/vec.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

constexpr int64_t W = Vec::width;

// Loads / stores of the j-th vector, partial (masked) when r < W lanes remain.
inline Vec ld(const float* p, int r) { return r == W ? Vec::load(p) : Vec::load_partial(p, r); }
inline void st(Vec v, float* p, int r) {
  if (r == W)
    v.store(p);
  else
    v.store_partial(p, r);
}

// body(j, lanes) for each vector of the n units: the full vectors get lanes = FullVec(), a
// compile-time W, so their loads and stores carry no mask and no branch; then one masked tail.
struct FullVec {
  constexpr operator int() const { return static_cast<int>(W); }
};
template <class Body>
inline void for_each_vector(int64_t n, const Body& body) {
  int64_t j = 0;
  for (; j + W <= n; j += W) body(j, FullVec());
  if (j < n) body(j, static_cast<int>(n - j));
}

// (a function, not a namespace-scope constant: a global Vec would run AVX-512 code at load time)
inline Vec one() { return Vec::set1(1.0f); }

// --8<-- [start:lstm_simd]
void lstm_forward(const float* xw, const float* hw, const float* bias, const float* c_prev, float* gates,
                  float* c, float* h, int64_t n, int64_t ldg) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec i = sigmoid_rational(ld(xw + j, r) + ld(hw + j, r) + ld(bias + j, r));
    const Vec f = sigmoid_rational(ld(xw + ldg + j, r) + ld(hw + ldg + j, r) + ld(bias + ldg + j, r));
    const Vec g = tanh_rational(ld(xw + 2 * ldg + j, r) + ld(hw + 2 * ldg + j, r) + ld(bias + 2 * ldg + j, r));
    const Vec o = sigmoid_rational(ld(xw + 3 * ldg + j, r) + ld(hw + 3 * ldg + j, r) + ld(bias + 3 * ldg + j, r));
    const Vec cn = fmadd(f, ld(c_prev + j, r), i * g);
    st(i, gates + j, r);
    st(f, gates + ldg + j, r);
    st(g, gates + 2 * ldg + j, r);
    st(o, gates + 3 * ldg + j, r);
    st(cn, c + j, r);
    st(o * tanh_rational(cn), h + j, r);
  });
}
// --8<-- [end:lstm_simd]

// --8<-- [start:lstm_backward_simd]
// The step's output gradient gy and the bias gradient's sums db ride along in the same pass:
// as separate loops over each row (dh += gy before, db += dpre after) they were 3.4% of the
// samples of an LSTM layer's forward + backward next to 5.9% for this kernel; fused, 7.9% for
// the whole (perf, Intel Xeon family 6 model 167, H 256, B 32, T 64, input size 1 so that the
// time loop dominates, 1 thread, load average 4-5; in CPU time the change is within that
// machine's noise). Prefetching the next step back's gates, c and gy rows into L2 ahead of
// this kernel took its share from 8.4% to 6.4%, but the prefetch loop cost 2.3%: dropped.
void lstm_backward(const float* dh, const float* gy, const float* dc, const float* gates, const float* c,
                   const float* c_prev, float* dpre, float* dc_prev, float* db, int64_t n, int64_t ldg) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec i = ld(gates + j, r), f = ld(gates + ldg + j, r);
    const Vec g = ld(gates + 2 * ldg + j, r), o = ld(gates + 3 * ldg + j, r);
    const Vec tc = tanh_rational(ld(c + j, r));  // the forward's tanh(c), recomputed
    const Vec d = gy ? ld(dh + j, r) + ld(gy + j, r) : ld(dh + j, r);
    const Vec dc0 = dc ? ld(dc + j, r) : Vec::zero();
    const Vec dct = fmadd(d * o, fnmadd(tc, tc, one()), dc0);
    const Vec dp[4] = {dct * g * i * (one() - i), dct * ld(c_prev + j, r) * f * (one() - f),
                       dct * i * fnmadd(g, g, one()), d * tc * o * (one() - o)};
    for (int k = 0; k < 4; ++k) {
      st(dp[k], dpre + k * ldg + j, r);
      if (db) st(ld(db + k * ldg + j, r) + dp[k], db + k * ldg + j, r);
    }
    st(dct * f, dc_prev + j, r);
  });
}
// --8<-- [end:lstm_backward_simd]

void gru_forward(const float* xw, const float* hw, const float* b_i, const float* b_h, const float* h_prev,
                 float* work, float* h, int64_t n, int64_t ldg) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec rg = sigmoid_rational((ld(xw + j, r) + ld(b_i + j, r)) + (ld(hw + j, r) + ld(b_h + j, r)));
    const Vec z = sigmoid_rational((ld(xw + ldg + j, r) + ld(b_i + ldg + j, r)) +
                                   (ld(hw + ldg + j, r) + ld(b_h + ldg + j, r)));
    const Vec hn = ld(hw + 2 * ldg + j, r) + ld(b_h + 2 * ldg + j, r);
    const Vec nn = tanh_rational(fmadd(rg, hn, ld(xw + 2 * ldg + j, r) + ld(b_i + 2 * ldg + j, r)));
    st(rg, work + j, r);
    st(z, work + ldg + j, r);
    st(nn, work + 2 * ldg + j, r);
    st(hn, work + 3 * ldg + j, r);
    // (1 - z) n + z h_prev = n + z (h_prev - n)
    st(fmadd(z, ld(h_prev + j, r) - nn, nn), h + j, r);
  });
}

void gru_backward(const float* dh, const float* work, const float* h_prev, float* dpre_x, float* dpre_h,
                  float* dh_prev, int64_t n, int64_t ldg) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec rg = ld(work + j, r), z = ld(work + ldg + j, r);
    const Vec nn = ld(work + 2 * ldg + j, r), hn = ld(work + 3 * ldg + j, r);
    const Vec d = ld(dh + j, r);
    const Vec dpn = d * (one() - z) * fnmadd(nn, nn, one());
    const Vec dpz = d * (ld(h_prev + j, r) - nn) * z * (one() - z);
    const Vec dpr = dpn * hn * rg * (one() - rg);
    st(dpr, dpre_x + j, r);
    st(dpz, dpre_x + ldg + j, r);
    st(dpn, dpre_x + 2 * ldg + j, r);
    st(dpr, dpre_h + j, r);
    st(dpz, dpre_h + ldg + j, r);
    st(dpn * rg, dpre_h + 2 * ldg + j, r);
    st(d * z, dh_prev + j, r);
  });
}

void rnn_forward(const float* xw, const float* hw, const float* bias, float* h, int64_t n, bool relu) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec pre = ld(xw + j, r) + ld(hw + j, r) + ld(bias + j, r);
    // max(pre, 0) with pre second would turn NaN into 0; max(0, pre) keeps it (vec.h: max
    // returns its second operand when one is NaN)
    st(relu ? max(Vec::zero(), pre) : tanh(pre), h + j, r);
  });
}

void rnn_backward(const float* dh, const float* h, float* dpre, int64_t n, bool relu) {
  for_each_vector(n, [&](int64_t j, auto r) {
    const Vec hv = ld(h + j, r), d = ld(dh + j, r);
    st(relu ? blend(cmp_gt(hv, Vec::zero()), Vec::zero(), d) : d * fnmadd(hv, hv, one()), dpre + j, r);
  });
}

}  // namespace

extern const RnnCellSimd rnn_cell_simd = {&lstm_forward, &lstm_backward, &gru_forward,
                                          &gru_backward, &rnn_forward, &rnn_backward};

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
