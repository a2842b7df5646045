"""minidl's NumPy data allocator (cpp/bindings/numpy_allocator.cpp): every array created after
``import minidl`` starts on a 64-byte boundary, and still behaves as NumPy's own allocator does."""
import threading

import numpy as np
import pytest

import minidl as md
from minidl import _C

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import get_handler_name


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture
def aligned():
    assert _C.use_aligned_allocator(True) == "minidl_aligned_64"
    yield
    _C.use_aligned_allocator(True)


def test_import_installs_the_aligned_allocator():
    assert get_handler_name() == "minidl_aligned_64"


@pytest.mark.parametrize("nbytes", [0, 1, 7, 64, 100, 4096, 65_537, 5 << 20])
def test_new_arrays_start_on_a_64_byte_boundary(aligned, nbytes):
    for make in (np.empty, np.zeros, np.ones):
        a = make(nbytes, np.uint8)
        assert address(a) % 64 == 0 or nbytes == 0, (make, nbytes)
    assert not np.zeros(nbytes, np.uint8).any()
    assert np.ones(nbytes, np.uint8).all()


def test_kernel_outputs_are_aligned(aligned):
    x = md.randn(300, 257)
    for y in (x * 2.0, x @ x.T, md.relu(x), x.sum(0)):
        assert address(y.numpy()) % 64 == 0


@pytest.mark.parametrize("new_size", [1, 10, 1000, 3 << 20])
def test_resize_keeps_the_contents_and_the_alignment(aligned, new_size):
    a = np.arange(5000, dtype=np.float64)
    a.resize(new_size, refcheck=False)  # NumPy's realloc
    assert address(a) % 64 == 0
    n = min(new_size, 5000)
    np.testing.assert_array_equal(a[:n], np.arange(n, dtype=np.float64))
    if new_size > 5000:
        assert not a[5000:].any()  # NumPy zero-fills what resize adds


def test_large_zeros_take_no_memory_until_touched(aligned):
    def rss_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    try:
        before = rss_bytes()
    except OSError:
        pytest.skip("needs /proc/self/statm (Linux) to read the resident size")
    z = np.zeros(1 << 30, np.uint8)  # 1 GiB
    assert rss_bytes() - before < (256 << 20)
    assert z[::1 << 20].sum() == 0
    del z


def test_switching_back_to_numpys_allocator_and_freeing_across_the_switch():
    a = np.ones(1 << 20)  # allocated by minidl's allocator
    assert _C.use_aligned_allocator(False) == "default_allocator"
    try:
        assert get_handler_name() == "default_allocator"
        b = np.ones(1 << 20)
        del a  # each array is freed by the allocator that made it
    finally:
        assert _C.use_aligned_allocator(True) == "minidl_aligned_64"
    c = b + 1.0
    assert address(c) % 64 == 0 and c[0] == 2.0
    del b


def test_a_new_thread_works_with_either_allocator():
    # a thread starts in a fresh context (NumPy's allocator) unless the interpreter copies the
    # starting thread's context into it (Python 3.14's thread_inherit_context)
    seen = {}

    def run():
        seen["name"] = get_handler_name()
        seen["sum"] = float((md.ones(1000, 3) * 2.0).sum())
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen["name"] in ("default_allocator", "minidl_aligned_64") and seen["sum"] == 6000.0
