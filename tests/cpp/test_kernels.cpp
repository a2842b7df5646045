// Kernel tests in plain C++ (no framework): every available SIMD set against the scalar
// reference set, on odd sizes, for elementwise ops, activations, softmax, reductions, casts
// and GEMM. Prints "N passed, N failed" and exits non-zero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/activation/activation.h"
#include "ops/attention/attention.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv/conv_lowp.h"
#include "ops/copy/copy.h"
#include "core/dispatch.h"
#include "core/fastest_candidate.h"
#include "ops/elementwise/elementwise.h"
#include "ops/gemm/gemm.h"
#include "ops/gemm/gemm_blocking.h"
#include "ops/layernorm/layernorm.h"
#include "ops/groupnorm/groupnorm.h"
#include "ops/rmsnorm/rmsnorm.h"
#include "ops/gemm/gemm_lowp.h"
#include "core/parallel.h"
#include "ops/reduce/reduce.h"
#include "ops/softmax/softmax.h"
#include "ops/loss/loss.h"      // (kern2 block at the end)
#include "ops/optim/optim.h"    // (kern2 block at the end)
#include "ops/amp/amp.h"        // (kern2 block at the end)
#include "ops/scan/scan.h"      // (sort/scan block at the end)
#include "ops/sort/sort.h"      // (sort/scan block at the end)
#include "ops/ctc/ctc.h"        // (ctc block at the end)
#include "ops/interpolate/interpolate.h"  // (interpolate block at the end)
#include "ops/triangular/triangular.h"    // (triangular block at the end)
#include "ops/decomposition/decomposition.h"  // (decomposition block at the end)
#include "ops/embedding_bag/embedding_bag.h"  // (embedding_bag block at the end)
#include "ops/random/random.h"                // (random block at the end)

using namespace minidl;

static int g_passed = 0, g_failed = 0;

static void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

static bool close(const std::vector<float>& a, const std::vector<float>& b, float rtol, float atol) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (a[i] == b[i]) continue;  // equal infinities (their difference is NaN)
    if (!(std::fabs(a[i] - b[i]) <= atol + rtol * std::fabs(b[i]))) return false;
  }
  return true;
}

