// The timing rule of every "choose by measurement" kernel family (issue 18 item 1): the 16-bit
// GEMM's path (ops/gemm/gemm_lowp_tune.cpp), the float32 convolution's path
// (ops/conv/conv_tune.cpp) and the RNN time loop's thread split (ops/rnn/rnn_tune.cpp).
//
// Each candidate runs once as a warm-up (caches, page faults, packed buffers, a waking thread
// team), then is timed at least `min_runs` times, more (up to `max_runs`) while its timed runs
// total under `small_budget_s`, and never a second time once `budget_s` is spent. The candidate
// with the smallest best run wins (by a margin over the fixed rule: pick_by_margin): the minimum
// of several runs is what survives a preempted run
// on a shared machine; a long run needs only one. The budgets are the family's (a 64^3 product
// takes microseconds, a whole recurrent layer milliseconds), the rule is the same.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace minidl {

struct TimingBudget {
  int min_runs, max_runs;
  double small_budget_s, budget_s;  // per candidate, after its warm-up run
};

// whether to time run r (from 0) of a candidate whose timed runs have taken `spent` seconds
inline bool another_timed_run(const TimingBudget& b, int r, double spent) {
  if (r == 0) return true;
  if (spent >= b.budget_s) return false;
  return r < b.min_runs || (r < b.max_runs && spent < b.small_budget_s);
}

// The first candidate is the family's fixed rule (what runs with tuning off). Another candidate
// displaces it only when its best run is at least kDisplaceMargin faster: a pick is cached on disk
// and kept across runs, and on a shared machine two paths within a few percent swap places from
// run to run (the RNN split at H = 512, batch 32, 2 threads: rows and units within ~3%, the pick
// flipped in 2 of 3 runs at load average 3-5, bench_tuning_rnn.py). Within the margin the fixed
// rule costs at most 3% and every process picks the same path.
constexpr double kDisplaceMargin = 0.03;

// Index of the pick among best-run times `seconds` (seconds[0]: the fixed rule's): the fastest,
// unless it is not kDisplaceMargin faster than seconds[0].
inline size_t pick_by_margin(const std::vector<double>& seconds) {
  size_t fastest = 0;
  for (size_t i = 1; i < seconds.size(); ++i)
    if (seconds[i] < seconds[fastest]) fastest = i;
  return seconds[fastest] <= (1.0 - kDisplaceMargin) * seconds[0] ? fastest : 0;
}

// The pick (pick_by_margin) among `candidates`, each run by run(candidate). The last run is
// candidates.back()'s: a caller whose runs write the call's own outputs reruns the winner when it
// is another one.
template <class Candidate, class Run>
Candidate fastest_candidate(const std::vector<Candidate>& candidates, const TimingBudget& budget, const Run& run) {
  auto seconds_of = [&](const Candidate& c) {
    const auto t0 = std::chrono::steady_clock::now();
    run(c);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> best_seconds;
  for (const Candidate& c : candidates) {
    seconds_of(c);  // warm-up
    double fastest = 1e300, spent = 0;
    for (int r = 0; another_timed_run(budget, r, spent); ++r) {
      const double s = seconds_of(c);
      fastest = std::min(fastest, s);
      spent += s;
    }
    best_seconds.push_back(fastest);
  }
  return candidates[pick_by_margin(best_seconds)];
}

}  // namespace minidl
