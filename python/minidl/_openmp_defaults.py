"""The OpenMP settings minidl starts with on a shared or restricted machine (issue 14 item 12).

This module imports nothing of minidl: ``minidl/__init__.py`` runs it *before* it loads the
extension ``minidl._C``, because the OpenMP runtime (GCC's libgomp) reads its environment once,
when it is loaded with the extension.

**Wait policy.** After a parallel region, libgomp's idle threads by default spin for about
300,000 iterations (``GOMP_SPINCOUNT``), waiting for the next region, before they sleep. On a busy
machine the spinning threads take CPU time from the thread that does the work and from the other
processes, and every region then waits for a descheduled thread: ``Linear(512, 512)`` on 256 rows
took 25.4 ms with 2 threads against 7.5 ms with 1 under load, and a lab that runs 11 s on a quiet
machine took 240 s. Sleeping at once (``OMP_WAIT_POLICY=passive``, spin count 0) has the opposite
cost: every region starts with a futex wake-up of each sleeping thread, which in a virtual machine
takes tens of microseconds, and a training step runs hundreds of regions separated by the Python
of autograd. minidl therefore starts with the passive policy and a short spin,
``GOMP_SPINCOUNT=10000``: libgomp's own model is 100,000 spins per millisecond (13 ns per spin
measured on the Xeon of the README), so idle threads stay awake ~0.1 ms, across the gap between
two kernels of a step, and sleep soon after the step ends. ResNet-20 steps (batch 64, 2 threads,
2 vCPUs, ms; ``bench/python/bench_busy_machine.py`` measures the same on your machine):

    spin count                       0 (passive)   10,000   100,000   300,000 (libgomp default)
    quiet machine                    85-89         75-80    72-77     74-79
    both CPUs busy (3 runs)          140-372       171-332  470-478   1659

Under load the short spin measured within the spread of passive (the runs of the busy row
disagreed on which is faster), while 100,000 and more collapse. A policy or spin count the
user set is kept. Like any environment variable they are inherited by child processes and read by
an OpenMP runtime that the process loads later (PyTorch imported after minidl shares minidl's
libgomp, so it runs with these settings too). They have no effect when libgomp was loaded before
minidl: PyTorch's bundled copy has the same soname, so after ``import torch`` minidl's extension
uses that runtime, already started with the default spin (scikit-learn's vendored copy is a
separate runtime and does not interfere).

**Thread count.** libgomp starts one thread per CPU of the process's affinity mask, but it does
not read a cgroup CPU quota (``docker run --cpus 1``, a Kubernetes CPU limit): a team of 16 threads
under a quota of 1 CPU is throttled in every scheduling period and each region waits for its
slowest thread. minidl starts with ``min(affinity CPUs, floor(quota))`` threads (at least 1)
unless ``OMP_NUM_THREADS`` is set; ``md.set_num_threads`` changes it later. The count does not follow
the load of the moment (that changes after import); the short spin is what keeps the
default thread count cheap when other processes use the cores.
"""
from __future__ import annotations

import math
import os

CGROUP_V2_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_CPU_DIR = "/sys/fs/cgroup/cpu"


SPIN_COUNT = 10_000  # ~0.1 ms of spinning: see the module docstring's table


def set_wait_policy(environ=os.environ) -> dict:
    """Set ``OMP_WAIT_POLICY=passive`` and ``GOMP_SPINCOUNT=10000`` in ``environ`` unless it
    holds either already (then the user's settings are kept as they are); returns both as they
    now stand. Called before the OpenMP runtime loads, or it changes nothing.

    >>> from minidl._openmp_defaults import set_wait_policy
    >>> env = {}
    >>> set_wait_policy(env) == env == {'OMP_WAIT_POLICY': 'passive', 'GOMP_SPINCOUNT': '10000'}
    True
    >>> set_wait_policy({"OMP_WAIT_POLICY": "active"})    # the user's choice is kept
    {'OMP_WAIT_POLICY': 'active', 'GOMP_SPINCOUNT': None}
    """
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["OMP_WAIT_POLICY"] = "passive"
        environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return {name: environ.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_quota(cpu_max: str | None = None, v1_dir: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (quota / period), or None when unlimited or
    unknown.

    cgroup v2: the file ``cpu.max`` holds ``"<quota> <period>"`` in microseconds, ``"max <period>"``
    without a limit. cgroup v1: ``cpu.cfs_quota_us`` (-1 without a limit) and ``cpu.cfs_period_us``.
    An unreadable or malformed file counts as no limit. The paths default to where Linux mounts
    the process's own cgroup (inside a container too).

    >>> import os, tempfile
    >>> from minidl._openmp_defaults import cgroup_cpu_quota
    >>> def quota_of(cpu_max_line):
    ...     with tempfile.TemporaryDirectory() as d:
    ...         with open(os.path.join(d, "cpu.max"), "w") as f:
    ...             _ = f.write(cpu_max_line)
    ...         return cgroup_cpu_quota(os.path.join(d, "cpu.max"), v1_dir=d)
    >>> quota_of("150000 100000\\n")       # docker run --cpus 1.5
    1.5
    >>> quota_of("max 100000\\n") is None  # no limit
    True
    """
    cpu_max = CGROUP_V2_CPU_MAX if cpu_max is None else cpu_max
    v1_dir = CGROUP_V1_CPU_DIR if v1_dir is None else v1_dir
    text = _read(cpu_max)
    if text is not None:
        fields = text.split()
        quota, period = (fields + ["", ""])[:2]
    else:
        quota = _read(os.path.join(v1_dir, "cpu.cfs_quota_us")) or ""
        period = _read(os.path.join(v1_dir, "cpu.cfs_period_us")) or ""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max", a missing file, garbage
        return None
    if quota_us <= 0 or period_us <= 0:  # v1 writes -1 for no limit
        return None
    return quota_us / period_us


def affinity_cpu_count() -> int:
    """The number of CPUs this process may run on (its affinity mask, as ``taskset`` sets it;
    ``os.cpu_count()`` where the OS has no affinity call).

    >>> from minidl._openmp_defaults import affinity_cpu_count
    >>> affinity_cpu_count() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count(affinity_cpus: int, quota: float | None) -> int:
    """The thread count for a process that may run on ``affinity_cpus`` CPUs under a cgroup
    quota of ``quota`` CPUs (None: no quota): the CPUs, capped by the quota rounded down (a team
    larger than the quota stalls in every throttled period), at least 1.

    >>> from minidl._openmp_defaults import thread_count
    >>> thread_count(16, None)      # no quota: one thread per CPU
    16
    >>> thread_count(16, 2.5)       # docker run --cpus 2.5
    2
    >>> thread_count(2, 0.5)        # never fewer than 1
    1
    """
    if quota is not None:
        affinity_cpus = min(affinity_cpus, math.floor(quota))
    return max(1, affinity_cpus)


def default_num_threads() -> int:
    """The thread count minidl starts with when OMP_NUM_THREADS is not set: ``thread_count`` of
    this process's affinity CPUs and cgroup quota.

    >>> from minidl._openmp_defaults import affinity_cpu_count, default_num_threads
    >>> 1 <= default_num_threads() <= affinity_cpu_count()
    True
    """
    return thread_count(affinity_cpu_count(), cgroup_cpu_quota())


def set_default_num_threads(C) -> None:
    """Right after ``minidl._C`` (passed as ``C``) is loaded: start with
    ``default_num_threads()`` threads, unless ``OMP_NUM_THREADS`` says how many."""
    if C.has_openmp() and not os.environ.get("OMP_NUM_THREADS"):
        C.set_num_threads(default_num_threads())
