// Which convolution path runs: the fixed rule or the fastest measured on this CPU, per shape
// class, on first use. float32: the direct kernel (the fixed rule), im2col + GEMM or, for 3x3
// stride-1 convolutions, Winograd F(4x4, 3x3) (conv_winograd.h); bfloat16:
// im2col + the bf16 GEMM or widening to the float32 convolution (conv_lowp.cpp has the fixed
// rule and the numbers behind it).
//
// Why measure: the direct kernel (conv_direct.cpp) was measured 1.5-2x faster than im2col +
// GEMM at ResNet shapes on the Intel CPU it was written on, and conv.cpp made it the rule. Issue
// 18 measured Conv2d 64->64 3x3 at 8x8 1.15x PyTorch's time on an AMD Zen 4 (1.10 here): which
// path wins at a shape depends on the CPU's caches and datapath, so it is measured where it runs,
// as the 16-bit GEMM's path is (gemm_lowp_tune.cpp: the same timing rule, the same switch). The
// bf16 convolution's choice even more so: on the Xeon with AMX the bf16 GEMM path wins from 32
// output channels up, on an AMD Zen 4 (512-bit instructions run as two 256-bit halves) issue 18
// measured the bf16 ResNet-20 step slower than the float32 one with the same rule.
//
// A convolution batch is timed as it comes, by the rule of core/fastest_candidate.h (kBudget);
// the smaller best run wins. The candidates write the call's own outputs (each overwrites them
// completely), and the winner runs last, so the result is the winner's.
#include "conv_tune.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "core/choice_table.h"
#include "core/fastest_candidate.h"
#include "core/parallel.h"
#include "ops/gemm/gemm_lowp.h"

namespace minidl {
namespace {

// timed runs per candidate (core/fastest_candidate.h): 2 to 6 while they total under 2 ms, none
// after the first once 20 ms are spent
constexpr TimingBudget kBudget{2, 6, 0.002, 0.02};
// below this many multiply-adds a convolution takes microseconds: timer noise would pick
constexpr int64_t kMinTunedFma = int64_t(1) << 18;

std::atomic<int> forced{0}, forced_lowp{0};
ChoiceTable<ConvPath>& table() {
  static ChoiceTable<ConvPath> t;
  return t;
}

const char* direction_name(ConvDirection d) {
  switch (d) {
    case ConvDirection::forward: return "forward";
    case ConvDirection::backward_input: return "backward_input";
    default: return "backward_weight";
  }
}

ConvPath measure(const std::vector<ConvPath>& candidates, const std::function<void(ConvPath)>& run) {
  const ConvPath best = fastest_candidate(candidates, kBudget, run);
  if (best != candidates.back()) run(best);  // the last run wrote the last candidate's result
  return best;
}

// the forced 16-bit path where it applies to this convolution; else none (a forced bf16_gemm on a
// float16 or depthwise convolution widens, as the fixed rule does)
ConvPath lowp_forced_applicable(const std::vector<ConvPath>& candidates) {
  const ConvPath f = static_cast<ConvPath>(forced_lowp.load());
  return std::find(candidates.begin(), candidates.end(), f) != candidates.end() ? f : ConvPath::automatic;
}

bool is_lowp_class(const std::string& shape_class) {
  const auto ends_with = [&](const char* tail, size_t k) {
    return shape_class.size() > k && shape_class.compare(shape_class.size() - k, k, tail) == 0;
  };
  return ends_with(" bf16", 5) || ends_with(" f16", 4);
}

}  // namespace

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::direct: return "direct";
    case ConvPath::im2col: return "im2col";
    case ConvPath::winograd: return "winograd";
    case ConvPath::bf16_gemm: return "bf16_gemm";
    case ConvPath::convert_f32: return "convert_f32";
    default: return "auto";
  }
}

bool conv_path_is_lowp(ConvPath path) { return path == ConvPath::bf16_gemm || path == ConvPath::convert_f32; }

bool conv_path_from_name(const std::string& name, ConvPath* path) {
  for (ConvPath p : {ConvPath::automatic, ConvPath::direct, ConvPath::im2col, ConvPath::bf16_gemm,
                     ConvPath::convert_f32, ConvPath::winograd})
    if (name == conv_path_name(p)) return *path = p, true;
  return false;
}

