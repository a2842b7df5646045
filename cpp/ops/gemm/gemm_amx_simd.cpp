// BF16 GEMM with float32 accumulation on Intel AMX (Advanced Matrix Extensions: AMX-TILE +
// AMX-BF16, Sapphire Rapids and later), for one thread. Compiled per ISA like every *_simd.cpp;
// only the AVX-512 build has a kernel, and cpp/ops/gemm/gemm_lowp.cpp calls it only when the
// CPU reports AMX and Linux granted this process the tile state (arch_prctl, see there).
//
// Why AMX: on these CPUs vdpbf16ps (gemm_lowp_simd.cpp) issues on one port, so its 2 x 16
// multiply-adds per instruction only match the 2 ports x 16 of float32 FMA: bfloat16 was no
// faster than float32 (measured 55 vs 90-138 GFLOP/s, 1 thread, MiniLM's Linear shapes
// 4096 x 384 x {384, 1536}). One tdpbf16ps multiplies a 16 x 32 bf16 tile by a 32 x 16 one into
// a 16 x 16 float32 tile: 8192 multiply-adds per instruction.
//
// Tiles (8 registers tmm0..7, each up to 16 rows x 64 bytes), all configured 16 x 64 bytes:
//   tmm0..3  C block 32 x 32 float32, as 2 x 2 tiles of 16 x 16
//   tmm4, 5  A rows i..i+15 and i+16..i+31, 32 k values each (bf16, row-major: a row is 64 B)
//   tmm6, 7  B columns j..j+15 and j+16..j+31 for 16 k pairs, in the "VNNI" layout the
//            instruction wants: tile row kp holds, per column n, the word (B[2kp][n], B[2kp+1][n])
//   tdpbf16ps tmm_c, tmm_a, tmm_b: C[m][n] += sum_kp A[m][2kp] B[2kp][n] + A[m][2kp+1] B[2kp+1][n]
//   (products of two bf16 are exact in float32; the sums round to float32, denormals flush).
// Packing: gemm_amx_pack.h (B in 32-column panels of k-pair words, A in rows of kc padded to 32).
// Blocking (Goto/BLIS order, sizes counted in k values; shapes in these comments are M x K x N):
//   kKC = 1024: a packed B panel 1024 x 32 x 2 B = 64 KiB;
//   kMC = 256 rows: packed A block 256 x 1024 x 2 B = 512 KiB, in the L2 (2 MiB per core);
//   kNC = 1024 columns: packed B 1024 x 1024 x 2 B = 2 MiB;
//   inside a block, k in chunks of kKpL1 = 128 pairs (256 k values): a panel's chunk (16 KiB)
//   stays in L1 while every 32-row block of A passes it (see kKpL1 for the measurements).
// Measured with this blocking (1 thread, minima of 9 CPU-time runs in turns with PyTorch 2.13's
// oneDNN bf16 matmul, Xeon with AMX, load average 3.5-4.4, ms minidl / torch): 1024^3 1.79 / 1.73
// (before 2.42 / 1.69); x @ W^T 4096 x 256 x 1024 1.52 / 1.35 (1.97 / 1.38); g^T x 1024 x 4096 x
// 256 2.65 / 3.65 (3.55 / 3.48). The rest of the gap is the tile loop itself: one operand streams
// from L2 at any loop order of the 2 x 2 tile block (see kKpL1). Two overlaps since: the next B
// panel prefetched into L2 while the k-chunked loop sweeps the current one (PanelPrefetch,
// kPrefetchLines), and in the one-chunk loop a C block's store spread over the next block's k
// steps (PendingStore). Tried and not kept (no gain beyond noise, 1 thread, in turns in one
// process): A packed tile by tile (each 16 x 32 tile 1 KiB contiguous, rows 64 B apart), the
// C blocks waiting between chunks stored the same way, 256 k chunks, A blocks of 128 or 512 rows,
// software prefetch of A tiles into L1 (slower) or of the next A block's rows into L2.
// Where the time goes (perf, 1 thread, 1024^3): the tile loop 82%, packing B 7-8%, packing A 6%,
// the bf16 stores 3-5% (measured again in issue 18's second round: 82 / 8.3 / 6 / 3.4%). Against
// the peak (tight loops, 1 thread, CPU time): tdpbf16ps on resident tiles 4.6-4.8 ns, 1024^3's
// 131072 of them 0.60 ms; with 4 tile loads per 4 from L1 5.6-5.8 ns; the k-chunked sweep of a
// 1024^3 panel as this kernel runs it 8.3-9.0 ns (1.09-1.18 ms), of which the C blocks' drains
// (tile stores, then zero or reload) take 1.5-1.9 ns. Tried in that round and not kept (C++
// kernel, 1 thread, medians of 61-151 CPU-time runs in turns in one process, 1024^3 unless said):
// the next A block packed between the k steps of this one (into a second buffer, 16 x 32 units)
// 1.02-1.11x; B panels packed one at a time in the first A block, their source prefetched
// meanwhile 1.13-1.15x (the 2 KiB-strided source lines crowd a few L2 sets); the c_part block or
// the next B chunk prefetched into L1, 1.00-1.02x; the bf16 stores spread over the next block's
// k steps (PendingStore) in the chunked loop 1.07-1.09x; non-temporal stores of packed B 1.01-
// 1.04x; 128-row A blocks 1.07-1.09x; B packed 512 columns at a time (kNC = 512: packed B and
// the A block together in L2, A packed twice) 1.07-1.09x, 2048^3 1.01-1.05x; 176-pair chunks (microbenchmark 8.9 vs 8.3 ns); each C
// block's four tile stores interleaved with the next block's first k step: 12% in the sweep's
// microbenchmark but 0.95-1.00x in the kernel, within its code-layout noise (identical float32
// paths moved 1-3% between builds). Operands 16 bytes past a 64-byte boundary (where NumPy puts large arrays)
// cost the in-place A tiles and the C stores 13-22%: x @ W^T 4096 x 256 x 1024 1.80 ms aligned,
// 2.21 with A and C both 16 bytes off (the C++ kernel, minima of 31 in turns).
// Two entry points share the blocked loop (amx_blocked): gemm_amx_block stores float32 C with
// alpha/beta; gemm_amx_bf16_out (a Linear layer under autocast) takes the whole k range in one
// block, adds the bias and rounds to bfloat16 at the store, so the float32 C never reaches memory.
#include <algorithm>
#include <cstring>
#include <tuple>

