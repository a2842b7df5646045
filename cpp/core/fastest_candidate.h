// The timing rule of every "choose by measurement" kernel family (issue 18 item 1): the 16-bit
// GEMM's path (ops/gemm/gemm_lowp_tune.cpp), the float32 convolution's path
// (ops/conv/conv_tune.cpp) and the RNN time loop's thread split (ops/rnn/rnn_tune.cpp).
//
// Each candidate runs once as a warm-up (caches, page faults, packed buffers, a waking thread
// team), then is timed at least `min_runs` times, more (up to `max_runs`) while its timed runs
// total under `small_budget_s`, and never a second time once `budget_s` is spent. The candidate
// with the smallest best run wins: the minimum of several runs is what survives a preempted run
// on a shared machine; a long run needs only one. The budgets are the family's (a 64^3 product
// takes microseconds, a whole recurrent layer milliseconds), the rule is the same.
#pragma once
#include <algorithm>
#include <chrono>
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

// The fastest of `candidates` (the first on a tie), each run by run(candidate). The last run is
// candidates.back()'s: a caller whose runs write the call's own outputs reruns the winner when it
// is another one.
template <class Candidate, class Run>
Candidate fastest_candidate(const std::vector<Candidate>& candidates, const TimingBudget& budget, const Run& run) {
  auto seconds_of = [&](const Candidate& c) {
    const auto t0 = std::chrono::steady_clock::now();
    run(c);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  Candidate best = candidates.front();
  double best_seconds = 1e300;
  for (const Candidate& c : candidates) {
    seconds_of(c);  // warm-up
    double fastest = 1e300, spent = 0;
    for (int r = 0; another_timed_run(budget, r, spent); ++r) {
      const double s = seconds_of(c);
      fastest = std::min(fastest, s);
      spent += s;
    }
    if (fastest < best_seconds) best_seconds = fastest, best = c;
  }
  return best;
}

}  // namespace minidl
