"""Run-time CPU dispatch of the optimizer updates, the radix sort, marching
cubes and the tile binning (optim/optim_target.cpp, ops/sort_target.cpp,
mesh/mc_target.cpp, splat/binning_target.cpp, in SPLATCORE_PER_TARGET_SOURCES): every target compiled in and supported here
reaches its own copy, gives the portable target's bits on fresh random
inputs, and matches an independent reference:
- Adam / AdamW / SGD: the same float32 operations replayed in NumPy (bit for
  bit: the copies are built without FP contraction) and the float64 NumPy
  steps of tests/test_optim.py (float32 tolerance);
- the sort: NumPy's stable argsort, for 32- and 64-bit keys, and the float
  key transform against its definition;
- marching cubes: the portable target's mesh (every array, bit for bit) and
  skimage.measure.marching_cubes (vertex and face counts, same crossings);
- the binning: every Gaussian's tiles against a brute-force NumPy test of
  its tiles' pixel centres, intersections listed in Gaussian order and
  sorted front to back within each tile.
On x86-64 with an AArch64 cross compiler and qemu, the NEON copies of all
four run under qemu (tools/loops_bits.cpp) against the portable ones and
against the x86-64 build.
"""
import numpy as np
import pytest
import skimage.measure as skm
from scipy import ndimage, spatial

import splatcore as sc
from splatcore import _core
from splatcore._info import forced_cpu_target
from splatcore.mesh import marching_cubes
from splatcore.sort import float_keys, radix_sort_pairs
from helpers import rel_err
from test_cpu_targets import ALL_TARGETS, USABLE, neon_against_x86_under_qemu, target  # noqa: F401 (target: the fixture)
from test_optim import ref_adam, ref_sgd

TABLES = {"optim", "sort", "marching_cubes", "binning"}


def test_forced_target_reaches_each_copy():
    """Forcing a target switches every table to that target's copy (so the
    comparisons below compare different builds of the loops)."""
    assert {name for name, _ in _core._kernel_targets()} == TABLES
    for name in USABLE:
        with forced_cpu_target(name):
            assert dict(_core._kernel_targets()) == {t: name for t in TABLES}
    assert dict(_core._kernel_targets()) == {t: _core.cpu_target() for t in TABLES}