#include "gemm_lowp.h"
#include "core/vec.h"
#include "core/pack_buffer.h"
#include "core/transpose16_simd.h"
#include "gemm_amx_pack.h"

namespace minidl {
namespace MINIDL_ISA_NS {
namespace {

#if defined(__AVX512F__) && defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__x86_64__) && \
    defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12

constexpr int64_t kKC = kAmxKC, kMC = 256, kNC = 1024;  // kAmxKC = 1024 (gemm_lowp.h)
// The tile loop streams one operand from L2 whatever the order: per k step of a 32 x 32 C block
// it loads 4 tiles (4 KiB) for 4 tdpbf16ps. Measured on this VM (Xeon with AMX, 1 thread, tight
// loops of tile loads and tdpbf16ps, CPU time): tdpbf16ps on resident tiles ~5 ns (3.3 TFLOP/s);
// both operands in L1 82% of that, one in L2 62-68%, both in L2 (a 1024 x 32 B panel of
// 64 KiB, more than the 48 KiB L1) 45%. So k runs in chunks of kKpL1 pairs: the panel's chunk,
// 256 x 32 x 2 B = 16 KiB, stays in L1 while every 32-row block of A passes it, and C blocks
// wait in float32 between chunks (4 KiB out and in per 32 tdpbf16ps). 64 / 128 / 256 pairs:
// 1024^3 2.09 / 1.96 / 2.05 ms, g^T x 1024 x 4096 x 256 3.35 / 3.25 / 3.30 ms. A constant, not
// a cache-model value: every CPU with AMX so far (Sapphire / Emerald / Granite Rapids) has a
// 48 KiB L1d, of which the chunk takes a third.
constexpr int64_t kKpL1 = 128;
// The k-chunked loop reads each B panel (1024 k x 32 columns: 64 KiB at kKC) once per A block,
// from L3 when the packed B (2 MiB at kNC x kKC) has outgrown the L2. While one panel's chunks
// sweep the A block, the next panel is prefetched into L2 (prefetcht1, PanelPrefetch), this many
// 64-byte lines per k step at most. Measured in the kernel, without -> with (1 thread, CPU time,
// minima of 21 in turns in one process, A and C 16 bytes past a 64-byte boundary as NumPy places
// them, Xeon with AMX, load average 6-7): 1024^3 2.22 -> 1.98 ms, 2048^3 23.5 -> 21.0,
// 256 x 1024 x 1024 x @ W^T 0.70 -> 0.64, 4096 x 1024 x 256 x @ W^T 2.20 -> 2.10; shapes whose
// packed B stays in L2 within noise. Tile-loop microbenchmark: 8 lines per step no better than 4.
constexpr int64_t kPrefetchLines = 4;
// Packed A rows are kc_pad + kAPad values apart: at kc_pad = 1024 (2 KiB) the 16 rows of a tile
// load fell into two L1 sets; 64 more bytes spread them (4096 x 1024 x 256 x @ W^T 1.87 -> 1.74
// ms, g^T x 1024 x 4096 x 256 3.21 -> 2.99 ms; 1024^3 within noise).
constexpr int64_t kAPad = 32;
// At most this many 32-column panels of C, a k-chunked product reads its A block in place rather
// than copying it first (amx_blocked, a_as_is: measured there).
constexpr int64_t kAInPlacePanels = 8;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

thread_local PackBuffer<uint16_t> t_amx_a;
thread_local PackBuffer<uint32_t> t_amx_b;
thread_local PackBuffer<float> t_amx_c;

// The 64-byte tile configuration (Intel SDM, LDTILECFG): palette 1, 8 tiles of 16 x 64 B.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// c[r][0..n) = alpha * acc[r] + beta * c[r], for r < m (acc: 32 x 32 float32, row stride 32)
void store_block(const float* acc, float* c, int64_t ldc, int64_t m, int64_t n, float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int h = 0; h < 2; ++h) {
    const int64_t w = n - 16 * h;
    if (w <= 0) break;
    const __mmask16 mask = w >= 16 ? __mmask16(0xffff) : __mmask16((1u << w) - 1u);
    for (int64_t r = 0; r < m; ++r) {
      float* cr = c + r * ldc + 16 * h;
      __m512 v = _mm512_loadu_ps(acc + r * kBlock + 16 * h);
      if (alpha != 1.0f) v = _mm512_mul_ps(v, va);
      if (beta == 1.0f) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, cr));
      else if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr), v);
      _mm512_mask_storeu_ps(cr, mask, v);
    }
  }
}

