"""The float32 GEMM's block sizes (cpp/ops/gemm/gemm_blocking.cpp, core/cpu_caches.cpp).

* the cache model gives the numbers its comment states for the three CPUs it names, and the
  defaults' numbers where no cache is known;
* _C.cpu_caches() reads what /sys reports;
* the sizes the GEMM runs with are the model's for the caches read, and forced sizes
  (odd, tiny, larger than the product) keep every SIMD kernel set exact against float64 for all
  transposes, beta 0 (mm) and 1 (addmm), 1 and 2 threads.
"""
import os

import numpy as np
import pytest

from minidl import _C as C

SIMD_ISAS = [isa for isa in C.available_isas() if isa != "scalar"]
KIB, MIB = 1 << 10, 1 << 20


def level(size, ways, line=64, shared_by=1):
    return {"size": size, "ways": ways, "line": line, "shared_by": shared_by}


# the CPUs of the comment in gemm_blocking.cpp
XEON = {"l1d": level(48 * KIB, 12), "l2": level(2 * MIB, 16), "l3": level(480 * MIB, 16, shared_by=2)}
ZEN4 = {"l1d": level(32 * KIB, 8), "l2": level(1 * MIB, 8), "l3": level(32 * MIB, 16, shared_by=16)}
ZEN5 = {"l1d": level(48 * KIB, 12), "l2": level(1 * MIB, 16), "l3": level(32 * MIB, 16, shared_by=16)}
# (mr, nr, vw): the kernel sets' micro-tiles and vector widths; TILE_12X32 is AVX-512's tile
# before 6 x 64, kept for the worked numbers of the model's comment
AVX512_TILE, AVX2_TILE, TILE_12X32 = (6, 64, 16), (6, 16, 8), (12, 32, 16)


def model(caches, tile, M, N, K):
    got = C.gemm_blocking_model(caches, *tile, M, N, K)
    return got["kc"], got["mc"], got["nc"]


# (M, N, K) of a C that stays in L2 and of one that does not, both K long enough for two blocks
# and M for more than two A blocks
SMALL_C, LARGE_C = (256, 256, 4096), (4096, 4096, 4096)


@pytest.mark.parametrize("caches,tile,small_c,large_c", [
    (XEON, AVX512_TILE, (160, 72, 1600), (512, 24, 512)),
    (ZEN5, AVX512_TILE, (160, 72, 768), (512, 24, 256)),
    (ZEN4, AVX512_TILE, (160, 48, 768), (512, 12, 256)),
    (XEON, TILE_12X32, (256, 48, 1024), (512, 24, 512)),
    (ZEN4, TILE_12X32, (128, 60, 1024), (512, 12, 256)),
    (XEON, AVX2_TILE, (512, 24, 512), (512, 24, 512)),
    (ZEN5, AVX2_TILE, (512, 24, 256), (512, 24, 256)),
    (ZEN4, AVX2_TILE, (160, 48, 816), (256, 30, 512)),
], ids=["xeon-avx512", "zen5-avx512", "zen4-avx512", "xeon-12x32", "zen4-12x32", "xeon-avx2", "zen5-avx2", "zen4-avx2"])
def test_model_numbers_of_the_comment(caches, tile, small_c, large_c):
    assert model(caches, tile, *SMALL_C) == small_c
    assert model(caches, tile, *LARGE_C) == large_c
    assert C.gemm_blocking_model(caches, *tile, 1, 1, 1)["small_c_floats"] == caches["l2"]["size"] // 8


