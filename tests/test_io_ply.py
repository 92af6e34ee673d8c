"""3DGS scene PLY and point-cloud PLY: exact round trips, layout, hostile files, atomicity."""
import os
import time

import numpy as np
import pytest

from splatcore import io as sio
from splatcore.io import ply as ply_mod


def _random_splats(rng, n, degree):
    k = (degree + 1) ** 2
    return dict(
        means=rng.standard_normal((n, 3)).astype(np.float32),
        scales_log=rng.standard_normal((n, 3)).astype(np.float32) - 3,
        quats_wxyz=rng.standard_normal((n, 4)).astype(np.float32),
        opacity_logits=rng.standard_normal(n).astype(np.float32),
        sh_dc=rng.standard_normal((n, 3)).astype(np.float32),
        sh_rest=rng.standard_normal((n, k - 1, 3)).astype(np.float32),
    )


def _header_text(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    return data[:end].decode("ascii"), len(data) - end


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_splat_round_trip_exact(tmp_path, rng, degree):
    s = _random_splats(rng, 57, degree)
    p = tmp_path / "scene.ply"
    sio.write_splat_ply(p, **s)
    back = sio.read_splat_ply(p)
    assert back.sh_degree == degree
    for k, v in s.items():
        got = getattr(back, k)
        assert got.dtype == np.float32 and got.shape == v.shape, k
        np.testing.assert_array_equal(got, v, err_msg=k)


@pytest.mark.parametrize("degree", [0, 3])
def test_splat_header_layout(tmp_path, rng, degree):
    n = 11
    s = _random_splats(rng, n, degree)
    p = tmp_path / "scene.ply"
    sio.write_splat_ply(p, **s)
    text, body = _header_text(p)
    lines = text.strip().split("\n")
    assert lines[:3] == ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    assert lines[-1] == "end_header"
    props = [ln.split() for ln in lines[3:-1]]
    assert all(len(t) == 3 and t[0] == "property" and t[1] == "float" for t in props)
    names = [t[2] for t in props]
    n_rest = 3 * ((degree + 1) ** 2 - 1)
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                + [f"f_rest_{i}" for i in range(n_rest)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert names == expected == sio.splat_property_names(degree)
    if degree == 3:
        assert len(names) == 62
    assert body == n * 4 * len(names)
    # Raw columns: normals zero, f_rest channel-major, opacity/scales/rot stored as given.
    raw = np.frombuffer(open(p, "rb").read()[-body:], "<f4").reshape(n, len(names))
    col = {nm: raw[:, i] for i, nm in enumerate(names)}
    assert not np.any(raw[:, 3:6])
    km1 = (degree + 1) ** 2 - 1
    for c in range(3):
        for k in range(km1):
            np.testing.assert_array_equal(col[f"f_rest_{c * km1 + k}"], s["sh_rest"][:, k, c])
    np.testing.assert_array_equal(col["opacity"], s["opacity_logits"])
    np.testing.assert_array_equal(col["rot_0"], s["quats_wxyz"][:, 0])
    np.testing.assert_array_equal(col["scale_2"], s["scales_log"][:, 2])


def test_writer_accepts_variants_and_validates(tmp_path, rng):
    s = _random_splats(rng, 5, 0)
    p = tmp_path / "a.ply"
    sio.write_splat_ply(p, s["means"], s["scales_log"], s["quats_wxyz"],
                        s["opacity_logits"][:, None], s["sh_dc"][:, None, :])  # (N,1), (N,1,3), no rest
    back = sio.read_splat_ply(p)
    np.testing.assert_array_equal(back.sh_dc, s["sh_dc"])
    assert back.sh_rest.shape == (5, 0, 3)
    sio.write_splat_ply(tmp_path / "empty.ply", *[np.zeros((0,) + v.shape[1:], np.float32)
                                                  for v in s.values()])
    assert len(sio.read_splat_ply(tmp_path / "empty.ply").means) == 0
    bad = dict(s, scales_log=s["scales_log"][:4])
    with pytest.raises(ValueError, match=r"scales_log: expected shape \(5, 3\), got \(4, 3\)"):
        sio.write_splat_ply(tmp_path / "b.ply", **bad)
    bad = dict(s, sh_rest=np.zeros((5, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"sh_rest: expected shape \(N, K-1, 3\)"):
        sio.write_splat_ply(tmp_path / "b.ply", **bad)
    nan = s["means"].copy()
    nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="means: expected finite values.*1 rows"):
        sio.write_splat_ply(tmp_path / "b.ply", **dict(s, means=nan))
    assert not (tmp_path / "b.ply").exists()


def _write_custom_ply(path, fmt, names, table, types=None, extra_header=""):
    n = len(table)
    types = types or ["float"] * len(names)
    head = ["ply", f"format {fmt} 1.0", "comment made by hand", f"element vertex {n}"]
    head += [f"property {t} {nm}" for t, nm in zip(types, names)]
    head = "\n".join(head) + "\n" + extra_header + "end_header\n"
    with open(path, "wb") as f:
        f.write(head.encode())
        if fmt == "ascii":
            for row in table:
                f.write((" ".join(repr(float(v)) for v in row) + "\n").encode())
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            f.write(table.astype(order + "f4").tobytes())


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian", "binary_little_endian"])
def test_read_other_layouts(tmp_path, rng, fmt):
    # Shuffled property order, an extra property, degree 1, other encodings.
    s = _random_splats(rng, 9, 1)
    p = tmp_path / "std.ply"
    sio.write_splat_ply(p, **s)
    names = sio.splat_property_names(1) + ["extra"]
    raw = np.frombuffer(open(p, "rb").read()[-9 * 4 * 26:], "<f4").reshape(9, 26)
    table = np.concatenate([raw, rng.standard_normal((9, 1)).astype(np.float32)], 1)
    perm = rng.permutation(len(names))
    q = tmp_path / "custom.ply"
    _write_custom_ply(q, fmt, [names[i] for i in perm], table[:, perm])
    back = sio.read_splat_ply(q)
    for k, v in s.items():
        np.testing.assert_array_equal(getattr(back, k), v, err_msg=k)


def test_binary_with_leading_element(tmp_path):
    p = tmp_path / "pre.ply"
    with open(p, "wb") as f:
        f.write(b"ply\nformat binary_little_endian 1.0\nelement camera 2\nproperty double a\n"
                b"property uchar b\nelement vertex 3\nproperty double x\nproperty float y\n"
                b"property float z\nend_header\n")
        f.write(np.zeros(2, [("a", "<f8"), ("b", "u1")]).tobytes())
        rec = np.array([(1.5, 2, 3), (4, 5, 6), (7, 8, 9.25)], [("x", "<f8"), ("y", "<f4"), ("z", "<f4")])
        f.write(rec.tobytes())
    pc = sio.read_point_ply(p)
    np.testing.assert_array_equal(pc.xyz, [[1.5, 2, 3], [4, 5, 6], [7, 8, 9.25]])
    assert pc.rgb is None and pc.normals is None


def test_truncated_splat_ply_raises(tmp_path, rng):
    s = _random_splats(rng, 40, 3)
    p = tmp_path / "scene.ply"
    sio.write_splat_ply(p, **s)
    data = p.read_bytes()
    hdr_len = data.index(b"end_header\n") + 11
    cuts = [0, 2, 10, hdr_len - 5, hdr_len, hdr_len + 1, len(data) - 1]
    cuts += rng.integers(0, len(data), 10).tolist()
    q = tmp_path / "cut.ply"
    for cut in cuts:
        q.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.ply"):
            sio.read_splat_ply(q)
    # ASCII truncated too.
    a = tmp_path / "cut_ascii.ply"
    names = sio.splat_property_names(0)
    _write_custom_ply(a, "ascii", names, rng.standard_normal((20, len(names))))
    text = a.read_bytes()
    # (A cut inside the very last number still parses: undetectable in ASCII.)
    for cut in (text.rindex(b" "), len(text) // 2, len(text) // 2 + 7):
        a.write_bytes(text[:cut])
        with pytest.raises(ValueError, match="cut_ascii.ply"):
            sio.read_splat_ply(a)


def test_hostile_ply_headers(tmp_path):
    cases = {
        "huge_count.ply": b"ply\nformat binary_little_endian 1.0\nelement vertex 999999999999999\n"
                          b"property float x\nend_header\n" + b"\0" * 64,
        "huge_ascii.ply": b"ply\nformat ascii 1.0\nelement vertex 999999999999\nproperty float x\n"
                          b"end_header\n1\n2\n",
        "no_end.ply": b"ply\nformat binary_little_endian 1.0\n" + b"comment pad\n" * 100000,
        "not_ply.ply": b"PK\x03\x04 some zip file",
        "bad_type.ply": b"ply\nformat binary_little_endian 1.0\nelement vertex 1\n"
                        b"property float128 x\nend_header\n",
        "bad_format.ply": b"ply\nformat binary_middle_endian 1.0\nelement vertex 0\nend_header\n",
        "no_vertex.ply": b"ply\nformat ascii 1.0\nelement face 0\nend_header\n",
        "list_vertex.ply": b"ply\nformat ascii 1.0\nelement vertex 1\n"
                           b"property list uchar int idx\nend_header\n1 5\n",
        "text_in_ascii.ply": b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                             b"end_header\nhello\n",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        t = time.perf_counter()
        with pytest.raises(ValueError, match=name):
            sio.read_ply_vertices(p)
        assert time.perf_counter() - t < 1.0, name
    with pytest.raises(FileNotFoundError):
        sio.read_ply_vertices(tmp_path / "missing.ply")


def test_missing_splat_properties_are_named(tmp_path, rng):
    names = [n for n in sio.splat_property_names(1) if n not in ("opacity", "rot_3")]
    p = tmp_path / "partial.ply"
    _write_custom_ply(p, "binary_little_endian", names,
                      rng.standard_normal((3, len(names))).astype(np.float32))
    with pytest.raises(ValueError, match=r"\['opacity', 'rot_3'\] are missing"):
        sio.read_splat_ply(p)
    names = [n for n in sio.splat_property_names(1) if n != "f_rest_4"]
    _write_custom_ply(p, "binary_little_endian", names,
                      rng.standard_normal((3, len(names))).astype(np.float32))
    with pytest.raises(ValueError, match="f_rest"):
        sio.read_splat_ply(p)


def test_point_ply_round_trip(tmp_path, rng):
    xyz = rng.standard_normal((30, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (30, 3), dtype=np.uint8)
    nrm = rng.standard_normal((30, 3)).astype(np.float32)
    p = tmp_path / "pts.ply"
    sio.write_point_ply(p, xyz, rgb, nrm)
    text, body = _header_text(p)
    props = [ln.split()[1:] for ln in text.split("\n") if ln.startswith("property")]
    assert props == [["float", "x"], ["float", "y"], ["float", "z"], ["uchar", "red"],
                     ["uchar", "green"], ["uchar", "blue"], ["float", "nx"], ["float", "ny"],
                     ["float", "nz"]]
    assert body == 30 * (12 + 3 + 12)
    pc = sio.read_point_ply(p)
    np.testing.assert_array_equal(pc.xyz, xyz)
    np.testing.assert_array_equal(pc.rgb, rgb)
    np.testing.assert_array_equal(pc.normals, nrm)
    sio.write_point_ply(p, xyz, rgb=np.full((30, 3), 0.5))  # float colours in [0, 1]
    pc = sio.read_point_ply(p)
    assert np.all(pc.rgb == 128) and pc.normals is None
    sio.write_point_ply(p, xyz)
    assert sio.read_point_ply(p).rgb is None
    with pytest.raises(ValueError, match="rgb: expected integer values 0..255"):
        sio.write_point_ply(p, xyz, rgb=np.full((30, 3), 300))
    with pytest.raises(ValueError, match=r"xyz: expected shape \(N, 3\)"):
        sio.write_point_ply(p, xyz[:, :2])


# ----------------------------------------------------------------------------- atomic writes

def test_atomic_write_leaves_nothing_on_error(tmp_path):
    p = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="midway"):
        with sio.atomic_write(p) as f:
            f.write(b"half of the data")
            raise RuntimeError("midway")
    assert os.listdir(tmp_path) == []
    sio.atomic_write_bytes(p, b"old")
    with pytest.raises(KeyboardInterrupt):
        with sio.atomic_write(p) as f:
            f.write(b"new but incomplete")
            raise KeyboardInterrupt
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    sio.atomic_write_text(p, "new\n")
    assert p.read_text() == "new\n"
    from splatcore.io import atomic as atomic_mod
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~atomic_mod._UMASK  # not mkstemp's 0o600
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sio.atomic_write_bytes(tmp_path / "nodir" / "x.bin", b"")


def test_splat_writer_failing_midway_leaves_no_file(tmp_path, rng, monkeypatch):
    s = _random_splats(rng, 20, 2)
    real = ply_mod.atomic_write

    class Failing:
        def __init__(self, f):
            self.f, self.calls = f, 0

        def write(self, b):
            self.calls += 1
            if self.calls == 2:  # after the header, before the data
                raise OSError("disk full")
            return self.f.write(b)

    import contextlib

    @contextlib.contextmanager
    def failing_atomic_write(path, mode="wb", **kw):
        with real(path, mode, **kw) as f:
            yield Failing(f)

    monkeypatch.setattr(ply_mod, "atomic_write", failing_atomic_write)
    with pytest.raises(OSError, match="disk full"):
        sio.write_splat_ply(tmp_path / "scene.ply", **s)
    assert os.listdir(tmp_path) == []