// c[r][0..n) = bf16(acc[r] + bias[0..n)) for r < m, bias null meaning zero: the Linear layer's
// epilogue fused into the store, so the float32 product never reaches memory. The sum is the
// one the float32 path forms (bias copied into C, then C += acc) and vcvtneps2bf16 rounds to
// nearest even, NaN to a quiet NaN, as cast_contiguous does: the same bits as
// addmm -> float32 -> cast, except for a sum below 2^-126 (a float32 subnormal), which
// vcvtneps2bf16 flushes to zero where cast_contiguous rounds it (cpp/ops/copy/copy_simd.cpp).
void store_block_bf16(const float* acc, uint16_t* c, int64_t ldc, int64_t m, int64_t n, const float* bias) {
  if (n == kBlock) {  // a whole 64-byte row of C per store (vcvtne2ps2bf16 rounds as vcvtneps2bf16)
    const __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
    for (int64_t r = 0; r < m; ++r) {
      const __m512 lo = _mm512_add_ps(_mm512_loadu_ps(acc + r * kBlock), b0);
      const __m512 hi = _mm512_add_ps(_mm512_loadu_ps(acc + r * kBlock + 16), b1);
      _mm512_storeu_si512(c + r * ldc, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    return;
  }
  for (int h = 0; h < 2; ++h) {
    const int64_t w = n - 16 * h;
    if (w <= 0) break;
    const __mmask16 mask = w >= 16 ? __mmask16(0xffff) : __mmask16((1u << w) - 1u);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + 16 * h) : _mm512_setzero_ps();
    for (int64_t r = 0; r < m; ++r) {
      const __m512 v = _mm512_add_ps(_mm512_loadu_ps(acc + r * kBlock + 16 * h), b);
      _mm256_mask_storeu_epi16(c + r * ldc + 16 * h, mask, (__m256i)_mm512_cvtneps_pbh(v));
    }
  }
}

// The 32 x 32 float32 block c_out (row stride 32) = c_in (zero when null) + the product of the
// packed A rows a0.. (two 16-row tiles; the lower one only when two_rows) and the B panel bp
// (two 16-column tiles; the right one only when two_cols) over k pairs kp0 .. kp1 (multiples of
// 16). A skipped tile's part of c_out is left as it was (the caller's finish reads only m x n).
// two_cols matters where N is 16 (a convolution with 16 output channels run as col @ W^T,
// conv_lowp.cpp): without it half of the tdpbf16ps multiplied the panel's zero columns.
// two_cols is a template parameter, and only the one-chunk loop of amx_blocked picks it per C
// block: as a run-time flag, or with both forms in the chunked loop too, 1024^3 went 1.7-1.9 ->
// 2.4-2.5 ms and 256 x 1024 x 1024 0.54-0.62 -> 0.66-0.76 ms (minima of 15 CPU-time runs, three
// alternating processes each; the cause, code layout or register allocation, not pinned down).
// between() runs after every k step: work that overlaps the tiles' (PendingStore, PanelPrefetch).
template <bool two_cols, class Between>
__attribute__((target("amx-tile,amx-bf16"), always_inline)) inline void tile_block(
    const uint16_t* a0, int64_t ld_pa, const uint32_t* bp, int64_t kp0, int64_t kp1, bool two_rows,
    const float* c_in, float* c_out, Between& between) {
  if (!c_in) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  } else {
    _tile_loadd(0, c_in, kBlock * 4);
    _tile_loadd(1, c_in + 16, kBlock * 4);
    _tile_loadd(2, c_in + 16 * kBlock, kBlock * 4);
    _tile_loadd(3, c_in + 16 * kBlock + 16, kBlock * 4);
  }
  for (int64_t kp = kp0; kp < kp1; kp += 16) {
    _tile_loadd(4, a0 + 2 * kp, ld_pa * 2);
    _tile_loadd(6, bp + kp * kBlock, kBlock * 4);
    if (two_cols) _tile_loadd(7, bp + kp * kBlock + 16, kBlock * 4);
    _tile_dpbf16ps(0, 4, 6);
    if (two_cols) _tile_dpbf16ps(1, 4, 7);
    if (two_rows) {
      _tile_loadd(5, a0 + 16 * ld_pa + 2 * kp, ld_pa * 2);
      _tile_dpbf16ps(2, 5, 6);
      if (two_cols) _tile_dpbf16ps(3, 5, 7);
    }
    between();
  }
  _tile_stored(0, c_out, kBlock * 4);
  if (two_cols) _tile_stored(1, c_out + 16, kBlock * 4);
  if (two_rows) _tile_stored(2, c_out + 16 * kBlock, kBlock * 4);
  if (two_rows && two_cols) _tile_stored(3, c_out + 16 * kBlock + 16, kBlock * 4);
}

