"""Kernel path choice by measurement on the running machine, and the cache file that keeps it.

**What is tuned.** Three kernel families (the cache file keeps each under its name; the
convolution's holds its float32 and its bfloat16 classes):

``gemm_lowp``, the 16-bit (bfloat16 / float16) GEMM of ``cpp/ops/gemm/gemm_lowp.cpp``, which
every bf16 ``mm``/``addmm``/``bmm``/``Linear`` and bf16 autocast matmul runs. For one product
``C = op(A) @ op(B)`` its candidate paths are

* ``amx_bf16``: AMX tiles (``gemm_amx_simd.cpp``), on CPUs with AMX-BF16 and M, N >= 16, K >= 32;
* ``avx512_bf16``: the ``vdpbf16ps`` micro-kernel, on CPUs with AVX512-BF16;
* ``convert_f32``: widen A and B to float32 (exact) and run the float32 GEMM (every CPU).

``conv2d``, the float32 convolution (``cpp/ops/conv/conv_tune.cpp``): forward, input gradient and
weight gradient each choose between ``direct`` (the implicit-GEMM kernel of ``conv_direct.cpp``,
the fixed rule) and ``im2col`` (a column matrix and the GEMM), where both apply. A shape class is
the direction and the whole geometry with the batch rounded up to a power of two, and the thread
count; timing as below (2 to 6 runs per candidate, at most 20 ms), on the call's own operands.
Measured on the project's Xeon (1 thread, load average 7 from other jobs): a ResNet-20 step
(batch 64) measures 19 classes, and its first step with an empty cache took 1.1 s longer than
with the fixed rule (bench/python/bench_tuning_conv.py). A bfloat16 convolution (``conv_lowp.cpp``,
what Conv2d runs under BF16 autocast) chooses the same way between ``bf16_gemm`` (im2col + the
bf16 GEMM) and ``convert_f32`` (widen to the float32 convolution), in classes that end in
``" bf16"``; the fixed rule widens below 32 output channels per group (the numbers in
``conv_lowp.cpp``). float16 and depthwise convolutions have one path and are never timed.

``rnn_split``, how the time loop of an RNN / LSTM / GRU layer (``cpp/ops/rnn/rnn_tune.cpp``)
shares its steps between threads: ``rows`` (each thread its batch rows, no barrier, every thread
streams all of W_hh) or ``units`` (each thread its hidden units, one barrier per step); the
fixed rule takes rows when every thread gets at least 8 rows. A shape class is the mode, the
pass (forward / backward), the dtype, the batch, the hidden size rounded up to whole 32-unit
panels, the sequence length rounded up to a power of two and the thread count; with one thread
there is nothing to choose and nothing is measured. A run is the call's whole time loop on its
own operands (2 to 6 runs per candidate, at most 20 ms). Measured on the project's Xeon (2
threads, load average 2-5 from other jobs, bench/python/bench_tuning_rnn.py): an LSTM (H 256,
batch 32) measures 2 classes, and its first forward + backward took 0.14-0.32 s longer than with
the fixed rule; at batch 8 the fixed rule takes units, the measurement picked rows, which ran
in 13-25 ms against units' 23-35 ms (three runs).

**Why.** The fixed order (AMX, then ``vdpbf16ps``, then widen) was measured on an Intel CPU whose
``vdpbf16ps`` does twice the multiply-adds of an FP32 FMA per cycle. On an AMD Zen 4 (AVX512-BF16,
but every 512-bit instruction runs as two 256-bit halves) issue 18 measured the ``vdpbf16ps``
path *slower* than widening: a ResNet-20 bf16 autocast training step took 129 ms against
minidl's own fp32 step's 115 ms, and the bf16 GEMM at 1024^3 ran at 372 GFLOP/s against
PyTorch's 399. No CPUID bit tells the datapath width, so the path is measured on the CPU that runs.

**How** (``cpp/ops/gemm/gemm_lowp_tune.cpp``). A *shape class* is the dtype, the transposes,
M, N and K each rounded up to a power of two, and the thread count. On the first product of a
class that has more than one candidate (and at least 2^15 multiply-adds), every candidate runs on
that product's own operands into a scratch output: one warm-up run, then timed runs (at least
3, up to 10 while they total under 1 ms, none after the first once 5 ms are spent), and the
fastest by its best run wins. Per candidate that is one warm-up run plus at most about 5 ms of
timed runs (always at least one): a 64^3 class (4 us a product) costs about candidates x 11
runs, a 1024^3 class candidates x 2 runs. Measured: the 9 classes of a GPT block's bf16 step
made its first step 0.1-0.4 s slower than with the fixed order (2 threads, load average 7-8);
a ResNet-20 bf16 step measures 3 classes, within the noise (bench/python/bench_tuning.py).
The choice lives in a table in C++ (a shared-lock lookup per call, 40-70 ns measured against a
64^3 product's 4.1 us), so the chosen path runs with no Python in between. Products inside another
parallel region (the per-thread GEMMs of the bf16 convolution) use a remembered choice or the
fixed order: timing there would measure the whole team.

**The cache file** ``<cache dir>/kernel_choices.json``, with the cache dir ``$MINIDL_CACHE_DIR``,
else ``$XDG_CACHE_HOME/minidl``, else ``~/.cache/minidl``. It holds the choices per build and per
CPU: a *build* is one minidl version and one build of its kernels (:func:`kernels_build`, a hash
of the compiled extension: a rebuild of the same version whose kernels changed must not reuse
choices timed on the old ones), a CPU is the ``/proc/cpuinfo`` model name and a hash of its
flags (:func:`cpu_key`). The file keeps the :data:`MAX_BUILDS` builds saved most recently side by
side, so a development build and an installed wheel that share one cache folder each find
their own choices instead of discarding the other's at every start (as the single-build format
1 did, with a warning each time). It is read at import and written at exit (and by
:func:`save`) when something was measured, by read-merge-replace under a lock file, through
:func:`minidl.atomic_write.replace_atomically`, so two processes saving at once keep both their
choices and a reader never sees half a file. A file of format 1 is read as its one build. A
corrupt, unreadable or other-format file is ignored with a warning and rewritten; an unwritable
folder only warns (the choices then last for the process).

**Turning it off.** ``md.backends.cpu.benchmark = False`` or ``MINIDL_CPU_BENCHMARK=0`` gives the
fixed, deterministic order (remembered choices are then not used either), as
``torch.backends.cudnn.benchmark = False`` does for cuDNN. Every path computes the float32 product
of the exact 16-bit inputs; they differ only in summation order (tests/test_tuning.py forces each
one on odd shapes against the float64 reference).

>>> import minidl as md
>>> from minidl import tuning
>>> tuning.cache_path().endswith("kernel_choices.json")
True
>>> tuning.candidates("float16", 64, 64, 64)       # float16 has one path on every CPU
['convert_f32']
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import time
import warnings

from . import _C
from ._version import __version__
from .atomic_write import replace_atomically

__all__ = ["cache_dir", "cache_path", "cpu_key", "kernels_build", "candidates", "enabled", "set_enabled", "load", "save",
           "report"]

#: the layout of the cache file: {"format": 2, "builds": {"<version> <kernels build>": {"minidl_version",
#: "kernels_build", "saved" (time.time() of the last save), "cpus": {cpu key: {family: {shape class: path}}}}}};
#: format 1 (one build: "minidl_version", "kernels_build", "cpus" at the top) is read as its one build,
#: any other value is ignored (and rewritten)
FORMAT = 2
#: builds kept side by side in the file; saving one more drops the one saved longest ago (a rebuild in
#: development is a new build each time, and the file must not grow with every one)
MAX_BUILDS = 8
#: a larger cache file is not read (a hostile or broken file must not stall or fail ``import minidl``);
#: 8 builds x a few CPUs x a few hundred shape classes take well under 1 MiB
MAX_FILE_BYTES = 16 << 20
#: seconds a save waits for another process's lock on the file before giving up with a warning
LOCK_TIMEOUT_S = 5.0
# per family in the file: its remembered choices, how to store one, how many it has measured
_FAMILIES = {
    "gemm_lowp": (_C.gemm_lowp_choices, _C.gemm_lowp_set_choice, _C.gemm_lowp_measurements),
    "conv2d": (_C.conv2d_choices, _C.conv2d_set_choice, _C.conv2d_measurements),
    "rnn_split": (_C.rnn_split_choices, _C.rnn_split_set_choice, _C.rnn_split_measurements),
}
_FILE_NAME = "kernel_choices.json"
_OFF_VALUES = ("0", "false", "no", "off")
_saved_measurements = 0  # _measurements() when the tables last matched the file


def cache_dir() -> str:
    """The folder of minidl's cache: ``$MINIDL_CACHE_DIR``, else ``$XDG_CACHE_HOME/minidl``, else
    ``~/.cache/minidl`` (read on every call, so a changed variable takes effect at once).

    >>> import os
    >>> from minidl import tuning
    >>> os.path.isabs(tuning.cache_dir())
    True
    """
    folder = os.environ.get("MINIDL_CACHE_DIR")
    if not folder:
        folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                              "minidl")
    return os.path.abspath(folder)


def cache_path() -> str:
    """The cache file: ``<cache_dir()>/kernel_choices.json``.

    >>> from minidl import tuning
    >>> tuning.cache_path().endswith("kernel_choices.json")
    True
    """
    return os.path.join(cache_dir(), _FILE_NAME)


def cpu_key() -> str:
    """The CPU the choices belong to: ``"<model name> | flags <12 hex digits>"`` from
    ``/proc/cpuinfo`` (the flags hashed, since two CPUs with one name may differ in them, as
    virtual machines that hide AMX do). Where there is no ``/proc/cpuinfo``: ``platform``'s
    processor name.

    >>> from minidl import tuning
    >>> " | flags " in tuning.cpu_key()
    True
    """
    model, flags = "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = value.strip()
                if model and flags:
                    break
    except OSError:
        pass
    if not model:
        import platform  # deferred: only where /proc/cpuinfo is missing (macOS, Windows)
        model = platform.processor() or platform.machine() or "unknown CPU"
    digest = hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:12]
    return f"{model} | flags {digest}"


@functools.lru_cache(maxsize=None)
def kernels_build() -> str:
    """The build of the kernels that choices are measured with: the first 12 hex digits of the
    SHA-1 of the compiled extension (``minidl._C``), or ``"unknown"`` where it cannot be read.

    Why a hash of the binary and not the version string: the choices are timings of kernels,
    and a rebuild of one version can change a kernel (an editable install, a patched wheel).
    Measured: a cache written before a bf16 GEMM change kept ``convert_f32`` (4.2 ms) for a
    class where the new AMX path takes 0.96 ms, and the GPT block's bf16 step read 1.12x
    PyTorch's time instead of 0.92x. Hashing the 3.4 MB extension costs about 4 ms, once, when
    the cache file is read or written.

    >>> from minidl import tuning
    >>> len(tuning.kernels_build()) == 12 or tuning.kernels_build() == "unknown"
    True
    """
    try:
        with open(_C.__file__, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()[:12]
    except (OSError, AttributeError, TypeError):
        return "unknown"


def candidates(dtype: str, M: int, N: int, K: int) -> list:
    """The paths the running CPU and kernel set can take for a ``dtype`` product (M x K) @ (K x N),
    the fixed rule's first.

    >>> from minidl import tuning
    >>> tuning.candidates("bfloat16", 64, 64, 64)[-1]       # widening works everywhere
    'convert_f32'
    """
    return list(_C.gemm_lowp_candidates(dtype, int(M), int(N), int(K)))


def enabled() -> bool:
    """Whether paths are chosen by measurement (``md.backends.cpu.benchmark``).

    >>> from minidl import tuning
    >>> isinstance(tuning.enabled(), bool)
    True
    """
    return bool(_C.gemm_lowp_tuning())


def set_enabled(on: bool) -> None:
    """Choose paths by measurement (True) or by the fixed order (False); what
    ``md.backends.cpu.benchmark = on`` calls.

    >>> from minidl import tuning
    >>> was = tuning.enabled()
    >>> tuning.set_enabled(False); tuning.enabled()
    False
    >>> tuning.set_enabled(was)
    """
    _C.gemm_lowp_set_tuning(bool(on))


def _build_key() -> str:
    """This process's entry in the file: ``"<minidl version> <kernels build>"``."""
    return f"{__version__} {kernels_build()}"


