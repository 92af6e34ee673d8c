"""Issue 12: hostile mesh files: non-finite vertices (defect 8) and an OBJ of
random bytes that read as an empty mesh (defect 11)."""
import numpy as np
import pytest

from splatcore.mesh import io as mio
from splatcore.mesh.mc import Mesh


def mesh(rng, nv=12, nf=10):
    return Mesh(rng.standard_normal((nv, 3)).astype(np.float32),
                rng.integers(0, nv, (nf, 3)).astype(np.int32))


@pytest.mark.parametrize("binary", [True, False])
def test_non_finite_ply_vertices(tmp_path, rng, binary):
    m = mesh(rng)
    p = tmp_path / "m.ply"
    mio.write_ply(p, m, binary=binary, normals=False)
    if binary:
        hdr = mio.read_ply_header(p)
        raw = bytearray(p.read_bytes())
        row = sum(np.dtype(q[1]).itemsize for q in hdr.elements[0].properties)
        at = hdr.header_bytes + 5 * row + 4  # vertex 5, y
        raw[at:at + 4] = np.float32(np.nan).tobytes()
        p.write_bytes(bytes(raw))
    else:
        lines = p.read_text().splitlines()
        first = lines.index("end_header") + 1
        vals = lines[first + 5].split()
        vals[1] = "nan"
        lines[first + 5] = " ".join(vals)
        p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"vertex 5 is \[") as e:
        mio.read_ply(p)
    assert str(p) in str(e.value)


def test_non_finite_obj_vertices(tmp_path, rng):
    p = tmp_path / "m.obj"
    mio.write_obj(p, mesh(rng), normals=False, colors=False)
    lines = p.read_text().splitlines()
    k = [i for i, ln in enumerate(lines) if ln.startswith("v ")][3]
    lines[k] = "v 1.0 inf 2.0"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"vertex \(0-based\) 3 is") as e:
        mio.read_obj(p)
    assert str(p) in str(e.value)


def test_obj_of_random_bytes_is_not_a_mesh(tmp_path, rng):
    for k in range(5):
        p = tmp_path / f"r{k}.obj"
        p.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(ValueError, match="not an OBJ statement") as e:
            mio.read_obj(p)
        assert str(p) in str(e.value)
    # an OBJ with the statements read_obj skips still reads
    p = tmp_path / "ok.obj"
    p.write_text("mtllib a.mtl\no thing\nv 0 0 0\nv 1 0 0\nvt 0 0\nv 0 1 0\ns off\n"
                 "usemtl m\nf 1 2 3\n")
    m = mio.read_obj(p)
    assert m.vertices.shape == (3, 3) and m.faces.tolist() == [[0, 1, 2]]


def test_huge_face_indices(tmp_path):
    head = ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 0 0\n0 1 0\n")
    p = tmp_path / "f.ply"
    p.write_text(head + f"3 0 1 {10 ** 23}\n")  # was OverflowError, no file name
    with pytest.raises(ValueError, match="face 0: vertex index out of range") as e:
        mio.read_ply(p)
    assert str(p) in str(e.value)