// tile_block with two_cols chosen at run time (one branch per C block, none in the k loop)
template <class Between>
__attribute__((target("amx-tile,amx-bf16"), always_inline)) inline void tile_blocks(
    const uint16_t* a0, int64_t ld_pa, const uint32_t* bp, int64_t kp0, int64_t kp1, bool two_rows, bool two_cols,
    const float* c_in, float* c_out, Between& between) {
  if (two_cols) tile_block<true>(a0, ld_pa, bp, kp0, kp1, two_rows, c_in, c_out, between);
  else tile_block<false>(a0, ld_pa, bp, kp0, kp1, two_rows, c_in, c_out, between);
}

// A finished C block whose store waits: its rows go out a slice at a time between the k steps
// of the next block (operator(), after each k step), so that the vector work of the store
// (float32 rows read back, alpha/beta or bias, rounding) and its writes to C overlap that
// block's tiles, and the vector loads never wait for the tile stores just issued. Two acc
// buffers take turns: one being stored, one being computed. Only in the one-chunk loop of
// amx_blocked (K <= 256), where a block's store follows every 8 k steps or fewer: there, stored
// right after its own tiles, the store cost 40% over the tiles alone in x @ W^T 4096 x 256 x 1024
// with a bfloat16 C (1.53 vs 1.07-1.12 ms), interleaved 1.37-1.41 (microbenchmark of the tile
// loop, minima of 41). In the kernel, A and C 16 bytes past a 64-byte boundary as NumPy places
// them, 4096 x 256 x 64 0.192 -> 0.173 ms, 4096 x 64 x 256 x @ W^T 0.257 -> 0.245, 4096 x 256 x
// 1024 x @ W^T 2.162 -> 2.112 (minima of 21 in turns in one process). With k chunks (a store
// every 32+ k steps) it lost: 256 x 1024 x 1024 0.63 -> 0.69 ms, 512^3 0.255 -> 0.269.
// (All 1 thread, CPU time, Xeon with AMX, load average 5-7.)
template <class Finish>
struct PendingStore {
  Finish& finish;
  const float* acc = nullptr;  // null: nothing pending
  int64_t i = 0, j = 0, m = 0, n = 0, pc = 0, row = 0, rows_per_step = kBlock;
  void operator()() {
    if (acc && row < m) {
      const int64_t r1 = min64(m, row + rows_per_step);
      finish(acc + row * kBlock, i + row, j, r1 - row, n, pc);
      row = r1;
    }
  }
  void flush() {
    if (acc && row < m) finish(acc + row * kBlock, i + row, j, m - row, n, pc);
    acc = nullptr;
  }
  // the block just computed into `block` (C rows i.., columns j.., m x n real) waits its turn;
  // steps: the k steps of the next tile_block call (the rows are spread over them)
  void hand_over(const float* block, int64_t i_, int64_t j_, int64_t m_, int64_t n_, int64_t pc_, int64_t steps) {
    flush();
    acc = block, i = i_, j = j_, m = m_, n = n_, pc = pc_, row = 0;
    rows_per_step = (kBlock + steps - 1) / steps;
  }
};

