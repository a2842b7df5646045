"""bench/python tells where it ran (issue 18 item 4): every bench_*.py prints the machine
header before its table, and run_all.py writes one markdown table headed by it."""
from __future__ import annotations

import ast
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import require

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "python"
# the folder holding the minidl this test process imports (site-packages in CI, python/ in a
# checkout built in place): the benchmarks' subprocesses must import the same one
PYDIR = pathlib.Path(importlib.util.find_spec("minidl").origin).parent.parent
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def test_machine_header_says_cpu_flags_kernels_threads_and_load():
    sys.path.insert(0, str(BENCH))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCH))
    import minidl as md
    header = _common.machine_header([1, 2])
    assert header.startswith(f"CPU: {_common.cpu_model()}")
    assert f"minidl kernels: {md.backend.name}" in header
    assert "CPU flags: " in header and "threads: 1 and 2" in header
    assert re.search(r"load average \(1, 5, 15 min\): [\d.]+, [\d.]+, [\d.]+", header)
    assert f"threads: {md.get_num_threads()} " in _common.machine_header()


def test_machine_header_leaves_the_environment_of_the_benchmarks_workers_alone():
    """Asked before minidl is imported, the header must not import it: minidl sets
    OMP_WAIT_POLICY in os.environ, and a benchmark's PyTorch workers would inherit it."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); import _common; h = _common.machine_header(2); "
            "assert 'minidl kernels: ' in h and '(minidl not importable)' not in h, h; "
            "assert 'minidl' not in sys.modules and 'OMP_WAIT_POLICY' not in os.environ")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(PYDIR)
    res = subprocess.run([sys.executable, "-c", code, str(BENCH)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_every_bench_script_prints_the_machine_header_first(script):
    """main() calls machine_header (directly or through compare_with_torch, which prints it)
    before any table or other output; a worker's JSON line (json.dumps) does not count."""
    main = next(n for n in ast.parse(script.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == "main")
    header = [c.lineno for c in _calls(main, "machine_header") + _calls(main, "compare_with_torch")]
    assert header, f"{script.name}: main() does not print machine_header()"
    output = [c.lineno for c in _calls(main, "print_table")]
    output += [c.lineno for c in _calls(main, "print")
               if not any(_calls(arg, "machine_header") for arg in c.args)
               and not any(getattr(getattr(sub, "func", None), "attr", None) == "dumps"
                           for arg in c.args for sub in ast.walk(arg))]
    assert not output or min(header) < min(output), f"{script.name}: prints line {min(output)} before the header"


def _run_all(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(PYDIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(BENCH / "run_all.py"), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
def test_run_all_quick_writes_one_table_headed_by_the_machine(tmp_path):
    require("torch")
    out = tmp_path / "machine.md"
    names = ["GEMM fp32 1024^3", "Conv2d 64->64 3x3 @8 (batch 32) fwd+bwd"]
    res = _run_all("--quick", "--threads", "1", "--repeat", "1", "--only", *names, "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_text() == res.stdout
    lines = res.stdout.splitlines()
    assert lines[0].startswith("# ") and lines[2].startswith("CPU: ") and lines[3].startswith("minidl kernels: ")
    assert "threads: 1;" in lines[3] and "load average" in lines[3]
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == ("| workload | threads | minidl ms | PyTorch ms | ratio minidl/PyTorch | target (issue 18) "
                        "| met? |")
    assert table[1] == "|---|---|---|---|---|---|---|"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [r[0] for r in rows] == names and all(r[1] == "1" for r in rows)
    for r in rows:
        minidl_ms, torch_ms, ratio = (float(v) for v in r[2:5])
        assert ratio == pytest.approx(minidl_ms / torch_ms, abs=0.01)
    assert rows[0][5:] == ["-", "-"]   # no target for the fp32 GEMM
    assert rows[1][5] == "<= 1.00" and rows[1][6] == ("yes" if float(rows[1][4]) <= 1.0 else "no")


def test_run_all_rejects_an_unknown_workload_and_lists_the_names():
    require("torch")
    res = _run_all("--only", "GEMM 4096", timeout=120)
    assert res.returncode == 2 and "unknown workload(s) ['GEMM 4096']" in res.stderr
    assert "GEMM fp32 1024^3" in res.stderr