def test_model_sizes_mc_and_nc_for_the_k_block_in_use():
    # K = 576 is cut into 3 blocks of 192 (kc <= 256): mc = 48 KiB / (4 * 192) = 64 -> 60;
    # M = 256: nc = 1 MiB / (4 * 192) = 1365 -> 1344; M = 64 (at most two A blocks): a quarter
    # of L2, 682 -> 672
    assert model(XEON, TILE_12X32, 256, 1024, 576) == (256, 60, 1344)
    assert model(XEON, TILE_12X32, 64, 1024, 576) == (256, 60, 672)
    assert model(XEON, TILE_12X32, 120, 1024, 576)[2] == 672
    assert model(XEON, TILE_12X32, 121, 1024, 576)[2] == 1344
    # a large C whose K fits one small-C block is read once anyway: the small-C kc
    assert model(XEON, TILE_12X32, 4096, 1024, 256)[0] == 256
    assert model(XEON, TILE_12X32, 4096, 1024, 257)[0] == 512
    # a tiny K: the blocks grow to their clamps
    assert model(XEON, TILE_12X32, 64, 64, 8) == (256, 64 * 12, 128 * 32)


def test_model_without_cache_data_uses_the_defaults():
    defaults = {"l1d": level(32 * KIB, 8), "l2": level(1 * MIB, 16), "l3": level(8 * MIB, 16)}
    for shape in (SMALL_C, LARGE_C):
        assert model({}, AVX512_TILE, *shape) == model(defaults, AVX512_TILE, *shape)
        # one level known, the others default
        assert model({"l1d": XEON["l1d"]}, AVX512_TILE, *shape) == model(dict(defaults, l1d=XEON["l1d"]),
                                                                          AVX512_TILE, *shape)


def test_model_clamps_absurd_caches():
    tiny = {"l1d": level(1 * KIB, 2), "l2": level(4 * KIB, 2), "l3": level(8 * KIB, 2)}
    huge = {"l1d": level(64 * MIB, 64), "l2": level(1 << 34, 64), "l3": level(1 << 40, 64)}
    for caches in (tiny, huge):
        for mr, nr, vw in (AVX512_TILE, AVX2_TILE, TILE_12X32):
            for shape in (SMALL_C, LARGE_C):
                kc, mc, nc = model(caches, (mr, nr, vw), *shape)
                assert 128 <= kc <= 1024
                assert mr <= mc <= 64 * mr and mc % mr == 0
                assert 4 * nr <= nc <= 128 * nr and nc % nr == 0


def test_model_rejects_bad_input():
    with pytest.raises(ValueError, match="l2"):
        C.gemm_blocking_model({"l2": level(0, 16)}, *AVX512_TILE, 8, 8, 8)
    with pytest.raises(ValueError, match="mr, nr and vw"):
        C.gemm_blocking_model({}, 0, 32, 16, 8, 8, 8)
    with pytest.raises(ValueError, match="mr, nr and vw"):
        C.gemm_blocking_model({}, 6, 64, 0, 8, 8, 8)
    with pytest.raises(ValueError, match="M, N and K"):
        C.gemm_blocking_model({}, *AVX512_TILE, 8, 0, 8)


