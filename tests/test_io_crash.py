"""md.save killed at random moments (issue 14 item 9): the target is always the old or the new
complete checkpoint, and a killed save leaves no temporary file behind (with O_TMPFILE), or one
that the next save of the same target removes (the named-temporary fallback).

A "zygote" subprocess imports minidl once and forks one writer per kill, so that 30 kills cost
30 forks instead of 30 imports (about 1 s each on a busy 2-core machine). Each writer saves
``{"i": i, "w": [32 MB of float32 equal to i]}`` for i = start, start+1, ... and reports every
completed save; the test SIGKILLs it after a random delay, the zygote reaps it, and the test
checks the directory and the target.
"""
import errno
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minidl as md
from minidl import atomic_write

ZYGOTE = r"""
import errno, os, sys, time
import numpy as np
import minidl as md
path, mode = sys.argv[1], sys.argv[2]
if mode == "fallback":
    # a filesystem that refuses O_TMPFILE, as some tmpfs/overlay versions do
    real_open = os.open
    def refusing_open(file, flags, *args, **kwargs):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "O_TMPFILE refused (simulated)", file)
        return real_open(file, flags, *args, **kwargs)
    os.open = refusing_open
arrays = [np.zeros(2_000_000, np.float32) for _ in range(4)]
tensors = [md.from_numpy(a) for a in arrays]
def save(i):
    for a in arrays:
        a.fill(i)
    md.save({"i": i, "w": tensors}, path)
began = time.perf_counter()
save(0)
os.write(1, b"ready %f\n" % (time.perf_counter() - began))
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            i = int(line)
            while True:
                save(i)
                os.write(1, b"saved %d\n" % i)
                i += 1
        finally:
            os._exit(1)
    os.write(1, b"child %d\n" % pid)
    os.waitpid(pid, 0)
    os.write(1, b"reaped %d\n" % pid)
"""


def temporaries(directory, target="ckpt.mdl"):
    return sorted(n for n in os.listdir(directory) if n != target)


def load_consistent(path):
    """The ``i`` of the checkpoint at ``path``, after checking every tensor holds exactly ``i``."""
    obj = md.load(path)
    for t in obj["w"]:
        assert np.array_equal(t.numpy(), np.full(2_000_000, obj["i"], np.float32)), "mixed content"
    return obj["i"]


def read_until(proc, prefix):
    """Lines of the zygote up to the first that starts with ``prefix``: (its value, the saved i's)."""
    saved = []
    while True:
        line = proc.stdout.readline().decode()
        assert line, "zygote exited"
        parts = line.split()
        if len(parts) != 2:  # not the zygote's (e.g. an editable install announcing a rebuild)
            continue
        word, value = parts
        if word == "saved":
            saved.append(int(value))
        elif word == prefix:
            return value, saved


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
@pytest.mark.parametrize("mode, kills", [("o_tmpfile", 30), ("fallback", 15)])
def test_sigkill_during_save_leaves_old_or_new_and_no_partial_temporary(tmp_path, mode, kills):
    """issue 14 item 9: SIGKILL at random moments during md.save of a 32 MB state."""
    if mode == "o_tmpfile" and not atomic_write.unnamed_files_supported(str(tmp_path)):
        pytest.skip("this filesystem refuses O_TMPFILE; the fallback case covers it")
    path = tmp_path / "ckpt.mdl"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(md.__file__)), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(path), mode], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        save_seconds = float(read_until(proc, "ready")[0])
        rng = random.Random(14_9)
        current = 0            # the i the target holds
        killed = set()
        leftovers = set()      # complete temporaries of the O_TMPFILE path (kill between link and rename)
        for _ in range(kills):
            proc.stdin.write(b"%d\n" % (current + 1))
            proc.stdin.flush()
            pid, saved = read_until(proc, "child")
            # delays that cover every phase of a save: encoding, writing, fsync, link, rename
            time.sleep(rng.uniform(0, 2.5 * save_seconds))
            os.kill(int(pid), signal.SIGKILL)
            _, more = read_until(proc, "reaped")
            saved += more
            last_done = saved[-1] if saved else current
            held = load_consistent(path)
            assert held in (last_done, last_done + 1), (held, last_done)  # the old or the new one
            killed.add(int(pid))
            stray = temporaries(tmp_path)
            for name in stray:  # only temporaries of this target's dead writers
                match = re.fullmatch(r"\.ckpt\.mdl\.(\d+)\.[0-9a-f]{8}\.tmp", name)
                assert match and int(match.group(1)) in killed, stray
            if mode == "o_tmpfile":
                # nothing partial ever has a name; only a kill between link and rename leaves a
                # temporary, a complete one, and the next save removes it
                for name in stray:
                    load_consistent(tmp_path / name)
                leftovers.update(stray)
            else:
                # a save removes the temporaries of dead writers before it creates its own, so
                # at most one is left: the last killed writer's that got that far
                assert len(stray) <= 1, stray
            current = held
        # the link-to-rename window is microseconds of a ~0.1 s save: 2 hits in 30 is a regression
        assert len(leftovers) <= 1, leftovers
    finally:
        proc.kill()
        proc.wait()
    md.save({"i": current + 1, "w": []}, path)  # the next save cleans up after the dead writers
    assert temporaries(tmp_path) == []


