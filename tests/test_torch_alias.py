"""``python -m minidl.run SCRIPT ARGS`` and ``install_torch_alias()`` (issue 16 item 1): the
script's ``import torch`` and its submodules resolve to minidl, argv and __main__ are as
``python SCRIPT`` gives them, and a module minidl lacks stops the program at its import with
a message saying so. Each case runs in a subprocess (this process has the real torch)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import minidl as md
from conftest import require
from minidl.torch_alias import TorchAliasFinder


def _run(tmp_path, body, *args):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "-m", "minidl.run", str(script), *args], capture_output=True, text=True,
                          timeout=120)


def test_submodules_resolve_to_minidl(tmp_path):
    r = _run(tmp_path, """
        import sys
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim
        from torch.optim.lr_scheduler import CosineAnnealingLR
        from torch.utils.data import DataLoader, TensorDataset
        from torch.nn.utils.rnn import pack_padded_sequence
        import torch.amp, torch.cuda, torch.backends.cudnn
        import minidl
        assert torch is minidl and nn is minidl.nn and F is minidl.nn.functional
        assert torch.optim.lr_scheduler.CosineAnnealingLR is CosineAnnealingLR
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(0); torch.cuda.manual_seed_all(0)
        torch.backends.cudnn.benchmark = True
        model = nn.Linear(3, 1).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(64, 3), torch.randn(64, 1)
        losses = []
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16):
            loss = F.mse_loss(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
            losses.append(loss.item())
        print(__name__, sys.argv[1:], device, len(losses))
        """, "--steps", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "__main__ ['--steps', '3'] cpu 4"


def test_a_module_minidl_lacks_stops_the_program_at_its_import(tmp_path):
    r = _run(tmp_path, """
        import torch
        print("before")
        import torch.testing._internal
        print("after")
        """)
    assert r.returncode != 0 and "before" in r.stdout and "after" not in r.stdout
    assert "ModuleNotFoundError: No module named 'torch.testing': minidl has no 'minidl.testing'" in r.stderr


def test_errors_of_the_runner_itself(tmp_path):
    r = subprocess.run([sys.executable, "-m", "minidl.run", str(tmp_path / "missing.py")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "no such script" in r.stderr
    r = subprocess.run([sys.executable, "-m", "minidl.run"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "python -m minidl.run SCRIPT.py" in r.stdout


def test_install_refuses_when_the_real_torch_is_loaded():
    require("torch")  # the real torch, loaded: what this test needs
    with pytest.raises(RuntimeError, match="the real 'torch' is already imported"):
        md.install_torch_alias()
    assert TorchAliasFinder().find_spec("torch.optim").loader.module is md.optim
    assert TorchAliasFinder().find_spec("numpy") is None
    with pytest.raises(ModuleNotFoundError, match="minidl has no 'minidl.hub'"):
        TorchAliasFinder().find_spec("torch.hub")