std::string conv_shape_class(ConvDirection d, const ConvShape& s, int threads) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s N%lld C%lld H%lld W%lld K%lld R%lld S%lld stride%lld,%lld pad%lld,%lld "
                "dil%lld,%lld groups%lld T%d", direction_name(d), (long long)pow2_at_least(s.N), (long long)s.C,
                (long long)s.H, (long long)s.W, (long long)s.K, (long long)s.R, (long long)s.S,
                (long long)s.stride_h, (long long)s.stride_w, (long long)s.pad_h, (long long)s.pad_w,
                (long long)s.dil_h, (long long)s.dil_w, (long long)s.groups, threads);
  return buf;
}

bool conv_set_choice(const std::string& shape_class, const std::string& path) {
  // a class is stored as written; one that no call ever forms is never looked up. Only the
  // direction word and the path name (of the class's family) are checked (a file from another
  // version may differ there)
  ConvPath p;
  if (!conv_path_from_name(path, &p) || p == ConvPath::automatic) return false;
  if (conv_path_is_lowp(p) != is_lowp_class(shape_class)) return false;
  const std::string first = shape_class.substr(0, shape_class.find(' '));
  if (first != "forward" && first != "backward_input" && first != "backward_weight") return false;
  table().set(shape_class, p);
  return true;
}

std::vector<std::pair<std::string, std::string>> conv_choices() {
  return table().named(conv_path_name);
}

void conv_clear_choices() {
  table().clear();
}

uint64_t conv_measurements() { return table().measurements(); }
void conv_force_path(ConvPath path) {
  if (path == ConvPath::automatic) forced = forced_lowp = static_cast<int>(path);
  else if (conv_path_is_lowp(path)) forced_lowp = static_cast<int>(path);
  else forced = static_cast<int>(path);
}
ConvPath conv_forced_path() { return static_cast<ConvPath>(forced.load()); }
ConvPath conv_forced_lowp_path() { return static_cast<ConvPath>(forced_lowp.load()); }

// --8<-- [start:conv_choose]
// forced, else (tuning on, the product big enough, outside a parallel region) the remembered
// choice of the class or, with `run`, a new measurement; else the fixed rule (candidates[0])
static ConvPath choose(ConvDirection d, const ConvShape& s, const char* dtype_suffix, ConvPath forced_path,
                       const std::vector<ConvPath>& candidates, const std::function<void(ConvPath)>* run) {
  if (forced_path != ConvPath::automatic) return forced_path;
  const ConvPath fixed = candidates.front();
  if (candidates.size() < 2 || !gemm_lowp_tuning() || s.N * s.K * s.P * s.Q * s.Cg() * s.R * s.S < kMinTunedFma)
    return fixed;
#ifdef _OPENMP
  if (omp_in_parallel()) return fixed;  // timing inside a team's region would measure the team
#endif
  const std::string key = conv_shape_class(d, s, num_threads()) + dtype_suffix;
  ConvPath remembered;
  if (table().find(key, &remembered)) return remembered;
  if (!run) return fixed;
  const ConvPath best = measure(candidates, *run);
  table().set_measured(key, best);
  return ConvPath::automatic;  // the result is written already (by measure)
}

ConvPath conv_choose(ConvDirection d, const ConvShape& s, const std::function<void(ConvPath)>& run,
                     bool winograd) {
  // the fixed rule's first
  static const std::vector<ConvPath> float32_paths = {ConvPath::direct, ConvPath::im2col};
  static const std::vector<ConvPath> with_winograd = {ConvPath::direct, ConvPath::im2col, ConvPath::winograd};
  return choose(d, s, "", conv_forced_path(), winograd ? with_winograd : float32_paths, &run);
}
// --8<-- [end:conv_choose]

ConvPath conv_choose_lowp(ConvDirection d, const ConvShape& s, DType t, const std::vector<ConvPath>& candidates,
                          const std::function<void(ConvPath)>& run) {
  return choose(d, s, t == DType::bf16 ? " bf16" : " f16", lowp_forced_applicable(candidates), candidates, &run);
}

ConvPath conv_lowp_current(ConvDirection d, const ConvShape& s, DType t, const std::vector<ConvPath>& candidates) {
  return choose(d, s, t == DType::bf16 ? " bf16" : " f16", lowp_forced_applicable(candidates), candidates, nullptr);
}

}  // namespace minidl