// The k-chunked loop's between-steps work: the next B panel's lines into L2 (prefetcht1), at
// most kPrefetchLines per k step, while this panel's chunks sweep the A block (see there).
struct PanelPrefetch {
  const char* next = nullptr;
  const char* end = nullptr;
  int64_t lines_per_step = 0;
  void operator()() {
    if (next < end) {
      for (int64_t l = 0; l < lines_per_step; ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T1);
      next += 64 * lines_per_step;
    }
  }
};

// The lines of a C block that finish() is going to write, requested into L1 (prefetcht0) a few
// rows at a time over the k steps of the block before it in the k-chunked loop, so that its
// stores do not each wait for a line read in from L3 or memory (a store to a line not in the
// cache reads it first). prefetchw measured the same (2048^3 16.1 / 16.1 ms, medians of 21 in
// turns) and needs a target attribute that kept this out of the inlined tile loop.
struct CBlockPrefetch {
  char* c = nullptr;           // C[0][0]
  int64_t ld_bytes = 0, elem_bytes = 0;
  const char* row = nullptr;   // the next row to request, rows_left of them, lines_per_row each
  int64_t rows_left = 0, lines_per_row = 0, rows_per_step = 0;
  void start(int64_t i, int64_t j, int64_t m, int64_t n, int64_t steps) {
    row = c + i * ld_bytes + j * elem_bytes;
    rows_left = m;
    lines_per_row = (reinterpret_cast<uintptr_t>(row) % 64 + n * elem_bytes + 63) / 64;
    rows_per_step = (m + steps - 1) / steps;
  }
  void operator()() {
    for (int64_t r = 0; r < rows_per_step && rows_left > 0; ++r, --rows_left, row += ld_bytes)
      for (int64_t l = 0; l < lines_per_row; ++l) _mm_prefetch(row + 64 * l, _MM_HINT_T0);
  }
};

