// Which 16-bit GEMM path runs: the fixed rules, or the fastest measured on this CPU.
//
// Why measure: the fixed order (AMX, then vdpbf16ps, then widen to float32) was set on an Intel
// CPU whose vdpbf16ps runs at twice the FP32 FMA rate. On an AMD Zen 4 (AVX512-BF16, but each
// 512-bit instruction runs as two 256-bit halves) issue 18 measured the vdpbf16ps path slower
// than widen + fp32 (ResNet-20 bf16 autocast step 129 ms against 115 ms in fp32). No CPUID bit
// tells the datapath width, so the choice is measured, per shape class, on first use.
//
// A shape class (gemm_lowp.h) is dtype, transposes, M/N/K rounded up to powers of two and the
// thread count. On the first product of a class that has more than one candidate, with tuning
// on and outside a parallel region, every candidate runs on the product's own A and B into a
// scratch C: one warm-up run, then timed runs, and the smallest time wins (the rule of
// core/fastest_candidate.h, with kBudget). The minimum of more runs is what makes a
// small product's pick survive a preempted run on a shared machine; a large product needs one. The choice is remembered in a table here (one
// shared-lock lookup per call: 40-70 ns measured on a 64^3 product of 4.1 us, minima of loops
// in turns, bench/python/bench_tuning.py); python/minidl/tuning.py fills the table from the
// cache file and saves it.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "core/fastest_candidate.h"
#include "core/parallel.h"
#include "gemm_lowp.h"

namespace minidl {
namespace {

// timed runs per candidate (core/fastest_candidate.h): 3 to 10 while they total under 1 ms
// (small products), none after the first once 5 ms are spent
constexpr TimingBudget kBudget{3, 10, 0.001, 0.005};
// Below this many multiply-adds the whole product takes about a microsecond: timer noise would
// pick, and there is nothing to gain. Such products take the fixed rule.
constexpr int64_t kMinTunedFma = int64_t(1) << 15;

std::atomic<bool> tuning_on{false};
std::atomic<uint64_t> measurements{0};
std::shared_mutex table_mutex;
std::unordered_map<uint64_t, std::pair<GemmShapeClass, GemmLowpPath>>& table() {
  static std::unordered_map<uint64_t, std::pair<GemmShapeClass, GemmLowpPath>> t;
  return t;
}

int ceil_log2(int64_t n) {
  int l = 0;
  while ((int64_t(1) << l) < n && l < 62) ++l;
  return l;
}

// --8<-- [start:measure]
GemmLowpPath measure(const std::vector<GemmLowpPath>& paths, DType dt, bool ta, bool tb, int64_t M, int64_t N,
                     int64_t K, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb) {
  std::vector<float> scratch(static_cast<size_t>(M * N));
  return fastest_candidate(paths, kBudget, [&](GemmLowpPath p) {
    gemm_lowp_on_path(p, dt, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, scratch.data(), N);
  });
}
// --8<-- [end:measure]

}  // namespace

const char* gemm_lowp_path_name(GemmLowpPath path) {
  switch (path) {
    case GemmLowpPath::amx_bf16: return "amx_bf16";
    case GemmLowpPath::avx512_bf16: return "avx512_bf16";
    default: return "convert_f32";
  }
}

bool gemm_lowp_path_from_name(const std::string& name, GemmLowpPath* path) {
  for (GemmLowpPath p : {GemmLowpPath::amx_bf16, GemmLowpPath::avx512_bf16, GemmLowpPath::convert_f32})
    if (name == gemm_lowp_path_name(p)) return *path = p, true;
  return false;
}

uint64_t GemmShapeClass::key() const {
  return uint64_t(dtype == DType::bf16) | uint64_t(trans_a) << 1 | uint64_t(trans_b) << 2 |
         uint64_t(log2_m) << 3 | uint64_t(log2_n) << 9 | uint64_t(log2_k) << 15 | uint64_t(threads) << 21;
}

std::string GemmShapeClass::name() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %c%c M%lld N%lld K%lld T%d", dtype == DType::bf16 ? "bfloat16" : "float16",
                trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', 1LL << log2_m, 1LL << log2_n, 1LL << log2_k, threads);
  return buf;
}

