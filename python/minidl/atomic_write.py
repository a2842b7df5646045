"""Replace a file atomically, so that a crash can neither corrupt it nor litter its directory.

:func:`replace_atomically` produces the new content with a callback and then puts it in place
with ``os.replace`` (POSIX ``rename``): at every instant the destination is either the old
complete file or the new complete file, and a crash at any moment keeps the old one. Where the
new bytes live until then decides what a crash (``SIGKILL``, power loss) leaves behind:

* **Linux, an unnamed file** (``open(dir, O_TMPFILE)``; ext4, xfs, btrfs, tmpfs): the file has
  no name while it is written, so a killed process leaves nothing, the kernel frees it. Once it
  is complete and ``fsync``-ed it gets a temporary name (``linkat`` of ``/proc/self/fd/N``) and
  is renamed over the destination. A kill between those two system calls (microseconds) is the
  only moment a temporary can be left, and that one is complete.
* **Elsewhere, a named temporary** (another OS, a filesystem that refuses ``O_TMPFILE`` as some
  overlay and older tmpfs versions do, no ``/proc``): the file is created under its temporary
  name, as ``tempfile.mkstemp`` does, so a kill mid-write leaves it partly written.

Temporaries are named ``.<destination name>.<pid>.<8 hex digits>.tmp`` in the destination's
directory (a rename is atomic only within one filesystem). Before writing, every save removes
the temporaries of the same destination whose writer, the pid in the name, is no longer running
(``kill(pid, 0)`` fails with ``ESRCH``), so what a crash leaves lives only until the next save.
Pids are those of this machine: two machines saving the same file on a shared (network) folder
could remove each other's temporaries, making the other's save fail (never the destination);
on Windows nothing is removed, since ``os.kill`` there would end the process.

Measured with the writer of tests/test_io_crash.py (32 MB saves, 40 SIGKILLs at random
moments, ext4): the named scheme minidl used before issue 14 left 28 temporaries (17 partly
written) and never removed them; the unnamed file left none; the named fallback left 19, each
removed by the next save.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import stat

__all__ = ["replace_atomically", "remove_stale_temporaries", "unnamed_files_supported"]

_PROC_FD = "/proc/self/fd"


def _temporary_name(path: str) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _writer_is_running(pid: int) -> bool:
    """False only when no process ``pid`` exists on this machine (a dead writer)."""
    if os.name != "posix" or pid <= 0:
        return True  # Windows' os.kill(pid, 0) would terminate the process; pid 0 is a group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: another user's process, alive
        return True
    return True


def remove_stale_temporaries(path) -> list:
    """Remove the temporaries of ``path`` left by writers that are no longer running.

    Only names ``.<name of path>.<pid>.<8 hex digits>.tmp`` in the same directory whose pid
    has no running process are removed; the names removed are returned.

    >>> import os, subprocess, sys, tempfile
    >>> from minidl.atomic_write import remove_stale_temporaries
    >>> dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
    ...                       capture_output=True, text=True).stdout.strip()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for pid in [dead, os.getpid()]:  # a writer that died, and this running process
    ...         open(os.path.join(folder, f".ckpt.mdl.{pid}.0123abcd.tmp"), "wb").close()
    ...     removed = remove_stale_temporaries(os.path.join(folder, "ckpt.mdl"))
    ...     print(removed == [f".ckpt.mdl.{dead}.0123abcd.tmp"], len(os.listdir(folder)))
    True 1
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    pattern = re.compile(rf"\.{re.escape(name)}\.([0-9]{{1,10}})\.[0-9a-f]{{8}}\.tmp")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for entry in names:
        match = pattern.fullmatch(entry)
        if match and not _writer_is_running(int(match.group(1))):
            try:
                os.unlink(os.path.join(directory, entry))
                removed.append(entry)
            except OSError:  # another saver removed it first, or we may not
                pass
    return removed


def _open_unnamed(directory: str):
    """A write-only descriptor of an unnamed file in ``directory``, or None where unsupported."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir(_PROC_FD):
        return None
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except OSError:  # EOPNOTSUPP / EISDIR / EINVAL: not here; real errors recur in the fallback
        return None


def unnamed_files_supported(directory) -> bool:
    """Whether :func:`replace_atomically` can use an unnamed (``O_TMPFILE``) file in ``directory``.

    >>> import tempfile
    >>> from minidl.atomic_write import unnamed_files_supported
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     print(unnamed_files_supported(folder) in (True, False))
    True
    """
    fd = _open_unnamed(os.fspath(directory))
    if fd is None:
        return False
    os.close(fd)
    return True


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (a directory entry is data of the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories can't be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_unnamed_then_rename(path: str, write, mode: int) -> bool:
    """The unnamed-file path; False, leaving nothing behind, where it is not available."""
    fd = _open_unnamed(os.path.dirname(path))
    if fd is None:
        return False
    with os.fdopen(fd, "wb") as out:  # an exception here closes it: the kernel frees the file
        write(out)
        out.flush()
        os.fchmod(fd, mode)
        os.fsync(fd)
        temporary = _temporary_name(path)
        # linkat(AT_FDCWD, "/proc/self/fd/N", dirfd, name, AT_SYMLINK_FOLLOW). Without a dir fd
        # CPython calls link(2), which links the /proc symlink itself: EXDEV (Python 3.11).
        directory_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(f"{_PROC_FD}/{fd}", os.path.basename(temporary), dst_dir_fd=directory_fd,
                    follow_symlinks=True)
        except OSError:
            return False  # the link is refused (a sandbox): write again, named
        finally:
            os.close(directory_fd)
        try:
            os.replace(temporary, path)
        except BaseException:
            _unlink_quietly(temporary)
            raise
    return True


def _write_named_then_rename(path: str, write, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temporary = _temporary_name(path)
        try:
            fd = os.open(temporary, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name", path)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise


def replace_atomically(path, write) -> None:
    """Write a new ``path`` with ``write(fileobj)`` and put it in place atomically.

    ``write`` gets a binary file object and writes the whole content; it may be called a second
    time (on a fresh file) in the rare case where the unnamed file can't be linked. The new file
    keeps the permission bits of the file it replaces (``0o644`` for a new one). See the module
    docstring for what a crash leaves behind.

    >>> import os, tempfile
    >>> from minidl.atomic_write import replace_atomically
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "notes.txt")
    ...     replace_atomically(path, lambda f: f.write(b"hello"))
    ...     print(open(path, "rb").read(), os.listdir(folder))
    b'hello' ['notes.txt']
    """
    # --8<-- [start:replace]
    path = os.path.abspath(os.fsdecode(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o644
    remove_stale_temporaries(path)
    if not _write_unnamed_then_rename(path, write, mode):
        _write_named_then_rename(path, write, mode)
    _fsync_directory(os.path.dirname(path))
    # --8<-- [end:replace]
