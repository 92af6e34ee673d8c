"""A small COLMAP dataset on disk (random images, poses and points) for tests
that go through the readers and the command line."""
import os

import numpy as np

from splatcore.io import colmap as sio
from splatcore.io.images import save_png


def tiny_model(rng, n_images=3, width=32, height=24, n_points=50):
    cams = {1: sio.Camera(1, "PINHOLE", width, height, 30.0, 31.0, width / 2, height / 2)}
    images = {}
    for i in range(n_images):
        q = np.array([1.0, 0.0, 0.0, 0.0]) + 0.05 * rng.standard_normal(4)
        images[i + 1] = sio.Image(i + 1, f"im{i:02d}.png", 1, q / np.linalg.norm(q),
                                  np.array([0.0, 0.0, 4.0]) + 0.1 * rng.standard_normal(3))
    pts = sio.Points(rng.standard_normal((n_points, 3)), rng.integers(0, 256, (n_points, 3)),
                     rng.uniform(0, 1, n_points))
    return sio.ColmapModel(cams, images, pts)


def write_tiny_colmap(root, rng=None, ext=".bin", **kw):
    """root/images/im00.png ... and root/sparse/0/*{ext}; returns the model."""
    rng = rng if rng is not None else np.random.default_rng(12)
    model = tiny_model(rng, **kw)
    cam = model.cameras[1]
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for im in model.images.values():
        save_png(os.path.join(root, "images", im.name),
                 rng.random((cam.height, cam.width, 3)).astype(np.float32))
    sio.write_model(os.path.join(root, "sparse", "0"), model, ext)
    return model