def _sysfs_levels():
    """{level: (size, ways, shared_by)} of the data/unified caches /sys reports for cpu0."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    out = {}
    if not os.path.isdir(root):
        return out
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        try:
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(d, "level")) as f:
                lvl = int(f.read())
            with open(os.path.join(d, "size")) as f:
                text = f.read().strip()
            with open(os.path.join(d, "ways_of_associativity")) as f:
                ways = int(f.read())
            with open(os.path.join(d, "shared_cpu_list")) as f:
                cpus = f.read().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or lvl > 3:
            continue
        size = int(text.rstrip("KMG")) << {"K": 10, "M": 20, "G": 30}.get(text[-1], 0)
        shared = sum(int(p.split("-")[-1]) - int(p.split("-")[0]) + 1 for p in cpus.split(",") if p)
        out[lvl] = (size, ways, shared)
    return out


def test_cpu_caches_agree_with_sysfs():
    caches = C.cpu_caches()
    assert caches["source"] in ("sysconf", "sysfs", "sysconf+sysfs", "default")
    for name in ("l1d", "l2", "l3"):
        lv = caches[name]
        assert lv["size"] > 0 and lv["ways"] > 0 and lv["line"] > 0 and lv["shared_by"] >= 1
    sysfs = _sysfs_levels()
    if not sysfs:
        pytest.skip("no /sys cache information here")
    for lvl, (size, ways, shared) in sysfs.items():
        got = caches[("l1d", "l2", "l3")[lvl - 1]]
        assert got["size"] == size
        if ways > 0:
            assert got["ways"] == ways
        assert got["shared_by"] == shared


@pytest.fixture(params=SIMD_ISAS)
def simd_isa(request):
    old = C.isa_name()
    C.set_isa(request.param)
    yield request.param
    C.gemm_reset_block_sizes()
    C.set_isa(old)
    C.set_num_threads(1)


def test_gemm_runs_with_the_models_sizes(simd_isa):
    C.gemm_reset_block_sizes()
    sizes = C.gemm_block_sizes(64, 64, 64)
    assert not sizes["forced"]
    tile = sizes["mr"], sizes["nr"], sizes["vw"]
    for shape in [(64, 64, 64), SMALL_C, LARGE_C, (64, 4096, 576)]:
        got = C.gemm_block_sizes(*shape)
        assert (got["kc"], got["mc"], got["nc"]) == model(C.cpu_caches(), tile, *shape), shape
    C.gemm_set_block_sizes(100, 50, 70)
    forced = C.gemm_block_sizes(64, 64, 64)
    mr, nr, _ = tile
    assert forced["forced"] and forced["kc"] == 100
    assert forced["mc"] == -(-50 // mr) * mr and forced["nc"] == -(-70 // nr) * nr  # rounded up to the tile
    C.gemm_reset_block_sizes()
    assert C.gemm_block_sizes(64, 64, 64) == sizes


def test_forced_sizes_reject_bad_input():
    for bad in [(0, 48, 1024), (256, -1, 1024), (256, 48, 0), (1 << 21, 48, 1024)]:
        with pytest.raises(ValueError, match="kc, mc and nc"):
            C.gemm_set_block_sizes(*bad)
    assert not C.gemm_block_sizes()["forced"]


def _operands(rng, M, K, N, ta, tb):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    return (a.T if ta else a), (b.T if tb else b)


# (kc, mc, nc): each dimension 1, not dividing the shapes below, or larger than them
FORCED = [(1, 1, 1), (5, 13, 40), (100, 50, 70), (257, 130, 97), (4096, 4096, 4096)]
# (M, K, N): blocked with both packs; M <= 2 MR (B read in place); N <= 4 NR (A read in place)
SHAPES = [(97, 301, 131), (20, 77, 200), (200, 50, 100), (64, 600, 513)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["NN", "NT", "TN", "TT"])
def test_forced_block_sizes_match_float64(simd_isa, threads, ta, tb):
    C.set_num_threads(threads)
    rng = np.random.default_rng(7)
    for M, K, N in SHAPES:
        a, b = _operands(rng, M, K, N, ta, tb)
        bias = rng.standard_normal((M, N)).astype(np.float32)
        want = a.astype(np.float64) @ b.astype(np.float64)
        tol = 8 * np.finfo(np.float32).eps * K  # float32 sums of K products of N(0, 1) values
        for kc, mc, nc in FORCED:
            C.gemm_set_block_sizes(kc, mc, nc)
            np.testing.assert_allclose(C.mm(a, b), want, rtol=0, atol=tol,
                                       err_msg=f"{simd_isa} kc={kc} mc={mc} nc={nc} {M}x{K}x{N}")
            np.testing.assert_allclose(C.addmm(bias, a, b), want + bias, rtol=0, atol=tol,
                                       err_msg=f"addmm {simd_isa} kc={kc} mc={mc} nc={nc} {M}x{K}x{N}")
    C.gemm_reset_block_sizes()
