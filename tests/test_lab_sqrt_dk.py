"""The sqrt-dk lab in quick mode: the scores' variance grows as d_k without the scale and stays
1 with it; unscaled softmax saturates (entropy -> 0) and its gradient vanishes, scaled does not.
Margins from quick-mode runs with seeds 0 and 1 (measured values in the lab's docstring)."""
import math
import os

import numpy as np
import pytest

from conftest import run_lab


@pytest.mark.parametrize("seed", [0, 1])
def test_sqrt_dk(tmp_path, seed):
    r, printed = run_lab("sqrt-dk", tmp_path, seed=seed)
    d = np.array(r["d_k"], dtype=float)
    s, u = r["scaled"], r["unscaled"]
    assert d[0] == 16 and d[-1] == 1024
    # variance of q.k is d_k unscaled, 1 scaled
    assert np.allclose(u["var"], d, rtol=0.2)
    assert np.allclose(s["var"], 1.0, rtol=0.15)
    # scaled entropy stays near that of unit-variance logits, whatever d_k; unscaled collapses
    assert min(s["entropy"]) > 3.3 and max(s["entropy"]) < math.log(r["n_keys"])
    assert u["entropy"][-1] < 0.3 and all(np.diff(u["entropy"]) < 0)
    assert u["max_prob"][-1] > 0.9
    # gradient through the softmax: flat with the scale, vanishing without
    assert max(s["grad_norm"]) / min(s["grad_norm"]) < 1.3
    assert u["grad_norm"][-1] < 0.01 * s["grad_norm"][-1]
    assert u["grad_norm"][-1] < 0.01 * u["grad_norm"][0]
    assert u["dead_rows"][-1] > 0.3 and u["dead_rows"][0] < 0.05
    assert "entropy" in printed and os.path.getsize(r["png"]) > 1000
