// Bindings for the matrix products (cpp/ops/gemm/): mm, addmm (the Linear layer's forward),
// bmm; float16/bfloat16 operands go to the float32-accumulating GEMM of gemm_lowp.h.
#include <algorithm>

#include "bindings/convert.h"
#include "bindings/register.h"
#include "gemm.h"
#include "gemm_blocking.h"
#include "gemm_lowp.h"
#include "ops/copy/copy.h"

namespace minidl_py {
using namespace minidl;

namespace {

// A 2-D operand as GEMM wants it: row-major (trans = false) or a transposed row-major view
// (trans = true), with its leading dimension. Anything else is copied to contiguous first.
struct GemmOperand {
  py::array keep;  // owns a contiguous copy when one was needed
  const void* ptr;
  bool trans;
  int64_t ld;
};

// --8<-- [start:gemm_operand]
GemmOperand gemm_operand(const py::array& a, int row_dim, int col_dim) {
  const int64_t item = a.itemsize();
  const int64_t rows = a.shape(row_dim), cols = a.shape(col_dim);
  const int64_t rs = a.strides(row_dim) / item, cs = a.strides(col_dim) / item;
  if ((cs == 1 || cols == 1) && (rs >= std::max<int64_t>(cols, 1) || rows == 1))
    return {a, a.data(), false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rs == 1 || rows == 1) && (cs >= std::max<int64_t>(rows, 1) || cols == 1))
    return {a, a.data(), true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  py::array c = contiguous(a);
  return {c, c.data(), false, std::max<int64_t>(cols, 1)};
}
// --8<-- [end:gemm_operand]

// out = beta*out + a @ b for 2-D a (M x K), b (K x N); out (M x N) contiguous, float32 when
// a and b are 16-bit (float32 accumulation, cpp/ops/gemm/gemm_lowp.h)
void gemm_into(const py::array& a, const py::array& b, py::array& out, double beta) {
  const DType dt = dtype_of(a);
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  GemmOperand A = gemm_operand(a, 0, 1), B = gemm_operand(b, 0, 1);
  MaybeReleaseGil nogil(M * N * K);
  if (dt == DType::f32)
    sgemm(A.trans, B.trans, M, N, K, 1.0f, static_cast<const float*>(A.ptr), A.ld, static_cast<const float*>(B.ptr),
          B.ld, static_cast<float>(beta), static_cast<float*>(out.mutable_data()), N);
  else if (dt == DType::bf16 || dt == DType::f16)
    gemm_lowp(dt, A.trans, B.trans, M, N, K, 1.0f, static_cast<const uint16_t*>(A.ptr), A.ld,
              static_cast<const uint16_t*>(B.ptr), B.ld, static_cast<float>(beta), static_cast<float*>(out.mutable_data()), N);
  else
    dgemm(A.trans, B.trans, M, N, K, 1.0, static_cast<const double*>(A.ptr), A.ld, static_cast<const double*>(B.ptr),
          B.ld, beta, static_cast<double*>(out.mutable_data()), N);
}

bool is_16bit(DType t) { return t == DType::bf16 || t == DType::f16; }

// the float32 accumulator of a 16-bit product rounded to the operands' dtype, or kept in
// float32 when out_f32 (the GEMM's own output type)
py::array finish_lowp(const py::array& acc, DType dt, bool out_f32) {
  if (out_f32) return acc;
  py::array out = empty_array(dt, shape_of(acc));
  const float* src = static_cast<const float*>(acc.data());
  void* dst = out.mutable_data();
  MaybeReleaseGil nogil(acc.size());
  cast_contiguous(src, DType::f32, dst, dt, acc.size());
  return out;
}

// bfloat16 a @ b (+ bias, N values: shape (N,) or (1, N)) rounded straight into a bfloat16
// result by a one-pass kernel (gemm_bf16_out: no float32 C written, read back and cast). On
// MiniLM's Linear shapes, 1 thread, AMX: 4096 x 384 x 384 6.2 -> 1.3 ms, 4096 x 384 x 1536
// 26 -> 10 ms, 4096 x 1536 x 384 16 -> 6.1 ms (medians of 7, shared 2-core machine). None where
// that kernel does not apply.
py::object bf16_one_pass(const py::array& a, const py::array& b, const py::array* bias) {
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  if (dtype_of(a) != DType::bf16 || K > kBf16OutMaxK) return py::none();
  std::vector<float> row;
  if (bias) {
    const int64_t nd = bias->ndim();
    if (!((nd == 1 && bias->shape(0) == N) || (nd == 2 && bias->shape(0) == 1 && bias->shape(1) == N)))
      return py::none();
    py::array bc = contiguous(*bias);
    row.resize(static_cast<size_t>(N));
    cast_contiguous(bc.data(), DType::bf16, row.data(), DType::f32, N);
  }
  GemmOperand A = gemm_operand(a, 0, 1), B = gemm_operand(b, 0, 1);
  py::array out = empty_array(DType::bf16, {M, N});
  bool done;
  {
    MaybeReleaseGil nogil(M * N * K);
    done = gemm_bf16_out(A.trans, B.trans, M, N, K, static_cast<const uint16_t*>(A.ptr), A.ld,
                         static_cast<const uint16_t*>(B.ptr), B.ld, bias ? row.data() : nullptr,
                         static_cast<uint16_t*>(out.mutable_data()), N);
  }
  return done ? py::object(out) : py::object(py::none());
}

void check_float_pair(const py::array& a, const py::array& b, const char* what) {
  const DType da = dtype_of(a), db = dtype_of(b);
  if (da != db)
    throw py::type_error(std::string(what) + ": expected both operands to have the same dtype, got " + dtype_name(da) +
                         " and " + dtype_name(db));
  if (da != DType::f32 && da != DType::f64 && !is_16bit(da))
    throw py::type_error(std::string(what) + ": supports float32, float64, float16 and bfloat16, got " + dtype_name(da));
}

py::array mm_op(const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "mm");
  if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("mm: expected 2-D operands");
  if (a.shape(1) != b.shape(0))
    throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(a.shape(0)) + "x" +
                          std::to_string(a.shape(1)) + " and " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(b.shape(1)) + ")");
  const DType dt = dtype_of(a);
  if (!out_f32) {
    py::object fast = bf16_one_pass(a, b, nullptr);
    if (!fast.is_none()) return fast.cast<py::array>();
  }
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, {a.shape(0), b.shape(1)});
  gemm_into(a, b, out, 0.0);
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

