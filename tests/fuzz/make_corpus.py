"""Writes the seed corpus (tests/fuzz/corpus/TARGET/*): small valid files from
splatcore's own writers, with the selector byte the targets expect in front
where a target reads several formats. Run it again after a format changes:

    PYTHONPATH=python python tests/fuzz/make_corpus.py
"""
import io
import json
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _bytes_of(write, name):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, name)
        write(p)
        with open(p, "rb") as f:
            return f.read()


def corpus():
    from PIL import Image

    from splatcore import checkpoint
    from splatcore.io import colmap as sio
    from splatcore.io.ply import write_splat_ply
    from splatcore.mesh import io as mio
    from splatcore.mesh.mc import Mesh

    rng = np.random.default_rng(0)
    out = {}
    cams = {1: sio.Camera(1, "PINHOLE", 8, 6, 10.0, 11.0, 4.0, 3.0)}
    ims = {2: sio.Image(2, "a.png", 1, (1.0, 0.1, 0.0, 0.0), (0.0, 0.0, 3.0),
                        rng.uniform(0, 8, (2, 2)), [-1, 5])}
    pts = sio.Points(rng.standard_normal((2, 3)), [[1, 2, 3], [4, 5, 6]], [0.5, 0.25], [5, 9],
                     [1, 0], [[2, 1]])
    for sel, (name, write, arg) in enumerate([("cameras", sio.write_cameras, cams),
                                              ("images", sio.write_images, ims),
                                              ("points3D", sio.write_points3D, pts)]):
        for k, ext in enumerate((".bin", ".txt")):
            data = _bytes_of(lambda p: write(p, arg), name + ext)
            out[f"colmap/{name}{ext}"] = bytes([sel + 3 * k]) + data
    n = 2
    for deg, binary in ((0, True), (1, True)):
        out[f"splat_ply/deg{deg}.ply"] = _bytes_of(lambda p: write_splat_ply(
            p, rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), rng.standard_normal((n, 4)),
            rng.standard_normal(n), rng.standard_normal((n, 3)),
            rng.standard_normal((n, 3, 3)) if deg else None), "s.ply")
    m = Mesh(rng.standard_normal((4, 3)).astype(np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32))
    out["mesh/binary.ply"] = b"\0" + _bytes_of(lambda p: mio.write_ply(p, m), "m.ply")
    out["mesh/ascii.ply"] = b"\3" + _bytes_of(lambda p: mio.write_ply(p, m, binary=False), "m.ply")
    out["mesh/mesh.obj"] = b"\1" + _bytes_of(lambda p: mio.write_obj(p, m), "m.obj")
    out["mesh/mesh.stl"] = b"\2" + _bytes_of(lambda p: mio.write_stl(p, m), "m.stl")
    h = json.dumps({"__metadata__": {"k": "v"},
                    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                    "b": {"dtype": "BOOL", "shape": [3], "data_offsets": [16, 19]}}).encode()
    out["safetensors/small.safetensors"] = (struct.pack("<Q", len(h)) + h
                                            + np.arange(4, dtype="<f4").tobytes() + b"\1\0\1")
    out["checkpoint/state.safetensors"] = _bytes_of(lambda p: checkpoint.save(
        p, {"step": 3, "x": rng.standard_normal(3), "n": [1, {"y": np.arange(2)}]}), "c")
    for fmt, mode in (("PNG", "RGB"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("TIFF", "F")):
        a = (rng.random((6, 8, len(mode))) * 255).astype(np.uint8) if mode != "F" else \
            rng.random((6, 8)).astype(np.float32)
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if mode == "F" else a, mode=mode).save(buf, format=fmt)
        out[f"dataset_image/{mode.lower()}.{fmt.lower()}"] = buf.getvalue()
    return out


def main():
    for rel, data in corpus().items():
        p = os.path.join(HERE, "corpus", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        print(f"{len(data):6d}  {rel}")


if __name__ == "__main__":
    sys.exit(main())
