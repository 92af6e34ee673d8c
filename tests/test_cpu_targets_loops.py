"""Run-time CPU dispatch of the optimizer updates, the radix sort and marching
cubes (optim/optim_target.cpp, ops/sort_target.cpp, mesh/mc_target.cpp, in
SPLATCORE_PER_TARGET_SOURCES): every target compiled in and supported here
reaches its own copy, gives the portable target's bits on fresh random
inputs, and matches an independent reference:
- Adam / AdamW / SGD: the same float32 operations replayed in NumPy (bit for
  bit: the copies are built without FP contraction) and the float64 NumPy
  steps of tests/test_optim.py (float32 tolerance);
- the sort: NumPy's stable argsort, for 32- and 64-bit keys, and the float
  key transform against its definition;
- marching cubes: the portable target's mesh (every array, bit for bit) and
  skimage.measure.marching_cubes (vertex and face counts, same crossings).
On x86-64 with an AArch64 cross compiler and qemu, the NEON copies of all
three run under qemu (tools/loops_bits.cpp) against the portable ones and
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

TABLES = {"optim", "sort", "marching_cubes"}


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


# ---- AArch64 ---------------------------------------------------------------------------
def test_neon_loops_bits_under_qemu(tmp_path):
    """The optimizer updates, the sort's histograms / scatters / float keys and
    marching cubes' plane loops (both passes, every output array) built for
    AArch64's NEON target and run under qemu (tools/loops_bits.cpp): the same
    bits as the portable target there, and a digest of the outputs equal to
    this machine's x86-64 build on the same random inputs."""
    out = neon_against_x86_under_qemu(
        tmp_path, tool="loops_bits", sources=("optim/optim_target", "ops/sort_target", "mesh/mc_target"))
    faces = int(out.split(" with ")[1].split()[0])
    assert faces > 10_000, out  # the meshes compared are not empty