# --- the named-temporary fallback, forced ---------------------------------------------------
@pytest.fixture
def refuse_o_tmpfile(monkeypatch):
    """Make the O_TMPFILE open fail as on a filesystem without it."""
    real_open = os.open

    def refusing_open(file, flags, *args, **kwargs):
        if hasattr(os, "O_TMPFILE") and flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "O_TMPFILE refused (simulated)", file)
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)


def dead_pid():
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="pid liveness is checked with kill(pid, 0)")
@pytest.mark.parametrize("forced_fallback", [False, True])
def test_next_save_removes_temporaries_of_dead_writers_only(tmp_path, request, forced_fallback):
    """issue 14 item 9: stale temporaries of the same target whose writer is dead are removed."""
    if forced_fallback:
        request.getfixturevalue("refuse_o_tmpfile")
    dead = dead_pid()
    alive = os.getppid()
    stale = f".model.mdl.{dead}.0123abcd.tmp"
    kept = [f".model.mdl.{alive}.0123abcd.tmp",      # a writer that may still be running
            f".other.mdl.{dead}.0123abcd.tmp",       # another target's
            ".model.mdl.k2j3_x9.tmp",                # no pid in the name (not ours to judge)
            "model.mdl.bak", "notes.txt"]
    for name in [stale] + kept:
        (tmp_path / name).write_bytes(b"partial")
    md.save({"v": 1}, tmp_path / "model.mdl")
    assert md.load(tmp_path / "model.mdl") == {"v": 1}
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["model.mdl"])


def test_fallback_is_used_and_cleans_up_after_exceptions(tmp_path, refuse_o_tmpfile, monkeypatch):
    """issue 14 item 9: with O_TMPFILE refused, a failed save removes its named temporary."""
    path = tmp_path / "model.mdl"
    md.save({"v": 1}, path)
    created = []
    real_open = os.open

    def recording_open(file, flags, *args, **kwargs):
        created.append(os.path.basename(file))
        return real_open(file, flags, *args, **kwargs)

    def failing_replace(src, dst):
        raise OSError("replace failed (simulated)")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        md.save({"v": 2}, path)
    assert any(re.fullmatch(rf"\.model\.mdl\.{os.getpid()}\.[0-9a-f]{{8}}\.tmp", n) for n in created), created
    monkeypatch.undo()
    assert md.load(path) == {"v": 1} and os.listdir(tmp_path) == ["model.mdl"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("forced_fallback", [False, True])
def test_permission_bits_are_kept(tmp_path, request, forced_fallback):
    """issue 14 item 9: both paths give a new file 0o644 and keep a replaced file's bits."""
    if forced_fallback:
        request.getfixturevalue("refuse_o_tmpfile")
    path = tmp_path / "model.mdl"
    md.save({"v": 1}, path)
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    md.save({"v": 2}, path)
    assert path.stat().st_mode & 0o777 == 0o600 and md.load(path) == {"v": 2}