// Only where the hardware cannot: its L2 streamer follows accesses within a 4 KiB page, and C
// rows 2 KiB or more apart put at most two rows of a block into a page. Measured in the kernel
// (1 thread, CPU time, medians of 61-101 in turns in one process, operands 64-byte aligned, Xeon
// with AMX): bf16 C 2048^3 16.0 -> 14.7 ms, 1024^3 within noise (1.61 / 1.61) at load average
// 2-5 but 2.04-2.25 -> 1.87-1.96 at 8-10, where other processes evict C between the calls.
// With closer rows the requests cost 2-3% (N = 256: 4096 x 1024 x 256 bf16 C, x @ W^T 1.73 ->
// 1.78 ms; the weight gradient 1024 x 4096 x 256 float32 C 2.21 -> 2.28).
CBlockPrefetch c_block_prefetch(void* C, int64_t ldc, int64_t elem_bytes) {
  CBlockPrefetch p;
  if (ldc * elem_bytes >= 2048) p.c = static_cast<char*>(C), p.ld_bytes = ldc * elem_bytes, p.elem_bytes = elem_bytes;
  return p;
}

template <class... Work>
struct BetweenAll {
  std::tuple<Work&...> work;
  void operator()() {
    std::apply([](auto&... w) { (w(), ...); }, work);
  }
};

