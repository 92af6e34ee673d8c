"""Fuzz targets: one function per reader, each taking the bytes of one file.

A target may raise only the errors a reader promises for bad input
(ValueError, TypeError, naming the file); anything else, a crash or a hang is
a finding. The first byte of some inputs picks which reader of a family runs.
Used by run.py (atheris) and by test_fuzz.py (bounded runs in the test suite).
"""
import os
import tempfile

import numpy as np

EXPECTED = (ValueError, TypeError)

_DIR = tempfile.mkdtemp(prefix="splatcore-fuzz-")


def _file(name, data):
    p = os.path.join(_DIR, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def colmap(data):
    """COLMAP sparse model files: cameras / images / points3D, .bin or .txt."""
    from splatcore.io import colmap as sio

    if not data:
        return
    readers = [("cameras", sio.read_cameras), ("images", sio.read_images),
               ("points3D", sio.read_points3D)]
    name, read = readers[data[0] % 3]
    ext = ".bin" if data[0] % 6 < 3 else ".txt"
    read(_file(name + ext, data[1:]))


def splat_ply(data):
    """A 3D Gaussian Splatting scene PLY (binary or ASCII)."""
    from splatcore.io.ply import read_splat_ply

    s = read_splat_ply(_file("scene.ply", data))
    for a in s:
        assert np.isfinite(a).all()  # the reader promises finite values


def mesh(data):
    """A mesh file: PLY, OBJ or STL (first byte)."""
    from splatcore.mesh import io as mio

    if not data:
        return
    ext, read = [(".ply", mio.read_ply), (".obj", mio.read_obj), (".stl", mio.read_stl)][data[0] % 3]
    m = read(_file("mesh" + ext, data[1:]))
    assert np.isfinite(m.vertices).all()
    if len(m.faces):
        assert 0 <= m.faces.min() and m.faces.max() < len(m.vertices)


def safetensors(data):
    """A safetensors file: the header, then every tensor it names."""
    from splatcore import _core

    f = _core.SafetensorsFile(_file("w.safetensors", data))
    f.metadata()
    for name in f.names():
        info = f.info(name)
        try:
            t = f.tensor(name)
        except TypeError:  # a dtype the format knows and splatcore does not
            continue
        assert tuple(t.shape) == tuple(info["shape"])


def checkpoint(data):
    """A training checkpoint (safetensors + JSON state)."""
    from splatcore import checkpoint as ck

    ck.load(_file("checkpoint.safetensors", data))


_DATASET = None


def _dataset_root():
    """A one-image COLMAP dataset whose image the fuzzer replaces."""
    global _DATASET
    if _DATASET is None:
        from splatcore.io import colmap as sio

        root = os.path.join(_DIR, "dataset")
        cam = sio.Camera(1, "PINHOLE", 8, 6, 10.0, 10.0, 4.0, 3.0)
        im = sio.Image(1, "im.png", 1, (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 3.0))
        pts = sio.Points(np.zeros((1, 3)), np.zeros((1, 3), np.uint8), np.zeros(1))
        sio.write_model(os.path.join(root, "sparse", "0"), sio.ColmapModel({1: cam}, {1: im}, pts))
        os.makedirs(os.path.join(root, "images"), exist_ok=True)
        _DATASET = root
    return _DATASET


def dataset_image(data):
    """An image file (PNG, JPEG, TIFF, ...) loaded through a COLMAP dataset."""
    from splatcore.io.dataset import ColmapDataset

    root = _dataset_root()
    with open(os.path.join(root, "images", "im.png"), "wb") as f:
        f.write(data)
    img = ColmapDataset(root, split="all", max_cache_bytes=0)[0]["image"]
    assert img.ndim == 3 and img.shape[2] == 3 and np.isfinite(img).all()


TARGETS = {f.__name__: f for f in (colmap, splat_ply, mesh, safetensors, checkpoint,
                                   dataset_image)}
