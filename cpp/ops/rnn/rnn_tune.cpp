// Which thread split a recurrent layer's time loop takes: the fixed rule, or the faster of rows
// and units measured on this CPU, per shape class, on first use (issue 18 item 1).
//
// Why measure: the rule "rows when every thread gets >= 8 rows" is a constant measured on one
// Intel CPU (below). Which split wins is a question of the CPU: rows make every thread stream
// all of W_hh each step (4 G H^2 bytes: 1 MiB for an LSTM at H 256, 4 MiB at H 512, against an
// L2 of 1-2 MiB per core), units make the threads meet at a barrier every step (its cost is the
// core-to-core latency and whatever else shares the cores). Cache sizes, the L2's bandwidth and
// the barrier's latency differ from CPU to CPU, so the split is measured where it runs, by the
// rule and switch of the 16-bit GEMM's and the convolution's path choice.
//
// A run is the whole time loop of the call on its own operands (rnn.cpp: the forward's input
// projection is redone first where the cell overwrites it in place; the backward's running
// gradients are reset), timed by core/fastest_candidate.h's rule with kBudget, the fixed rule's
// split first; the other split runs last, and the winner reruns when it is not that one, so the
// call's outputs are the winner's.
#include "rnn_tune.h"

#include <atomic>
#include <cstdio>

#include "core/choice_table.h"
#include "core/fastest_candidate.h"
#include "core/parallel.h"
#include "ops/gemm/gemm.h"
#include "ops/gemm/gemm_lowp.h"

namespace minidl {
namespace {

// timed runs per candidate: 2 to 6 while they total under 4 ms, none after the first once 20 ms
// are spent. A layer's loop takes 1-20 ms (LSTM T 64, B 32, H 256: about 5 ms forward on 2
// threads), so a first use costs about 6 loops per pass: the class is measured once per process
// and then cached on disk.
constexpr TimingBudget kBudget{2, 6, 0.004, 0.02};

// The fixed rule, measured on the project's Intel Xeon (lscpu: family 6 model 167, AVX-512,
// AMX-BF16; 2 threads, T 64): rows against units took 4.4-5.0 ms against 4.9-6.5 (LSTM
// forward, B 32, H 256) and 13.7-14.7 against 16.6-17.0 at H 512; the barrier per step also
// made every pause of one core stall both. Units won for small batches, where a row share is a few rows (a GEMM with a low M
// re-reading all of W_hh per thread): rows / units 0.91-1.11 at B 4-12 (units ahead at H 512),
// 0.97 at B 16 (LSTM forward + backward, the two timed in turns). Measured again on the same CPU
// (bench/python/bench_tuning_rnn.py, 2 threads, load average 2-5): at B 8, H 256 rows ran in
// 13-25 ms against units' 23-35 ms, the opposite of what the rule takes; the measurement picks
// rows there.
constexpr int64_t kMinRowsPerThread = 8;

std::atomic<int> forced{0};
ChoiceTable<RnnSplit>& table() {
  static ChoiceTable<RnnSplit> t;
  return t;
}

const char* mode_name(RnnMode m) {
  switch (m) {
    case RnnMode::rnn_tanh: return "rnn_tanh";
    case RnnMode::rnn_relu: return "rnn_relu";
    case RnnMode::lstm: return "lstm";
    default: return "gru";
  }
}

}  // namespace

const char* rnn_split_name(RnnSplit split) {
  switch (split) {
    case RnnSplit::rows: return "rows";
    case RnnSplit::units: return "units";
    default: return "auto";
  }
}

bool rnn_split_from_name(const std::string& name, RnnSplit* split) {
  for (RnnSplit s : {RnnSplit::automatic, RnnSplit::rows, RnnSplit::units})
    if (name == rnn_split_name(s)) return *split = s, true;
  return false;
}

RnnSplit rnn_split_fixed(int64_t batch, int nthreads) {
  return nthreads > 1 && batch >= kMinRowsPerThread * nthreads ? RnnSplit::rows : RnnSplit::units;
}

// --8<-- [start:rnn_split_class]
// The batch stays exact: the rows split hands out whole rows, so rows per thread (and the
// remainder) is what decides, and a model's batch takes one or two values (the last batch of an
// epoch costs one more measurement). The hidden size is rounded up to whole column panels
// (kPackedPanel = 64 units): the units split hands out whole panels, so two sizes with the same
// panel count split alike and differ by under one panel of work. The sequence length enters only
// through the per-call costs (packing W_hh, starting the thread team) spread over its steps:
// a power of two is close enough.
std::string rnn_split_class(RnnMode mode, DType dtype, RnnPass pass, const RnnShape& s, int nthreads) {
  const int64_t hidden = (s.hidden + kPackedPanel - 1) / kPackedPanel * kPackedPanel;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s %s %s batch%lld hidden%lld seq%lld threads%d", mode_name(mode),
                pass == RnnPass::forward ? "forward" : "backward", dtype_name(dtype), (long long)s.batch,
                (long long)hidden, (long long)pow2_at_least(s.seq), nthreads);
  return buf;
}
// --8<-- [end:rnn_split_class]