# ---- optimizers ------------------------------------------------------------------------
OPTIM_CASES = [
    ("Adam", dict(betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
    ("AdamW", dict(betas=(0.85, 0.995), eps=1e-7, weight_decay=0.05)),
    ("SGD", dict(momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(momentum=0.8, nesterov=True)),
    ("SGD", dict()),
]
# more elements than one thread-pool chunk (2**14) and not a multiple of any
# register width, plus tensors shorter than one register
OPTIM_SIZES = [(50_001,), (7, 3), (5,), (1,)]
LR = 3e-2


def _optimize(kind, kw, init, grads, dtype):
    params = [sc.tensor(np.array(x, dtype), requires_grad=True) for x in init]
    opt = getattr(sc.optim, kind)(params, lr=LR, **kw)
    for step in grads:
        for p, g in zip(params, step):
            p.grad = sc.tensor(g.astype(dtype))
        opt.step()
    return [p.numpy().copy() for p in params]


def _replay(kind, kw, x, steps, dtype):
    """The update bodies of kernels/optim.h with NumPy's dtype arithmetic (no
    fused multiply-adds), hyper-parameters rounded to dtype as step.cpp does."""
    T = np.dtype(dtype).type
    p = x.astype(dtype)
    wd = T(kw.get("weight_decay", 0.0))
    if kind == "SGD":
        mom, damp = T(kw.get("momentum", 0.0)), T(kw.get("dampening", 0.0))
        buf = None
        for g in steps:
            g = g.astype(dtype)
            if wd != 0:
                g = g + wd * p
            if mom != 0:
                buf = g if buf is None else mom * buf + (T(1) - damp) * g
                g = g + mom * buf if kw.get("nesterov") else buf
            p = p - T(LR) * g
        return p
    b1, b2 = kw["betas"]
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(steps, 1):
        g = g.astype(dtype)
        step_size, bc2_sqrt = T(LR / (1 - b1 ** t)), T(np.sqrt(1 - b2 ** t))
        if kind == "AdamW":
            p = p * T(1.0 - LR * kw["weight_decay"])
        elif wd != 0:
            g = g + wd * p
        m = T(b1) * m + (T(1) - T(b1)) * g
        v = T(b2) * v + (T(1) - T(b2)) * g * g
        p = p - step_size * m / (np.sqrt(v) / bc2_sqrt + T(kw["eps"]))
    return p


def _reference(kind, kw, x, steps):
    """float64 NumPy steps of tests/test_optim.py."""
    p = np.array(x, np.float64)
    st = {"step": 0, "m": np.zeros(x.shape), "v": np.zeros(x.shape), "buf": None}
    for g in steps:
        if kind == "SGD":
            p = ref_sgd(p, g, st, LR, kw.get("momentum", 0.0), kw.get("dampening", 0.0),
                        kw.get("nesterov", False), kw.get("weight_decay", 0.0))
        else:
            p = ref_adam(p, g, st, LR, kw["betas"], kw["eps"], kw.get("weight_decay", 0.0),
                         decoupled=kind == "AdamW")
    return p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_optimizers_match_portable_bits_and_reference(target, dtype, rng):
    for kind, kw in OPTIM_CASES:
        init = [rng.standard_normal(s).astype(dtype) for s in OPTIM_SIZES]
        # gradients as the optimizer sees them (rounded to dtype), some exactly zero
        grads = [[np.where(rng.random(s) < 0.05, 0.0, rng.standard_normal(s)).astype(dtype)
                  for s in OPTIM_SIZES] for _ in range(4)]
        got = _optimize(kind, kw, init, grads, dtype)
        with forced_cpu_target("portable"):
            want = _optimize(kind, kw, init, grads, dtype)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        for k, (x, y) in enumerate(zip(got, want)):
            what = f"{kind} {kw} on {target}, tensor {k}"
            assert x.tobytes() == y.tobytes(), f"{what}: differs from portable"
            steps = [s[k] for s in grads]
            replay = _replay(kind, kw, init[k], steps, dtype)
            assert x.tobytes() == replay.tobytes(), \
                f"{what}: {np.sum(x != replay)} elements differ from the NumPy replay"
            r = _reference(kind, kw, init[k], steps)
            assert rel_err(x, r) < tol, what
            assert rel_err(x - init[k], r - init[k]) < (1e-3 if dtype == np.float32 else 1e-9), what


# ---- radix sort -------------------------------------------------------------------------
def _stable_perm(keys, begin_bit, end_bit):
    k = keys.astype(np.uint64)
    width = end_bit - begin_bit
    mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(2 ** 64 - 1)
    return np.argsort((k >> np.uint64(begin_bit)) & mask, kind="stable")


def _sorts(rng_keys32, values, keys64, floats):
    """Everything the per-target sort loops compute, as byte strings."""
    out = []
    for bits in [(0, 32), (8, 24), (3, 9)]:
        k, v = radix_sort_pairs(rng_keys32, values, *bits)
        out += [np.asarray(k), np.asarray(v)]
    k, v = radix_sort_pairs(rng_keys32, None)  # argsort: the iota scatter
    out += [np.asarray(k), np.asarray(v)]
    for bits in [(0, 64), (20, 52)]:
        k, v = keys64.copy(), values.copy()
        _core._radix_sort_pairs_inplace(k, v, *bits)
        out += [k, v]
        k = keys64.copy()
        _core._radix_sort_pairs_inplace(k, None, *bits)  # keys only
        out.append(k)
    out.append(np.asarray(float_keys(floats)))
    return out


@pytest.mark.parametrize("n", [1, 255, 1000, 300_001])  # 300_001: several blocks per thread
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_sort_matches_portable_bits_and_argsort(target, n, rng):
    keys32 = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    keys32[rng.random(n) < 0.3] = 12345  # runs of equal keys: stability matters
    values = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    keys64 = rng.integers(0, 2 ** 64 - 1, n, dtype=np.uint64, endpoint=True)
    floats = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(np.float32)
    floats[rng.random(n) < 0.05] = -0.0
    got = _sorts(keys32, values, keys64, floats)
    with forced_cpu_target("portable"):
        want = _sorts(keys32, values, keys64, floats)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"result {i} differs from portable"
    # against NumPy's stable argsort
    it = iter(got)
    for bits in [(0, 32), (8, 24), (3, 9)]:
        perm = _stable_perm(keys32, *bits)
        np.testing.assert_array_equal(next(it), keys32[perm])
        np.testing.assert_array_equal(next(it), values[perm])
    perm = np.argsort(keys32, kind="stable")
    np.testing.assert_array_equal(next(it), keys32[perm])
    np.testing.assert_array_equal(next(it), perm.astype(np.uint32))
    for bits in [(0, 64), (20, 52)]:
        perm = _stable_perm(keys64, *bits)
        np.testing.assert_array_equal(next(it), keys64[perm])
        np.testing.assert_array_equal(next(it), values[perm])
        np.testing.assert_array_equal(next(it), keys64[perm])
    fk = next(it)  # sortable keys: their order is the floats' order (-0 == +0)
    np.testing.assert_array_equal(np.argsort(fk, kind="stable"), np.argsort(floats + np.float32(0), kind="stable"))


# ---- marching cubes ---------------------------------------------------------------------
def _field(rng, shape, sigma):
    return ndimage.gaussian_filter(rng.standard_normal(shape), sigma).astype(np.float32)


def _mesh_cases(rng):
    """(volume, level, options) with every path: mask, colours, padding, both
    insides, spacing and origin, no normals, a rough field with ambiguous cells."""
    shape = (23, 30, 19)
    vol = _field(rng, shape, 1.5)
    lvl = float(np.quantile(vol, 0.5))
    rough = rng.standard_normal((12, 17, 14)).astype(np.float32)
    mask = (rng.random(shape) < 0.97).astype(np.uint8)
    col = rng.random(shape + (3,)).astype(np.float32)
    return [
        (vol, lvl, dict()),
        (rough, 0.1, dict()),
        (vol, lvl, dict(pad=True, inside="below", spacing=(0.5, 1.25, 2.0), origin=(1.0, -2.0, 3.5))),
        (vol, lvl, dict(mask=mask, colors=col)),
        (rough, -0.2, dict(normals=False, pad=True)),
    ]


def _mesh_bytes(m):
    return [None if a is None else (a.dtype, a.shape, a.tobytes())
            for a in (m.vertices, m.faces, m.normals, m.colors)]


@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_marching_cubes_matches_portable_bits_and_skimage(target, rng):
    for i, (vol, lvl, kw) in enumerate(_mesh_cases(rng)):
        got = marching_cubes(vol, lvl, **kw)
        with forced_cpu_target("portable"):
            want = marching_cubes(vol, lvl, **kw)
        assert got.num_faces > 100, i  # the comparison is not between two empty meshes
        for name, a, b in zip(("vertices", "faces", "normals", "colors"), _mesh_bytes(got), _mesh_bytes(want)):
            assert a == b, f"case {i}: {name} of {target} differ from portable"
    # skimage on the plain cases: the same crossings, vertex counts within the
    # few centre vertices our ambiguous configurations add; face counts close
    # on the smooth field (on the rough one skimage triangulates its many
    # ambiguous cells differently)
    for i, (vol, lvl, _) in enumerate(_mesh_cases(rng)[:2]):
        m = marching_cubes(vol, lvl)
        vs, fs, _, _ = skm.marching_cubes(vol, lvl)
        inside = vol > lvl
        crossed = sum(int(np.count_nonzero(np.diff(inside, axis=a))) for a in range(3))
        assert crossed <= m.num_vertices <= crossed * 1.02 + 4, (i, crossed, m.num_vertices)
        assert abs(m.num_vertices - len(vs)) <= 0.02 * len(vs) + 4, (i, m.num_vertices, len(vs))
        assert abs(m.num_faces - len(fs)) <= (0.01 if i == 0 else 0.05) * len(fs) + 4, (i, m.num_faces, len(fs))
        d, _ = spatial.cKDTree(m.vertices).query(vs)
        assert np.mean(d < 1e-4) > (0.99 if i == 0 else 0.95), i  # skimage adds some inner vertices


# ---- tile binning ----------------------------------------------------------------------
def _projected(rng, n, width, height, sigma=(0.3, 40.0)):
    """Projected Gaussians as the projection hands them to the binning: means
    in and around the image, conics of random covariances from sub-pixel to
    many tiles wide (thin and rotated ones among them, plus the 0.3 px^2 blur
    the projection adds), r2 = 2 ln(255 opacity), depths with ties, 10%
    invisible (radii 0)."""
    means2d = np.stack([rng.uniform(-30, width + 30, n), rng.uniform(-30, height + 30, n)], 1)
    sd = np.exp(rng.uniform(np.log(sigma[0]), np.log(sigma[1]), (n, 2)))
    th = rng.uniform(0, np.pi, n)
    c, s = np.cos(th), np.sin(th)
    cxx = c * c * sd[:, 0] ** 2 + s * s * sd[:, 1] ** 2 + 0.3
    cyy = s * s * sd[:, 0] ** 2 + c * c * sd[:, 1] ** 2 + 0.3
    cxy = c * s * (sd[:, 0] ** 2 - sd[:, 1] ** 2)
    det = cxx * cyy - cxy * cxy
    conics = np.stack([cyy / det, -cxy / det, cxx / det], 1)
    r2 = 2 * np.log(255 * rng.uniform(1.2 / 255, 1.0, n))
    depths = rng.uniform(0.1, 10.0, n)
    depths[rng.random(n) < 0.1] = 2.5  # ties: broken by index
    radii = np.where(rng.random((n, 1)) < 0.1, 0, 7).repeat(2, 1).astype(np.int32)
    return means2d, conics, r2, depths, radii


def _bins(g, dtype, width, height, ts):
    return _core._bin_tiles(*(np.ascontiguousarray(a, dtype) for a in g[:4]), g[4], width, height, ts)


def _rect_min(A, B, C, lo, hi):
    """Minimum of A x^2 + 2 B x y + C y^2 (positive definite) over the
    rectangle [lo[0], hi[0]] x [lo[1], hi[1]]: 0 when it holds the origin,
    else on an edge, each edge's minimiser clamped to it."""
    if lo[0] <= 0 <= hi[0] and lo[1] <= 0 <= hi[1]:
        return 0.0
    q = lambda x, y: A * x * x + 2 * B * x * y + C * y * y
    best = min(q(x, np.clip(-B * x / C, lo[1], hi[1])) for x in (lo[0], hi[0]))
    return min(best, min(q(np.clip(-B * y / A, lo[0], hi[0]), y) for y in (lo[1], hi[1])))


def _check_bins(g, dtype, width, height, ts, bins, check=None):
    """The structure of the bins (every intersection), and the tiles of the
    Gaussians in `check` (all by default) against a brute-force test of their pixel centres in
    float64 on the dtype-rounded inputs."""
    emit_offset, sorted_gauss, sorted_emit, tile_start = bins
    m, conic, r2 = (np.asarray(a, dtype).astype(np.float64) for a in g[:3])
    n, tx_n = len(r2), -(-width // ts)
    counts = np.diff(emit_offset)
    total = int(emit_offset[-1])
    assert len(sorted_gauss) == len(sorted_emit) == total and tile_start[-1] == total
    assert np.all(counts[g[4][:, 0] == 0] == 0)
    tile_of = np.repeat(np.arange(len(tile_start) - 1), np.diff(tile_start))  # per sorted slot
    # intersections in emission order: Gaussian by Gaussian, tiles increasing
    em_gauss, em_tile = np.empty(total, np.int64), np.empty(total, np.int64)
    em_gauss[sorted_emit], em_tile[sorted_emit] = sorted_gauss, tile_of
    np.testing.assert_array_equal(em_gauss, np.repeat(np.arange(n), counts))
    same_g = em_gauss[1:] == em_gauss[:-1]
    assert np.all(np.diff(em_tile)[same_g] > 0)
    # within a tile: front to back by float32 depth, ties by index
    order = np.lexsort((np.arange(n), np.asarray(g[3], dtype).astype(np.float32)))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    assert np.all(np.diff(rank[sorted_gauss])[tile_of[1:] == tile_of[:-1]] > 0)
    # the tiles: those with a pixel centre clearly inside the ellipse
    # d^T conic d <= r2 must be listed (brute force over the pixel centres);
    # those whose rectangle of pixel centres inside the ellipse's pixel box
    # stays clear of it even with the binning's slack (r2 1.0001 + 1e-6) plus
    # rounding must not be (the binning tests that rectangle, a superset:
    # a tile whose rectangle the ellipse only grazes between centres is kept)
    eps = 1e-5 if dtype == np.float32 else 1e-12
    for i in (range(n) if check is None else check):
        got = set(em_tile[emit_offset[i]:emit_offset[i + 1]].tolist())
        if g[4][i, 0] == 0:
            continue
        A, B, C = conic[i]
        hx, hy = np.sqrt(r2[i] * C / (A * C - B * B)), np.sqrt(r2[i] * A / (A * C - B * B))
        xs = np.arange(max(0, int(m[i, 0] - hx) - 1), min(width, int(m[i, 0] + hx) + 2))
        ys = np.arange(max(0, int(m[i, 1] - hy) - 1), min(height, int(m[i, 1] + hy) + 2))
        dx, dy = m[i, 0] - (xs[None, :] + 0.5), m[i, 1] - (ys[:, None] + 0.5)
        terms = A * dx * dx + C * dy * dy, 2 * B * dx * dy
        tol = eps * (terms[0] + np.abs(terms[1])) + 1e-9
        tiles = (ys[:, None] // ts) * tx_n + xs[None, :] // ts
        sure = set(np.unique(tiles[terms[0] + terms[1] <= r2[i] - tol]).tolist())
        # pixel box, a little wide; per tile the rectangle of its centres in it
        bx = (max(0, np.ceil(m[i, 0] - hx * (1 + eps) - 1e-6 - 0.5)), min(width - 1, np.floor(m[i, 0] + hx * (1 + eps) + 1e-6 - 0.5)))
        by = (max(0, np.ceil(m[i, 1] - hy * (1 + eps) - 1e-6 - 0.5)), min(height - 1, np.floor(m[i, 1] + hy * (1 + eps) + 1e-6 - 0.5)))
        maybe = set()
        for t in np.unique(tiles).tolist():
            ty, tx = divmod(t, tx_n)
            xa, xb = max(tx * ts, bx[0]), min(tx * ts + ts - 1, bx[1])
            ya, yb = max(ty * ts, by[0]), min(ty * ts + ts - 1, by[1])
            if xa <= xb and ya <= yb and _rect_min(A, B, C, m[i] - 0.5 - (xb, yb), m[i] - 0.5 - (xa, ya)) \
                    <= (r2[i] * 1.0001 + 1e-6) * (1 + 10 * eps) + 1e-9:
                maybe.add(t)
        assert sure <= got <= maybe, (i, sorted(sure - got), sorted(got - maybe))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_binning_matches_portable_bits_and_numpy(target, dtype, rng):
    # several blocks of 2048 Gaussians, some of them reaching a hundred
    # tiles (the per-block lists grow); widths not a multiple of the tile
    for n, width, height, ts in ((5000, 203, 131, 16), (700, 64, 48, 8), (1, 40, 30, 16)):
        g = _projected(rng, n, width, height)
        got = _bins(g, dtype, width, height, ts)
        with forced_cpu_target("portable"):
            want = _bins(g, dtype, width, height, ts)
        for name, a, b in zip(("emit_offset", "sorted_gauss", "sorted_emit", "tile_start"), got, want):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{name} of {target} differs from portable"
        assert n == 1 or got[0][-1] > 5 * n  # Gaussians reach many tiles
        # NumPy on 400 of them (every target gives the same bits as portable;
        # a Gaussian's check is a few Python loops)
        some = rng.choice(n, min(n, 400), replace=False)
        _check_bins(g, dtype, width, height, ts, got, check=some)
    # 64-bit keys (rank bits + tile bits > 32): 1-pixel tiles, 70k small Gaussians
    width, height, n = 1000, 300, 70_000
    g = _projected(rng, n, width, height, sigma=(0.2, 1.5))
    got = _bins(g, dtype, width, height, 1)
    with forced_cpu_target("portable"):
        want = _bins(g, dtype, width, height, 1)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want)), f"{target} differs from portable"
    _check_bins(g, dtype, width, height, 1, got, check=rng.choice(n, 200, replace=False))


# ---- AArch64 ---------------------------------------------------------------------------
def test_neon_loops_bits_under_qemu(tmp_path):
    """The optimizer updates, the sort's histograms / scatters / float keys,
    marching cubes' plane loops (both passes, every output array) and the
    binning's tile lists and keys built for AArch64's NEON target and run
    under qemu (tools/loops_bits.cpp): the same bits as the portable target
    there (and, for the tile lists, as a plain loop over the shared
    sc_tile_reached), and a digest of the outputs equal to this machine's
    x86-64 build on the same random inputs."""
    out = neon_against_x86_under_qemu(
        tmp_path, tool="loops_bits",
        sources=("optim/optim_target", "ops/sort_target", "mesh/mc_target", "splat/binning_target"))
    faces = int(out.split(" with ")[1].split()[0])
    assert faces > 10_000, out  # the meshes compared are not empty
