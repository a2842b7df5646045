// Which float32 convolution path runs where more than one can: the fixed rule (direct), or the
// fastest measured on this CPU (conv_tune.cpp). The policy and the cache file are
// python/minidl/tuning.py's, shared with the 16-bit GEMM (one switch: gemm_lowp_tuning()).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "conv.h"

namespace minidl {

enum class ConvPath : int { automatic = 0, direct = 1, im2col = 2 };
enum class ConvDirection : int { forward = 0, backward_input = 1, backward_weight = 2 };

const char* conv_path_name(ConvPath path);  // "direct", "im2col" ("auto" for automatic)
bool conv_path_from_name(const std::string& name, ConvPath* path);

// The path of a float32 convolution that both the direct kernel and im2col + GEMM can run.
// A forced path (conv_force_path) wins; else, with tuning on, the remembered choice of the shape
// class, or, on its first use, the faster of the two timed by run(path), which runs that path
// on the call's own operands into its own outputs (every path overwrites them completely).
// Off, or for a product too small to time: direct. Returns ConvPath::automatic when it has just
// measured: the outputs then hold the winner's result already.
ConvPath conv_choose(ConvDirection d, const ConvShape& s, const std::function<void(ConvPath)>& run);

// A shape class: the direction and the whole geometry, with the batch rounded up to a power of
// two, and the thread count: "forward N64 C16 H32 W32 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T2".
std::string conv_shape_class(ConvDirection d, const ConvShape& s, int threads);
bool conv_set_choice(const std::string& shape_class, const std::string& path);  // false: unreadable
std::vector<std::pair<std::string, std::string>> conv_choices();
void conv_clear_choices();
uint64_t conv_measurements();

// tests and benchmarks: every float32 convolution takes `path` where it can (automatic: no forcing)
void conv_force_path(ConvPath path);
ConvPath conv_forced_path();

}  // namespace minidl
