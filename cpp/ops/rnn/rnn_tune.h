// How the time loop of a recurrent layer shares its steps between threads (rnn.cpp): by batch
// rows or by hidden units, by the fixed rule or as measured on this CPU (rnn_tune.cpp). The
// policy, the switch and the cache file are python/minidl/tuning.py's (family "rnn_split"),
// shared with the 16-bit GEMM and the convolution (one switch: gemm_lowp_tuning()).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rnn.h"

namespace minidl {

// rows:  thread k owns batch rows [b0, b1) for the whole sequence, no barrier between steps,
//        but every thread streams all of W_hh every step;
// units: thread k owns whole column panels of hidden units, W_hh is shared out, one barrier
//        per step (h_t must be complete before anyone's next product).
enum class RnnSplit : int { automatic = 0, rows = 1, units = 2 };
enum class RnnPass : int { forward = 0, backward = 1 };

const char* rnn_split_name(RnnSplit split);  // "rows", "units" ("auto" for automatic)
bool rnn_split_from_name(const std::string& name, RnnSplit* split);

// The fixed rule (tuning off): rows when every thread gets at least kMinRowsPerThread rows.
RnnSplit rnn_split_fixed(int64_t batch, int nthreads);

// The split of a time loop on `nthreads` > 1 threads. A forced split (rnn_force_split) wins;
// else, with tuning on, the remembered choice of the shape class, or, on its first use, the
// faster of the two timed by run(split), which runs the whole time loop with that split on the
// call's own operands into its own outputs (each run overwrites them completely). Off: the fixed
// rule. Returns RnnSplit::automatic when it has just measured: the outputs then hold the
// winner's result already.
RnnSplit rnn_split_choose(RnnMode mode, DType dtype, RnnPass pass, const RnnShape& shape, int nthreads,
                          const std::function<void(RnnSplit)>& run);

// A shape class: "lstm forward float32 batch32 hidden256 seq64 threads2", the hidden size
// rounded up to whole column panels of the step GEMM and the sequence length to a power of two.
std::string rnn_split_class(RnnMode mode, DType dtype, RnnPass pass, const RnnShape& shape, int nthreads);
bool rnn_split_set_choice(const std::string& shape_class, const std::string& split);  // false: unreadable
std::vector<std::pair<std::string, std::string>> rnn_split_choices();
void rnn_split_clear_choices();
uint64_t rnn_split_measurements();

// tests and benchmarks: every threaded time loop takes `split` (automatic: no forcing)
void rnn_force_split(RnnSplit split);
RnnSplit rnn_forced_split();

}  // namespace minidl
