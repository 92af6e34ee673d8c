"""Issue 12: hostile COLMAP models: non-finite points (defect 8), image names
outside the dataset (defect 10), ids that wrap or overflow and path types
(defect 11)."""
import os
import pathlib
import struct

import numpy as np
import pytest

from helpers_colmap import tiny_model, write_tiny_colmap
from splatcore.io import colmap as sio
from splatcore.io.dataset import ColmapDataset


def points_txt(path, line):
    path.write_text("# 3D point list\n" + line + "\n")
    return path


def test_non_finite_point_positions(tmp_path, rng):
    m = tiny_model(rng)
    m.points.xyz[7, 1] = np.nan
    sio.write_points3D(tmp_path / "points3D.bin", m.points)
    with pytest.raises(ValueError, match=r"points3D.bin: point 8 \(row 7\) has a non-finite"):
        sio.read_points3D(tmp_path / "points3D.bin")
    p = points_txt(tmp_path / "points3D.txt", "5 1.0 inf 2.0 10 20 30 0.5 1 2")
    with pytest.raises(ValueError, match=r"points3D.txt:2: point 5 has a non-finite"):
        sio.read_points3D(p)


def test_track_ids_do_not_wrap(tmp_path):
    # write a track entry of 2^31 + 5 by hand: it read back as a negative int32
    raw = bytearray()
    raw += struct.pack("<Q", 1)
    raw += struct.pack("<Q3d3BdQ", 1, 0.1, 0.2, 0.3, 1, 2, 3, 0.5, 1)
    raw += struct.pack("<II", 2**31 + 5, 3)
    (tmp_path / "points3D.bin").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"points3D.bin: track entry 0 .*2147483653"):
        sio.read_points3D(tmp_path / "points3D.bin")
    p = points_txt(tmp_path / "points3D.txt", f"1 0 0 0 1 2 3 0.5 {2**31 + 5} 3")
    with pytest.raises(ValueError, match=r"points3D.txt:2: expected track entries"):
        sio.read_points3D(p)
    with pytest.raises(ValueError, match="Points.tracks"):
        sio.Points(np.zeros((1, 3)), np.zeros((1, 3), np.uint8), np.zeros(1), None, [1],
                   [[2**31, 0]])


def test_huge_ids_name_the_file(tmp_path):
    big = 10 ** 23
    (tmp_path / "cameras.txt").write_text(f"{big} PINHOLE 32 24 30 30 16 12\n")
    with pytest.raises(ValueError, match=rf"cameras.txt:1: CAMERA_ID must be in 0..\d+, got {big}"):
        sio.read_cameras(tmp_path / "cameras.txt")
    p = points_txt(tmp_path / "points3D.txt", f"{big} 0 0 0 1 2 3 0.5")
    with pytest.raises(ValueError, match=rf"points3D.txt:2: POINT3D_ID .* got {big}"):
        sio.read_points3D(p)
    p = points_txt(tmp_path / "points3D.txt", f"1 0 0 0 1 2 3 0.5 {big} 1")
    with pytest.raises(ValueError, match=r"points3D.txt:2"):
        sio.read_points3D(p)
    (tmp_path / "images.txt").write_text(f"{big} 1 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(ValueError, match=r"images.txt:1: IMAGE_ID"):
        sio.read_images(tmp_path / "images.txt")


class _Fs(os.PathLike):
    def __init__(self, p):
        self.p = p

    def __fspath__(self):
        return self.p


def test_read_model_accepts_bytes_and_pathlike(tmp_path, rng):
    ref = write_tiny_colmap(tmp_path, rng)
    for path in (os.fsencode(str(tmp_path)), _Fs(str(tmp_path)), _Fs(os.fsencode(str(tmp_path))),
                 pathlib.Path(tmp_path)):
        m = sio.read_model(path)
        assert sorted(m.images) == sorted(ref.images)
        np.testing.assert_array_equal(m.points.xyz, ref.points.xyz)
    sub = tmp_path / "sparse" / "0"
    assert len(sio.read_cameras(os.fsencode(str(sub / "cameras.bin")))) == 1


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "sub/../../x.png",
                                  "..\\x.png", "C:\\x.png", "\\\\server\\share\\x.png"])
def test_image_names_outside_the_dataset_are_refused(tmp_path, rng, name):
    root = tmp_path / "data"
    m = write_tiny_colmap(root, rng)
    (tmp_path / "secret.png").write_bytes((root / "images" / "im00.png").read_bytes())
    im = m.images[1]
    m.images[1] = sio.Image(im.id, name, im.camera_id, im.qvec, im.tvec)
    sio.write_model(root / "sparse" / "0", m, ".bin")
    with pytest.raises(ValueError, match="outside the image folder") as e:
        ColmapDataset(root, split="all")
    assert repr(name) in str(e.value) and "images" in str(e.value)
