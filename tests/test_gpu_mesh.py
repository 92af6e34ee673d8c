"""Marching cubes on a GPU device (sim always; cuda / metal when present) against
the CPU: the mesh must be the CPU's exactly (same vertices in the same order,
same faces, same normals and colours, bit for bit)."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.mesh import marching_cubes


def assert_same_mesh(cpu, gpu, min_faces=1):
    for name in ("vertices", "faces", "normals", "colors"):
        a, b = getattr(cpu, name), getattr(gpu, name)
        if a is None or b is None:
            assert a is None and b is None, f"{name}: CPU {a is None}, GPU {b is None}"
            continue
        assert isinstance(b, np.ndarray), f"{name} is {type(b).__name__}, not a NumPy array"
        assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, a.shape, b.dtype, b.shape)
        if a.tobytes() != b.tobytes():
            bad = np.flatnonzero(np.any(a.reshape(len(a), -1) != b.reshape(len(b), -1), axis=1))
            raise AssertionError(f"{name}: {len(bad)} rows differ, first {bad[:5]}: "
                                 f"CPU {a[bad[:3]].tolist()} GPU {b[bad[:3]].tolist()}")
    assert cpu.num_faces >= min_faces  # the comparison is not between two empty meshes


def both(vol, device, **kw):
    """(CPU mesh, GPU mesh) of the same float32 volume; array kwargs go to the
    GPU as they are (NumPy arrays are uploaded by marching_cubes)."""
    vol = np.ascontiguousarray(vol, np.float32)
    cpu = marching_cubes(vol, **kw)
    gpu = marching_cubes(sc.tensor(vol, device=device), **kw)
    return cpu, gpu


def noisy_sphere(shape, rng, radius=0.6, noise=0.05):
    axes = [np.linspace(-1, 1, n) for n in shape]
    g = np.stack(np.meshgrid(*axes, indexing="ij"))
    return (np.sqrt((g ** 2).sum(0)) - radius + noise * rng.standard_normal(shape)).astype(np.float32)


# ---- random fields ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 2, 2), (3, 7, 5), (9, 16, 11), (17, 9, 13), (24, 24, 24),
                                   (5, 33, 17), (40, 6, 3), (2, 20, 30)])
def test_random_fields(gpu_device, rng, shape):
    vol = rng.standard_normal(shape).astype(np.float32)
    level = float(rng.uniform(-0.5, 0.5))
    cpu, gpu = both(vol, gpu_device, level=level)
    assert_same_mesh(cpu, gpu, min_faces=0 if shape == (2, 2, 2) else 1)


@pytest.mark.parametrize("kw", [
    dict(pad=True),
    dict(inside="below"),
    dict(spacing=(0.5, 1.25, 2.0), origin=(1.0, -2.0, 3.5)),
    dict(normals=False),
    dict(pad=True, inside="below", spacing=0.3, origin=-1.0),
])
def test_options(gpu_device, rng, kw):
    vol = rng.standard_normal((11, 8, 14)).astype(np.float32)
    cpu, gpu = both(vol, gpu_device, level=0.05, **kw)
    assert_same_mesh(cpu, gpu)
    if kw.get("normals") is False:
        assert gpu.normals is None


def test_noisy_sphere_with_colors(gpu_device, rng):
    shape = (36, 30, 41)
    vol = noisy_sphere(shape, rng)
    col = rng.random(shape + (3,)).astype(np.float32)
    cpu, gpu = both(vol, gpu_device, level=0.0, inside="below", colors=col)
    assert_same_mesh(cpu, gpu, min_faces=1000)
    assert gpu.colors.shape == (gpu.num_vertices, 3)


def test_default_level(gpu_device, rng):
    vol = (3.0 * rng.standard_normal((10, 12, 9)) + 7.0).astype(np.float32)
    cpu, gpu = both(vol, gpu_device)  # level: the middle of the range, found on the device
    assert_same_mesh(cpu, gpu)


def test_default_level_inside_mask(gpu_device, rng):
    shape = (10, 9, 12)
    vol = rng.standard_normal(shape).astype(np.float32)
    mask = rng.random(shape) > 0.2
    vol[~mask] = np.nan  # ignored outside the mask, also for the level
    vol[0, 0, 0] = 1e30
    mask[0, 0, 0] = False
    cpu, gpu = both(vol, gpu_device, mask=mask)
    assert_same_mesh(cpu, gpu)


def test_mask_and_colors(gpu_device, rng):
    shape = (13, 10, 15)
    vol = rng.standard_normal(shape).astype(np.float32)
    mask = rng.random(shape) > 0.15
    col = rng.random(shape + (2,)).astype(np.float32)
    cpu, gpu = both(vol, gpu_device, level=0.0, mask=mask, colors=col)
    assert_same_mesh(cpu, gpu)
    # the same with the mask (bool and uint8) and colours already on the device
    for m in (sc.tensor(mask, device=gpu_device), sc.tensor(mask.astype(np.uint8), device=gpu_device)):
        dev = marching_cubes(sc.tensor(vol, device=gpu_device), 0.0, mask=m,
                             colors=sc.tensor(col, device=gpu_device))
        assert_same_mesh(cpu, dev)


def test_single_channel_colors_and_pad(gpu_device, rng):
    shape = (7, 12, 6)
    vol = rng.standard_normal(shape).astype(np.float32)
    col = rng.random(shape).astype(np.float32)  # (X, Y, Z): one channel
    cpu, gpu = both(vol, gpu_device, level=-0.2, colors=col, pad=True)
    assert_same_mesh(cpu, gpu)
    assert gpu.colors.shape[1] == 1


# ---- the asymptotic decider, ties and exact grid values ----------------------------

def test_ambiguous_faces(gpu_device, rng):
    """Random signs with small magnitudes: most cells have ambiguous faces (and
    many the configurations with a centre vertex), decided on both devices."""
    shape = (14, 15, 16)
    sign = rng.choice([-1.0, 1.0], size=shape)
    vol = (sign * rng.uniform(0.2, 1.0, size=shape)).astype(np.float32)
    cpu, gpu = both(vol, gpu_device, level=0.0, colors=rng.random(shape + (3,)).astype(np.float32))
    assert_same_mesh(cpu, gpu, min_faces=1000)
    # the centre vertices (the mean of a cell's crossings) sit off the grid edges
    frac = gpu.vertices - np.floor(gpu.vertices)
    off_edge = (frac > 0).sum(axis=1) > 1
    assert off_edge.any()


def test_checkerboard_saddles(gpu_device, rng):
    """Alternating corners: every face is ambiguous and every saddle decision is
    close; a few scales so that both outcomes of the decider occur."""
    i, j, k = np.indices((12, 11, 10))
    board = np.where((i + j + k) % 2 == 0, 1.0, -1.0)
    for scale in (0.1, 0.5):
        vol = (board * (1.0 + scale * rng.standard_normal(board.shape))).astype(np.float32)
        cpu, gpu = both(vol, gpu_device, level=float(rng.uniform(-0.05, 0.05)))
        assert_same_mesh(cpu, gpu, min_faces=1000)


@pytest.mark.parametrize("level", [0.0, 1.0, -1.0])
def test_integer_field_level_at_grid_values(gpu_device, rng, level):
    """Integer values with the level at values the grid holds: points exactly at
    the level (outside), crossings at t = 0 / 1, and decider ties (equal products)."""
    vol = rng.integers(-2, 3, size=(12, 13, 11)).astype(np.float32)
    cpu, gpu = both(vol, gpu_device, level=level, colors=rng.random(vol.shape).astype(np.float32))
    assert_same_mesh(cpu, gpu)


def test_level_at_extremes_is_empty(gpu_device, rng):
    vol = rng.integers(0, 4, size=(6, 7, 8)).astype(np.float32)
    for level in (0.0, 3.0):  # inside is "above": nothing is above the maximum
        kw = dict(level=level, inside="below" if level == 0.0 else "above")
        cpu, gpu = both(vol, gpu_device, **kw)
        assert_same_mesh(cpu, gpu, min_faces=0)
        assert gpu.num_faces == 0 and gpu.num_vertices == 0


# ---- empty and full fields ---------------------------------------------------------

def test_empty_and_full_fields(gpu_device):
    for value in (-1.0, 1.0):
        vol = np.full((8, 9, 10), value, np.float32)
        cpu, gpu = both(vol, gpu_device, level=0.0)
        assert_same_mesh(cpu, gpu, min_faces=0)
        assert gpu.vertices.shape == (0, 3) and gpu.faces.shape == (0, 3)
        assert gpu.vertices.dtype == np.float32 and gpu.faces.dtype == np.int32
        assert gpu.normals.shape == (0, 3)
    # all inside with pad=True: the caps close a box
    cpu, gpu = both(np.ones((5, 6, 7), np.float32), gpu_device, level=0.0, pad=True)
    assert_same_mesh(cpu, gpu)
    assert gpu.num_faces > 0


def test_all_masked_out(gpu_device, rng):
    vol = rng.standard_normal((6, 6, 6)).astype(np.float32)
    mask = np.zeros(vol.shape, bool)
    cpu, gpu = both(vol, gpu_device, level=0.0, mask=mask)
    assert_same_mesh(cpu, gpu, min_faces=0)
    assert gpu.num_vertices == 0


# ---- inputs ------------------------------------------------------------------------

def test_other_dtypes_and_strided_volume(gpu_device, rng):
    vol = rng.integers(-3, 4, size=(9, 8, 10)).astype(np.int32)
    cpu = marching_cubes(vol.astype(np.float32), 0.5)
    gpu = marching_cubes(sc.tensor(vol, device=gpu_device), 0.5)
    assert_same_mesh(cpu, gpu)
    big = rng.standard_normal((10, 12, 14)).astype(np.float32)
    view = sc.tensor(big, device=gpu_device).permute(2, 0, 1)  # non-contiguous on the device
    cpu = marching_cubes(np.ascontiguousarray(big.transpose(2, 0, 1)), 0.1)
    assert_same_mesh(cpu, marching_cubes(view, 0.1))


@pytest.mark.needs_float64
def test_float64_volume(gpu_device, rng):
    vol = rng.standard_normal((8, 9, 7))
    cpu = marching_cubes(vol, 0.0)  # the CPU converts to float32 too
    gpu = marching_cubes(sc.tensor(vol, device=gpu_device), 0.0)
    assert_same_mesh(cpu, gpu)


def test_deterministic(gpu_device, rng):
    vol = noisy_sphere((20, 21, 22), rng, noise=0.2)
    t = sc.tensor(vol, device=gpu_device)
    a, b = marching_cubes(t, 0.0), marching_cubes(t, 0.0)
    assert_same_mesh(a, b)


def test_gpu_path_is_taken(gpu_device, rng, monkeypatch):
    """A GPU volume goes to the device kernels, never through a host copy."""
    calls = []
    real = _core._marching_cubes_device

    def spy(*args):
        calls.append(args[0].device)
        return real(*args)

    monkeypatch.setattr(_core, "_marching_cubes_device", spy)
    monkeypatch.setattr(_core, "_marching_cubes",
                        lambda *a: (_ for _ in ()).throw(AssertionError("CPU path taken")))
    marching_cubes(sc.tensor(rng.standard_normal((5, 5, 5)).astype(np.float32), device=gpu_device), 0.0)
    assert calls and calls[0] != "cpu"


# ---- errors ------------------------------------------------------------------------

def test_nan_raises_with_the_cpu_message(gpu_device, rng):
    vol = rng.standard_normal((6, 7, 8)).astype(np.float32)
    vol[1, 2, 3] = np.nan
    vol[4, 0, 7] = np.inf
    vol[5, 6, 0] = -np.inf
    with pytest.raises(ValueError) as cpu_err:
        marching_cubes(vol, 0.0)
    with pytest.raises(ValueError) as gpu_err:
        marching_cubes(sc.tensor(vol, device=gpu_device), 0.0)
    assert str(gpu_err.value) == str(cpu_err.value)
    assert "3 NaN or infinite" in str(gpu_err.value)
    with pytest.raises(ValueError, match="3 NaN or infinite"):  # the default level says so too
        marching_cubes(sc.tensor(vol, device=gpu_device))
    # masked out, they are ignored
    mask = np.isfinite(vol)
    cpu, gpu = both(vol, gpu_device, level=0.0, mask=mask)
    assert_same_mesh(cpu, gpu)
    # inside the mask, the message says so
    with pytest.raises(ValueError, match="2 NaN or infinite values inside the mask"):
        mask[1, 2, 3] = True
        mask[4, 0, 7] = True
        marching_cubes(sc.tensor(vol, device=gpu_device), 0.0, mask=mask)


def test_no_finite_values(gpu_device):
    vol = sc.tensor(np.zeros((3, 3, 3), np.float32), device=gpu_device)
    with pytest.raises(ValueError, match="no finite values inside the mask"):
        marching_cubes(vol, mask=np.zeros((3, 3, 3), bool))


def test_bad_inputs(gpu_device, rng):
    dev = gpu_device
    vol = sc.tensor(rng.standard_normal((4, 5, 6)).astype(np.float32), device=dev)
    with pytest.raises(ValueError, match="3-D"):
        marching_cubes(sc.tensor(np.zeros((4, 5), np.float32), device=dev), 0.0)
    with pytest.raises(ValueError, match="at least 2 points"):
        marching_cubes(sc.tensor(np.zeros((1, 5, 6), np.float32), device=dev), 0.0)
    # one point per axis is enough with pad=True, as on the CPU
    cpu, gpu = both(np.ones((1, 1, 1), np.float32), dev, level=0.0, pad=True)
    assert_same_mesh(cpu, gpu)
    with pytest.raises(ValueError, match="mask must have the volume's shape"):
        marching_cubes(vol, 0.0, mask=np.ones((4, 5, 7), bool))
    with pytest.raises(ValueError, match="colors must have shape"):
        marching_cubes(vol, 0.0, colors=np.ones((4, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"mask is on cpu.*the volume on"):
        marching_cubes(vol, 0.0, mask=sc.tensor(np.ones((4, 5, 6), bool), device="cpu"))
    with pytest.raises(ValueError, match=r"colors is on cpu"):
        marching_cubes(vol, 0.0, colors=sc.tensor(np.ones((4, 5, 6), np.float32), device="cpu"))
    with pytest.raises(ValueError, match="spacing must be positive"):
        marching_cubes(vol, 0.0, spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="level must be a finite number"):
        marching_cubes(vol, float("nan"))
    with pytest.raises(ValueError, match="inside must be"):
        marching_cubes(vol, 0.0, inside="outside")


def test_core_entry_point_checks(gpu_device):
    """The C++ entry point validates by itself (not only the Python wrapper)."""
    dev = gpu_device
    vol = sc.tensor(np.zeros((3, 3, 3), np.float32), device=dev)
    args = (0.0, 1.0, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(TypeError, match="must be float32"):
        _core._marching_cubes_device(sc.tensor(np.zeros((3, 3, 3), np.int32), device=dev), *args,
                                     None, None, False, True)
    with pytest.raises(ValueError, match="GPU device"):
        _core._marching_cubes_device(sc.tensor(np.zeros((3, 3, 3), np.float32), device="cpu"), *args,
                                     None, None, False, True)
    with pytest.raises(ValueError, match="sign must be"):
        _core._marching_cubes_device(vol, 0.0, 0.5, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), None, None,
                                     False, True)
    with pytest.raises(ValueError, match="mask must have the volume's shape"):
        _core._marching_cubes_device(vol, *args, sc.tensor(np.ones((3, 3, 2), bool), device=dev), None,
                                     False, True)
    with pytest.raises(TypeError, match="mask must be bool or uint8"):
        _core._marching_cubes_device(vol, *args, sc.tensor(np.ones((3, 3, 3), np.float32), device=dev),
                                     None, False, True)
    with pytest.raises(ValueError, match="colors must have shape"):
        _core._marching_cubes_device(vol, *args, None,
                                     sc.tensor(np.ones((3, 3, 3), np.float32), device=dev), False, True)


def test_exact_totals_path(gpu_device, rng):
    """Grids whose totals may pass 2^32 also sum them exactly in 64 bits on the
    device (forced here on a small grid): the mesh is unchanged and the two
    totals agree (the op raises when they do not)."""
    vol = rng.standard_normal((9, 10, 11)).astype(np.float32)
    dev = sc.tensor(vol, device=gpu_device)
    args = (0.1, 1.0, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), None, None, False, True)
    v, f, n, _ = _core._marching_cubes_device(dev, *args, check_totals=True)
    cpu = marching_cubes(vol, 0.1)
    assert v.tobytes() == cpu.vertices.tobytes() and f.tobytes() == cpu.faces.tobytes()
    assert n.tobytes() == cpu.normals.tobytes()
    # device results stay on the device when asked
    out = _core._marching_cubes_device(dev, *args, to_host=False)
    assert isinstance(out[0], _core.Tensor) and out[0].device == dev.device
    assert out[1].numpy().tobytes() == cpu.faces.tobytes()


def test_volume_view_with_offset(gpu_device, rng):
    big = rng.standard_normal((12, 9, 10)).astype(np.float32)
    t = sc.tensor(big, device=gpu_device)[3:10]  # contiguous, starting past the storage's start
    cpu = marching_cubes(np.ascontiguousarray(big[3:10]), 0.0)
    assert_same_mesh(cpu, marching_cubes(t, 0.0))


@pytest.mark.parametrize("shape", [(1100, 3, 2), (64, 48, 40)])
def test_many_tiles(gpu_device, rng, shape):
    """More tiles than one scan tile holds (1024 counts): the scans recurse."""
    vol = noisy_sphere(shape, rng, noise=0.3) if shape[2] > 2 else rng.standard_normal(shape)
    cpu, gpu = both(vol, gpu_device, level=0.0)
    assert_same_mesh(cpu, gpu, min_faces=100)
