"""The heap policy (cpp/core/heap_policy.h): a training step's freed buffers stay in malloc's
heap for the next step instead of being returned to the kernel and page-faulted back in."""
import os
import subprocess
import sys

import pytest

from minidl import _C

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or _C.heap_trim_threshold() == 0,
                           reason="the heap policy is glibc's mallopt (Linux with glibc only)")


@glibc
def test_trim_threshold_is_an_eighth_of_physical_memory_within_bounds():
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE")
    assert _C.heap_trim_threshold() == min(max(physical // 8, 256 << 20), 2 ** 31 - 1)


# A process with minidl and nothing else (pytest's own heap holds torch's buffers, which would
# hide the effect): three "steps", each keeping 40 outputs of 4 MiB (160 MiB, more than the
# old 64 MiB threshold) alive and then freeing them all, as a forward + backward pass does.
_STEPS = r"""
import resource, numpy as np, minidl as md
x = md.tensor(np.ones((1024, 1024), np.float32))
faults = []
for step in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    live = [x * float(i) for i in range(40)]  # 40 fresh 4 MiB outputs of the C++ kernels
    assert float(live[-1][0, 0]) == 39.0
    del live
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


@glibc
def test_a_second_step_reuses_the_first_steps_memory_without_page_faults():
    r = subprocess.run([sys.executable, "-c", _STEPS], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    first, *later = map(int, r.stdout.split())
    # the first step faults its 160 MiB in (40k 4 KiB pages, or 80 with 2 MiB huge pages);
    # the later steps find the same memory in the heap
    assert first >= 40, first
    assert max(later) < first // 10, (first, later)
