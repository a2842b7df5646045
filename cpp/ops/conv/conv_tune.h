// Which convolution path runs where more than one can: the fixed rule, or the fastest measured
// on this CPU (conv_tune.cpp). Two families share the table: float32 (direct / im2col / winograd) and
// bfloat16 (bf16_gemm / convert_f32, conv_lowp.cpp). The policy and the cache file are
// python/minidl/tuning.py's, shared with the 16-bit GEMM (one switch: gemm_lowp_tuning()).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "conv.h"

namespace minidl {

// direct, im2col, winograd: float32 (conv.cpp, conv_winograd.h); bf16_gemm, convert_f32: a 16-bit
// convolution (conv_lowp.h)
enum class ConvPath : int { automatic = 0, direct = 1, im2col = 2, bf16_gemm = 3, convert_f32 = 4, winograd = 5 };
enum class ConvDirection : int { forward = 0, backward_input = 1, backward_weight = 2 };

const char* conv_path_name(ConvPath path);  // "direct", "im2col", "winograd", "bf16_gemm", "convert_f32" ("auto")
bool conv_path_from_name(const std::string& name, ConvPath* path);

// The path of a float32 convolution that both the direct kernel and im2col + GEMM can run, and
// with `winograd` (conv_winograd_available) the Winograd F(4x4, 3x3) path too.
// A forced path (conv_force_path) wins (a forced winograd where it does not apply: the caller
// runs direct); else, with tuning on, the remembered choice of the shape
// class, or, on its first use, the fastest of the candidates timed by run(path), which runs that path
// on the call's own operands into its own outputs (every path overwrites them completely).
// Off, or for a product too small to time: direct. Returns ConvPath::automatic when it has just
// measured: the outputs then hold the winner's result already.
ConvPath conv_choose(ConvDirection d, const ConvShape& s, const std::function<void(ConvPath)>& run,
                     bool winograd = false);

// The same for a 16-bit convolution: `candidates` are the paths that apply to this shape and
// dtype (the fixed rule's first), `t` goes into the shape class. One candidate: it, unmeasured.
ConvPath conv_choose_lowp(ConvDirection d, const ConvShape& s, DType t, const std::vector<ConvPath>& candidates,
                          const std::function<void(ConvPath)>& run);
// What conv_choose_lowp would return now without measuring: forced, else remembered (tuning on),
// else the fixed rule's candidates[0].
ConvPath conv_lowp_current(ConvDirection d, const ConvShape& s, DType t, const std::vector<ConvPath>& candidates);

// A shape class: the direction and the whole geometry, with the batch rounded up to a power of
// two, and the thread count: "forward N64 C16 H32 W32 K16 R3 S3 stride1,1 pad1,1 dil1,1 groups1 T2";
// a 16-bit convolution's class ends in its dtype (" bf16").
std::string conv_shape_class(ConvDirection d, const ConvShape& s, int threads);
bool conv_set_choice(const std::string& shape_class, const std::string& path);  // false: unreadable
std::vector<std::pair<std::string, std::string>> conv_choices();
void conv_clear_choices();
uint64_t conv_measurements();

// tests and benchmarks: every convolution of the path's family takes `path` where it can
// (direct / im2col / winograd: float32; bf16_gemm / convert_f32: 16-bit); automatic: no forcing in either
void conv_force_path(ConvPath path);
ConvPath conv_forced_path();       // float32's
ConvPath conv_forced_lowp_path();  // 16-bit's
bool conv_path_is_lowp(ConvPath path);

}  // namespace minidl
