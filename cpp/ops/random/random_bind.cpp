// Bindings for the random generators (cpp/ops/random/): the Rng class behind md.Generator
// (seed and state), and the arrays drawn from one (uniform, normal, integers, permutations,
// Bernoulli masks, the in-place distributions, Poisson, multinomial). Every draw takes `rng`,
// an Rng or None for the default one (md.default_generator).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "random.h"

namespace minidl_py {
using namespace minidl;

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::vector<int64_t> checked_shape(const std::vector<int64_t>& shape, const char* what) {
  for (int64_t s : shape)
    if (s < 0) throw py::value_error(std::string(what) + ": negative dimension " + std::to_string(s) + " in size " + shape_str(shape));
  return shape;
}

Rng& chosen(Rng* rng) { return rng != nullptr ? *rng : default_rng(); }

// a float64 array of `shape` filled by fill(rng, data, n)
template <class Fill>
py::array draw_f64(const std::vector<int64_t>& shape, Rng* rng, const char* what, Fill fill) {
  py::array out = empty_array(DType::f64, checked_shape(shape, what));
  fill(chosen(rng), static_cast<double*>(out.mutable_data()), static_cast<int64_t>(out.size()));
  return out;
}

// a float64 array shaped like `param`, out[i] drawn with parameter param[i]; a KernelError
// (a bad parameter) becomes RuntimeError with PyTorch's message in front of minidl's detail
template <class Fill>
py::array draw_per_element(const DoubleArray& param, Rng* rng, const char* torch_message, Fill fill) {
  py::array out = empty_array(DType::f64, shape_of(param));
  try {
    fill(chosen(rng), static_cast<double*>(out.mutable_data()), param.data(), static_cast<int64_t>(out.size()));
  } catch (const KernelError& e) {
    throw std::runtime_error(std::string(torch_message) + " (" + e.what() + ")");
  }
  return out;
}

}  // namespace

