// Bindings for the recurrent layer kernels (cpp/ops/rnn/rnn.cpp). python/minidl/nn/rnn.py
// checks the user's arguments and writes PyTorch's error messages; the checks here only keep
// the kernels in bounds (every array's shape against x (T, B, I) and W_hh (G H, H)).
#include "bindings/convert.h"
#include "bindings/register.h"
#include "rnn.h"
#include "rnn_tune.h"

namespace minidl_py {
using namespace minidl;

namespace {

struct Checked {
  RnnMode mode;
  DType dtype;
  RnnShape shape;
};

void expect(const py::array& a, const std::vector<int64_t>& shape, DType dtype, const char* name) {
  if (shape_of(a) != shape)
    throw py::value_error(std::string("rnn: ") + name + " has shape " + shape_str(a) + ", expected " + shape_str(shape));
  if (dtype_of(a) != dtype)
    throw py::type_error(std::string("rnn: ") + name + " has dtype " + dtype_name(dtype_of(a)) + ", expected " +
                         dtype_name(dtype));
}

const void* opt_data(const py::object& o) { return o.is_none() ? nullptr : o.cast<py::array>().data(); }

// x (T, B, I), W_hh (G H, H) fix every other shape
Checked check(RnnMode mode, const py::array& x, const py::array& w_ih, const py::array& w_hh, const py::array& h0,
              const py::object& c0, const py::object& b_ih, const py::object& b_hh, bool reverse) {
  Checked c;
  c.mode = mode;  // one of the four: _C.RnnMode has no int constructor
  c.dtype = float_dtype(x, "rnn");
  if (x.ndim() != 3) throw py::value_error("rnn: x must be (T, B, I), got " + shape_str(x));
  if (w_hh.ndim() != 2) throw py::value_error("rnn: weight_hh must be 2-D, got " + shape_str(w_hh));
  const int64_t G = rnn_gate_count(c.mode), H = w_hh.shape(1);
  c.shape = RnnShape{x.shape(0), x.shape(1), x.shape(2), H, reverse};
  expect(w_hh, {G * H, H}, c.dtype, "weight_hh");
  expect(w_ih, {G * H, c.shape.input}, c.dtype, "weight_ih");
  expect(h0, {c.shape.batch, H}, c.dtype, "h0");
  if (c.mode == RnnMode::lstm) {
    if (c0.is_none()) throw py::value_error("rnn: the LSTM needs c0");
    expect(c0.cast<py::array>(), {c.shape.batch, H}, c.dtype, "c0");
  }
  if (!b_ih.is_none()) expect(b_ih.cast<py::array>(), {G * H}, c.dtype, "bias_ih");
  if (!b_hh.is_none()) expect(b_hh.cast<py::array>(), {G * H}, c.dtype, "bias_hh");
  return c;
}

// lengths: None or an int64 array (B,) of valid steps per row, each in [0, T] (the Python
// layer has already checked PyTorch's rules; this keeps the kernel's reads in bounds)
py::object checked_lengths(const py::object& lengths_in, const RnnShape& s) {
  if (lengths_in.is_none()) return lengths_in;
  py::array_t<int64_t, py::array::c_style | py::array::forcecast> lengths(lengths_in);
  if (lengths.ndim() != 1 || lengths.shape(0) != s.batch)
    throw py::value_error("rnn: lengths must be (B,) = (" + std::to_string(s.batch) + ",), got " + shape_str(lengths));
  for (int64_t b = 0; b < s.batch; ++b)
    if (lengths.at(b) < 0 || lengths.at(b) > s.seq)
      throw py::value_error("rnn: lengths[" + std::to_string(b) + "] = " + std::to_string(lengths.at(b)) +
                            " is outside [0, " + std::to_string(s.seq) + "]");
  return std::move(lengths);
}

py::object contiguous_opt(const py::object& o) {
  return o.is_none() ? o : py::object(contiguous(o.cast<py::array>()));
}

// -> (y (T, B, H), h_n (B, H), c_n or None, cell (T, B, H) or None, work (T, B, *))
py::tuple rnn_forward_op(RnnMode mode, const py::array& x_in, const py::array& h0_in, const py::object& c0_in,
                         const py::array& w_ih_in, const py::array& w_hh_in, const py::object& b_ih_in,
                         const py::object& b_hh_in, bool reverse, const py::object& lengths_in) {
  py::array x = contiguous(x_in), h0 = contiguous(h0_in), w_ih = contiguous(w_ih_in), w_hh = contiguous(w_hh_in);
  py::object c0 = contiguous_opt(c0_in), b_ih = contiguous_opt(b_ih_in), b_hh = contiguous_opt(b_hh_in);
  Checked c = check(mode, x, w_ih, w_hh, h0, c0, b_ih, b_hh, reverse);
  const py::object lengths = checked_lengths(lengths_in, c.shape);
  c.shape.lengths = static_cast<const int64_t*>(opt_data(lengths));
  const RnnShape& s = c.shape;
  const bool lstm = c.mode == RnnMode::lstm;
  py::array y = empty_array(c.dtype, {s.seq, s.batch, s.hidden});
  py::array h_n = empty_array(c.dtype, {s.batch, s.hidden});
  py::array work = empty_array(c.dtype, {s.seq, s.batch, rnn_work_size(c.mode, s.hidden)});
  py::object c_n = py::none(), cell = py::none();
  if (lstm) {
    c_n = empty_array(c.dtype, {s.batch, s.hidden});
    cell = empty_array(c.dtype, {s.seq, s.batch, s.hidden});
  }
  // every pointer is taken while the GIL is held (casts touch reference counts)
  const void *pc0 = opt_data(c0), *pb_ih = opt_data(b_ih), *pb_hh = opt_data(b_hh);
  void* pc_n = lstm ? c_n.cast<py::array>().mutable_data() : nullptr;
  void* pcell = lstm ? cell.cast<py::array>().mutable_data() : nullptr;
  {
    MaybeReleaseGil nogil(work.size() * 8);
    rnn_forward(c.mode, c.dtype, s, x.data(), h0.data(), pc0, w_ih.data(), w_hh.data(), pb_ih, pb_hh,
                y.mutable_data(), h_n.mutable_data(), pc_n, pcell, work.mutable_data());
  }
  return py::make_tuple(y, h_n, c_n, cell, work);
}

// -> (gx, gh0, gc0, gw_ih, gw_hh, gb_ih, gb_hh), None where not wanted
py::tuple rnn_backward_op(RnnMode mode, const py::array& x_in, const py::array& h0_in, const py::object& c0_in,
                          const py::array& w_ih_in, const py::array& w_hh_in, const py::array& y_in,
                          const py::object& cell_in, const py::array& work_in, const py::object& gy_in,
                          const py::object& gh_n_in, const py::object& gc_n_in, bool reverse, bool want_x,
                          bool want_h0, bool want_c0, bool want_w, bool want_b, const py::object& lengths_in) {
  py::array x = contiguous(x_in), h0 = contiguous(h0_in), w_ih = contiguous(w_ih_in), w_hh = contiguous(w_hh_in);
  py::array y = contiguous(y_in), work = contiguous(work_in);
  py::object c0 = contiguous_opt(c0_in), cell = contiguous_opt(cell_in);
  py::object gy = contiguous_opt(gy_in), gh_n = contiguous_opt(gh_n_in), gc_n = contiguous_opt(gc_n_in);
  Checked c = check(mode, x, w_ih, w_hh, h0, c0, py::none(), py::none(), reverse);
  const py::object lengths = checked_lengths(lengths_in, c.shape);
  c.shape.lengths = static_cast<const int64_t*>(opt_data(lengths));
  const RnnShape& s = c.shape;
  const bool lstm = c.mode == RnnMode::lstm;
  const int64_t GH = rnn_gate_count(c.mode) * s.hidden;
  expect(y, {s.seq, s.batch, s.hidden}, c.dtype, "saved output");
  expect(work, {s.seq, s.batch, rnn_work_size(c.mode, s.hidden)}, c.dtype, "saved gates");
  if (lstm) {
    if (cell.is_none()) throw py::value_error("rnn backward: the LSTM needs the saved cell states");
    expect(cell.cast<py::array>(), {s.seq, s.batch, s.hidden}, c.dtype, "saved cell states");
  }
  if (!gy.is_none()) expect(gy.cast<py::array>(), {s.seq, s.batch, s.hidden}, c.dtype, "output gradient");
  if (!gh_n.is_none()) expect(gh_n.cast<py::array>(), {s.batch, s.hidden}, c.dtype, "h_n gradient");
  if (!gc_n.is_none()) expect(gc_n.cast<py::array>(), {s.batch, s.hidden}, c.dtype, "c_n gradient");
  auto make = [&](bool want, std::vector<int64_t> shape) -> py::object {
    return want ? py::object(empty_array(c.dtype, shape)) : py::object(py::none());
  };
  py::object gx = make(want_x, {s.seq, s.batch, s.input}), gh0 = make(want_h0, {s.batch, s.hidden});
  py::object gc0 = make(want_c0 && lstm, {s.batch, s.hidden});
  py::object gw_ih = make(want_w, {GH, s.input}), gw_hh = make(want_w, {GH, s.hidden});
  py::object gb_ih = make(want_b, {GH}), gb_hh = make(want_b, {GH});
  auto mut = [](const py::object& o) -> void* { return o.is_none() ? nullptr : o.cast<py::array>().mutable_data(); };
  // every pointer is taken while the GIL is held (casts touch reference counts)
  const void *pc0 = opt_data(c0), *pcell = opt_data(cell), *pgy = opt_data(gy), *pgh = opt_data(gh_n),
             *pgc = opt_data(gc_n);
  void *pgx = mut(gx), *pgh0 = mut(gh0), *pgc0 = mut(gc0), *pgw_ih = mut(gw_ih), *pgw_hh = mut(gw_hh),
       *pgb_ih = mut(gb_ih), *pgb_hh = mut(gb_hh);
  {
    MaybeReleaseGil nogil(work.size() * 8);
    rnn_backward(c.mode, c.dtype, s, x.data(), h0.data(), pc0, w_ih.data(), w_hh.data(), y.data(), pcell,
                 work.data(), pgy, pgh, pgc, pgx, pgh0, pgc0, pgw_ih, pgw_hh, pgb_ih, pgb_hh);
  }
  return py::make_tuple(gx, gh0, gc0, gw_ih, gw_hh, gb_ih, gb_hh);
}

}  // namespace

void register_rnn(py::module_& m) {
  // used by name from Python (python/minidl/nn/rnn.py)
  compare_members_by_identity(py::enum_<RnnMode>(m, "RnnMode")
      .value("rnn_tanh", RnnMode::rnn_tanh).value("rnn_relu", RnnMode::rnn_relu).value("lstm", RnnMode::lstm)
      .value("gru", RnnMode::gru));
  m.def("rnn_forward", &rnn_forward_op, "one RNN/LSTM/GRU layer-direction over a sequence (mode: an RnnMode)",
        py::arg("mode"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih"), py::arg("b_hh"), py::arg("reverse"), py::arg("lengths") = py::none());
  m.def("rnn_backward", &rnn_backward_op, "backward through time of rnn_forward", py::arg("mode"), py::arg("x"),
        py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("cell"),
        py::arg("work"), py::arg("gy"), py::arg("gh_n"), py::arg("gc_n"), py::arg("reverse"), py::arg("want_x"),
        py::arg("want_h0"), py::arg("want_c0"), py::arg("want_w"), py::arg("want_b"),
        py::arg("lengths") = py::none());
  // the time loop's thread split by measurement (rnn_tune.cpp; policy and cache in python/minidl/tuning.py)
  m.def("rnn_force_split", [](const std::string& name) {
    RnnSplit split;
    if (!rnn_split_from_name(name, &split))
      throw py::value_error("rnn_force_split: unknown split '" + name + "' (expected 'rows', 'units' or 'auto')");
    rnn_force_split(split);
  }, py::arg("split"), "tests and benchmarks: every threaded RNN time loop takes this split ('auto': no forcing)");
  m.def("rnn_forced_split", [] { return std::string(rnn_split_name(rnn_forced_split())); });
  m.def("rnn_split_fixed", [](int64_t batch, int threads) { return std::string(rnn_split_name(rnn_split_fixed(batch, threads))); },
        py::arg("batch"), py::arg("threads"), "the split the fixed rule (tuning off) takes");
  m.def("rnn_split_measurements", &rnn_split_measurements);
  m.def("rnn_split_clear_choices", &rnn_split_clear_choices);
  m.def("rnn_split_choices", [] { return choices_dict(rnn_split_choices()); });
  m.def("rnn_split_set_choice", &rnn_split_set_choice, py::arg("shape_class"), py::arg("split"));
}

}  // namespace minidl_py
