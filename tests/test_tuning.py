"""Kernel path choice by measurement (python/minidl/tuning.py, cpp/ops/gemm/gemm_lowp_tune.cpp):

* every candidate path of the 16-bit GEMM, forced, on odd shapes and strided operands, against
  the float64 product of the same (exact) 16-bit inputs;
* the tuner measures once per shape class, runs what it chose, and ``benchmark = False`` gives
  the fixed order;
* the cache file: round trip, a corrupt file and another version's file (warning, ignored,
  rewritten), two processes saving at once (both choices kept, the file valid),
  ``MINIDL_CACHE_DIR`` respected, an unwritable folder only warns.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import minidl as md
from minidl import _C, tuning

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16, F16 = np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)
SHAPES = [(1, 1, 1), (7, 33, 5), (17, 19, 35), (33, 40, 65), (100, 37, 129), (64, 48, 256)]


@pytest.fixture(autouse=True)
def kept_tuning_state():
    """Each test starts with no remembered choices; the switch and the table come back after."""
    was, saved = tuning.enabled(), dict(_C.gemm_lowp_choices())
    _C.gemm_lowp_clear_choices()
    yield
    _C.gemm_lowp_clear_choices()
    for shape_class, path in saved.items():
        _C.gemm_lowp_set_choice(shape_class, path)
    tuning.set_enabled(was)


def _operands(rng, M, N, K, dt, trans_a=False, trans_b=False):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(np.float32).astype(dt)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32).astype(dt)
    return (a.T if trans_a else a), (b.T if trans_b else b)


def _several_paths(M=64, N=64, K=64):
    paths = tuning.candidates("bfloat16", M, N, K)
    if len(paths) < 2:
        pytest.skip(f"this CPU / kernel set has one bfloat16 GEMM path ({paths[0]}): nothing to choose")
    return paths


@pytest.mark.parametrize("dt", [BF16, F16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_every_candidate_matches_the_float64_product(rng, dt, trans_a, trans_b):
    for M, N, K in SHAPES:
        a, b = _operands(rng, M, N, K, dt, trans_a, trans_b)
        exact = a.astype(np.float64) @ b.astype(np.float64)
        # float32 accumulation of K exact products: |error| <= K * 2^-24 * sum |a_ik b_kj| (+ slack)
        bound = 4 * K * 2.0 ** -24 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))) + 1e-30
        for path in tuning.candidates("bfloat16" if dt == BF16 else "float16", M, N, K):
            got = _C.gemm_lowp_mm(a, b, path)
            assert got.dtype == np.float32 and got.shape == (M, N)
            assert np.all(np.abs(got - exact) <= bound), (path, M, N, K, trans_a, trans_b)


def test_non_contiguous_operands_on_every_path(rng):
    a = rng.standard_normal((40, 70)).astype(np.float32).astype(BF16)[::2, 1::2]   # 20 x 35, strided
    b = rng.standard_normal((35, 50)).astype(np.float32).astype(BF16)[:, ::3]      # 35 x 17
    ref = _C.gemm_lowp_mm(np.ascontiguousarray(a), np.ascontiguousarray(b), "convert_f32")
    for path in tuning.candidates("bfloat16", 20, 17, 35):
        np.testing.assert_allclose(_C.gemm_lowp_mm(a, b, path), ref, rtol=1e-5, atol=1e-5)


def test_a_path_this_cpu_or_dtype_cannot_take_is_refused(rng):
    a, b = _operands(rng, 4, 4, 4, F16)
    with pytest.raises(ValueError, match="not available"):
        _C.gemm_lowp_mm(a, b, "avx512_bf16")            # float16 has no native path
    a16, b16 = _operands(rng, 4, 4, 4, BF16)
    with pytest.raises(ValueError, match="not available"):
        _C.gemm_lowp_mm(a16, b16, "amx_bf16")           # below one AMX tile, whatever the CPU
    with pytest.raises(ValueError, match="unknown path 'fastest'"):
        _C.gemm_lowp_mm(a16, b16, "fastest")
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        _C.gemm_lowp_mm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), "convert_f32")
    with pytest.raises(ValueError, match="cannot be multiplied"):
        _C.gemm_lowp_mm(a16, np.ones((3, 2), BF16), "convert_f32")


def test_measures_once_per_shape_class_and_runs_its_choice(rng):
    _several_paths()
    tuning.set_enabled(True)
    a, b = _operands(rng, 60, 50, 70, BF16)
    before = _C.gemm_lowp_measurements()
    got = _C.mm(a, b, True)
    assert _C.gemm_lowp_measurements() == before + 1
    choices = _C.gemm_lowp_choices()
    threads = md.get_num_threads()
    assert list(choices) == [f"bfloat16 NN M64 N64 K128 T{threads}"]
    chosen = next(iter(choices.values()))
    np.testing.assert_array_equal(got, _C.gemm_lowp_mm(a, b, chosen))
    a2, b2 = _operands(rng, 57, 63, 100, BF16)              # same class: no second measurement
    _C.mm(a2, b2, True)
    assert _C.gemm_lowp_measurements() == before + 1
    np.testing.assert_array_equal(_C.mm(a2, b2, True), _C.gemm_lowp_mm(a2, b2, chosen))


def test_remembered_choice_is_used_and_benchmark_false_gives_the_fixed_order(rng):
    paths = _several_paths()
    a, b = _operands(rng, 64, 64, 64, BF16)
    last = paths[-1]
    assert _C.gemm_lowp_set_choice(f"bfloat16 NN M64 N64 K64 T{md.get_num_threads()}", last)
    md.backends.cpu.benchmark = True
    np.testing.assert_array_equal(_C.mm(a, b, True), _C.gemm_lowp_mm(a, b, last))
    md.backends.cpu.benchmark = False
    assert md.backends.cpu.benchmark is False and not tuning.enabled()
    before = _C.gemm_lowp_measurements()
    np.testing.assert_array_equal(_C.mm(a, b, True), _C.gemm_lowp_mm(a, b, paths[0]))
    a2, b2 = _operands(rng, 200, 30, 90, BF16)             # a new class: nothing measured when off
    np.testing.assert_array_equal(_C.mm(a2, b2, True), _C.gemm_lowp_mm(a2, b2, paths[0]))
    assert _C.gemm_lowp_measurements() == before
    assert _C.gemm_lowp_path("bfloat16") == paths[0]


def test_bmm_follows_the_choice(rng):
    paths = _several_paths()
    x = rng.standard_normal((3, 64, 64)).astype(np.float32).astype(BF16)
    y = rng.standard_normal((3, 64, 64)).astype(np.float32).astype(BF16)
    tuning.set_enabled(True)
    for path in paths:
        _C.gemm_lowp_set_choice(f"bfloat16 NN M64 N64 K64 T{md.get_num_threads()}", path)
        got = _C.bmm(x, y, True)
        for i in range(3):
            np.testing.assert_array_equal(got[i], _C.gemm_lowp_mm(x[i], y[i], path))


def test_shape_class_names_that_cannot_be_read_are_skipped():
    for bad in ["bfloat16 NN M63 N64 K64 T1", "int8 NN M64 N64 K64 T1", "bfloat16 XN M64 N64 K64 T1",
                "bfloat16 NN M64 N64 K64 T0", "bfloat16 NN M64 N64 K64 T1 extra", ""]:
        assert not _C.gemm_lowp_set_choice(bad, "convert_f32"), bad
    assert not _C.gemm_lowp_set_choice("bfloat16 NN M64 N64 K64 T1", "fastest")
    assert _C.gemm_lowp_choices() == {}


# ---- the cache file ------------------------------------------------------------------------

def _this_build(path):
    """This build's choices per CPU in the cache file at path."""
    return json.loads(open(path).read())["builds"][f"{md.__version__} {tuning.kernels_build()}"]["cpus"]