// The blocked product; finish(acc, i, j, m, n, pc) writes the 32 x 32 float32 block `acc` of
// C rows i.., columns j.. (m x n of it are real) computed over k values pc .. pc + kc_block.
template <class Finish>
__attribute__((target("amx-tile,amx-bf16")))
void amx_blocked(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                 const uint16_t* B, int64_t ldb, int64_t kc_block, int64_t mc_block, CBlockPrefetch c_prefetch,
                 Finish finish) {
  const int64_t kc_max = round_up(min64(K, kc_block), kBlock);
  uint16_t* pa = t_amx_a.get(round_up(min64(M, mc_block), kBlock) * (kc_max + kAPad));
  uint32_t* pb = t_amx_b.get(round_up(min64(N, kNC), kBlock) * kc_max / 2);
  alignas(64) float acc_pair[2][kBlock * kBlock];
  float* acc = acc_pair[0];
  int turn = 0;
  PendingStore<Finish> pending{finish};
  PanelPrefetch prefetch;
  BetweenAll<PanelPrefetch, CBlockPrefetch> chunk_between{{prefetch, c_prefetch}};
  float* c_part = t_amx_c.get(round_up(min64(M, mc_block), kBlock) * kBlock);
  TileConfig config;
  _tile_loadconfig(&config);  // per thread: the tile state belongs to the thread that loads it
  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = min64(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_block) {
      const int64_t kc = min64(kc_block, K - pc), kc_pad = round_up(kc, kBlock), kp_pad = kc_pad / 2;
      const int64_t ld_pa = kc_pad + kAPad;
      pack_b_pairs(tb, B, ldb, pc, jc, kc, nc, kp_pad, pb);
      for (int64_t ic = 0; ic < M; ic += mc_block) {
        const int64_t mc = min64(mc_block, M - ic), mc_pad = round_up(mc, kBlock);
        // A rows that tiles can load as they are: not transposed, whole 32-value k steps, whole
        // 16-row tiles, one k chunk (the convolution's column matrix, conv_lowp.cpp, whose rows
        // are padded with zeros to a multiple of 32 for this): the copy into pa cost more than the
        // tiles' work there. With the one-column tiles of tile_block, ms before -> after (1 thread,
        // Xeon with AMX, minima of 15 CPU-time runs, three alternating processes each, load
        // average 0.6-0.7): the 16->16 @32x32 convolution's block 256 x 160 x 16 (x @ W^T)
        // 0.005 -> 0.002-0.003, 4096 x 256 x 64 0.17-0.20 -> 0.11-0.15, 4096 x 64 x 256 (x @ W^T)
        // 0.20-0.24 -> 0.16-0.20; 1024^3, 256 x 1024 x 1024 (k in chunks: packed as before) and
        // 1024 x 4096 x 256 g^T within noise.
        //
        // With several k chunks too where C has at most kAInPlacePanels column panels, so that
        // the A block is read at most that many times. The copy costs one pass over the block
        // (read A, write pa); reading A in place costs more per pass than reading pa (A's rows
        // unpadded: at lda = 1024 a tile's 16 rows fall into 2 of the 64 L1 sets, see kAPad; the
        // tile loop microbenchmark 10.3 vs 9.1 ns per tdpbf16ps), so in place wins while the
        // passes are few. First (C at most two panels and a tile's rows in 16 different L1 sets,
        // 1 thread, Xeon with AMX, batch 64, minima of 15 CPU-time runs in two alternating
        // processes, load average 3.9-4.2): the convolution's forward with 32 or 64 channels per
        // group run transposed (conv_lowp.cpp) 32->32 @16x16 1.16-1.22 -> 0.80-0.91 ms, 64->64
        // @8x8 0.76-0.81 -> 0.66-0.67 ms. Then up to 8 panels, whatever lda (C++ kernel, 1 thread,
        // CPU time, medians of 41-61 in turns in one process, aligned operands, load average 4-5,
        // ms copied -> in place): the GPT block's x @ W^T 4096 x 1024 x 256 1.79-1.88 -> 1.67-1.77,
        // its input gradients g @ W 4096 x 768 x 256 1.36 -> 1.24-1.25 and 4096 x 1024 x 256
        // 1.80-1.81 -> 1.68-1.70; 4096 x 512 x 256 0.95 -> 0.86, 4096 x 1024 x 128 1.14 -> 0.97,
        // x @ W^T 4096 x 1024 x 64 (lda = 1024) 0.78 -> 0.59. Past that the passes add up: 12 panels
        // within noise (4096 x 384 x 384 x @ W^T 1.03 / 1.01, 4096 x 1536 x 384 4.27 / 4.12), 16
        // (4096 x 1024 x 512 3.87 / 3.96) and 32 (1024^3 1.57-1.62 / 1.63-1.69) slower, and once
        // (an older kernel) x @ W^T 4096 x 384 x 1536 5.0-6.6 -> 10.6-11.5 ms. Only with A's rows
        // on 64-byte boundaries: 16 bytes off, every tile row spans two lines, and in place lost
        // (1040 x 4096 x 256 2.04 -> 2.90 ms, 4100 x 544 x 256 x @ W^T 1.01 -> 1.27; aligned 2.31
        // -> 2.27 and 1.14 -> 0.91).
        const bool a_aligned = reinterpret_cast<uintptr_t>(A + pc) % 64 == 0 && lda % 32 == 0;
        const bool a_as_is = !ta && kc == kc_pad && mc % 16 == 0 &&
                             (kp_pad <= kKpL1 || (N <= kAInPlacePanels * kBlock && a_aligned));
        const uint16_t* pa_used = a_as_is ? A + ic * lda + pc : pa;
        const int64_t ld_used = a_as_is ? lda : ld_pa;
        if (!a_as_is) pack_a_rows(ta, A, lda, ic, pc, mc, kc, mc_pad, kc_pad, ld_pa, pa);
        auto panel = [&](int64_t jr) { return pb + (jr / kBlock) * kp_pad * kBlock; };
        // One chunk (k <= 256): 32-row blocks outside, so each block row of C is written in
        // address order (4096 x 256 x 1024 x @ W^T 1.84 -> 1.53 ms, 256 x 256 x 4096 0.60 ->
        // 0.52 ms; 4096 x 256 x 256 within noise). With several chunks this order, C blocks
        // waiting across a whole block row, lost 3-35% (1024^3 1.71 -> 2.27 ms).
        if (kp_pad <= kKpL1) {
          for (int64_t ir = 0; ir < mc; ir += kBlock)
            for (int64_t jr = 0; jr < nc; jr += kBlock) {
              float* block = acc_pair[turn ^= 1];
              tile_blocks(pa_used + ir * ld_used, ld_used, panel(jr), 0, kp_pad, mc - ir > 16, nc - jr > 16, nullptr,
                          block, pending);
              pending.hand_over(block, ic + ir, jc + jr, min64(kBlock, mc - ir), min64(kBlock, nc - jr), pc, kp_pad / 16);
            }
          pending.flush();
          continue;
        }
        // the next panel's lines, spread over this panel's k steps (at most kPrefetchLines each)
        const int64_t panel_lines = kp_pad * kBlock * 4 / 64, panel_steps = (mc_pad / kBlock) * (kp_pad / 16);
        prefetch.lines_per_step = min64(kPrefetchLines, (panel_lines + panel_steps - 1) / panel_steps);
        for (int64_t jr = 0; jr < nc; jr += kBlock) {
          prefetch.next = jr + kBlock < nc ? reinterpret_cast<const char*>(panel(jr + kBlock)) : nullptr;
          prefetch.end = prefetch.next ? prefetch.next + panel_lines * 64 : nullptr;
          // k in chunks of kKpL1 pairs, each sweeping every 32-row block of the A block while
          // its part of the B panel stays in L1; between chunks a C block waits in c_part
          for (int64_t kp0 = 0; kp0 < kp_pad; kp0 += kKpL1) {
            const int64_t kp1 = min64(kp_pad, kp0 + kKpL1);
            for (int64_t ir = 0; ir < mc; ir += kBlock) {
              float* part = c_part + ir * kBlock;
              // the C block after this one, when it is finished: its lines on their way meanwhile
              const int64_t ir_next = ir + kBlock < mc ? ir + kBlock : 0, kp0_next = ir + kBlock < mc ? kp0 : kp1;
              c_prefetch.rows_left = 0;
              if (c_prefetch.c && kp0_next < kp_pad && kp0_next + kKpL1 >= kp_pad)
                c_prefetch.start(ic + ir_next, jc + jr, min64(kBlock, mc - ir_next), min64(kBlock, nc - jr), (kp1 - kp0) / 16);
              tile_block<true>(pa_used + ir * ld_used, ld_used, panel(jr), kp0, kp1, mc - ir > 16, kp0 ? part : nullptr,
                               kp1 == kp_pad ? acc : part, chunk_between);
              if (kp1 == kp_pad)
                finish(acc, ic + ir, jc + jr, min64(kBlock, mc - ir), min64(kBlock, nc - jr), pc);
            }
          }
        }
      }
    }
  }
  _tile_release();
}