void register_random(py::module_& m) {
  py::class_<Rng>(m, "Rng", "one xoshiro256** stream: the state of an md.Generator")
      .def(py::init<uint64_t>(), py::arg("seed") = Rng::kDefaultSeed)
      .def("manual_seed", &Rng::manual_seed)
      .def_readonly("seed", &Rng::seed)
      .def("get_state", [](const Rng& r) { return std::vector<uint64_t>(r.state, r.state + 4); })
      .def("set_state", [](Rng& r, const std::vector<uint64_t>& s) {
        if (s.size() != 4) throw py::value_error("rng state must have 4 words, got " + std::to_string(s.size()));
        if ((s[0] | s[1] | s[2] | s[3]) == 0) throw py::value_error("rng state must not be all zeros (xoshiro256** would stay at 0)");
        for (int i = 0; i < 4; ++i) r.state[i] = s[i];
      });
  m.def("default_rng", &default_rng, py::return_value_policy::reference);

  const auto rng_arg = py::arg("rng") = static_cast<Rng*>(nullptr);
  m.def("rand", [](const std::vector<int64_t>& shape, DType dt, double low, double high, Rng* rng) {
    py::array out = empty_array(dt, checked_shape(shape, "rand"));
    fill_uniform(chosen(rng), out.mutable_data(), dt, out.size(), low, high);
    return out;
  }, py::arg("shape"), py::arg("dtype"), py::arg("low"), py::arg("high"), rng_arg);
  m.def("randn", [](const std::vector<int64_t>& shape, DType dt, double mean, double std, Rng* rng) {
    py::array out = empty_array(dt, checked_shape(shape, "randn"));
    fill_normal(chosen(rng), out.mutable_data(), dt, out.size(), mean, std);
    return out;
  }, py::arg("shape"), py::arg("dtype"), py::arg("mean"), py::arg("std"), rng_arg);
  m.def("randint", [](int64_t low, int64_t high, const std::vector<int64_t>& shape, Rng* rng) {
    py::array out = empty_array(DType::i64, checked_shape(shape, "randint"));
    fill_randint(chosen(rng), static_cast<int64_t*>(out.mutable_data()), out.size(), low, high);
    return out;
  }, py::arg("low"), py::arg("high"), py::arg("shape"), rng_arg);
  m.def("randperm", [](int64_t n, Rng* rng) {
    if (n < 0) throw py::value_error("randperm: n must be non-negative, got " + std::to_string(n));
    py::array out = empty_array(DType::i64, {n});
    randperm(chosen(rng), static_cast<int64_t*>(out.mutable_data()), n);
    return out;
  }, py::arg("n"), rng_arg);
  m.def("bernoulli", [](const std::vector<int64_t>& shape, double p, Rng* rng) {
    py::array out = empty_array(DType::b8, checked_shape(shape, "bernoulli"));
    fill_bernoulli(chosen(rng), static_cast<uint8_t*>(out.mutable_data()), out.size(), p);
    return out;
  }, py::arg("shape"), py::arg("p"), rng_arg);

  m.def("bernoulli_tensor", [](const DoubleArray& p, Rng* rng) {
    return draw_per_element(p, rng, "Expected p_in >= 0 && p_in <= 1 to be true, but got false.",
                            [](Rng& r, double* o, const double* pp, int64_t n) { fill_bernoulli_tensor(r, o, pp, n); });
  }, py::arg("p"), rng_arg);
  m.def("poisson", [](const DoubleArray& rate, Rng* rng) {
    return draw_per_element(rate, rng, "invalid Poisson rate, expected rate to be non-negative",
                            [](Rng& r, double* o, const double* rr, int64_t n) { fill_poisson(r, o, rr, n); });
  }, py::arg("rate"), rng_arg);
  m.def("multinomial", [](const py::array& weights_in, int64_t num_samples, bool replacement, Rng* rng) {
    if (weights_in.ndim() != 2) throw py::value_error("multinomial: weights must be 2-D (rows, categories)");
    const DType dt = float_dtype(weights_in, "multinomial");
    py::array weights = contiguous(weights_in);
    const int64_t rows = weights.shape(0), categories = weights.shape(1);
    py::array out = empty_array(DType::i64, {rows, num_samples > 0 ? num_samples : 0});
    try {
      multinomial(chosen(rng), dt, weights.data(), rows, categories, num_samples, replacement,
                  static_cast<int64_t*>(out.mutable_data()));
    } catch (const KernelError& e) {
      throw std::runtime_error(e.what());  // PyTorch raises these as RuntimeError
    }
    return out;
  }, py::arg("weights"), py::arg("num_samples"), py::arg("replacement"), rng_arg);
  m.def("exponential", [](const std::vector<int64_t>& shape, double lambda, Rng* rng) {
    return draw_f64(shape, rng, "exponential_", [=](Rng& r, double* o, int64_t n) { fill_exponential(r, o, n, lambda); });
  }, py::arg("shape"), py::arg("lambd"), rng_arg);
  m.def("geometric", [](const std::vector<int64_t>& shape, double p, Rng* rng) {
    return draw_f64(shape, rng, "geometric_", [=](Rng& r, double* o, int64_t n) { fill_geometric(r, o, n, p); });
  }, py::arg("shape"), py::arg("p"), rng_arg);
  m.def("cauchy", [](const std::vector<int64_t>& shape, double median, double sigma, Rng* rng) {
    return draw_f64(shape, rng, "cauchy_", [=](Rng& r, double* o, int64_t n) { fill_cauchy(r, o, n, median, sigma); });
  }, py::arg("shape"), py::arg("median"), py::arg("sigma"), rng_arg);
  m.def("log_normal", [](const std::vector<int64_t>& shape, double mean, double std, Rng* rng) {
    return draw_f64(shape, rng, "log_normal_", [=](Rng& r, double* o, int64_t n) { fill_log_normal(r, o, n, mean, std); });
  }, py::arg("shape"), py::arg("mean"), py::arg("std"), rng_arg);
}

}  // namespace minidl_py