bool GemmShapeClass::parse(const std::string& name, GemmShapeClass* out) {
  char dt[16], ta = 0, tb = 0;
  long long m = 0, n = 0, k = 0;
  int t = 0, used = 0;
  if (std::sscanf(name.c_str(), "%15s %c%c M%lld N%lld K%lld T%d%n", dt, &ta, &tb, &m, &n, &k, &t, &used) != 7 ||
      used != static_cast<int>(name.size()))
    return false;
  const std::string d(dt);
  if ((d != "bfloat16" && d != "float16") || (ta != 'N' && ta != 'T') || (tb != 'N' && tb != 'T')) return false;
  for (long long v : {m, n, k})
    if (v < 1 || v > (1LL << 40) || (v & (v - 1)) != 0) return false;
  if (t < 1 || t > 4096) return false;
  *out = gemm_lowp_shape_class(d == "bfloat16" ? DType::bf16 : DType::f16, ta == 'T', tb == 'T', m, n, k, t);
  return true;
}

// --8<-- [start:shape_class]
GemmShapeClass gemm_lowp_shape_class(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int threads) {
  return {dt, ta, tb, ceil_log2(M), ceil_log2(N), ceil_log2(std::max<int64_t>(K, 1)), threads};
}
// --8<-- [end:shape_class]

void gemm_lowp_set_tuning(bool on) { tuning_on = on; }
bool gemm_lowp_tuning() { return tuning_on; }
uint64_t gemm_lowp_measurements() { return measurements; }

std::vector<std::pair<std::string, std::string>> gemm_lowp_choices() {
  std::shared_lock<std::shared_mutex> lock(table_mutex);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : table()) out.emplace_back(kv.second.first.name(), gemm_lowp_path_name(kv.second.second));
  std::sort(out.begin(), out.end());
  return out;
}

void gemm_lowp_set_choice(const GemmShapeClass& shape, GemmLowpPath path) {
  std::unique_lock<std::shared_mutex> lock(table_mutex);
  table()[shape.key()] = {shape, path};
}

void gemm_lowp_clear_choices() {
  std::unique_lock<std::shared_mutex> lock(table_mutex);
  table().clear();
}

// --8<-- [start:choose]
GemmLowpPath gemm_lowp_choose(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const uint16_t* A,
                              int64_t lda, const uint16_t* B, int64_t ldb) {
  const std::vector<GemmLowpPath> paths = gemm_lowp_candidates(dt, M, N, K);
  if (paths.size() == 1 || !tuning_on || M * N * std::max<int64_t>(K, 1) < kMinTunedFma) return paths.front();
  bool nested = false;
#ifdef _OPENMP
  nested = omp_in_parallel();
#endif
  const GemmShapeClass shape = gemm_lowp_shape_class(dt, ta, tb, M, N, K, nested ? 1 : num_threads());
  {
    std::shared_lock<std::shared_mutex> lock(table_mutex);
    auto it = table().find(shape.key());
    // a remembered path that this product cannot take (kernel set switched, AMX's minimum
    // tile) falls back to the fixed rule
    if (it != table().end())
      return std::find(paths.begin(), paths.end(), it->second.second) != paths.end() ? it->second.second
                                                                                     : paths.front();
  }
  if (nested) return paths.front();  // timing inside another team's region would measure the team
  const GemmLowpPath best = measure(paths, dt, ta, tb, M, N, K, A, lda, B, ldb);
  gemm_lowp_set_choice(shape, best);
  ++measurements;
  return best;
}
// --8<-- [end:choose]

}  // namespace minidl