void gemm_amx_block(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                    int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  amx_blocked(ta, tb, M, N, K, A, lda, B, ldb, kKC, kMC, c_block_prefetch(C, ldc, 4),
              [&](const float* acc, int64_t i, int64_t j, int64_t m, int64_t n, int64_t pc) {
                store_block(acc, C + i * ldc + j, ldc, m, n, alpha, pc == 0 ? beta : 1.0f);
              });
}

// C = bf16(A B + bias) with the whole k range in one block (K <= kBf16OutMaxK): one pass of
// tiles per C block, so the rounding can happen at the store. The A block shrinks as k grows so
// that it stays near 512 KiB of L2 (256 rows at K = 1024, 128 at 2048, 64 at 4096); where that
// costs more than two passes, gemm_bf16_out (gemm_lowp.cpp) does not call it (see kAmxKC).
void gemm_amx_bf16_out(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                       const uint16_t* B, int64_t ldb, const float* bias, uint16_t* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;  // K = 0 is the caller's (a row of bias, no product)
  const int64_t kc_pad = round_up(K, kBlock);
  const int64_t mc = std::max<int64_t>(kBlock, min64(kMC, (kMC * kKC / kc_pad) / kBlock * kBlock));
  amx_blocked(ta, tb, M, N, K, A, lda, B, ldb, kc_pad, mc, c_block_prefetch(C, ldc, 2),
              [&](const float* acc, int64_t i, int64_t j, int64_t m, int64_t n, int64_t) {
                store_block_bf16(acc, C + i * ldc + j, ldc, m, n, bias ? bias + j : nullptr);
              });
}

}  // namespace
extern const GemmBf16Simd gemm_amx_simd = {&gemm_amx_block, static_cast<int>(kBlock), static_cast<int>(kBlock),
                                          &gemm_amx_bf16_out};

#else  // no AMX in this build: gemm_lowp.cpp uses the vdpbf16ps kernel or widens to float32

}  // namespace
extern const GemmBf16Simd gemm_amx_simd = {nullptr, 0, 0, nullptr};

#endif

}  // namespace MINIDL_ISA_NS
}  // namespace minidl
