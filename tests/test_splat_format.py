""".splat (antimatter15): records decoded by hand with struct, round trips within
8-bit colour / rotation steps, ordering, hostile files."""
import struct

import numpy as np
import pytest

from splatcore.io import splat_format as sf
from splatcore.io.ply import SplatData

SH_C0 = 0.28209479177387814


def random_scene(rng, n, degree=0):
    k = (degree + 1) ** 2
    return SplatData(
        means=rng.standard_normal((n, 3)).astype(np.float32) * 2,
        scales_log=rng.uniform(-6, 1, (n, 3)).astype(np.float32),
        quats_wxyz=rng.standard_normal((n, 4)).astype(np.float32),
        opacity_logits=rng.uniform(-4, 4, n).astype(np.float32),
        sh_dc=rng.uniform(-1.7, 1.7, (n, 3)).astype(np.float32),
        sh_rest=rng.standard_normal((n, k - 1, 3)).astype(np.float32),
    )


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


def test_records_by_hand(tmp_path, rng):
    n = 30
    s = random_scene(rng, n)
    p = tmp_path / "s.splat"
    assert sf.write_splat(p, s, sort=False) == 32 * n
    raw = p.read_bytes()
    for i in rng.choice(n, 6, replace=False):
        rec = raw[32 * i: 32 * (i + 1)]
        vals = struct.unpack("<3f3f4B4B", rec)
        np.testing.assert_array_equal(vals[0:3], s.means[i])
        np.testing.assert_allclose(vals[3:6], np.exp(s.scales_log[i].astype(np.float64)), rtol=1e-6)
        rgb = np.clip(0.5 + SH_C0 * s.sh_dc[i].astype(np.float64), 0, 1) * 255
        assert np.abs(np.array(vals[6:9]) - rgb).max() <= 0.5 + 1e-9
        assert abs(vals[9] - sigmoid(s.opacity_logits[i]) * 255) <= 0.5 + 1e-9
        q = s.quats_wxyz[i] / np.linalg.norm(s.quats_wxyz[i])
        assert np.abs(np.array(vals[10:14]) - np.clip(q * 128 + 128, 0, 255)).max() <= 0.5 + 1e-6


def test_round_trip(tmp_path, rng):
    s = random_scene(rng, 400, degree=2)
    p = tmp_path / "s.splat"
    sf.write_splat(p, s, sort=False)
    back = sf.read_splat(p)
    np.testing.assert_array_equal(back.means, s.means)
    np.testing.assert_allclose(back.scales_log, s.scales_log, atol=2e-6)
    assert np.abs(sigmoid(back.opacity_logits) - sigmoid(s.opacity_logits)).max() <= 0.5 / 255 + 1e-6
    assert np.abs(back.sh_dc - s.sh_dc).max() <= 0.5 / 255 / SH_C0 + 1e-5
    q = s.quats_wxyz / np.linalg.norm(s.quats_wxyz, axis=1, keepdims=True)
    # 8 bits per component over [-1, 1], renormalised on read: about 1/128 per component
    d = np.minimum(np.abs(back.quats_wxyz - q).max(1), np.abs(back.quats_wxyz + q).max(1))
    assert d.max() <= 2.5 / 128
    assert back.sh_rest.shape == (400, 0, 3)   # the format has only the DC colour


def test_sorted_by_size_times_opacity(tmp_path, rng):
    s = random_scene(rng, 200)
    back = sf.decode_splat(sf.encode_splat(s))
    key = np.exp(s.scales_log.astype(np.float64).sum(1)) * sigmoid(s.opacity_logits)
    order = np.argsort(-key, kind="stable")
    assert (np.diff(key[order]) <= 0).all() and not (order == np.arange(200)).all()
    np.testing.assert_array_equal(back.means, s.means[order])


def test_hostile(tmp_path, rng):
    p = tmp_path / "bad.splat"
    p.write_bytes(b"\0" * 33)
    with pytest.raises(ValueError, match="multiple of the 32-byte record"):
        sf.read_splat(p)
    data = bytearray(sf.encode_splat(random_scene(rng, 5)))
    data[32 * 3 + 12: 32 * 3 + 16] = struct.pack("<f", -1.0)  # record 3, scale y
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="record 3"):
        sf.read_splat(p)
    with pytest.raises(FileNotFoundError, match="not found"):
        sf.read_splat(tmp_path / "none.splat")
    with pytest.raises(ValueError, match="quats_wxyz has zero-length"):
        s = random_scene(rng, 4)
        sf.write_splat(tmp_path / "z.splat", s._replace(quats_wxyz=np.zeros((4, 4), np.float32)))
    assert not (tmp_path / "z.splat").exists()