bool rnn_split_set_choice(const std::string& shape_class, const std::string& split) {
  // A class is stored as written once its words parse (a class no call forms is never looked up).
  RnnSplit sp;
  if (!rnn_split_from_name(split, &sp) || sp == RnnSplit::automatic) return false;
  char mode[16], pass[16], dtype[16];
  long long b = 0, h = 0, t = 0;
  int threads = 0, used = 0;
  if (std::sscanf(shape_class.c_str(), "%15s %15s %15s batch%lld hidden%lld seq%lld threads%d%n", mode, pass, dtype,
                  &b, &h, &t, &threads, &used) != 7 ||
      used != static_cast<int>(shape_class.size()))
    return false;
  const std::string m(mode), p(pass), d(dtype);
  if ((m != "rnn_tanh" && m != "rnn_relu" && m != "lstm" && m != "gru") || (p != "forward" && p != "backward") ||
      (d != "float32" && d != "float64") || b < 1 || h < 1 || t < 1 || threads < 2)
    return false;
  table().set(shape_class, sp);
  return true;
}

std::vector<std::pair<std::string, std::string>> rnn_split_choices() {
  return table().named(rnn_split_name);
}

void rnn_split_clear_choices() {
  table().clear();
}

uint64_t rnn_split_measurements() { return table().measurements(); }
void rnn_force_split(RnnSplit split) { forced = static_cast<int>(split); }
RnnSplit rnn_forced_split() { return static_cast<RnnSplit>(forced.load()); }

// --8<-- [start:rnn_split_choose]
RnnSplit rnn_split_choose(RnnMode mode, DType dtype, RnnPass pass, const RnnShape& s, int nthreads,
                          const std::function<void(RnnSplit)>& run) {
  if (nthreads <= 1) return RnnSplit::units;  // one thread: nothing to share (both are one loop)
  const RnnSplit f = rnn_forced_split();
  if (f != RnnSplit::automatic) return f;
  if (!gemm_lowp_tuning()) return rnn_split_fixed(s.batch, nthreads);
  const std::string key = rnn_split_class(mode, dtype, pass, s, nthreads);
  RnnSplit remembered;
  if (table().find(key, &remembered)) return remembered;
  // the fixed rule's split first: the other one must beat it by fastest_candidate's margin
  const RnnSplit fixed = rnn_split_fixed(s.batch, nthreads);
  const RnnSplit other = fixed == RnnSplit::rows ? RnnSplit::units : RnnSplit::rows;
  const RnnSplit best = fastest_candidate(std::vector<RnnSplit>{fixed, other}, kBudget, run);
  if (best != other) run(best);  // the last run wrote the other split's result
  table().set_measured(key, best);
  return RnnSplit::automatic;  // the outputs hold the winner's result already
}
// --8<-- [end:rnn_split_choose]

}  // namespace minidl