// bias (N,) or broadcastable to (M, N), + a @ b: the Linear layer's forward in one GEMM
py::array addmm_op(const py::array& bias, const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "addmm");
  if (a.shape(1) != b.shape(0))
    throw py::value_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(a.shape(0)) + "x" +
                          std::to_string(a.shape(1)) + " and " + std::to_string(b.shape(0)) + "x" +
                          std::to_string(b.shape(1)) + ")");
  std::vector<int64_t> shape{a.shape(0), b.shape(1)};
  const DType dt = dtype_of(a);
  if (dtype_of(bias) != dt)
    throw py::type_error(std::string("addmm: bias dtype ") + dtype_name(dtype_of(bias)) + " differs from the operands' " +
                         dtype_name(dt));
  if (!out_f32) {
    py::object fast = bf16_one_pass(a, b, &bias);
    if (!fast.is_none()) return fast.cast<py::array>();
  }
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  const int64_t bias_nd = bias.ndim();
  const bool bias_row =
      (bias_nd == 1 && bias.shape(0) == N) || (bias_nd == 2 && bias.shape(0) == 1 && bias.shape(1) == N);
  if (bias_row && (dt == DType::f32 || dt == DType::f64)) {
    // one row of N values, added by the GEMM's stores (sgemm_bias in gemm.h) instead of being
    // copied into every row of C first and read back with beta = 1. Measured on the GPT block's
    // forward Linears (Intel Xeon family 6 model 167, 1 thread, min of 15 runs paired with the
    // bias-free mm of the same operands): addmm's time over mm's was 0.57 ms (of 9.4) for
    // 4096 x 256 @ (768 x 256)^T, 1.93 (of 12.9) for 4096 x 256 @ (1024 x 256)^T, 0.32 (of 3.3) for
    // 4096 x 256 @ (256 x 256)^T with the copy; fused 0.26, 0.17, 0.02. At K = 1024 (4096 x 1024 @
    // (256 x 1024)^T) the copy hid in the 4x longer product: 0.01 before, -0.05 after.
    py::array bc = contiguous(bias);
    py::array out = empty_array(dt, shape);
    GemmOperand A = gemm_operand(a, 0, 1), B = gemm_operand(b, 0, 1);
    MaybeReleaseGil nogil(M * N * K);
    if (dt == DType::f32)
      sgemm_bias(A.trans, B.trans, M, N, K, 1.0f, static_cast<const float*>(A.ptr), A.ld,
                 static_cast<const float*>(B.ptr), B.ld, 0.0f, static_cast<const float*>(bc.data()),
                 static_cast<float*>(out.mutable_data()), N);
    else
      dgemm_bias(A.trans, B.trans, M, N, K, 1.0, static_cast<const double*>(A.ptr), A.ld,
                 static_cast<const double*>(B.ptr), B.ld, 0.0, static_cast<const double*>(bc.data()),
                 static_cast<double*>(out.mutable_data()), N);
    return out;
  }
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, shape);
  if (is_16bit(dt)) {  // bias widened into the float32 accumulator (exact)
    py::array bc = contiguous(bias);
    py::array bf = empty_array(DType::f32, shape_of(bc));
    cast_contiguous(bc.data(), dt, bf.mutable_data(), DType::f32, bc.size());
    copy_strided(broadcast_view(bf, shape, "addmm bias"), view_of(out));
  } else {
    copy_strided(broadcast_view(bias, shape, "addmm bias"), view_of(out));
  }
  gemm_into(a, b, out, 1.0);
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

