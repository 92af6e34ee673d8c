"""Issue 12: decompression bombs (defect 7) and non-finite float images
(defect 8), through load_image and through the dataset."""
import os

import numpy as np
import pytest
from PIL import Image

from helpers_colmap import write_tiny_colmap
from splatcore.io import images as simg
from splatcore.io.dataset import ColmapDataset


def bomb_png(path, w, h):
    # A flat image compresses to almost nothing: a small file, a huge decode.
    Image.new("L", (w, h), 0).save(path, format="PNG", optimize=True)
    return path


def test_bomb_is_refused_before_decoding(tmp_path):
    p = bomb_png(tmp_path / "bomb.png", 12_000, 12_000)  # 144 MP, a ~140 KB file
    assert os.path.getsize(p) < 300_000
    with pytest.raises(ValueError, match="bomb") as e:
        simg.load_image(p)
    assert str(p) in str(e.value) and "12000x12000" in str(e.value)
    # the budget is an argument: a small one refuses small images too
    small = bomb_png(tmp_path / "s.png", 100, 100)
    with pytest.raises(ValueError, match="limit"):
        simg.load_image(small, max_pixels=5000)
    assert simg.load_image(small).shape == (100, 100, 3)


def test_dataset_image_larger_than_its_camera_is_refused(tmp_path, rng):
    # 9500 x 7125 (an ~80 KB PNG, 0.8 GB as float32) where the camera says 32 x 24:
    # the aspect ratio matches, only the declared size gives it away.
    write_tiny_colmap(tmp_path, rng)
    bomb_png(tmp_path / "images" / "im01.png", 9500, 7125)
    with pytest.raises(ValueError, match="more than 2x the 32x24 px") as e:
        ColmapDataset(tmp_path, split="all")
    assert "im01.png" in str(e.value)
    # an image at the camera's size, or a smaller one, is fine
    bomb_png(tmp_path / "images" / "im01.png", 16, 12)
    ds = ColmapDataset(tmp_path, split="all")
    assert ds[1]["image"].shape == (12, 16, 3) and ds[2]["image"].shape == (24, 32, 3)


def test_non_finite_float_image(tmp_path, rng):
    a = rng.random((6, 8)).astype(np.float32)
    a[4, 5] = np.nan
    p = tmp_path / "f.tiff"
    Image.fromarray(a, mode="F").save(p)
    with pytest.raises(ValueError, match=r"NaN/inf.*row 4, column 5") as e:
        simg.load_image(p)
    assert str(p) in str(e.value)
    a[4, 5] = np.inf
    Image.fromarray(a, mode="F").save(p)
    with pytest.raises(ValueError, match="NaN/inf"):
        simg.load_image(p)


def test_scan_photos_are_checked_before_decoding(tmp_path):
    from splatcore.mast3r import preprocess

    p = bomb_png(tmp_path / "photo.png", 12_000, 12_000)
    with pytest.raises(ValueError, match="bomb") as e:
        preprocess(str(p))
    assert str(p) in str(e.value)