def _file(cpus, version=None, build=None):
    """A format-2 cache file's text holding one build's choices (default: this build)."""
    version, build = version or md.__version__, build or tuning.kernels_build()
    return json.dumps({"format": tuning.FORMAT, "builds": {f"{version} {build}": {
        "minidl_version": version, "kernels_build": build, "saved": 1.0, "cpus": cpus}}})


def test_save_and_load_round_trip(tmp_path):
    path = str(tmp_path / "choices.json")
    _C.gemm_lowp_set_choice("bfloat16 NT M128 N64 K256 T2", "convert_f32")
    _C.gemm_lowp_set_choice("float16 NN M8 N8 K8 T1", "convert_f32")
    assert tuning.save(path, force=True)
    data = json.load(open(path))
    assert data["format"] == tuning.FORMAT
    build = data["builds"][f"{md.__version__} {tuning.kernels_build()}"]
    assert build["minidl_version"] == md.__version__ and build["kernels_build"] == tuning.kernels_build()
    assert build["cpus"][tuning.cpu_key()]["gemm_lowp"] == _C.gemm_lowp_choices()
    _C.gemm_lowp_clear_choices()
    assert tuning.load(path) == 2
    assert _C.gemm_lowp_choices() == {"bfloat16 NT M128 N64 K256 T2": "convert_f32",
                                      "float16 NN M8 N8 K8 T1": "convert_f32"}