// (B, M, K) @ (B, K, N); a batch dim of 1 broadcasts (stride 0)
py::array bmm_op(const py::array& a, const py::array& b, bool out_f32) {
  check_float_pair(a, b, "bmm");
  if (a.ndim() != 3 || b.ndim() != 3) throw py::value_error("bmm: expected 3-D operands");
  const int64_t Ba = a.shape(0), Bb = b.shape(0);
  if (Ba != Bb && Ba != 1 && Bb != 1)
    throw py::value_error("bmm: batch sizes " + std::to_string(Ba) + " and " + std::to_string(Bb) + " differ");
  if (a.shape(2) != b.shape(1))
    throw py::value_error("bmm: shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be multiplied");
  const int64_t batch = std::max(Ba, Bb), M = a.shape(1), K = a.shape(2), N = b.shape(2);
  const DType dt = dtype_of(a);
  py::array out = empty_array(is_16bit(dt) ? DType::f32 : dt, {batch, M, N});
  GemmOperand A = gemm_operand(a, 1, 2), B = gemm_operand(b, 1, 2);
  // a copied operand is contiguous (B, rows, cols); batch stride from the array actually used
  const int64_t sa = Ba == 1 ? 0 : A.keep.strides(0) / A.keep.itemsize();
  const int64_t sb = Bb == 1 ? 0 : B.keep.strides(0) / B.keep.itemsize();
  const bool is_f32 = dt == DType::f32;
  {
  MaybeReleaseGil nogil(batch * M * N * K);
  if (is_16bit(dt))
    gemm_lowp_batched(dt, A.trans, B.trans, batch, M, N, K, 1.0f, static_cast<const uint16_t*>(A.ptr), A.ld, sa,
                      static_cast<const uint16_t*>(B.ptr), B.ld, sb, 0.0f, static_cast<float*>(out.mutable_data()), N, M * N);
  else if (is_f32)
    sgemm_batched(A.trans, B.trans, batch, M, N, K, 1.0f, static_cast<const float*>(A.ptr), A.ld, sa,
                  static_cast<const float*>(B.ptr), B.ld, sb, 0.0f, static_cast<float*>(out.mutable_data()), N, M * N);
  else
    dgemm_batched(A.trans, B.trans, batch, M, N, K, 1.0, static_cast<const double*>(A.ptr), A.ld, sa,
                  static_cast<const double*>(B.ptr), B.ld, sb, 0.0, static_cast<double*>(out.mutable_data()), N, M * N);
  }
  return is_16bit(dt) ? finish_lowp(out, dt, out_f32) : out;
}