static std::vector<float> random_vec(int64_t n, float scale, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

static TensorView view1d(float* p, int64_t n) {
  TensorView v;
  v.data = p;
  v.dtype = DType::f32;
  v.ndim = 1;
  v.shape[0] = n;
  v.strides[0] = 1;
  return v;
}

// Runs fn under `isa` and under the scalar set and compares the outputs.
template <class Fn>
static void compare_sets(Isa isa, const std::string& name, int64_t n, Fn fn, float rtol = 2e-6f, float atol = 1e-6f) {
  set_active_isa(Isa::scalar);
  std::vector<float> ref = fn();
  set_active_isa(isa);
  std::vector<float> got = fn();
  check(close(got, ref, rtol, atol), name + " [" + isa_name(isa) + ", n=" + std::to_string(n) + "]");
}

int main() {
  const int64_t sizes[] = {1, 7, 33, 1000003};
  std::vector<Isa> sets;
  for (Isa isa : {Isa::avx2, Isa::avx512})
    if (cpu_supports(isa)) sets.push_back(isa);

  for (Isa isa : sets) {
    for (int64_t n : sizes) {
      std::vector<float> a = random_vec(n, 3.f, 1), b = random_vec(n, 3.f, 2);
      for (int op = 0; op <= static_cast<int>(BinaryOp::minimum); ++op) {
        if (static_cast<BinaryOp>(op) == BinaryOp::pow) continue;
        compare_sets(isa, "binary op " + std::to_string(op), n, [&] {
          std::vector<float> out(n);
          TensorView va = view1d(a.data(), n), vb = view1d(b.data(), n), vo = view1d(out.data(), n);
          binary(static_cast<BinaryOp>(op), va, vb, vo);
          return out;
        });
      }
      for (int act = 0; act <= static_cast<int>(Activation::threshold); ++act) {
        // p = the leaky slope 0.01 for the first six; p = 0.5, q = 1.5 (see activation.h) after
        const bool two_params = act > static_cast<int>(Activation::gelu_tanh);
        const double p = two_params ? 0.5 : 0.01, q = two_params ? 1.5 : 0.0;
        compare_sets(isa, "activation forward " + std::to_string(act), n, [&] {
          std::vector<float> y(n);
          activation_forward(static_cast<Activation>(act), a.data(), y.data(), DType::f32, n, p, q);
          return y;
        }, 1e-5f, 1e-6f);
        compare_sets(isa, "activation backward " + std::to_string(act), n, [&] {
          std::vector<float> gx(n);
          std::vector<float> saved = a;
          if (activation_backward_uses_output(static_cast<Activation>(act)))
            activation_forward(static_cast<Activation>(act), a.data(), saved.data(), DType::f32, n, p, q);
          activation_backward(static_cast<Activation>(act), b.data(), saved.data(), gx.data(), DType::f32, n, p, q);
          return gx;
        }, 1e-5f, 2e-5f);  // 1 - y^2 near |y| = 1 cancels: an ulp of y times |gy| ~ 10 is ~1e-6
      }
      compare_sets(isa, "sum", n, [&] {
        std::vector<float> out(1);
        reduce(ReduceOp::sum, a.data(), DType::f32, 1, n, 1, out.data(), 1.0);
        return out;
      }, 1e-4f, 1e-3f);
      compare_sets(isa, "max", n, [&] {
        std::vector<float> out(1);
        reduce(ReduceOp::max, a.data(), DType::f32, 1, n, 1, out.data(), 1.0);
        return out;
      });
    }
    // softmax rows of odd length, including +-1000
    for (int64_t len : {1, 7, 33, 1000}) {
      std::vector<float> x = random_vec(len * 5, 10.f, 3);
      x[0] = 1000.f;
      if (len > 1) x[1] = -1000.f;
      for (bool log : {false, true})
        compare_sets(isa, std::string(log ? "log_softmax" : "softmax") + " len " + std::to_string(len), len, [&] {
          std::vector<float> y(x.size());
          softmax_forward(x.data(), y.data(), DType::f32, 5, len, 1, log);
          return y;
        }, 1e-5f, 1e-6f);
    }
  }
  std::vector<Isa> all_sets = sets;
  all_sets.insert(all_sets.begin(), Isa::scalar);
  for (Isa isa : all_sets) {
    // GEMM, all transpose combinations, odd sizes; A @ B^T with N <= 16 or 8 M < K (and
    // K >= 16) takes the dot-product kernel (gemm_dot_kernel.h), the rest reads A in place
    // (N <= 128; N = 200 too for a row-major A with AVX-512), with alpha != 1 and beta 0 or not
    for (int64_t M : {1, 7, 32, 33, 65}) {
      for (int64_t N : {1, 9, 16, 17, 31, 66, 200}) {
        for (int64_t K : {1, 5, 17, 129}) {
          for (int t = 0; t < 8; ++t) {
            const bool ta = t & 1, tb = t & 2;
            const float beta = t & 4 ? 0.0f : 0.5f;
            std::vector<float> A = random_vec(M * K, 1.f, 4), B = random_vec(K * N, 1.f, 5);
            std::vector<float> C0 = random_vec(M * N, 1.f, 6);
            std::vector<float> ref = C0, got = C0;
            gemm_reference<float>(ta, tb, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta,
                                  ref.data(), N);
            set_active_isa(isa);
            sgemm(ta, tb, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, got.data(), N);
            check(close(got, ref, 1e-4f, 1e-4f),
                  "sgemm " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + " t" +
                      std::to_string(t) + " [" + isa_name(isa) + "]");
          }
        }
      }
    }
  }

  // GEMM with a bias row (sgemm_bias / dgemm_bias: added in the micro-kernel's stores, or into C
  // first on the GEMV and dot-product paths), beta 0 or not, against the textbook loop + bias;
  // K = 1100 cuts two K blocks (the bias must be added once), N = 300 two threads' pieces
  for (Isa isa : all_sets) {
    set_active_isa(isa);
    for (int nt : {1, 2}) {
      set_num_threads(nt);
      const int64_t shapes[][3] = {{1, 70, 40}, {5, 9, 300}, {33, 66, 17}, {130, 45, 1100}, {70, 300, 65}};
      for (const auto& sh : shapes) {
        const int64_t M = sh[0], N = sh[1], K = sh[2];
        for (int t = 0; t < 8; ++t) {
          const bool ta = t & 1, tb = t & 2;
          const float beta = t & 4 ? 0.0f : 0.5f;
          std::vector<float> A = random_vec(M * K, 1.f, 10), B = random_vec(K * N, 1.f, 11);
          std::vector<float> bias = random_vec(N, 1.f, 12), ref = random_vec(M * N, 1.f, 13), got = ref;
          std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), refd(ref.begin(), ref.end());
          std::vector<double> biasd(bias.begin(), bias.end()), gotd = refd;
          gemm_reference<double>(ta, tb, M, N, K, 1.5, Ad.data(), ta ? M : K, Bd.data(), tb ? K : N, beta, refd.data(), N);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) refd[i * N + j] += biasd[j];
          sgemm_bias(ta, tb, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, bias.data(), got.data(), N);
          dgemm_bias(ta, tb, M, N, K, 1.5, Ad.data(), ta ? M : K, Bd.data(), tb ? K : N, beta, biasd.data(), gotd.data(), N);
          const std::string what = std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + " t" +
                                   std::to_string(t) + " " + std::to_string(nt) + " threads [" + isa_name(isa) + "]";
          check(close(got, std::vector<float>(refd.begin(), refd.end()), 1e-4f, 1e-4f), "sgemm_bias " + what);
          double worst = 0;
          for (size_t i = 0; i < gotd.size(); ++i) worst = std::max(worst, std::abs(gotd[i] - refd[i]));
          check(worst < 1e-9, "dgemm_bias " + what);
        }
      }
    }
    set_num_threads(1);
  }

  // GEMM with forced block sizes (gemm_blocking.h: the model's sizes replaced): kc not dividing
  // K, mc / nc not multiples of the shape or the micro-tile, 1, and larger than the product;
  // alpha != 1, beta 0 or not, all transposes, against the textbook loop in double
  for (Isa isa : sets) {
    set_active_isa(isa);
    const int64_t forced[][3] = {{1, 1, 1}, {5, 13, 40}, {100, 50, 70}, {4096, 4096, 4096}};
    const int64_t shapes[][3] = {{97, 131, 301}, {20, 200, 77}, {200, 100, 50}};  // M, N, K
    for (const auto& f : forced) {
      gemm_force_blocking(f[0], f[1], f[2]);
      for (const auto& sh : shapes) {
        const int64_t M = sh[0], N = sh[1], K = sh[2];
        for (int t = 0; t < 8; ++t) {
          const bool ta = t & 1, tb = t & 2;
          const float beta = t & 4 ? 0.0f : 0.5f;
          std::vector<float> A = random_vec(M * K, 1.f, 7), B = random_vec(K * N, 1.f, 8), got = random_vec(M * N, 1.f, 9);
          std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), refd(got.begin(), got.end());
          gemm_reference<double>(ta, tb, M, N, K, 1.5, Ad.data(), ta ? M : K, Bd.data(), tb ? K : N, beta, refd.data(), N);
          sgemm(ta, tb, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, got.data(), N);
          check(close(got, std::vector<float>(refd.begin(), refd.end()), 1e-4f, 1e-4f),
                "sgemm forced kc/mc/nc " + std::to_string(f[0]) + "/" + std::to_string(f[1]) + "/" +
                    std::to_string(f[2]) + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                    std::to_string(K) + " t" + std::to_string(t) + " [" + isa_name(isa) + "]");
        }
      }
    }
    gemm_reset_blocking();
  }

  // GEMM with a pre-packed B (the RNN recurrent product): whole C, a panel range, and several
  // B sharing A, against the textbook loop; M = 13 and 150: row tiles of unequal height (A is
  // read in place, in ceil(M / MR) near-equal tiles), K past one K block
  for (Isa isa : all_sets) {
    set_active_isa(isa);
    for (int64_t M : {1, 13, 150}) {
      for (int64_t N : {5, 64, 100}) {
        for (int64_t K : {3, 300}) {
          for (bool tb : {false, true}) {
            const std::string what = std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
                                     (tb ? " tb" : "") + " [" + isa_name(isa) + "]";
            std::vector<float> A = random_vec(M * K, 1.f, 7), B0 = random_vec(K * N, 1.f, 8), B1 = random_vec(K * N, 1.f, 9);
            std::vector<float> C0 = random_vec(M * 2 * N, 1.f, 10);
            std::vector<float> ref = C0, got = C0;
            for (int b = 0; b < 2; ++b)
              gemm_reference<float>(false, tb, M, N, K, 1.0f, A.data(), K, (b ? B1 : B0).data(), tb ? K : N, 0.5f,
                                    ref.data() + b * N, 2 * N);
            PackedMatrixB p0(tb, K, N, B0.data(), tb ? K : N), p1(tb, K, N, B1.data(), tb ? K : N);
            const PackedMatrixB* ps[2] = {&p0, &p1};
            float* cs[2] = {got.data(), got.data() + N};
            const int64_t panels = (N + kPackedPanel - 1) / kPackedPanel;
            // two column ranges, as two threads of an RNN time loop would split them
            sgemm_packed_panels_multi(M, 0, panels / 2, 1.0f, A.data(), K, 2, ps, 0.5f, cs, 2 * N);
            sgemm_packed_panels_multi(M, panels / 2, panels, 1.0f, A.data(), K, 2, ps, 0.5f, cs, 2 * N);
            check(close(got, ref, 1e-4f, 1e-4f), "sgemm_packed_panels_multi " + what);
            std::vector<float> whole = random_vec(M * N, 1.f, 11), whole_ref = whole;
            gemm_reference<float>(false, tb, M, N, K, 2.0f, A.data(), K, B0.data(), tb ? K : N, 0.0f, whole_ref.data(), N);
            sgemm_packed(M, 2.0f, A.data(), K, p0, 0.0f, whole.data(), N);
            check(close(whole, whole_ref, 1e-4f, 1e-4f), "sgemm_packed " + what);
          }
        }
      }
    }
  }

  // 16-bit GEMM (float32 accumulation), every kernel set and transpose combination, against a
  // double-precision loop on the same 16-bit values: error <= (K+1) u sum|a||b|, u = 2^-24
  for (Isa isa : all_sets) {
    for (DType t : {DType::bf16, DType::f16})
      for (int64_t K : {1, 6, 129, 1030})
        for (int tt = 0; tt < 4; ++tt) {
          const bool ta = tt & 1, tb = tt & 2;
          const int64_t M = 29, N = 70;
          std::vector<float> a = random_vec(M * K, 1.f, 8), b = random_vec(K * N, 1.f, 9);
          std::vector<uint16_t> A(a.size()), B(b.size());
          cast_contiguous(a.data(), DType::f32, A.data(), t, a.size());
          cast_contiguous(b.data(), DType::f32, B.data(), t, b.size());
          cast_contiguous(A.data(), t, a.data(), DType::f32, a.size());  // the values actually used
          cast_contiguous(B.data(), t, b.data(), DType::f32, b.size());
          set_active_isa(isa);
          // every candidate path forced, then gemm_lowp with the tuner on (it measures, then runs its pick)
          const std::vector<GemmLowpPath> paths = gemm_lowp_candidates(t, M, N, K);
          for (size_t pi = 0; pi <= paths.size(); ++pi) {
            std::vector<float> C(M * N, 1.0f);
            gemm_lowp_set_tuning(pi == paths.size());
            if (pi < paths.size())
              gemm_lowp_on_path(paths[pi], t, ta, tb, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.5f,
                                C.data(), N);
            else
              gemm_lowp(t, ta, tb, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.5f, C.data(), N);
            bool ok = true;
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double acc = 0.5, mag = 0.5;
                for (int64_t k = 0; k < K; ++k) {
                  const double x = ta ? a[k * M + i] : a[i * K + k], y = tb ? b[j * K + k] : b[k * N + j];
                  acc += x * y;
                  mag += std::fabs(x * y);
                }
                ok &= std::fabs(C[i * N + j] - acc) <= (K + 2) * std::ldexp(1.0, -24) * mag;
              }
            check(ok, std::string("gemm_lowp ") + dtype_name(t) + " K=" + std::to_string(K) + " t" + std::to_string(tt) +
                          " [" + isa_name(isa) + ", " +
                          (pi < paths.size() ? gemm_lowp_path_name(paths[pi]) : "tuned") + "]");
          }
          gemm_lowp_set_tuning(false);
          gemm_lowp_clear_choices();
        }
  }
  // shape classes: the persisted name reads back as the same class; malformed names are refused
  {
    const GemmShapeClass c = gemm_lowp_shape_class(DType::bf16, true, false, 29, 70, 129, 2);
    GemmShapeClass back{};
    check(c.name() == "bfloat16 TN M32 N128 K256 T2" && GemmShapeClass::parse(c.name(), &back) &&
              back.key() == c.key(),
          "gemm_lowp shape class name round trip");
    check(!GemmShapeClass::parse("bfloat16 TN M33 N128 K256 T2", &back) &&
              !GemmShapeClass::parse("bfloat16 TN M32 N128 K256 T2 x", &back),
          "gemm_lowp shape class refuses malformed names");
  }

  // the tuners' pick (core/fastest_candidate.h): the fastest, but the fixed rule (index 0) keeps
  // its place unless another is at least kDisplaceMargin (3%) faster
  {
    check(pick_by_margin({1.0}) == 0 && pick_by_margin({1.0, 0.98}) == 0 && pick_by_margin({1.0, 0.96}) == 1 &&
              pick_by_margin({1.0, 0.99, 0.5}) == 2 && pick_by_margin({1.0, 1.5}) == 0 &&
              pick_by_margin({2.0, 1.2, 1.1}) == 2,
          "pick_by_margin: the fixed rule stays within 3%, else the fastest");
    int runs_a = 0, runs_b = 0;
    const int pick = fastest_candidate(std::vector<int>{0, 1}, TimingBudget{2, 3, 1.0, 1.0}, [&](int c) {
      (c == 0 ? runs_a : runs_b)++;
    });
    check(runs_a == 4 && runs_b == 4 && (pick == 0 || pick == 1),
          "fastest_candidate: one warm-up and max_runs timed runs per candidate within budget");
  }

  // bfloat16 GEMM with its bias and rounding in one pass (gemm_bf16_out, the AMX kernel's
  // epilogue): where a kernel takes it, K <= 1024 gives the bits of the float32 path (bias in
  // C, beta = 1, then a cast); where none does, it returns false and writes nothing.
  for (Isa isa : all_sets) {
    for (int64_t K : {33, 129, 1024})
      for (int tt = 0; tt < 4; ++tt) {
        const bool ta = tt & 1, tb = tt & 2;
        const int64_t M = 29, N = 70;
        std::vector<float> a = random_vec(M * K, 1.f, 8), b = random_vec(K * N, 1.f, 9), bias = random_vec(N, 1.f, 10);
        std::vector<uint16_t> A(a.size()), B(b.size()), bias16(N);
        cast_contiguous(a.data(), DType::f32, A.data(), DType::bf16, a.size());
        cast_contiguous(b.data(), DType::f32, B.data(), DType::bf16, b.size());
        cast_contiguous(bias.data(), DType::f32, bias16.data(), DType::bf16, N);
        cast_contiguous(bias16.data(), DType::bf16, bias.data(), DType::f32, N);  // the values used
        set_active_isa(isa);
        std::vector<uint16_t> C(M * N, 0xffff);
        const bool done = gemm_bf16_out(ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N, bias.data(),
                                        C.data(), N);
        std::vector<float> C32(M * N);
        for (int64_t i = 0; i < M; ++i) std::memcpy(C32.data() + i * N, bias.data(), N * 4);
        gemm_lowp(DType::bf16, ta, tb, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(), tb ? K : N, 1.0f, C32.data(), N);
        std::vector<uint16_t> ref(M * N, 0xffff);
        if (done) cast_contiguous(C32.data(), DType::f32, ref.data(), DType::bf16, M * N);
        check(C == ref, std::string("gemm_bf16_out K=") + std::to_string(K) + " t" + std::to_string(tt) + " [" +
                            isa_name(isa) + ", " + (done ? "one pass" : "declined") + "]");
      }
  }

  // float16 / bfloat16: every bit pattern converts back exactly; SIMD == scalar for floats
  {
    std::vector<uint16_t> bits(65536);
    for (int i = 0; i < 65536; ++i) bits[i] = static_cast<uint16_t>(i);
    for (DType t : {DType::f16, DType::bf16}) {
      std::vector<float> wide(65536);
      std::vector<uint16_t> back(65536);
      for (Isa isa : all_sets) {
        set_active_isa(isa);
        cast_contiguous(bits.data(), t, wide.data(), DType::f32, 65536);
        cast_contiguous(wide.data(), DType::f32, back.data(), t, 65536);
        bool ok = true;
        for (int i = 0; i < 65536; ++i) {
          const float ref = t == DType::f16 ? half_to_float(bits[i]) : bfloat16_to_float(bits[i]);
          if (std::isnan(ref)) { ok &= std::isnan(wide[i]); continue; }
          ok &= std::memcmp(&ref, &wide[i], 4) == 0 && back[i] == bits[i];
        }
        check(ok, std::string(dtype_name(t)) + " round trip of all bit patterns [" + isa_name(isa) + "]");
        std::vector<float> x = random_vec(100003, 1000.f, 7);
        std::vector<uint16_t> s(x.size()), v(x.size());
        set_active_isa(Isa::scalar);
        cast_contiguous(x.data(), DType::f32, s.data(), t, x.size());
        set_active_isa(isa);
        cast_contiguous(x.data(), DType::f32, v.data(), t, x.size());
        check(s == v, std::string("float32 -> ") + dtype_name(t) + " rounding equals the reference [" + isa_name(isa) + "]");
      }
    }
  }
  set_active_isa(best_isa());
  // layer norm rows of odd length: forward and backward (dx, dweight, dbias)
  for (Isa isa : sets) {
    for (int64_t cols : {1, 7, 33, 1000}) {
      const int64_t rows = 9;
      std::vector<float> x = random_vec(rows * cols, 3.f, 7), gy = random_vec(rows * cols, 1.f, 8);
      std::vector<float> w = random_vec(cols, 1.f, 9), b = random_vec(cols, 1.f, 10);
      compare_sets(isa, "layer_norm cols " + std::to_string(cols), cols, [&] {
        std::vector<float> y(rows * cols), mean(rows), rstd(rows), gx(rows * cols), gw(cols), gb(cols);
        layer_norm_forward(x.data(), y.data(), w.data(), b.data(), mean.data(), rstd.data(), DType::f32, rows, cols, 1e-5);
        layer_norm_backward(gy.data(), x.data(), w.data(), mean.data(), rstd.data(), gx.data(), gw.data(), gb.data(),
                            DType::f32, rows, cols);
        std::vector<float> all = y;
        for (const auto* v : {&gx, &gw, &gb}) all.insert(all.end(), v->begin(), v->end());
        return all;
      }, 1e-4f, 1e-4f);
    }
  }
  // group norm (C not a multiple of the vector width, S = 1 and odd S) and RMS norm rows of odd
  // length: forward and backward
  for (Isa isa : sets) {
    for (int64_t s : {1, 7, 33, 1000}) {
      GroupNormShape sh;
      sh.n = 3; sh.c = 21; sh.s = s; sh.groups = 7;
      const int64_t size = sh.n * sh.c * sh.s;
      std::vector<float> x = random_vec(size, 3.f, 17), gy = random_vec(size, 1.f, 18);
      std::vector<float> w = random_vec(sh.c, 1.f, 19), b = random_vec(sh.c, 1.f, 20);
      compare_sets(isa, "group_norm s " + std::to_string(s), s, [&] {
        std::vector<float> y(size), mean(sh.n * sh.groups), rstd(sh.n * sh.groups), gx(size), gw(sh.c), gb(sh.c);
        group_norm_forward(x.data(), y.data(), w.data(), b.data(), mean.data(), rstd.data(), DType::f32, sh, 1e-5);
        group_norm_backward(gy.data(), x.data(), w.data(), mean.data(), rstd.data(), gx.data(), gw.data(), gb.data(),
                            DType::f32, sh);
        std::vector<float> all = y;
        for (const auto* v : {&gx, &gw, &gb}) all.insert(all.end(), v->begin(), v->end());
        return all;
      }, 1e-4f, 1e-4f);
      const int64_t rows = 9, cols = s;  // x and gy hold more than rows * cols values
      std::vector<float> rw = random_vec(cols, 1.f, 21);
      compare_sets(isa, "rms_norm cols " + std::to_string(cols), cols, [&] {
        std::vector<float> y(rows * cols), rrms(rows), gx(rows * cols), gw(cols);
        rms_norm_forward(x.data(), y.data(), rw.data(), rrms.data(), DType::f32, rows, cols, 1e-6);
        rms_norm_backward(gy.data(), x.data(), rw.data(), rrms.data(), gx.data(), gw.data(), DType::f32, rows, cols);
        std::vector<float> all = y;
        for (const auto* v : {&gx, &gw}) all.insert(all.end(), v->begin(), v->end());
        return all;
      }, 1e-4f, 1e-4f);
    }
  }
  // issue 14 item 3: the shifted two-pass statistics (ops/reduce/row_stats*.h). A constant row
  // (LayerNorm) or channel (BatchNorm) normalises to exactly 0 in every set, and on rows with a
  // large mean and a tiny spread the SIMD set agrees with the reference to float32 rounding.
  for (Isa isa : sets) {
    set_active_isa(isa);
    for (int64_t cols : {7, 33, 1000}) {
      const int64_t rows = 3;
      std::vector<float> x(rows * cols, 1000.3f), y(rows * cols, 1.f), mean(rows), rstd(rows);
      layer_norm_forward(x.data(), y.data(), nullptr, nullptr, mean.data(), rstd.data(), DType::f32, rows, cols, 1e-5);
      bool zero = true;
      for (float v : y) zero = zero && v == 0.f;
      check(zero, "layer_norm constant row -> exactly 0 [" + std::string(isa_name(isa)) + ", cols=" +
                      std::to_string(cols) + "]");
      BatchNormShape sh;
      sh.n = 4; sh.c = 3; sh.s = cols;
      std::vector<float> bx(sh.n * sh.c * sh.s, -77.7f), by(bx.size(), 1.f), bm(sh.c), bi(sh.c);
      batch_norm_forward(bx.data(), by.data(), nullptr, nullptr, nullptr, nullptr, bm.data(), bi.data(), DType::f32,
                         sh, true, 0.1, 1e-5);
      zero = true;
      for (float v : by) zero = zero && v == 0.f;
      check(zero, "batch_norm constant channel -> exactly 0 [" + std::string(isa_name(isa)) + ", s=" +
                      std::to_string(cols) + "]");
    }
  }
  for (Isa isa : sets) {
    for (int64_t cols : {7, 33, 1000}) {
      const int64_t rows = 9;
      std::vector<float> x = random_vec(rows * cols, 0.01f, 16);
      for (float& v : x) v += 1000.f;
      compare_sets(isa, "layer_norm mean 1000, spread 0.01, cols " + std::to_string(cols), cols, [&] {
        std::vector<float> y(rows * cols), mean(rows), rstd(rows);
        layer_norm_forward(x.data(), y.data(), nullptr, nullptr, mean.data(), rstd.data(), DType::f32, rows, cols, 1e-5);
        return y;
      }, 1e-5f, 1e-5f);
    }
  }
  set_active_isa(best_isa());
  // flash attention: L != S spanning several tiles, odd head dims, causal and a broadcast float mask
  for (Isa isa : sets) {
    for (bool causal : {false, true}) {
      AttentionShape sh;
      sh.batch = 2; sh.heads = 2; sh.q_len = 100; sh.kv_len = 150; sh.head_dim = 24; sh.v_dim = 40;
      const int64_t nq = sh.batch * sh.heads * sh.q_len;
      std::vector<float> q = random_vec(nq * sh.head_dim, 1.f, 11);
      std::vector<float> k = random_vec(sh.batch * sh.heads * sh.kv_len * sh.head_dim, 1.f, 12);
      std::vector<float> v = random_vec(sh.batch * sh.heads * sh.kv_len * sh.v_dim, 1.f, 13);
      std::vector<float> dout = random_vec(nq * sh.v_dim, 1.f, 14), maskv = random_vec(sh.q_len * sh.kv_len, 2.f, 15);
      AttentionStrides qs{sh.heads * sh.q_len * sh.head_dim, sh.q_len * sh.head_dim, sh.head_dim};
      AttentionStrides ks{sh.heads * sh.kv_len * sh.head_dim, sh.kv_len * sh.head_dim, sh.head_dim};
      AttentionStrides vs{sh.heads * sh.kv_len * sh.v_dim, sh.kv_len * sh.v_dim, sh.v_dim};
      AttentionStrides ds{sh.heads * sh.q_len * sh.v_dim, sh.q_len * sh.v_dim, sh.v_dim};
      AttentionMask mask;
      if (!causal) { mask.data = maskv.data(); mask.row = sh.kv_len; mask.col = 1; }  // (L, S) broadcast
      AttentionOptions opt;
      opt.scale = 0.2; opt.causal = causal; opt.dropout_p = 0.25; opt.seed = 99;
      compare_sets(isa, std::string("attention") + (causal ? " causal" : " masked"), sh.q_len, [&] {
        std::vector<float> out(nq * sh.v_dim), lse(nq), dq(q.size()), dk(k.size()), dv(v.size());
        // out and dout share a layout; the gradients are laid out as their inputs
        attention_forward(q.data(), qs, k.data(), ks, v.data(), vs, out.data(), ds, lse.data(), DType::f32, sh, mask,
                          opt);
        attention_backward(q.data(), qs, k.data(), ks, v.data(), vs, out.data(), ds, dout.data(), ds, lse.data(),
                           dq.data(), qs, dk.data(), ks, dv.data(), vs, DType::f32, sh, mask, opt);
        std::vector<float> all = out;
        for (const auto* a : {&lse, &dq, &dk, &dv}) all.insert(all.end(), a->begin(), a->end());
        return all;
      }, 1e-4f, 1e-5f);
    }
  }
  // 16-bit convolution (conv_lowp.h), every kernel set and both dtypes, forward and the three
  // gradients against the double loops of conv.h on the same 16-bit values: each result is a
  // float32 sum rounded once, error <= one 16-bit ulp of the value + 2^-16 sum|products|.
  // Shape 0 takes the bf16 GEMM path on an AVX512-BF16 CPU (avx512 set), shape 1 (groups,
  // stride, dilation, asymmetric padding) too; the other sets and float16 widen to float32.
  for (Isa isa : all_sets)
    for (DType t : {DType::bf16, DType::f16})
      for (int shape = 0; shape < 2; ++shape) {
        ConvShape s;
        s.N = shape ? 2 : 3; s.C = shape ? 8 : 32; s.H = shape ? 11 : 5; s.W = shape ? 9 : 4; s.K = 64;
        s.R = 3; s.S = shape ? 2 : 3; s.pad_h = 1; s.pad_w = shape ? 2 : 1;
        if (shape) { s.stride_h = 2; s.dil_w = 2; s.groups = 2; }
        s.finish();
        const int64_t nx = s.N * s.C * s.H * s.W, nw = s.K * s.Cg() * s.R * s.S, ny = s.N * s.K * s.P * s.Q;
        // random values rounded to t: the bits, and the values as doubles (plain and |.|)
        auto make = [&](int64_t n, float scale, unsigned seed, std::vector<uint16_t>& bits, std::vector<double>& d,
                        std::vector<double>& mag) {
          std::vector<float> v = random_vec(n, scale, seed);
          bits.resize(n);
          cast_contiguous(v.data(), DType::f32, bits.data(), t, n);
          cast_contiguous(bits.data(), t, v.data(), DType::f32, n);
          d.assign(v.begin(), v.end());
          mag.resize(n);
          for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(d[i]);
        };
        std::vector<uint16_t> xb, wb, bb, gyb;
        std::vector<double> x, w, b, gy, xa, wa, ba, gya;
        make(nx, 1.f, 31, xb, x, xa);
        make(nw, 0.3f, 32, wb, w, wa);
        make(s.K, 1.f, 33, bb, b, ba);
        make(ny, 1.f, 34, gyb, gy, gya);
        set_active_isa(isa);
        std::vector<uint16_t> y(ny), gx(nx), gw(nw), gb(s.K);
        conv2d_lowp_forward(s, t, xb.data(), wb.data(), bb.data(), y.data());
        conv2d_lowp_backward_input(s, t, gyb.data(), wb.data(), gx.data());
        conv2d_lowp_backward_weight(s, t, gyb.data(), xb.data(), gw.data(), gb.data());
        std::vector<double> ry(ny), rx(nx), rw(nw), rb(s.K), my(ny), mx(nx), mw(nw), mb(s.K);
        conv2d_forward_reference<double>(s, x.data(), w.data(), b.data(), ry.data());
        conv2d_forward_reference<double>(s, xa.data(), wa.data(), ba.data(), my.data());
        conv2d_backward_reference<double>(s, gy.data(), x.data(), w.data(), rx.data(), rw.data(), rb.data());
        conv2d_backward_reference<double>(s, gya.data(), xa.data(), wa.data(), mx.data(), mw.data(), mb.data());
        const double ulp = std::ldexp(1.0, t == DType::bf16 ? -8 : -11);
        auto within = [&](const std::vector<uint16_t>& got, const std::vector<double>& ref, const std::vector<double>& mag) {
          std::vector<float> g(got.size());
          cast_contiguous(got.data(), t, g.data(), DType::f32, int64_t(got.size()));
          for (size_t i = 0; i < g.size(); ++i)
            if (!(std::fabs(g[i] - ref[i]) <= ulp * std::fabs(ref[i]) + std::ldexp(mag[i], -16))) return false;
          return true;
        };
        const std::string what = std::string(" ") + dtype_name(t) + " shape " + std::to_string(shape) + " [" +
                                 isa_name(isa) + ", " + conv2d_lowp_path(s, t) + "]";
        check(within(y, ry, my), "conv2d_lowp_forward" + what);
        check(within(gx, rx, mx), "conv2d_lowp_backward_input" + what);
        check(within(gw, rw, mw), "conv2d_lowp_backward_weight (weight)" + what);
        check(within(gb, rb, mb), "conv2d_lowp_backward_weight (bias)" + what);
      }