def _is_choices(cpus) -> bool:
    """{cpu key: {family: {shape class: path}}}, the dicts checked (the entries are checked one by
    one when taken)."""
    return isinstance(cpus, dict) and all(
        isinstance(fams, dict) and all(isinstance(ch, dict) for ch in fams.values()) for fams in cpus.values())


def _read(path: str):
    """The builds stored in the file ({build key: {"minidl_version", "kernels_build", "saved",
    "cpus"}}, format 1 read as its one build), {} when there is no file, None (after a warning)
    when the file is unreadable, corrupt or of another format."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        warnings.warn(f"minidl: cannot read the kernel-choice cache {path} ({e}); ignoring it", RuntimeWarning,
                      stacklevel=3)
        return None
    if len(raw) > MAX_FILE_BYTES:
        warnings.warn(f"minidl: the kernel-choice cache {path} is larger than {MAX_FILE_BYTES} bytes, far more than "
                      "choices take; ignoring it (it will be rewritten)", RuntimeWarning, stacklevel=3)
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        data = None
    builds = None
    if isinstance(data, dict) and data.get("format") == 1 and _is_choices(data.get("cpus")):
        version, build = data.get("minidl_version"), data.get("kernels_build")
        builds = {f"{version} {build}": {"minidl_version": version, "kernels_build": build, "saved": 0.0,
                                         "cpus": data["cpus"]}}
    elif isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("builds"), dict):
        builds = data["builds"]
        if not all(isinstance(b, dict) and _is_choices(b.get("cpus")) for b in builds.values()):
            builds = None
    elif isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] not in (1, FORMAT):
        warnings.warn(f"minidl: the kernel-choice cache {path} has format {data.get('format')!r}, this minidl "
                      f"reads {FORMAT} (and 1); ignoring it (it will be rewritten)", RuntimeWarning, stacklevel=3)
        return None
    if builds is None:
        warnings.warn(f"minidl: the kernel-choice cache {path} is corrupt; ignoring it (it will be rewritten)",
                      RuntimeWarning, stacklevel=3)
        return None
    return builds


# --8<-- [start:load]
def load(path: str | None = None) -> int:
    """Fill the in-memory choices from the cache file (default :func:`cache_path`) for this build
    and CPU; returns how many were taken (0 when the file holds only other builds' or other CPUs'
    choices: they stay in the file). A corrupt or other-format file warns, is ignored and is
    rewritten with what this process knows.

    >>> import tempfile, os
    >>> from minidl import tuning
    >>> tuning.load(os.path.join(tempfile.mkdtemp(), "none.json"))     # no file: nothing taken
    0
    """
    path = path or cache_path()
    stored = _read(path)
    if stored is None:
        save(path, force=True)
        return 0
    taken = 0
    mine = stored.get(_build_key(), {}).get("cpus", {}).get(cpu_key(), {})
    for family, (_, set_choice, _) in _FAMILIES.items():
        for shape_class, chosen in mine.get(family, {}).items():
            # a class or path name this build cannot read is skipped, entry by entry
            taken += bool(isinstance(chosen, str) and set_choice(str(shape_class), chosen))
    return taken
# --8<-- [end:load]


def _measurements() -> int:
    return sum(measured() for _, _, measured in _FAMILIES.values())


class _LockTimeout(OSError):
    """Another process held the cache file's lock for longer than :data:`LOCK_TIMEOUT_S`."""


