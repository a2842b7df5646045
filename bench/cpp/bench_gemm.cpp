// SGEMM microbenchmark: GFLOP/s (median of N runs) per shape, for every kernel set this CPU
// runs and for each thread count.
//
//   cmake -S . -B build/bench -G Ninja -DMINIDL_BUILD_BENCH=ON && cmake --build build/bench
//   OMP_PROC_BIND=close build/bench/bench/cpp/bench_gemm [--threads 1,2] [--repeat 11]
//       [--isa avx512|avx2|scalar] [--trans] [MxKxN ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "ops/gemm/gemm.h"
#include "core/parallel.h"

namespace {

struct Shape { int64_t M, K, N; };

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// median seconds of one sgemm call, after warm-up; tiny calls are timed in loops
double time_sgemm(const Shape& s, bool ta, bool tb, const std::vector<float>& A,
                  const std::vector<float>& B, std::vector<float>& C, int repeat) {
  auto call = [&] {
    minidl::sgemm(ta, tb, s.M, s.N, s.K, 1.0f, A.data(), ta ? s.M : s.K, B.data(), tb ? s.K : s.N,
                  0.0f, C.data(), s.N);
  };
  for (int i = 0; i < 2; ++i) call();
  double t0 = now();
  call();
  const double first = now() - t0;
  const int inner = first < 5e-5 ? std::max(1, int(2e-4 / std::max(first, 1e-9))) : 1;
  std::vector<double> t;
  for (int r = 0; r < repeat; ++r) {
    t0 = now();
    for (int i = 0; i < inner; ++i) call();
    t.push_back((now() - t0) / inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<int> parse_ints(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads{1, 2};
  int repeat = 11;
  bool trans = false;
  std::vector<minidl::Isa> isas;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = parse_ints(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--trans")) trans = true;
    else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      const std::string name = argv[++i];
      for (minidl::Isa c : {minidl::Isa::scalar, minidl::Isa::avx2, minidl::Isa::avx512})
        if (name == minidl::isa_name(c)) isas.push_back(c);
    } else {
      Shape s{};
      if (std::sscanf(argv[i], "%ldx%ldx%ld", &s.M, &s.K, &s.N) == 3) shapes.push_back(s);
      else { std::fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
    }
  }
  if (shapes.empty())
    shapes = {{64, 64, 64}, {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
              {32, 1024, 1024}, {128, 1024, 1024}, {512, 1024, 1024}};
  if (isas.empty())
    for (minidl::Isa c : {minidl::Isa::avx512, minidl::Isa::avx2, minidl::Isa::scalar})
      if (minidl::cpu_supports(c)) isas.push_back(c);

  std::printf("%-8s %7s %-16s %-6s %10s %10s\n", "isa", "threads", "MxKxN", "trans", "ms", "GFLOP/s");
  std::mt19937 gen(0);
  std::normal_distribution<float> dist;
  for (const Shape& s : shapes) {
    std::vector<float> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (float& x : A) x = dist(gen);
    for (float& x : B) x = dist(gen);
    for (minidl::Isa isa : isas) {
      minidl::set_active_isa(isa);
      for (int nt : threads) {
        minidl::set_num_threads(nt);
        for (int t = 0; t < (trans ? 4 : 1); ++t) {
          const bool ta = t & 1, tb = t & 2;
          // the scalar set is ~30x slower: fewer repeats on big shapes
          const int rep = isa == minidl::Isa::scalar && s.M * s.N * s.K > (1 << 24) ? 3 : repeat;
          const double sec = time_sgemm(s, ta, tb, A, B, C, rep);
          char shape[64], tr[8];
          std::snprintf(shape, sizeof shape, "%ldx%ldx%ld", s.M, s.K, s.N);
          std::snprintf(tr, sizeof tr, "%c%c", ta ? 'T' : 'N', tb ? 'T' : 'N');
          std::printf("%-8s %7d %-16s %-6s %10.3f %10.1f\n", minidl::isa_name(isa), nt, shape, tr,
                      sec * 1e3, 2.0 * s.M * s.N * s.K / sec / 1e9);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
