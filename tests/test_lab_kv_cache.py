"""The kv-cache lab in quick mode: the cached step gives the full forward's logits, the work
ratio is L, and the cache is faster per token where the prefix is long. The timing margin is
wide on purpose so a loaded machine does not fail it: quick mode measured 2.4x at L = 256 on 2
threads and 4.4x on 1 (the Xeon); asserted 1.5x. (With d_model 64 it measured 4.4-4.7x while
OpenMP's idle threads slept at once: the full forward waited for a wake-up per parallel region.
Since they spin ~0.1 ms that forward is 2.2x faster, and the cached step, mostly Python at that
size, set the ratio: 1.7x at 2 threads. Quick mode now uses d_model 128.)"""
import os

import numpy as np

from conftest import run_lab


def test_kv_cache_lab(tmp_path):
    r, printed = run_lab("kv-cache", tmp_path)
    L = np.array(r["lengths"])
    assert L[0] == 16 and L[-1] == 256
    assert max(r["max_abs_diff"]) < 1e-5
    np.testing.assert_allclose(r["work_ratio"], L)
    assert all(np.diff(r["full_flops"]) > 0) and r["cache_flops"][-1] < 2 * r["cache_flops"][0]
    assert r["speedup"][-1] > 1.5
    # recomputation grows with the prefix (16x the work from L = 16 to 256; measured 3.1x the time
    # alone, 1.7x once in CI, where the L = 16 forward took 0.94 ms against 0.5 alone)
    assert r["full_ms"][-1] > 1.3 * r["full_ms"][0]
    assert r["speedup"][-1] > r["speedup"][0]  # and the cache gains more the longer it is
    np.testing.assert_array_equal(r["cache_bytes"], 2 * r["config"]["layers"] * L * r["config"]["d_model"] * 4)
    assert "ms/token cache" in printed and os.path.getsize(r["png"]) > 1000