@contextlib.contextmanager
def _locked(path: str):
    """Hold an exclusive lock on ``<path>.lock`` (POSIX ``flock``; elsewhere no lock: the
    atomic replace still keeps the file whole, a concurrent save may then drop the other's
    new entries). A save holds it for milliseconds; one held for :data:`LOCK_TIMEOUT_S` (a
    stopped or hung process) raises :class:`_LockTimeout` instead of blocking this process's
    exit for ever."""
    try:
        import fcntl  # deferred: POSIX only
    except ImportError:
        yield
        return
    with open(path + ".lock", "a+b") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _LockTimeout(f"its lock file {path}.lock was held by another process for "
                                       f"{LOCK_TIMEOUT_S:g} s") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _saved_at(build: dict) -> float:
    saved = build.get("saved")
    return float(saved) if isinstance(saved, (int, float)) and not isinstance(saved, bool) else 0.0


def save(path: str | None = None, force: bool = False) -> bool:
    """Merge this process's choices into the cache file (default :func:`cache_path`): read the
    file under a lock, add or replace this build's and CPU's entries (other builds' and CPUs'
    stay; beyond :data:`MAX_BUILDS` builds the one saved longest ago goes), write it atomically.
    Does nothing unless something was measured since the last save or ``force``. Returns whether
    it wrote; a folder that cannot be written, or a lock that another process holds for
    :data:`LOCK_TIMEOUT_S`, warns and returns False.

    >>> import tempfile, os
    >>> from minidl import tuning
    >>> path = os.path.join(tempfile.mkdtemp(), "choices.json")
    >>> tuning.save(path, force=True), os.path.exists(path)
    (True, True)
    """
    global _saved_measurements
    path = path or cache_path()
    measured = _measurements()
    if not force and measured == _saved_measurements:
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _locked(path), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # load() said it once already
            builds = _read(path) or {}
            build = builds.setdefault(_build_key(), {"cpus": {}})
            build.update(minidl_version=__version__, kernels_build=kernels_build(), saved=time.time())
            mine = build["cpus"].setdefault(cpu_key(), {})
            for family, (choices, _, _) in _FAMILIES.items():
                mine.setdefault(family, {}).update(choices())
            newest = sorted(builds, key=lambda k: _saved_at(builds[k]), reverse=True)[:MAX_BUILDS]
            text = json.dumps({"format": FORMAT, "builds": {k: builds[k] for k in newest}}, indent=1, sort_keys=True)
            replace_atomically(path, lambda f: f.write(text.encode("utf-8")))
    except OSError as e:
        warnings.warn(f"minidl: cannot write the kernel-choice cache {path} ({e}); the choices last for this "
                      "process only (set MINIDL_CACHE_DIR to a writable folder)", RuntimeWarning, stacklevel=2)
        return False
    _saved_measurements = measured
    return True


def report() -> str:
    """What is chosen and where it is kept: the switch, the cache file, the CPU key and one line
    per remembered shape class (``md.backends.cpu.tuning_report()`` prints it).

    >>> from minidl import tuning
    >>> tuning.report().splitlines()[0].startswith("kernel path choice by measurement:")
    True
    """
    lines = [f"kernel path choice by measurement: {'on' if enabled() else 'off (fixed order)'}",
             f"cache file: {cache_path()}", f"CPU: {cpu_key()}",
             f"16-bit GEMM fixed order here: {', '.join(candidates('bfloat16', 64, 64, 64))}"]
    for family, (choices, _, _) in _FAMILIES.items():
        lines += [f"  {family}: {shape_class:<34} -> {chosen}" for shape_class, chosen in choices().items()]
    return "\n".join(lines)


def _start() -> None:
    """At import: the switch from MINIDL_CPU_BENCHMARK, the cache read, the save at exit."""
    set_enabled(os.environ.get("MINIDL_CPU_BENCHMARK", "1").strip().lower() not in _OFF_VALUES)
    load()
    atexit.register(save)


_start()