DType lowp_dtype(const std::string& dt, const char* what) {
  if (dt != "bfloat16" && dt != "float16") throw py::value_error(std::string(what) + ": bfloat16 or float16, got " + dt);
  return dt == "bfloat16" ? DType::bf16 : DType::f16;
}

GemmLowpPath lowp_path(const std::string& name) {
  GemmLowpPath p;
  if (!gemm_lowp_path_from_name(name, &p))
    throw py::value_error("gemm_lowp: unknown path '" + name + "' (amx_bf16, avx512_bf16 or convert_f32)");
  return p;
}

// a @ b (2-D, 16-bit) -> float32 on the named path: how tests and the tuner's report run each one
py::array lowp_mm_on_path(const py::array& a, const py::array& b, const std::string& path) {
  check_float_pair(a, b, "gemm_lowp_mm");
  const DType dt = dtype_of(a);
  if (!is_16bit(dt)) throw py::type_error(std::string("gemm_lowp_mm: expected float16 or bfloat16, got ") + dtype_name(dt));
  if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0))
    throw py::value_error("gemm_lowp_mm: shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be multiplied");
  const GemmLowpPath p = lowp_path(path);
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  py::array out = empty_array(DType::f32, {M, N});
  GemmOperand A = gemm_operand(a, 0, 1), B = gemm_operand(b, 0, 1);
  MaybeReleaseGil nogil(M * N * K);
  gemm_lowp_on_path(p, dt, A.trans, B.trans, M, N, K, 1.0f, static_cast<const uint16_t*>(A.ptr), A.ld,
                    static_cast<const uint16_t*>(B.ptr), B.ld, 0.0f, static_cast<float*>(out.mutable_data()), N);
  return out;
}

// {"l1d": {"size", "ways", "line", "shared_by"}, "l2": ..., "l3": ...} (as _C.cpu_caches()
// gives it; a missing field keeps the default of core/cpu_caches.h) -> CpuCaches
CpuCaches caches_from_dict(const py::dict& d) {
  CpuCaches c = default_cpu_caches();
  for (auto [name, level] : {std::pair{"l1d", &c.l1d}, std::pair{"l2", &c.l2}, std::pair{"l3", &c.l3}}) {
    if (!d.contains(name)) continue;
    const py::dict l = d[name].cast<py::dict>();
    if (l.contains("size")) level->size = l["size"].cast<int64_t>();
    if (l.contains("ways")) level->ways = l["ways"].cast<int>();
    if (l.contains("line")) level->line = l["line"].cast<int>();
    if (l.contains("shared_by")) level->shared_by = l["shared_by"].cast<int>();
    if (level->size <= 0 || level->ways <= 0 || level->line <= 0 || level->shared_by <= 0)
      throw py::value_error(std::string("gemm_blocking_model: ") + name +
                            " needs a positive size, ways, line and shared_by");
  }
  return c;
}

py::dict block_sizes_dict(int64_t kc, int64_t mc, int64_t nc) {
  py::dict d;
  d["kc"] = kc, d["mc"] = mc, d["nc"] = nc;
  return d;
}

}  // namespace

