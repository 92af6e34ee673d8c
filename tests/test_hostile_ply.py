"""Issue 12: hostile PLY headers and values (defects 5 and 8)."""
import time

import numpy as np
import pytest

from splatcore.io import ply


def header_file(path, n_props, elements=1, dup_last=False):
    lines = ["ply", "format binary_little_endian 1.0"]
    for e in range(elements):
        lines.append(f"element e{e} 1" if e else "element vertex 1")
        lines += [f"property float p{i}" for i in range(n_props)]
    if dup_last:
        lines.append("property float p0")
    path.write_bytes(("\n".join(lines + ["end_header"]) + "\n").encode() + bytes(4 * n_props * elements))
    return path


def test_many_properties_are_refused_fast(tmp_path):
    # 45k properties in under 1 MB took over 60 s (a quadratic duplicate check).
    p = header_file(tmp_path / "h.ply", 45_000)
    t = time.perf_counter()
    with pytest.raises(ValueError, match=f"more than {ply.MAX_PROPERTIES} properties") as e:
        ply.read_ply_header(p)
    assert time.perf_counter() - t < 2.0 and str(p) in str(e.value)


def test_header_parse_is_linear(tmp_path):
    # The largest headers the caps allow parse in well under a second, and a
    # duplicate at the very end is still found.
    n = ply.MAX_PROPERTIES
    p = header_file(tmp_path / "a.ply", n, elements=40)
    t = time.perf_counter()
    h = ply.read_ply_header(p)
    assert time.perf_counter() - t < 1.0
    assert [len(e.properties) for e in h.elements] == [n] * 40
    p = header_file(tmp_path / "d.ply", n - 1, dup_last=True)
    with pytest.raises(ValueError, match="'p0' appears twice"):
        ply.read_ply_header(p)
    p = header_file(tmp_path / "e.ply", 1, elements=ply.MAX_ELEMENTS + 1)
    with pytest.raises(ValueError, match=f"more than {ply.MAX_ELEMENTS} elements"):
        ply.read_ply_header(p)


def splat_arrays(rng, n):
    return dict(means=rng.standard_normal((n, 3)), scales_log=rng.standard_normal((n, 3)),
                quats_wxyz=rng.standard_normal((n, 4)), opacity_logits=rng.standard_normal(n),
                sh_dc=rng.standard_normal((n, 3)), sh_rest=rng.standard_normal((n, 3, 3)))


@pytest.mark.parametrize("prop, value", [("y", np.nan), ("opacity", np.inf),
                                         ("f_rest_4", -np.inf), ("rot_2", np.nan)])
def test_non_finite_splat_values_name_file_and_vertex(tmp_path, rng, prop, value):
    p = tmp_path / "scene.ply"
    ply.write_splat_ply(p, **splat_arrays(rng, 9))
    # patch one value in place: the writer refuses non-finite input itself
    hdr = ply.read_ply_header(p)
    names = [q[0] for q in hdr.elements[0].properties]
    raw = bytearray(p.read_bytes())
    at = hdr.header_bytes + 4 * (6 * len(names) + names.index(prop))
    raw[at:at + 4] = np.float32(value).tobytes()
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"vertex 6: property '{prop}' is") as e:
        ply.read_splat_ply(p)
    assert str(p) in str(e.value)
