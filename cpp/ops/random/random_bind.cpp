// Bindings for the random generator (cpp/ops/random/): seed and state, and the arrays drawn
// from it (uniform, normal, integers, permutations, Bernoulli masks).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "random.h"

namespace minidl_py {
using namespace minidl;

namespace {

std::vector<int64_t> checked_shape(const std::vector<int64_t>& shape, const char* what) {
  for (int64_t s : shape)
    if (s < 0) throw py::value_error(std::string(what) + ": negative dimension " + std::to_string(s) + " in size " + shape_str(shape));
  return shape;
}

}  // namespace

void register_random(py::module_& m) {
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); });
  m.def("initial_seed", &initial_seed);
  m.def("get_rng_state", []() {
    uint64_t s[4];
    get_rng_state(s);
    return std::vector<uint64_t>(s, s + 4);
  });
  m.def("set_rng_state", [](const std::vector<uint64_t>& s) {
    if (s.size() != 4) throw py::value_error("rng state must have 4 words");
    set_rng_state(s.data());
  });
  m.def("rand", [](const std::vector<int64_t>& shape, DType dt, double low, double high) {
    py::array out = empty_array(dt, checked_shape(shape, "rand"));
    fill_uniform(out.mutable_data(), dt, out.size(), low, high);
    return out;
  });
  m.def("randn", [](const std::vector<int64_t>& shape, DType dt, double mean, double std) {
    py::array out = empty_array(dt, checked_shape(shape, "randn"));
    fill_normal(out.mutable_data(), dt, out.size(), mean, std);
    return out;
  });
  m.def("randint", [](int64_t low, int64_t high, const std::vector<int64_t>& shape) {
    py::array out = empty_array(DType::i64, checked_shape(shape, "randint"));
    fill_randint(static_cast<int64_t*>(out.mutable_data()), out.size(), low, high);
    return out;
  });
  m.def("randperm", [](int64_t n) {
    if (n < 0) throw py::value_error("randperm: n must be non-negative, got " + std::to_string(n));
    py::array out = empty_array(DType::i64, {n});
    randperm(static_cast<int64_t*>(out.mutable_data()), n);
    return out;
  });
  m.def("bernoulli", [](const std::vector<int64_t>& shape, double p) {
    py::array out = empty_array(DType::b8, checked_shape(shape, "bernoulli"));
    fill_bernoulli(static_cast<uint8_t*>(out.mutable_data()), out.size(), p);
    return out;
  });
}

}  // namespace minidl_py