void register_gemm(py::module_& m) {
  // float32 GEMM block sizes (gemm_blocking.h): the active kernel set's, the model's for given
  // caches and micro-tile, and the hook that forces them (bench_gemm_blocking.py, tests)
  // the sizes a single-threaded M x N x K product runs with now
  m.def("gemm_block_sizes", [](int64_t M, int64_t N, int64_t K) {
    const GemmBlockSizes b = sgemm_block_sizes(M, N, K);
    py::dict d = block_sizes_dict(b.kc, b.mc, b.nc);
    d["mr"] = b.mr, d["nr"] = b.nr, d["vw"] = b.vw;
    GemmBlocking forced;
    d["forced"] = gemm_blocking_forced(&forced);
    return d;
  }, py::arg("M") = 1024, py::arg("N") = 1024, py::arg("K") = 1024);
  m.def("gemm_blocking_model", [](const py::dict& caches, int mr, int nr, int vw, int64_t M, int64_t N, int64_t K) {
    if (mr <= 0 || nr <= 0 || vw <= 0) throw py::value_error("gemm_blocking_model: mr, nr and vw must be positive");
    if (M <= 0 || N <= 0 || K <= 0) throw py::value_error("gemm_blocking_model: M, N and K must be positive");
    const GemmBlockingModel model = gemm_blocking_model(caches_from_dict(caches), mr, nr, vw);
    const GemmBlocking b = model.for_product(M, N, K);
    py::dict d = block_sizes_dict(b.kc, b.mc, b.nc);
    d["kc_small_c"] = model.kc_small_c, d["kc_large_c"] = model.kc_large_c, d["small_c_floats"] = model.small_c_floats;
    return d;
  }, py::arg("caches"), py::arg("mr"), py::arg("nr"), py::arg("vw"), py::arg("M"), py::arg("N"), py::arg("K"));
  m.def("gemm_set_block_sizes", [](int64_t kc, int64_t mc, int64_t nc) {
    constexpr int64_t kMax = int64_t(1) << 20;
    if (kc <= 0 || mc <= 0 || nc <= 0 || kc > kMax || mc > kMax || nc > kMax)
      throw py::value_error("gemm_set_block_sizes: kc, mc and nc must be in 1.." + std::to_string(kMax) + ", got " +
                            std::to_string(kc) + ", " + std::to_string(mc) + ", " + std::to_string(nc));
    gemm_force_blocking(kc, mc, nc);
  }, py::arg("kc"), py::arg("mc"), py::arg("nc"));
  m.def("gemm_reset_block_sizes", &gemm_reset_blocking);
  // float16/bfloat16 operands: float32 accumulation, result rounded to the operands' dtype
  // unless out_f32 (then the float32 accumulator itself)
  m.def("mm", &mm_op, py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("addmm", &addmm_op, py::arg("bias"), py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("bmm", &bmm_op, py::arg("a"), py::arg("b"), py::arg("out_f32") = false);
  m.def("gemm_lowp_path", [](const std::string& dt) {
    return std::string(gemm_lowp_path(lowp_dtype(dt, "gemm_lowp_path")));
  });
  // path choice by measurement (gemm_lowp_tune.cpp; policy and cache in python/minidl/tuning.py)
  m.def("gemm_lowp_mm", &lowp_mm_on_path, py::arg("a"), py::arg("b"), py::arg("path"));
  m.def("gemm_lowp_candidates", [](const std::string& dt, int64_t M, int64_t N, int64_t K) {
    std::vector<std::string> names;
    for (GemmLowpPath p : gemm_lowp_candidates(lowp_dtype(dt, "gemm_lowp_candidates"), M, N, K))
      names.emplace_back(gemm_lowp_path_name(p));
    return names;
  });
  m.def("gemm_lowp_set_tuning", &gemm_lowp_set_tuning);
  m.def("gemm_lowp_tuning", &gemm_lowp_tuning);
  m.def("gemm_lowp_measurements", &gemm_lowp_measurements);
  m.def("gemm_lowp_clear_choices", &gemm_lowp_clear_choices);
  m.def("gemm_lowp_choices", [] { return choices_dict(gemm_lowp_choices()); });
  // one remembered choice; False (nothing stored) for a shape class or path name this build
  // cannot read, so that a cache written by another version is skipped entry by entry
  m.def("gemm_lowp_set_choice", [](const std::string& shape_class, const std::string& path) {
    GemmShapeClass shape;
    GemmLowpPath p;
    if (!GemmShapeClass::parse(shape_class, &shape) || !gemm_lowp_path_from_name(path, &p)) return false;
    gemm_lowp_set_choice(shape, p);
    return true;
  });
}

}  // namespace minidl_py