#ifdef _OPENMP
  {  // parallel_for: one chunk per thread when grain allows it, whatever the grain's spelling
    const int saved = num_threads();
    set_num_threads(2);
    for (int64_t grain : {0, 1}) {
      int calls = 0;
      int64_t covered = 0;
      parallel_for(2, grain, [&](int64_t b, int64_t e) {
#pragma omp atomic
        ++calls;
#pragma omp atomic
        covered += e - b;
      });
      check(calls == 2 && covered == 2, "parallel_for(2, grain " + std::to_string(grain) + ") on 2 threads: 2 chunks");
    }
    int calls = 0;
    parallel_for(2, 2, [&](int64_t, int64_t) { ++calls; });
    check(calls == 1, "parallel_for(2, grain 2): one chunk");
    set_num_threads(saved);
  }
#endif
  // ==== kern2 block: reference vs SIMD for softmax backward, column reductions, unary ops,
  // ==== the softmax losses, the optimizers and the AMP unscale; exact f64/i64/bool casts ====
  for (Isa isa : sets) {
    for (int64_t len : {1, 7, 33, 1000}) {
      std::vector<float> x = random_vec(len * 5, 3.f, 21), gy = random_vec(len * 5, 1.f, 22);
      for (bool log : {false, true})
        compare_sets(isa, std::string(log ? "log_softmax" : "softmax") + " backward len " + std::to_string(len), len, [&] {
          std::vector<float> y(x.size()), gx(x.size());
          softmax_forward(x.data(), y.data(), DType::f32, 5, len, 1, log);
          softmax_backward(gy.data(), y.data(), gx.data(), DType::f32, 5, len, 1, log);
          return gx;
        }, 1e-5f, 1e-6f);
    }
    // softmax / log_softmax / logsumexp over a dim that is not the last (SoftmaxSimd's column
    // kernels): odd inner sizes around both vector widths, len past one sum block (128 rows),
    // slabs cut into several panels (inner 1100 > kMaxColumns), an all -inf column
    for (int64_t inner : {2, 7, 9, 16, 17, 33, 1100}) {
      const int64_t outer = 2, len = inner > 1000 ? 20 : 300;
      std::vector<float> x = random_vec(outer * len * inner, 5.f, 24), gy = random_vec(outer * len * inner, 1.f, 25);
      x[3] = 900.f;
      for (int64_t r = 0; r < len; ++r) x[r * inner + 1] = -INFINITY;
      const std::string at = " inner " + std::to_string(inner);
      for (bool log : {false, true}) {
        const std::string name = log ? "log_softmax columns" : "softmax columns";
        compare_sets(isa, name + at, inner, [&] {
          std::vector<float> y(x.size());
          softmax_forward(x.data(), y.data(), DType::f32, outer, len, inner, log);
          return y;  // the all -inf column: NaN on both sides
        }, 1e-5f, 1e-5f);
        compare_sets(isa, name + " backward" + at, inner, [&] {
          std::vector<float> gx(x.size()), y(x.size());
          const Isa now = active_isa();
          set_active_isa(Isa::scalar);  // the same y for both sets: the backward alone is compared
          softmax_forward(x.data(), y.data(), DType::f32, outer, len, inner, log);
          set_active_isa(now);
          softmax_backward(gy.data(), y.data(), gx.data(), DType::f32, outer, len, inner, log);
          return gx;
        }, 1e-5f, 1e-5f);
      }
      compare_sets(isa, "logsumexp columns" + at, inner, [&] {
        std::vector<float> out(outer * inner);
        reduce(ReduceOp::logsumexp, x.data(), DType::f32, outer, len, inner, out.data(), 1.0);
        return out;
      }, 1e-6f, 1e-6f);
      compare_sets(isa, "logsumexp rows" + at, inner, [&] {
        std::vector<float> out(outer * len);
        reduce(ReduceOp::logsumexp, gy.data(), DType::f32, outer * len, inner, 1, out.data(), 1.0);
        return out;
      }, 1e-6f, 1e-6f);
    }
    {  // cross-entropy over (N, C, inner) logits (the spatial kernels), weights and smoothing
      const int64_t N = 3, C = 21, inner = 37;
      std::vector<float> x = random_vec(N * C * inner, 4.f, 26), w = random_vec(C, 0.3f, 27), g(N * inner, 0.5f);
      for (float& v : w) v += 1.0f;
      std::vector<int64_t> t(N * inner);
      for (int64_t p = 0; p < N * inner; ++p) t[p] = p % 5 == 0 ? -100 : (p * 7) % C;
      for (double eps : {0.0, 0.1})
        compare_sets(isa, "cross_entropy spatial eps " + std::to_string(eps), inner, [&] {
          std::vector<float> loss(N * inner), lse(N * inner), dx(x.size());
          double wsum = 0;
          cross_entropy_forward_spatial(x.data(), DType::f32, N, C, inner, t.data(), w.data(), -100, eps, loss.data(),
                                        lse.data(), &wsum);
          cross_entropy_backward_spatial(x.data(), lse.data(), g.data(), false, 0.25, DType::f32, N, C, inner,
                                         t.data(), w.data(), -100, eps, dx.data());
          loss.insert(loss.end(), dx.begin(), dx.end());
          return loss;
        }, 1e-5f, 1e-6f);
    }
    for (int64_t inner : {1, 7, 33, 70}) {  // column reduce (inner > 1): partial and 4-vector blocks
      const int64_t outer = 3, len = 129;
      std::vector<float> x = random_vec(outer * len * inner, 2.f, 23);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::sum_squares}) {
        const std::string what = "reduce op " + std::to_string(static_cast<int>(op)) + " inner " + std::to_string(inner);
        compare_sets(isa, what, inner, [&] {
          std::vector<float> out(outer * inner);
          reduce(op, x.data(), DType::f32, outer, len, inner, out.data(), 0.5);
          return out;
        }, 1e-5f, 1e-5f);
      }
    }
    {  // one slab's column reductions split over the threads' shares of the rows (reduce.cpp,
       // column_reduce_split): max/min the one-thread bits, the sum within float32 rounding of
       // it, and the same bits when run again
      const int before = num_threads();
      const int64_t len = 6001, inner = 70;  // 420K values: a share per thread on 2 and 3
      std::vector<float> x = random_vec(len * inner, 2.f, 28);
      set_active_isa(isa);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::sum_squares}) {
        std::vector<float> one(inner), got(inner), again(inner);
        set_num_threads(1);
        reduce(op, x.data(), DType::f32, 1, len, inner, one.data(), 1.0);
        for (int nt : {2, 3}) {
          set_num_threads(nt);
          reduce(op, x.data(), DType::f32, 1, len, inner, got.data(), 1.0);
          reduce(op, x.data(), DType::f32, 1, len, inner, again.data(), 1.0);
          const std::string what = "column reduce op " + std::to_string(static_cast<int>(op)) + " on " +
                                   std::to_string(nt) + " threads [" + isa_name(isa) + "]";
          check(got == again, what + " repeats bit for bit");
          const bool sums = op == ReduceOp::sum || op == ReduceOp::sum_squares;
          check(sums ? close(got, one, 1e-6f, 1e-5f) : got == one, what + " == 1 thread");
        }
      }
      set_num_threads(before);
    }
    for (int64_t n : sizes) {
      std::vector<float> a = random_vec(n, 3.f, 24);
      for (float& v : a) v = std::fabs(v) + 0.1f;  // in the domain of log, sqrt, rsqrt
      for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt,
                         UnaryOp::square, UnaryOp::reciprocal})
        compare_sets(isa, "unary op " + std::to_string(static_cast<int>(op)), n, [&] {
          std::vector<float> out(n);
          TensorView vx = view1d(a.data(), n), vo = view1d(out.data(), n);
          unary(op, vx, vo);
          return out;
        }, 1e-6f, 1e-6f);
    }
    // cross-entropy (index targets with weight and smoothing, probability targets) and focal
    for (int64_t C : {1, 7, 33, 1000}) {
      const int64_t N = 6;
      std::vector<float> x = random_vec(N * C, 3.f, 25), w = random_vec(C, 1.f, 26), g = random_vec(N, 1.f, 27);
      for (float& v : w) v = std::fabs(v);
      std::vector<float> prob(N * C, 1.0f / C);
      std::vector<int64_t> target(N);
      for (int64_t i = 0; i < N; ++i) target[i] = (i * 5 + 3) % C;
      target[1] = -100;  // ignored
      const std::string c = " C=" + std::to_string(C);
      for (int kind = 0; kind < 3; ++kind)
        compare_sets(isa, "cross_entropy kind " + std::to_string(kind) + c, C, [&] {
          std::vector<float> loss(N), lse(N), dx(N * C);
          double wsum = 0;
          const int64_t* t = kind < 2 ? target.data() : nullptr;
          const void* p = kind < 2 ? nullptr : prob.data();
          const void* wt = kind == 1 ? w.data() : nullptr;
          const double eps = kind == 0 ? 0.0 : 0.1;
          cross_entropy_forward(x.data(), DType::f32, N, C, t, p, wt, -100, eps, loss.data(), lse.data(), &wsum);
          cross_entropy_backward(x.data(), lse.data(), g.data(), false, 0.5, DType::f32, N, C, t, p, wt, -100, eps,
                                 dx.data());
          std::vector<float> all = loss;
          all.push_back(static_cast<float>(wsum));
          for (const auto* v : {&lse, &dx}) all.insert(all.end(), v->begin(), v->end());
          return all;
        }, 1e-5f, 1e-6f);
      target[1] = 0;
      compare_sets(isa, "focal" + c, C, [&] {
        std::vector<float> loss(N), lse(N), dx(N * C);
        focal_forward(x.data(), DType::f32, N, C, target.data(), nullptr, 0.25, 2.0, loss.data(), lse.data());
        focal_backward(x.data(), lse.data(), g.data(), false, 1.0, DType::f32, N, C, target.data(), nullptr, 0.25, 2.0,
                       dx.data());
        std::vector<float> all = loss;
        for (const auto* v : {&lse, &dx}) all.insert(all.end(), v->begin(), v->end());
        return all;
      }, 1e-5f, 1e-6f);
    }
    // optimizers: two tensors of odd sizes, two steps (the second reads the state of the first)
    for (int64_t n : {int64_t(7), int64_t(33), int64_t(100003)}) {
      const int64_t sz[2] = {n, n / 2 + 1};
      std::vector<float> p0 = random_vec(sz[0] + sz[1], 1.f, 28), gr = random_vec(sz[0] + sz[1], 1.f, 29);
      for (int kind = 0; kind < 5; ++kind)
        compare_sets(isa, "optim kind " + std::to_string(kind), n, [&] {
          std::vector<float> p = p0, s1(p.size(), 0.f), s2(p.size(), 0.f), s3(p.size(), 0.f);
          float* ps[2] = {p.data(), p.data() + sz[0]};
          const float* gs[2] = {gr.data(), gr.data() + sz[0]};
          float* b1[2] = {s1.data(), s1.data() + sz[0]};
          float* b2[2] = {s2.data(), s2.data() + sz[0]};
          float* b3[2] = {s3.data(), s3.data() + sz[0]};
          double ratios[2] = {0, 0};
          for (int step = 1; step <= 2; ++step) {
            const double steps[2] = {double(step), double(step)};
            const uint8_t first[2] = {uint8_t(step == 1), uint8_t(step == 1)};
            if (kind == 0) sgd_step<float>(2, ps, gs, b1, first, sz, 0.1, 0.9, 0.1, 0.01, false, false);
            if (kind == 1) sgd_step<float>(2, ps, gs, b1, first, sz, 0.1, 0.9, 0.0, 0.0, true, true);
            const bool ams = kind == 3;  // kind 3: amsgrad, maximize, AdamW
            if (kind == 2 || kind == 3)
              adam_step<float>(2, ps, gs, b1, b2, b3, sz, steps, 1e-2, 0.9, 0.999, 1e-8, 0.01, ams, ams, ams);
            if (kind == 4) lamb_step<float>(2, ps, gs, b1, b2, sz, steps, 1e-2, 0.9, 0.999, 1e-6, 0.01, ratios);
          }
          std::vector<float> all = p;
          for (const auto* v : {&s1, &s2, &s3}) all.insert(all.end(), v->begin(), v->end());
          all.push_back(static_cast<float>(ratios[0]));
          all.push_back(static_cast<float>(ratios[1]));
          return all;
        }, 1e-5f, 1e-6f);
    }
    // AMP unscale: the found flag and the scaled values, bit for bit; an inf in the second
    // tensor's tail
    for (int64_t n : sizes) {
      std::vector<float> g0 = random_vec(2 * n, 1.f, 30);
      for (bool put_inf : {false, true})
        for (float inv : {1.0f, 0.125f}) {
          auto run = [&] {
            std::vector<float> g = g0;
            if (put_inf) g[2 * n - 1] = INFINITY;
            float* gs[2] = {g.data(), g.data() + n};
            const int64_t sz[2] = {n, n};
            const bool found = unscale_and_check<float>(2, gs, sz, inv);
            g.push_back(found ? 1.f : 0.f);
            return g;
          };
          set_active_isa(Isa::scalar);
          const std::vector<float> ref = run();
          set_active_isa(isa);
          const std::vector<float> got = run();
          check(std::memcmp(ref.data(), got.data(), ref.size() * 4) == 0 && ref.back() == (put_inf ? 1.f : 0.f),
                std::string("amp unscale") + (put_inf ? " inf" : "") + " inv " + std::to_string(inv) + " [" +
                    isa_name(isa) + ", n=" + std::to_string(n) + "]");
        }
    }
  }
  set_active_isa(best_isa());
  {  // f64 / i64 / bool casts among themselves (no float32 detour) and fill, every dtype
    const std::vector<double> d = {-2.7, -0.0, 0.5, 3.9, 1e10, INFINITY, -INFINITY, NAN};
    std::vector<int64_t> i64(d.size()), i64_from_f32(d.size());
    std::vector<uint8_t> b8(d.size());
    cast_contiguous(d.data(), DType::f64, i64.data(), DType::i64, d.size());
    cast_contiguous(d.data(), DType::f64, b8.data(), DType::b8, d.size());
    const std::vector<int64_t> want_i = {-2, 0, 0, 3, 10000000000, 0, 0, 0};
    check(i64 == want_i, "cast f64 -> i64 truncates toward zero, inf / NaN give 0");
    check(b8 == std::vector<uint8_t>({1, 0, 1, 1, 1, 1, 1, 1}), "cast f64 -> bool is x != 0 (NaN is true)");
    std::vector<float> f(d.begin(), d.end());
    cast_contiguous(f.data(), DType::f32, i64_from_f32.data(), DType::i64, f.size());
    check(i64_from_f32 == want_i, "cast f32 -> i64 truncates toward zero, inf / NaN give 0");
    const std::vector<int64_t> ints = {-3, 0, 7};
    std::vector<double> back(3);
    std::vector<uint8_t> ib(3);
    cast_contiguous(ints.data(), DType::i64, back.data(), DType::f64, 3);
    cast_contiguous(ints.data(), DType::i64, ib.data(), DType::b8, 3);
    check(back == std::vector<double>({-3.0, 0.0, 7.0}) && ib == std::vector<uint8_t>({1, 0, 1}),
          "cast i64 -> f64 and i64 -> bool");
    std::vector<double> from_b(3);
    const std::vector<uint8_t> bools = {1, 0, 1};
    cast_contiguous(bools.data(), DType::b8, from_b.data(), DType::f64, 3);
    check(from_b == std::vector<double>({1.0, 0.0, 1.0}), "cast bool -> f64");
    alignas(8) unsigned char buf[8 * 3];
    for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i64, DType::b8}) {
      TensorView v;
      v.data = buf;
      v.dtype = t;
      v.ndim = 1;
      v.shape[0] = 3;
      v.strides[0] = 1;
      fill(v, -2.5);
      std::vector<double> got(3);
      cast_contiguous(buf, t, got.data(), DType::f64, 3);
      const double want = t == DType::i64 ? -2.0 : t == DType::b8 ? 1.0 : -2.5;
      check(got == std::vector<double>(3, want), std::string("fill -2.5 as ") + dtype_name(t));
    }
  }
  // ==== end of kern2 block ====
  // ==== sort / scan: no SIMD sets; the threaded paths against the one-thread loops ====
  {
    // topk of every line == the first k of its sort, for inner > 1 and several k
    const int64_t outer = 3, len = 37, inner = 5;
    std::vector<float> x = random_vec(outer * len * inner, 1.f, 41);
    x[7] = x[7 + 2 * inner];  // a tie on one line
    std::vector<float> sv(x.size());
    std::vector<int64_t> si(x.size());
    sort_lines(x.data(), sv.data(), si.data(), DType::f32, outer, len, inner, /*descending=*/true);
    bool sorted_ok = true;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t j = 0; j + 1 < len; ++j) {
          const int64_t a = (o * len + j) * inner + i, b = a + inner;
          sorted_ok &= sv[a] >= sv[b] && x[(o * len + si[a]) * inner + i] == sv[a];
          if (sv[a] == sv[b]) sorted_ok &= si[a] < si[b];  // ties in input order
        }
    check(sorted_ok, "sort_lines descending, inner 5: ordered, values at their indices, ties stable");
    for (int64_t k : {1, 10, 37}) {
      std::vector<float> tv(outer * k * inner);
      std::vector<int64_t> ti(tv.size());
      topk_lines(x.data(), tv.data(), ti.data(), DType::f32, outer, len, inner, k, /*largest=*/true);
      bool same = true;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < k; ++j)
          for (int64_t i = 0; i < inner; ++i)
            same &= tv[(o * k + j) * inner + i] == sv[(o * len + j) * inner + i] &&
                    ti[(o * k + j) * inner + i] == si[(o * len + j) * inner + i];
      check(same, "topk_lines == the first k of sort_lines, k=" + std::to_string(k));
    }
    // one long line: the same result whatever the thread count
    const int64_t n = (1 << 20) + 3;
    std::vector<float> big = random_vec(n, 1.f, 42), one(n), two(n);
    const int before = num_threads();
    for (bool reverse : {false, true}) {
      set_num_threads(1);
      scan_lines(big.data(), one.data(), nullptr, DType::f32, ScanOp::sum, 1, n, 1, reverse);
      set_num_threads(2);
      scan_lines(big.data(), two.data(), nullptr, DType::f32, ScanOp::sum, 1, n, 1, reverse);
      check(close(two, one, 1e-5f, 1e-4f), std::string("cumsum of 1M+3 on 2 threads == 1 thread") +
                                                (reverse ? " reversed" : ""));
    }
    set_num_threads(before);
  }
  // ==== ctc: a count of alignments by hand, then every SIMD set against the scalar one ====
  {
    // uniform over C = 3 classes, T = 3 frames, target "1 2": 5 of the 27 alignments collapse
    // to it (1 1 2, 1 2 2, - 1 2, 1 - 2, 1 2 -), so nll = log(27 / 5)
    const CtcShape small{3, 1, 3, 2, 0};
    std::vector<float> lp(9, -std::log(3.f)), nll(1), alpha(1 * 3 * 5);
    const int64_t labels[] = {1, 2}, offset0[] = {0}, il3[] = {3}, tl2[] = {2};
    ctc_loss_forward(lp.data(), DType::f32, small, labels, offset0, il3, tl2, nll.data(), alpha.data());
    check(std::fabs(nll[0] - std::log(27.f / 5.f)) < 1e-5f, "ctc_loss_forward: log(27/5) for \"1 2\" in 3 frames");
    // T = 50, N = 3, C = 9, targets of length 17, 0 and 20 (2L + 1 = 35 and 41: vector tails)
    const int64_t T = 50, N = 3, C = 9, S = 20;
    const CtcShape shape{T, N, C, S, 0};
    std::vector<float> logits = random_vec(T * N * C, 2.f, 51), logp(logits.size());
    for (int64_t r = 0; r < T * N; ++r) {  // log_softmax of each frame
      double sum = 0;
      for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(logits[r * C + c]));
      for (int64_t c = 0; c < C; ++c) logp[r * C + c] = logits[r * C + c] - static_cast<float>(std::log(sum));
    }
    std::vector<int64_t> targets(N * S), offsets{0, S, 2 * S}, il{50, 31, 44}, tl{17, 0, 20};
    for (int64_t i = 0; i < N * S; ++i) targets[i] = 1 + (i * 7 + i / 3) % (C - 1);
    targets[1] = targets[0];  // a repeated label
    const std::vector<float> grad_out{1.f, 0.5f, 2.f};
    for (Isa isa : sets)
      compare_sets(isa, "ctc_loss forward + backward", T * N * C, [&] {
        std::vector<float> loss(N), la(N * T * (2 * S + 1)), grad(T * N * C);
        ctc_loss_forward(logp.data(), DType::f32, shape, targets.data(), offsets.data(), il.data(), tl.data(),
                         loss.data(), la.data());
        ctc_loss_backward(grad_out.data(), logp.data(), DType::f32, shape, targets.data(), offsets.data(),
                          il.data(), tl.data(), loss.data(), la.data(), false, grad.data());
        grad.insert(grad.end(), loss.begin(), loss.end());
        return grad;
      }, 1e-4f, 1e-5f);
    set_active_isa(best_isa());
  }
  // ==== interpolate: every SIMD set against the scalar reference; the backward is the adjoint ====
  {
    struct Case { int spatial; int64_t in[3], out[3]; };
    const Case cases[] = {{1, {1, 1, 33}, {1, 1, 70}}, {2, {1, 7, 33}, {1, 15, 16}}, {2, {1, 1, 5}, {1, 3, 1}},
                          {2, {1, 40, 9}, {1, 7, 9}}, {3, {3, 7, 9}, {5, 4, 17}}};
    const InterpMode modes[] = {InterpMode::nearest, InterpMode::nearest_exact, InterpMode::linear, InterpMode::cubic};
    for (const Case& c : cases)
      for (InterpMode mode : modes)
        for (int variant = 0; variant < 3; ++variant) {  // align_corners false, true; antialias
          const bool align = variant == 1, antialias = variant == 2;
          if ((mode == InterpMode::nearest || mode == InterpMode::nearest_exact) && variant > 0) continue;
          if ((mode == InterpMode::cubic || antialias) && c.spatial != 2) continue;
          InterpShape s;
          s.antialias = antialias;
          s.planes = 6;
          s.spatial = c.spatial;
          s.mode = mode;
          s.align_corners = align;
          for (int k = 0; k < 3; ++k) s.in[k] = c.in[k], s.out[k] = c.out[k];
          const int64_t nx = s.planes * s.in[0] * s.in[1] * s.in[2], ny = s.planes * s.out[0] * s.out[1] * s.out[2];
          const std::vector<float> x = random_vec(nx, 1.f, 51), g = random_vec(ny, 1.f, 52);
          const std::string name = "interpolate mode " + std::to_string(static_cast<int>(mode)) + " spatial " +
                                   std::to_string(c.spatial) + (align ? " align_corners" : "") +
                                   (antialias ? " antialias" : "");
          for (Isa isa : sets) {
            compare_sets(isa, name + " forward", ny, [&] {
              std::vector<float> y(ny);
              interpolate_forward(x.data(), y.data(), DType::f32, s);
              return y;
            }, 1e-5f, 1e-6f);
            compare_sets(isa, name + " backward", nx, [&] {
              std::vector<float> gx(nx);
              interpolate_backward(g.data(), gx.data(), DType::f32, s);
              return gx;
            }, 1e-5f, 1e-5f);
          }
          // <forward(x), g> == <x, backward(g)> on the reference, in float64
          std::vector<double> xd(x.begin(), x.end()), gd(g.begin(), g.end()), yd(ny), gxd(nx);
          interpolate_forward(xd.data(), yd.data(), DType::f64, s);
          interpolate_backward(gd.data(), gxd.data(), DType::f64, s);
          double lhs = 0, rhs = 0;
          for (int64_t i = 0; i < ny; ++i) lhs += yd[i] * gd[i];
          for (int64_t i = 0; i < nx; ++i) rhs += xd[i] * gxd[i];
          check(std::fabs(lhs - rhs) <= 1e-9 * (1 + std::fabs(lhs)), name + ": backward is the adjoint");
        }
    set_active_isa(best_isa());
  }
  // ==== decomposition: no SIMD sets; U S Vh == A, Q R == A, orthonormal, batch on 2 threads ====
  {
    for (auto [m, n] : {std::pair<int64_t, int64_t>{7, 4}, {4, 7}, {5, 5}, {1, 3}}) {
      const int64_t batch = 3, k = std::min(m, n);
      std::vector<double> a(batch * m * n);
      std::vector<float> af = random_vec(a.size(), 1.f, 43);
      for (size_t i = 0; i < a.size(); ++i) a[i] = af[i];
      std::vector<double> u(batch * m * m), s(batch * k), vh(batch * n * n), q(batch * m * k), r(batch * k * n);
      const int before = num_threads();
      set_num_threads(2);
      const int64_t bad = svd_jacobi(a.data(), u.data(), s.data(), vh.data(), DType::f64, batch, m, n, true);
      qr_householder(a.data(), q.data(), r.data(), DType::f64, batch, m, n, false);
      set_num_threads(before);
      double svd_err = 0, orth_err = 0, qr_err = 0, sorted_err = 0;
      for (int64_t b = 0; b < batch; ++b) {
        const double* A = &a[b * m * n];
        const double *U = &u[b * m * m], *S = &s[b * k], *V = &vh[b * n * n], *Q = &q[b * m * k], *R = &r[b * k * n];
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double usv = 0, qr = 0;
            for (int64_t l = 0; l < k; ++l) usv += U[i * m + l] * S[l] * V[l * n + j];
            for (int64_t l = 0; l < k; ++l) qr += Q[i * k + l] * R[l * n + j];
            svd_err = std::max(svd_err, std::fabs(usv - A[i * n + j]));
            qr_err = std::max(qr_err, std::fabs(qr - A[i * n + j]));
          }
        for (int64_t i = 0; i < m; ++i)  // U^T U = I (m x m, full_matrices)
          for (int64_t j = 0; j < m; ++j) {
            double d = 0;
            for (int64_t l = 0; l < m; ++l) d += U[l * m + i] * U[l * m + j];
            orth_err = std::max(orth_err, std::fabs(d - (i == j)));
          }
        for (int64_t l = 0; l + 1 < k; ++l) sorted_err = std::max(sorted_err, S[l + 1] - S[l]);
      }
      const std::string what = " " + std::to_string(m) + "x" + std::to_string(n) + " batch 3 on 2 threads";
      check(bad == 0 && svd_err < 1e-12 && orth_err < 1e-12 && sorted_err <= 0, "svd_jacobi U S Vh == A" + what);
      check(qr_err < 1e-12, "qr_householder Q R == A" + what);
    }
    // float32: each SIMD set's Jacobi loops give the reference's singular values (within rounding)
    for (auto [m, n] : {std::pair<int64_t, int64_t>{37, 21}, {21, 70}, {1, 1}}) {
      const int64_t k = std::min(m, n);
      std::vector<float> a = random_vec(m * n, 1.f, 44), ref(k), got(k);
      set_active_isa(Isa::scalar);
      svd_jacobi(a.data(), nullptr, ref.data(), nullptr, DType::f32, 1, m, n, false);
      for (Isa isa : sets) {
        set_active_isa(isa);
        svd_jacobi(a.data(), nullptr, got.data(), nullptr, DType::f32, 1, m, n, false);
        check(close(got, ref, 1e-5f, 1e-5f), std::string("svd_jacobi f32 singular values [") + isa_name(isa) + ", " +
                                                  std::to_string(m) + "x" + std::to_string(n) + "]");
      }
      set_active_isa(best_isa());
    }
    std::vector<float> nan_matrix = {1.f, NAN, 0.f, 1.f}, sv(2);
    check(svd_jacobi(nan_matrix.data(), nullptr, sv.data(), nullptr, DType::f32, 1, 2, 2, false) == 1,
          "svd_jacobi counts a matrix with a NaN");
  }
  // ==== embedding_bag: every set against the reference, forward and backward; the threaded
  // backward (split over columns) equals the one-thread one exactly ====
  for (Isa isa : sets) {
    for (int64_t dim : {1, 7, 33, 70}) {
      const int64_t rows = 40, bags = 300;
      std::vector<int64_t> start(bags + 1, 0), idx;
      for (int64_t b = 0; b < bags; ++b) {
        for (int64_t j = 0; j < (b * 7) % 6; ++j) idx.push_back((b * 13 + j * 5) % rows);  // some bags empty
        start[b + 1] = static_cast<int64_t>(idx.size());
      }
      std::vector<float> w = random_vec(rows * dim, 1.f, 50), g = random_vec(bags * dim, 1.f, 51);
      std::vector<float> psw = random_vec(static_cast<int64_t>(idx.size()), 1.f, 52);
      for (EmbeddingBagMode mode : {EmbeddingBagMode::sum, EmbeddingBagMode::mean, EmbeddingBagMode::max}) {
        const float* s = mode == EmbeddingBagMode::sum ? psw.data() : nullptr;
        auto run = [&] {
          std::vector<float> out(bags * dim), gw(rows * dim), gp(idx.size());
          embedding_bag_forward(w.data(), idx.data(), start.data(), s, out.data(), DType::f32, bags, dim, 3, mode);
          embedding_bag_backward_weight(g.data(), w.data(), idx.data(), start.data(), s, gw.data(), DType::f32, bags,
                                        rows, dim, 3, mode);
          embedding_bag_backward_per_sample_weights(g.data(), w.data(), idx.data(), start.data(), gp.data(),
                                                    DType::f32, bags, static_cast<int64_t>(idx.size()), dim, 3);
          out.insert(out.end(), gw.begin(), gw.end());
          out.insert(out.end(), gp.begin(), gp.end());
          return out;
        };
        compare_sets(isa, "embedding_bag mode " + std::to_string(static_cast<int>(mode)) + " dim " +
                              std::to_string(dim), dim, run, 1e-5f, 1e-5f);
        set_active_isa(isa);
        const int before = num_threads();
        set_num_threads(1);
        const std::vector<float> one = run();
        set_num_threads(2);
        check(run() == one, "embedding_bag 2 threads == 1 thread, mode " + std::to_string(static_cast<int>(mode)) +
                                " dim " + std::to_string(dim) + " [" + isa_name(isa) + "]");
        set_num_threads(before);
      }
    }
  }
  set_active_isa(best_isa());
  // ==== triangular: tril / triu of a batch against the definition, on 1 and 2 threads ====
  {
    const int64_t batch = 2, n = 67, m = 131;
    std::vector<double> x(batch * n * m), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0 + static_cast<double>(i);
    const int before = num_threads();
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (bool lower : {true, false}) {
        for (int64_t diagonal : {-70, -3, 0, 4, 200}) {
          keep_triangle(x.data(), y.data(), DType::f64, batch, n, m, diagonal, lower);
          bool ok = true;
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t i = 0; i < n; ++i)
              for (int64_t j = 0; j < m; ++j) {
                const int64_t k = (b * n + i) * m + j;
                const bool kept = lower ? j - i <= diagonal : j - i >= diagonal;
                ok = ok && y[k] == (kept ? x[k] : 0.0);
              }
          check(ok, std::string(lower ? "tril" : "triu") + " diagonal " + std::to_string(diagonal) + " on " +
                        std::to_string(threads) + " thread(s)");
        }
      }
    }
    set_num_threads(before);
  }
  // random: the normal fill's Box-Muller in SIMD lanes gives the scalar lane's bits on every
  // kernel set and thread count (box_muller.h), whole vectors, tails and odd counts alike
  {
    const int before = num_threads();
    for (int64_t n : {1, 2, 15, 16, 17, 33, 70001}) {
      for (DType dt : {DType::f32, DType::f64}) {
        const size_t bytes = static_cast<size_t>(n) * dtype_size(dt);
        set_active_isa(Isa::scalar);
        set_num_threads(1);
        Rng rng_ref(42);
        std::vector<unsigned char> ref(bytes);
        fill_normal(rng_ref, ref.data(), dt, n, 0.5, 2.0);
        for (Isa isa : sets)
          for (int threads : {1, 2}) {
            set_active_isa(isa);
            set_num_threads(threads);
            Rng rng(42);
            std::vector<unsigned char> got(bytes);
            fill_normal(rng, got.data(), dt, n, 0.5, 2.0);
            const bool same_stream = std::equal(rng.state, rng.state + 4, rng_ref.state);  // drew as many
            check(got == ref && same_stream, std::string("fill_normal ") + (dt == DType::f32 ? "f32" : "f64") +
                                                 " [" + isa_name(isa) + ", " + std::to_string(threads) +
                                                 " thread(s), n=" + std::to_string(n) + "] == scalar");
          }
      }
    }
    set_active_isa(best_isa());
    set_num_threads(before);
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
