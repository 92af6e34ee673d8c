"""SPZ: round trips within SPZ's stated quantisation, the byte layout decoded by
hand from the spec, the RDF <-> RUB axis turn checked with the rasterizer,
hostile files, and interop with the `spz` package from PyPI where it installs."""
import gzip
import struct

import numpy as np
import pytest

from splatcore.io import spz
from splatcore.io.ply import SplatData

SQRT1_2 = np.sqrt(0.5)


def random_scene(rng, n, degree, spread=3.0):
    k = (degree + 1) ** 2
    q = rng.standard_normal((n, 4))
    return SplatData(
        means=(rng.uniform(-spread, spread, (n, 3))).astype(np.float32),
        scales_log=rng.uniform(-9.5, 5.5, (n, 3)).astype(np.float32),
        quats_wxyz=q.astype(np.float32),
        opacity_logits=rng.uniform(-5, 5, n).astype(np.float32),
        sh_dc=rng.uniform(-3.2, 3.2, (n, 3)).astype(np.float32),
        sh_rest=rng.uniform(-0.95, 0.95, (n, k - 1, 3)).astype(np.float32),
    )


def quat_angle(a, b):
    """Rotation angle (radians) between unit quaternions a and b, sign-blind."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    d = np.clip(np.abs((a.astype(np.float64) * b).sum(axis=1)), 0, 1)
    return 2 * np.arccos(d)


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("coordinates", ["rdf", None])
def test_round_trip_within_quantisation(tmp_path, rng, version, degree, coordinates):
    s = random_scene(rng, 500, degree)
    p = tmp_path / "scene.spz"
    size = spz.write_spz(p, s, version=version, coordinates=coordinates)
    assert size == p.stat().st_size
    back, info = spz.read_spz(p, coordinates=coordinates, with_info=True)
    assert info == spz.SpzInfo(version, 500, degree, 12, False)
    # positions: 24-bit fixed point with 12 fractional bits -> half a step
    assert np.abs(back.means - s.means).max() <= 0.5 / 4096 + 1e-6
    # log-scales: steps of 1/16
    assert np.abs(back.scales_log - s.scales_log).max() <= 1 / 32 + 1e-5
    # opacity: 8 bits after the sigmoid
    assert np.abs(sigmoid(back.opacity_logits) - sigmoid(s.opacity_logits)).max() <= 0.5 / 255 + 1e-6
    # DC: 8 bits of dc * 0.15
    assert np.abs(back.sh_dc - s.sh_dc).max() <= 0.5 / (0.15 * 255) + 1e-5
    # SH: round(x*128) then buckets of 8 (degree 1) / 16 (higher)
    if degree:
        err = np.abs(back.sh_rest - s.sh_rest)
        assert err[:, :3].max() <= 4.5 / 128 + 1e-6
        assert err.max() <= 8.5 / 128 + 1e-6
    assert back.sh_rest.shape == s.sh_rest.shape
    # rotations, xyzw sign-aligned: v3 stores the three smaller components in steps of
    # sqrt(1/2)/511 (the largest follows from the norm), v2 x, y, z in steps of 1/127.5 (w >= 0)
    ref = s.quats_wxyz[:, [1, 2, 3, 0]] / np.linalg.norm(s.quats_wxyz, axis=1, keepdims=True)
    got = back.quats_wxyz[:, [1, 2, 3, 0]]
    rows = np.arange(len(ref))
    if version == 3:
        big = np.argmax(np.abs(ref), axis=1)
        ref = ref * np.sign(ref[rows, big])[:, None]
        got = got * np.sign(got[rows, big])[:, None]   # q and -q: one rotation
        small = np.ones_like(ref, bool)
        small[rows, big] = False
        assert np.abs(got - ref)[small].max() <= 0.5 * SQRT1_2 / 511 + 1e-6
        assert quat_angle(back.quats_wxyz, s.quats_wxyz).max() < 0.01
        np.testing.assert_allclose(np.linalg.norm(back.quats_wxyz, axis=1), 1, atol=1e-5)
    else:
        ref = ref * np.where(ref[:, 3:] < 0, -1, 1)
        got = got * np.where(got[:, 3:] < 0, -1, 1)
        assert np.abs(got - ref)[:, :3].max() <= 0.5 / 127.5 + 1e-6


def test_wide_scene_uses_fewer_fraction_bits(tmp_path, rng):
    s = random_scene(rng, 50, 0, spread=5000.0)
    p = tmp_path / "wide.spz"
    spz.write_spz(p, s)
    back, info = spz.read_spz(p, with_info=True)
    assert info.fractional_bits == 10  # 5000 * 2^10 < 2^23 <= 5000 * 2^11
    assert np.abs(back.means - s.means).max() <= 0.5 / 1024 + 1e-6
    far = s._replace(means=s.means * 1e4)
    with pytest.raises(ValueError, match="24-bit fixed point"):
        spz.write_spz(tmp_path / "far.spz", far)


def _decode_by_hand(raw, i, n, deg, bits):
    """One point's fields straight from the spec's layout (struct, no NumPy)."""
    dim = {0: 0, 1: 3, 2: 8, 3: 15}[deg]
    off = 16
    pos = []
    for k in range(3):
        b = raw[off + 9 * i + 3 * k: off + 9 * i + 3 * k + 3]
        v = int.from_bytes(b, "little", signed=True)
        pos.append(v / 2 ** bits)
    off += 9 * n
    alpha = raw[off + i]
    off += n
    color = list(raw[off + 3 * i: off + 3 * i + 3])
    off += 3 * n
    scale = list(raw[off + 3 * i: off + 3 * i + 3])
    off += 3 * n
    (comp,) = struct.unpack("<I", raw[off + 4 * i: off + 4 * i + 4])
    off += 4 * n
    largest = comp >> 30
    others = [j for j in range(4) if j != largest]  # xyzw indices, packed first-to-last = high-to-low
    xyzw = [0.0] * 4
    for slot, j in enumerate(others):
        field = (comp >> (10 * (2 - slot))) & 0x3FF
        mag = (field & 0x1FF) * SQRT1_2 / 511
        xyzw[j] = -mag if field & 0x200 else mag
    xyzw[largest] = np.sqrt(max(0.0, 1 - sum(v * v for v in xyzw)))
    sh = list(raw[off + 3 * dim * i: off + 3 * dim * (i + 1)])
    return pos, alpha, color, scale, xyzw, sh


def test_layout_matches_the_spec(tmp_path, rng):
    n, deg = 40, 2
    s = random_scene(rng, n, deg)
    p = tmp_path / "s.spz"
    spz.write_spz(p, s, coordinates=None)
    raw = gzip.decompress(p.read_bytes())
    magic, version, count, d, bits, flags, reserved = struct.unpack("<IIIBBBB", raw[:16])
    assert (magic, version, count, d, bits, flags, reserved) == (0x5053474E, 3, n, deg, 12, 0, 0)
    assert raw[:4] == b"NGSP"
    assert len(raw) == 16 + n * (9 + 1 + 3 + 3 + 4 + 3 * 8)
    for i in rng.choice(n, 8, replace=False):
        pos, alpha, color, scale, xyzw, sh = _decode_by_hand(raw, i, n, deg, bits)
        np.testing.assert_allclose(pos, s.means[i], atol=0.5 / 4096 + 1e-6)
        assert abs(alpha / 255 - sigmoid(s.opacity_logits[i])) <= 0.5 / 255 + 1e-7
        np.testing.assert_allclose((np.array(color) / 255 - 0.5) / 0.15, s.sh_dc[i],
                                   atol=0.5 / 38.25 + 1e-6)
        np.testing.assert_allclose(np.array(scale) / 16 - 10, s.scales_log[i], atol=1 / 32 + 1e-6)
        wxyz = np.array([xyzw[3], *xyzw[:3]])[None]
        assert quat_angle(wxyz, s.quats_wxyz[i][None])[0] < 0.01
        # coefficient-major, channel fastest, as the PLY's sh_rest[k, c]
        ref = s.sh_rest[i].reshape(-1)
        np.testing.assert_allclose((np.array(sh) - 128) / 128, ref, atol=8.5 / 128 + 1e-6)
        assert all(v % 8 == 0 or v == 255 for v in sh[:9]) and all(v % 16 == 0 or v == 255
                                                                    for v in sh[9:])


def test_rdf_turn_is_a_rotation_about_x(tmp_path, rng):
    """Stored axes are the scene's turned 180 degrees about x: render the stored
    (unturned on read) scene through the turned camera and compare."""
    from splatcore.gaussians import Gaussians

    n = 300
    s = random_scene(rng, n, 3, spread=1.0)
    s = s._replace(scales_log=rng.uniform(-3.5, -2.5, (n, 3)).astype(np.float32),
                   sh_rest=(0.4 * rng.standard_normal((n, 15, 3))).astype(np.float32))
    p = tmp_path / "t.spz"
    spz.write_spz(p, s, coordinates="rdf")
    stored = spz.read_spz(p, coordinates=None)        # the file's own (RUB) axes
    back = spz.read_spz(p, coordinates="rdf")
    view = np.eye(4, dtype=np.float32)
    view[2, 3] = 4.0
    K = np.array([[60, 0, 32], [0, 60, 24], [0, 0, 1]], np.float32)
    flip = np.diag([1, -1, -1, 1]).astype(np.float32)

    def render(scene, vm):
        g = Gaussians(scene.means, scene.scales_log, scene.quats_wxyz, scene.opacity_logits,
                         scene.sh_dc[:, None, :], scene.sh_rest)
        img, _, _ = g.render(dict(viewmat=vm, K=K, width=64, height=48), sh_degree=3)
        return img.numpy()

    a = render(back, view)
    b = render(stored, view @ flip)   # the same camera, expressed in the turned axes
    assert a.max() > 0.05
    np.testing.assert_allclose(b, a, atol=2e-4)
    # and the turn is not the identity for these scenes
    assert np.abs(render(stored, view) - a).max() > 0.05


def test_gaussians_and_dicts_are_accepted(tmp_path, rng):
    from splatcore.gaussians import Gaussians

    s = random_scene(rng, 30, 1, spread=1.0)
    g = Gaussians(s.means, s.scales_log, s.quats_wxyz, s.opacity_logits, s.sh_dc[:, None], s.sh_rest)
    a = spz.encode_spz(g)
    assert a == spz.encode_spz(s) == spz.encode_spz(s._asdict())


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw[:8], "truncated SPZ"),
    (lambda raw: b"XXXX" + raw[4:], "magic"),
    (lambda raw: raw[:4] + struct.pack("<I", 7) + raw[8:], "version 7"),
    (lambda raw: raw[:12] + bytes([5]) + raw[13:], "SH degree 5"),
    (lambda raw: raw[:8] + struct.pack("<I", 10 ** 9) + raw[12:], "limit"),
    (lambda raw: raw[:8] + struct.pack("<I", 41) + raw[12:], "truncated SPZ"),
    (lambda raw: raw + b"\0" * 7, "more than the"),
    (lambda raw: raw[:13] + bytes([30]) + raw[14:], "fractional_bits 30"),
])
def test_hostile_files(tmp_path, rng, mutate, message):
    s = random_scene(rng, 40, 1)
    raw = gzip.decompress(spz.encode_spz(s))
    p = tmp_path / "bad.spz"
    p.write_bytes(gzip.compress(mutate(raw)))
    with pytest.raises(ValueError, match=message) as e:
        spz.read_spz(p)
    assert "bad.spz" in str(e.value)


def test_not_gzip_and_cut_streams(tmp_path, rng):
    p = tmp_path / "x.spz"
    p.write_bytes(b"ply\nformat ascii 1.0\n")
    with pytest.raises(ValueError, match="expected gzip"):
        spz.read_spz(p)
    data = spz.encode_spz(random_scene(rng, 200, 0))
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated|corrupt"):
        spz.read_spz(p)
    with pytest.raises(FileNotFoundError, match="SPZ file not found"):
        spz.read_spz(tmp_path / "missing.spz")


def test_extensions_are_skipped(tmp_path, rng):
    s = random_scene(rng, 25, 1)
    raw = bytearray(gzip.decompress(spz.encode_spz(s)))
    raw[14] |= 0x2
    record = struct.pack("<II", 0x12340001, 8) + b"\x01" * 8
    p = tmp_path / "ext.spz"
    p.write_bytes(gzip.compress(bytes(raw[:16]) + record + bytes(raw[16:])))
    back = spz.read_spz(p)
    ref, _ = spz.decode_spz(spz.encode_spz(s))
    for k in SplatData._fields:
        np.testing.assert_array_equal(getattr(back, k), getattr(ref, k), err_msg=k)


def test_bad_scenes_are_refused(tmp_path, rng):
    s = random_scene(rng, 10, 1)
    with pytest.raises(ValueError, match="means must be finite"):
        spz.write_spz(tmp_path / "a.spz", s._replace(means=np.full((10, 3), np.nan, np.float32)))
    with pytest.raises(ValueError, match=r"sh_rest must have shape"):
        spz.write_spz(tmp_path / "a.spz", s._replace(sh_rest=np.zeros((10, 5, 3), np.float32)))
    with pytest.raises(ValueError, match="version must be 2 or 3"):
        spz.write_spz(tmp_path / "a.spz", s, version=4)
    with pytest.raises(TypeError, match="expected a SplatData"):
        spz.write_spz(tmp_path / "a.spz", [1, 2, 3])
    assert not (tmp_path / "a.spz").exists()


def test_reads_files_written_by_the_spz_package(tmp_path, rng):
    """Interop with `spz` from PyPI (a Rust build; skips where it does not install)."""
    pyspz = pytest.importorskip("spz", reason="the `spz` package from PyPI is not installed "
                                              "(its sdist needs a Rust toolchain and crates.io)")
    s = random_scene(rng, 200, 1)
    ours = tmp_path / "ours.spz"
    spz.write_spz(ours, s, coordinates=None)
    theirs = pyspz.load(str(ours))
    np.testing.assert_allclose(np.asarray(theirs.positions).reshape(-1, 3), s.means, atol=2.5e-4)
    np.testing.assert_allclose(np.asarray(theirs.scales).reshape(-1, 3), s.scales_log, atol=0.04)
    np.testing.assert_allclose(np.asarray(theirs.colors).reshape(-1, 3), s.sh_dc, atol=0.02)
    rot = np.asarray(theirs.rotations).reshape(-1, 4)
    assert quat_angle(rot, s.quats_wxyz).max() < 0.01
    back_path = tmp_path / "theirs.spz"
    theirs.save(str(back_path))
    back = spz.read_spz(back_path, coordinates=None)
    np.testing.assert_allclose(back.means, s.means, atol=5e-4)
    np.testing.assert_allclose(back.sh_rest, s.sh_rest, atol=5 / 128)


@pytest.mark.parametrize("fmt", ["spz", "splat"])
def test_export_command(tmp_path, rng, capsys, fmt):
    from splatcore.cli import main
    from splatcore.io import read_splat_ply, write_splat_ply
    from splatcore.io.scene_file import read_scene

    s = random_scene(rng, 300, 1)
    ply = tmp_path / "scene.ply"
    write_splat_ply(ply, *s)
    out = tmp_path / f"scene.{fmt}"
    assert main(["export", str(ply), "-o", str(out)]) == 0
    assert f"300 Gaussians ({fmt}" in capsys.readouterr().out
    back = read_scene(out)
    assert len(back.means) == 300
    ref = read_splat_ply(ply)
    got = back.means if fmt == "spz" else back.means[np.lexsort(back.means.T)]
    want = ref.means if fmt == "spz" else ref.means[np.lexsort(ref.means.T)]
    np.testing.assert_allclose(got, want, atol=0.5 / 4096 + 1e-6)
    # --format wins over the name; an unknown name without it still goes to the mesher
    odd = tmp_path / "scene.bin"
    assert main(["export", str(ply), "-o", str(odd), "--format", "spz"]) == 0
    assert len(spz.read_spz(odd).means) == 300
