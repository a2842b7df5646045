// The remembered choices of one kernel family tuned by measurement (issue 18 item 1): the
// float32 and 16-bit convolution's path (ops/conv/conv_tune.cpp) and the RNN time loop's thread
// split (ops/rnn/rnn_tune.cpp). A shape class's name maps to its choice; every call of a tuned
// kernel looks its class up (a shared lock: many readers at once), a class is written once
// (measured on its first use, or read from the cache file by python/minidl/tuning.py), and the
// whole table is listed when the cache file is saved. The 16-bit GEMM keeps its own table keyed
// by a packed integer (gemm_lowp_tune.cpp: a lookup per product, where a string would cost).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace minidl {

template <class Choice>
class ChoiceTable {
 public:
  bool find(const std::string& shape_class, Choice* choice) const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto it = table_.find(shape_class);
    if (it == table_.end()) return false;
    *choice = it->second;
    return true;
  }
  void set(const std::string& shape_class, Choice choice) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    table_[shape_class] = choice;
  }
  void set_measured(const std::string& shape_class, Choice choice) {
    set(shape_class, choice);
    ++measurements_;
  }
  void clear() {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    table_.clear();
  }
  // (shape class, name(choice)) for every entry, in the order of the class names
  template <class NameOf>
  std::vector<std::pair<std::string, std::string>> named(const NameOf& name_of) const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : table_) out.emplace_back(kv.first, name_of(kv.second));
    return out;
  }
  uint64_t measurements() const { return measurements_; }

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, Choice> table_;
  std::atomic<uint64_t> measurements_{0};
};

// a shape class's batch or sequence length: n rounded up to a power of two (a class covers a
// factor of two, so a first use measures a handful of classes, not one per size)
inline int64_t pow2_at_least(int64_t n) {
  int64_t p = 1;
  while (p < n && p < (int64_t(1) << 40)) p <<= 1;
  return p;
}

}  // namespace minidl
