// Software prefetch of the rows the next piece of work will read or write, issued a few cache
// lines at a time while the current piece computes.
//
// A kernel that walks its work item by item (a head, a tile) and computes each from L1/L2 finds
// the next item's operands still in memory: the first touch of each line stalls, and the
// hardware prefetchers only start after a few misses of a stream. Issuing the next item's lines
// spread over the current item's inner loop (step(n) per row, say) lets the memory traffic run
// under the arithmetic instead of between items. A burst of all lines at once would not: the
// prefetches wait for the core's few line-fill buffers (10-16) like loads do. In the fused
// attention (cpp/ops/attention/attention.cpp and attention_backward.cpp: the next item's
// rows, a few lines per softmax row) it took the GPT block's attention (forward / backward, best of 40 runs in each of 4 pairs of
// processes) from 7.1-8.0 / 15.2-16.6 ms to 6.4-7.0 / 14.7-15.9 ms (1 thread, CPU time, Intel
// Xeon family 6 model 167, load ~7): by perf, the copies out of dK, dV, dQ 14% -> 5% of the
// backward, D = rowsum(dO O) 5.6% -> 1.9%, plus the prefetches' own waits, 10%. Every line is
// asked for: one line per 256 bytes, leaving the rest to the L2 stream prefetcher, measured
// slower (the GPT block's attention backward, 1 thread, Intel Xeon family 6 model 167, load
// ~4: medians 15.7-17.4 -> 17.4-18.9 ms).
//
// Lines are taken as 64 bytes (x86); a CPU with 128-byte lines is asked for each line twice, which
// costs an instruction and nothing else. The hint is "into L2" (locality 2 = prefetcht1): the item
// works from L1 tiles of what it reads, and L2 holds the whole next item.
#pragma once
#include <cstdint>

namespace minidl {

class RowPrefetch {
 public:
  // `rows` rows of `row_bytes` bytes each, `stride_bytes` apart, from p; write: the rows will be
  // written (a prefetchw where the build targets one)
  void add(const void* p, int64_t rows, int64_t stride_bytes, int64_t row_bytes, bool write) {
    if (p == nullptr || rows <= 0 || row_bytes <= 0 || count_ == kMaxRanges) return;
    ranges_[count_++] = {static_cast<const char*>(p), rows, stride_bytes, row_bytes, write};
    lines_ += rows * (row_bytes / kLine + 1);
  }
  // lines added and not issued yet (at most; a row that starts on a line boundary has one less)
  int64_t lines_left() const { return lines_; }
  // issue up to n line prefetches, in the order the ranges were added
  void step(int64_t n) {
    for (; n > 0 && cur_ < count_; --n) {
      const Range& r = ranges_[cur_];
      const char* row = r.p + row_ * r.stride;
      const char* line = row - (reinterpret_cast<uintptr_t>(row) & (kLine - 1)) + off_;  // the lines the row touches
      if (r.write)
        __builtin_prefetch(line, 1, 2);
      else
        __builtin_prefetch(line, 0, 2);
      --lines_;
      off_ += kLine;
      if (line + kLine >= row + r.row_bytes) {
        off_ = 0;
        if (++row_ == r.rows) row_ = 0, ++cur_;
      }
    }
  }

 private:
  static constexpr int kMaxRanges = 8;
  static constexpr int64_t kLine = 64;
  struct Range {
    const char* p;
    int64_t rows, stride, row_bytes;
    bool write;
  };
  Range ranges_[kMaxRanges];
  int count_ = 0, cur_ = 0;
  int64_t row_ = 0, off_ = 0, lines_ = 0;
};

}  // namespace minidl