def test_other_cpus_entries_are_kept(tmp_path):
    path = tmp_path / "choices.json"
    other = {"other CPU | flags 000000000000": {"gemm_lowp": {"bfloat16 NN M64 N64 K64 T4": "avx512_bf16"}}}
    path.write_text(_file(other))
    assert tuning.load(str(path)) == 0                       # not this CPU's
    _C.gemm_lowp_set_choice("bfloat16 NN M32 N32 K32 T1", "convert_f32")
    tuning.save(str(path), force=True)
    cpus = _this_build(path)
    assert cpus["other CPU | flags 000000000000"] == other["other CPU | flags 000000000000"]
    assert cpus[tuning.cpu_key()]["gemm_lowp"] == {"bfloat16 NN M32 N32 K32 T1": "convert_f32"}


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'{"cpus": {"x": 3}}', b"",
                                     b'{"format": 2, "builds": {"0.1 abc": {"cpus": {"x": 3}}}}',
                                     b'{"format": 2, "builds": [1]}', b'{"format": 1, "cpus": 7}'])
def test_corrupt_file_warns_is_ignored_and_rewritten(tmp_path, rng, content):
    path = tmp_path / "choices.json"
    path.write_bytes(content)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert tuning.load(str(path)) == 0
    assert _this_build(path) is not None                    # rewritten, valid
    a, b = _operands(rng, 9, 9, 9, BF16)                     # and minidl works
    np.testing.assert_array_equal(_C.mm(a, b, True), _C.gemm_lowp_mm(a, b, tuning.candidates("bfloat16", 9, 9, 9)[0]))


def test_hostile_files_do_not_stop_import(tmp_path):
    # a JSON nesting deeper than Python's recursion limit, and a file far larger than choices
    # take (sparse: no disk used), each warn and are ignored; minidl imports and runs
    nested, huge = tmp_path / "nested", tmp_path / "huge"
    nested.mkdir()
    huge.mkdir()
    (nested / "kernel_choices.json").write_text("[" * 200_000)
    with open(huge / "kernel_choices.json", "wb") as f:
        f.truncate(tuning.MAX_FILE_BYTES + 1)
    code = "import minidl as md; print(float(md.ones(3).sum()))"
    for folder, message in ((nested, "is corrupt"), (huge, "is larger than")):
        run = _run_python(code, {"MINIDL_CACHE_DIR": str(folder)})
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["3.0"] and message in run.stderr, run.stderr
        assert os.path.getsize(folder / "kernel_choices.json") < 1 << 20       # rewritten


def test_unreadable_file_warns_and_minidl_works(tmp_path, rng):
    path = tmp_path / "choices.json"
    path.mkdir()                                             # a folder where the file should be
    with pytest.warns(RuntimeWarning) as caught:
        assert tuning.load(str(path)) == 0
    messages = " ".join(str(w.message) for w in caught)
    assert "cannot read the kernel-choice cache" in messages and "cannot write" in messages
    a, b = _operands(rng, 9, 9, 9, BF16)
    assert _C.mm(a, b, True).shape == (9, 9)


