"""The mixed-precision lab runs in quick mode and its numbers support its stated conclusions.
Margins from quick-mode runs with seeds 0 and 1: accuracies 0.95..0.97 in all four runs
(within 0.01 of each other); dloss/dlogits lost in FP16 without scaling 57%, with 2^16
scaling 8%, in BF16 0."""
import os

import pytest

from conftest import require, run_lab
require("matplotlib")
require("sklearn")  # the lab trains on the digits

from minidl import labs  # noqa: E402


def test_registered_with_question():
    assert labs.list_labs()["mixed-precision"].endswith("?")


@pytest.mark.slow  # 5 s on 2 busy cores (pytest --durations)
def test_mixed_precision_quick(tmp_path):
    r, printed = run_lab("mixed-precision", tmp_path)
    runs = ("fp32", "bf16", "fp16 (no scaler)", "fp16 + GradScaler")
    for k in runs:
        assert r[k]["accuracy"] > 0.9, k
        assert r[k]["ms_per_step"] > 0 and r[k]["peak_kib"] > 0
    for k in runs[1:]:  # 16-bit training reaches float32's accuracy (3 points = 11 of 360 images)
        assert r[k]["accuracy"] >= r["fp32"]["accuracy"] - 0.03, k
    u = r["underflow"]
    no_scale, scaled, bf16 = u["fp16, no scaling"], u["fp16, loss x 2^16"], u["bf16, no scaling"]
    assert no_scale["lost"] > 0.2 * no_scale["of"]          # FP16 loses small gradients ...
    assert scaled["lost"] < 0.5 * no_scale["lost"]           # ... loss scaling keeps most of them
    assert bf16["lost"] == 0                                 # BF16 has float32's exponent range
    assert r["fp16 + GradScaler"]["final_scale"] >= 1.0
    assert "underflow" in printed and os.path.getsize(r["png"]) > 1000