def test_other_versions_choices_are_not_used_but_kept(tmp_path):
    # a version change: the old version's choices are not taken (its kernels may differ) and
    # stay in the file beside the new version's, for the old version should it run again
    path = tmp_path / "choices.json"
    old = {tuning.cpu_key(): {"gemm_lowp": {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}}}
    path.write_text(_file(old, version="0.0.1-old", build="0123456789ab"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # nothing to warn about
        assert tuning.load(str(path)) == 0
    assert _C.gemm_lowp_choices() == {}
    _C.gemm_lowp_set_choice("bfloat16 NN M32 N32 K32 T1", "convert_f32")
    tuning.save(str(path), force=True)
    builds = json.loads(path.read_text())["builds"]
    assert builds["0.0.1-old 0123456789ab"]["cpus"] == old
    assert _this_build(path)[tuning.cpu_key()]["gemm_lowp"] == {"bfloat16 NN M32 N32 K32 T1": "convert_f32"}


def test_other_build_of_the_same_version_is_not_used(tmp_path):
    # a rebuild can change a kernel: choices timed on the old binary must be measured again
    path = tmp_path / "choices.json"
    old = {tuning.cpu_key(): {"gemm_lowp": {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}}}
    path.write_text(_file(old, build="000000000000"))
    assert tuning.load(str(path)) == 0
    assert _C.gemm_lowp_choices() == {}


def test_two_builds_sharing_a_folder_keep_their_own_choices(tmp_path, monkeypatch):
    # a development build beside an installed wheel: each finds its own choices at the next
    # start (format 1 kept one build and discarded the other's at every start)
    path = str(tmp_path / "choices.json")
    for build, shape in (("aaaaaaaaaaaa", "M16"), ("bbbbbbbbbbbb", "M32")):
        monkeypatch.setattr(tuning, "kernels_build", lambda build=build: build)
        _C.gemm_lowp_clear_choices()
        _C.gemm_lowp_set_choice(f"bfloat16 NN {shape} N64 K64 T1", "convert_f32")
        assert tuning.save(path, force=True)
    for build, shape in (("aaaaaaaaaaaa", "M16"), ("bbbbbbbbbbbb", "M32")):
        monkeypatch.setattr(tuning, "kernels_build", lambda build=build: build)
        _C.gemm_lowp_clear_choices()
        assert tuning.load(path) == 1
        assert _C.gemm_lowp_choices() == {f"bfloat16 NN {shape} N64 K64 T1": "convert_f32"}


def test_the_file_keeps_the_builds_saved_last(tmp_path, monkeypatch):
    path = str(tmp_path / "choices.json")
    names = [f"{i:012x}" for i in range(tuning.MAX_BUILDS + 3)]
    for name in names:
        monkeypatch.setattr(tuning, "kernels_build", lambda name=name: name)
        assert tuning.save(path, force=True)
    kept = {b["kernels_build"] for b in json.loads(open(path).read())["builds"].values()}
    assert kept == set(names[-tuning.MAX_BUILDS:])


def test_format_1_file_is_read_as_its_build(tmp_path):
    # the single-build layout of earlier versions: its choices are taken when it is this build's
    path = tmp_path / "choices.json"
    mine = {tuning.cpu_key(): {"gemm_lowp": {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}}}
    path.write_text(json.dumps({"format": 1, "minidl_version": md.__version__,
                                "kernels_build": tuning.kernels_build(), "cpus": mine}))
    assert tuning.load(str(path)) == 1
    assert _C.gemm_lowp_choices() == {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}
    tuning.save(str(path), force=True)                       # rewritten in the current format
    assert json.loads(path.read_text())["format"] == tuning.FORMAT
    assert _this_build(path)[tuning.cpu_key()]["gemm_lowp"] == mine[tuning.cpu_key()]["gemm_lowp"]


def test_other_format_warns_is_ignored_and_rewritten(tmp_path):
    path = tmp_path / "choices.json"
    path.write_text(json.dumps({"format": 99, "whatever": {}}))
    with pytest.warns(RuntimeWarning, match="format 99"):
        assert tuning.load(str(path)) == 0
    assert json.loads(path.read_text())["format"] == tuning.FORMAT


def test_kernels_build_is_the_hash_of_the_extension():
    with open(_C.__file__, "rb") as f:
        assert tuning.kernels_build() == hashlib.sha1(f.read()).hexdigest()[:12]


def test_unwritable_cache_folder_only_warns(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = str(blocker / "minidl" / "choices.json")          # its folder cannot be created
    _C.gemm_lowp_set_choice("bfloat16 NN M64 N64 K64 T1", "convert_f32")
    with pytest.warns(RuntimeWarning, match="cannot write the kernel-choice cache"):
        assert tuning.save(path, force=True) is False
    assert _C.gemm_lowp_choices() == {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}   # kept in memory


@pytest.mark.skipif(sys.platform == "win32", reason="the cache file's lock is POSIX flock")
def test_a_lock_held_by_another_process_does_not_hang_the_save(tmp_path, monkeypatch):
    import fcntl
    path = str(tmp_path / "choices.json")
    monkeypatch.setattr(tuning, "LOCK_TIMEOUT_S", 0.3)
    _C.gemm_lowp_set_choice("bfloat16 NN M64 N64 K64 T1", "convert_f32")
    with open(path + ".lock", "a+b") as held:                # a stopped process's lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.warns(RuntimeWarning, match=r"lock file .*held by another process for 0.3 s"):
            assert tuning.save(path, force=True) is False
        assert time.monotonic() - start < 5
    assert tuning.save(path, force=True)                      # released: saved
    assert _this_build(path)[tuning.cpu_key()]["gemm_lowp"] == {"bfloat16 NN M64 N64 K64 T1": "convert_f32"}


def _run_python(code, env_extra, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1", **env_extra)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(md.__file__)), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_two_processes_saving_at_once_keep_both_choices(tmp_path):
    path = str(tmp_path / "choices.json")
    writer = """
        import os, time
        from minidl import _C, tuning
        which = int(os.environ["WHICH"])
        while time.time() < float(os.environ["START"]):   # both start saving at the same moment
            pass
        for i in range(40):
            _C.gemm_lowp_set_choice(f"bfloat16 NN M{2 ** which} N{2 ** i % 1024 or 1} K8 T1", "convert_f32")
            assert tuning.save(os.environ["CHOICES"], force=True)
    """
    start = str(time.time() + 2.0)
    procs = []
    for which in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS="1", WHICH=str(which), START=start, CHOICES=path,
                   MINIDL_CACHE_DIR=str(tmp_path / "unused"))
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(md.__file__))
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    mine = _this_build(path)[tuning.cpu_key()]["gemm_lowp"]
    assert any(k.startswith("bfloat16 NN M2 ") for k in mine) and any(k.startswith("bfloat16 NN M4 ") for k in mine)
    assert len(mine) == 2 * len({2 ** i % 1024 or 1 for i in range(40)})   # every choice of both
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_cache_dir_variable_and_benchmark_variable(tmp_path):
    code = """
        import ml_dtypes, numpy as np, minidl as md
        from minidl import _C, tuning
        print(tuning.cache_path())
        print(md.backends.cpu.benchmark)
        a = np.ones((64, 64), ml_dtypes.bfloat16)
        _C.mm(a, a, True)
        print(len(_C.gemm_lowp_choices()))
    """
    on = _run_python(code, {"MINIDL_CACHE_DIR": str(tmp_path / "c"), "MINIDL_CPU_BENCHMARK": "1"})
    assert on.returncode == 0, on.stderr
    lines = on.stdout.split()
    assert lines[0] == str(tmp_path / "c" / "kernel_choices.json") and lines[1] == "True"
    several = len(tuning.candidates("bfloat16", 64, 64, 64)) > 1
    assert int(lines[2]) == int(several)
    assert os.path.exists(tmp_path / "c" / "kernel_choices.json") == several      # saved at exit
    off = _run_python(code, {"MINIDL_CACHE_DIR": str(tmp_path / "d"), "MINIDL_CPU_BENCHMARK": "0"})
    assert off.returncode == 0, off.stderr
    assert off.stdout.split()[1:] == ["False", "0"] and not os.path.exists(tmp_path / "d" / "kernel_choices.json")
    xdg = _run_python("from minidl import tuning; print(tuning.cache_path())",
                      {"MINIDL_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "x")})
    assert xdg.stdout.strip() == str(tmp_path / "x" / "minidl" / "kernel_choices.json"), xdg.stderr


def test_report_lists_the_choices():
    _C.gemm_lowp_set_choice("bfloat16 TN M16 N32 K64 T1", "convert_f32")
    text = md.backends.cpu.tuning_report()
    assert tuning.cache_path() in text and tuning.cpu_key() in text
    assert "bfloat16 TN M16 N32 K64 T1" in text and "-> convert_f32" in text
