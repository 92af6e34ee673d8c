"""Photo loading (EXIF, alpha, bit depth, errors), downscaling with intrinsics, datasets."""
import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image as PILImage  # noqa: E402

from splatcore import io as sio  # noqa: E402

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _save(path, arr, **kw):
    PILImage.fromarray(np.asarray(arr, np.uint8)).save(path, **kw)
    return path


def _gradient(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)


# ----------------------------------------------------------------------------- load_image

def test_load_png_is_float_rgb(tmp_path):
    arr = _gradient(17, 9)
    img = sio.load_image(_save(tmp_path / "a.png", arr))
    assert img.dtype == np.float32 and img.shape == (9, 17, 3)
    np.testing.assert_allclose(img, arr / 255.0, atol=1e-7)
    assert sio.image_size(tmp_path / "a.png") == (17, 9)


def test_exif_orientation_6_is_rotated(tmp_path):
    # Stored 40 wide x 20 high: top half red, bottom half blue. Orientation 6 means
    # "rotate 90 degrees clockwise to display": the stored top ends up on the right.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10] = RED
    stored[10:] = BLUE
    im = PILImage.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    p = tmp_path / "rot.jpg"
    im.save(p, quality=95, exif=exif.tobytes())
    img = sio.load_image(p)
    assert img.shape == (40, 20, 3)
    right, left = img[:, 12:], img[:, :8]
    assert right[..., 0].mean() > 0.9 and right[..., 2].mean() < 0.1  # red on the right
    assert left[..., 2].mean() > 0.9 and left[..., 0].mean() < 0.1   # blue on the left
    assert sio.image_size(p) == (20, 40)
    raw = sio.load_image(p, exif_transpose=False)
    assert raw.shape == (20, 40, 3) and raw[:8, :, 0].mean() > 0.9
    assert sio.image_size(p, exif_transpose=False) == (40, 20)


def test_alpha_composited_on_black(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 51  # 0.2
    rgba[0, 0, 3] = 255
    p = tmp_path / "a.png"
    PILImage.fromarray(rgba, "RGBA").save(p)
    img, alpha = sio.load_image(p, return_alpha=True)
    np.testing.assert_allclose(alpha[1, 1], 0.2, atol=1e-6)
    np.testing.assert_allclose(img[1, 1], 200 / 255 * 0.2, atol=1e-6)
    np.testing.assert_allclose(img[0, 0], 200 / 255, atol=1e-6)
    np.testing.assert_array_equal(sio.load_image(p), img)
    _, none = sio.load_image(_save(tmp_path / "b.png", _gradient(5, 4)), return_alpha=True)
    assert none is None


def test_greyscale_and_16_bit(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    img = sio.load_image(_save(tmp_path / "g.png", g))
    assert img.shape == (3, 4, 3)
    np.testing.assert_allclose(img[..., 1], g / 255.0, atol=1e-7)
    g16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000 + 7)
    PILImage.fromarray(g16).save(tmp_path / "g16.png")
    img16 = sio.load_image(tmp_path / "g16.png")
    np.testing.assert_allclose(img16[..., 2], g16 / 65535.0, atol=1e-7)


def test_unreadable_images_raise_value_error(tmp_path):
    png = _save(tmp_path / "ok.png", _gradient(64, 64)).read_bytes()
    jpg = _save(tmp_path / "ok.jpg", _gradient(64, 64), quality=90).read_bytes()
    cases = {"cut.png": png[: len(png) // 2], "cut.jpg": jpg[: len(jpg) // 2],
             "head.png": png[:20], "garbage.png": b"not an image at all" * 10, "empty.jpg": b""}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ValueError, match=name):
            sio.load_image(p)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        sio.load_image(tmp_path / "missing.png")


def test_resize_is_area_average():
    a = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    r = sio.resize_image(a, 3, 2)
    np.testing.assert_allclose(r, a.reshape(2, 2, 3, 2, 3).mean(axis=(1, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match="size must be positive"):
        sio.resize_image(a, 0, 2)


# ----------------------------------------------------------------------------- downscale + intrinsics

def _dataset(root, sizes, cam=None, names=None, centers=None):
    """Write images/<name> of the given (w, h) sizes and a text sparse/0 model."""
    (root / "images").mkdir(parents=True)
    names = names or [f"{i:03d}.png" for i in range(len(sizes))]
    w0, h0 = sizes[0]
    cam = cam or sio.Camera(1, "PINHOLE", w0, h0, 50.0, 52.0, w0 / 2, h0 / 2)
    images = {}
    for i, (name, (w, h)) in enumerate(zip(names, sizes)):
        _save(root / "images" / name, _gradient(w, h))
        c = np.zeros(3) if centers is None else np.asarray(centers[i], float)
        images[i + 1] = sio.Image(i + 1, name, cam.id, [1, 0, 0, 0], -c)
    pts = sio.Points(np.zeros((2, 3)), np.full((2, 3), 7, np.uint8), np.zeros(2))
    sio.write_model(root / "sparse" / "0", sio.ColmapModel({cam.id: cam}, images, pts), ".txt")
    return cam, names


def test_downscale_without_folder_resizes_and_scales_k(tmp_path):
    cam, names = _dataset(tmp_path, [(65, 49)])
    img, c4 = sio.load_image_for_camera(tmp_path, names[0], cam, 4)
    assert (c4.width, c4.height) == (16, 12) == sio.downscaled_size(65, 49, 4)
    assert img.shape == (12, 16, 3)
    assert c4.fx == pytest.approx(50 * 16 / 65) and c4.cx == pytest.approx(32.5 * 16 / 65)
    assert c4.fy == pytest.approx(52 * 12 / 49) and c4.cy == pytest.approx(24.5 * 12 / 49)
    img1, c1 = sio.load_image_for_camera(tmp_path, names[0], cam, 1)
    assert c1 == cam and img1.shape == (49, 65, 3)
    with pytest.raises(ValueError, match="downscale must be a positive integer"):
        sio.load_image_for_camera(tmp_path, names[0], cam, 0)


def test_downscale_uses_images_n_folder(tmp_path):
    cam, names = _dataset(tmp_path, [(64, 48)])
    (tmp_path / "images_2").mkdir()
    green = np.zeros((24, 33, 3), np.uint8)
    green[..., 1] = 255
    _save(tmp_path / "images_2" / names[0], green)  # 33 wide: its actual size is used
    img, c2 = sio.load_image_for_camera(tmp_path, names[0], cam, 2)
    assert img.shape == (24, 33, 3) and np.all(img[..., 1] == 1.0)
    assert (c2.width, c2.height) == (33, 24)
    assert c2.fx == pytest.approx(50 * 33 / 64) and c2.fy == pytest.approx(52 * 24 / 48)
    # Factor 4 has no folder: resized from images/.
    img4, c4 = sio.load_image_for_camera(tmp_path, names[0], cam, 4)
    assert img4.shape == (12, 16, 3) and img4[..., 1].max() < 1.0


def test_image_not_matching_camera_raises(tmp_path):
    cam, names = _dataset(tmp_path, [(64, 48), (30, 60)],
                          cam=sio.Camera(1, "PINHOLE", 64, 48, 50, 50, 32, 24))
    with pytest.raises(ValueError, match="aspect ratio"):
        sio.load_image_for_camera(tmp_path, names[1], cam, 1)


def test_exif_ignored_when_only_raw_pixels_match_camera(tmp_path):
    # COLMAP ignores EXIF orientation: its camera describes the stored pixels.
    cam = sio.Camera(1, "PINHOLE", 40, 20, 30, 30, 20, 10)
    (tmp_path / "images").mkdir()
    im = PILImage.fromarray(_gradient(40, 20).astype(np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "images" / "a.jpg", exif=exif.tobytes())
    img, c = sio.load_image_for_camera(tmp_path, "a.jpg", cam, 1)
    assert img.shape == (20, 40, 3) and c == cam
    cam_rot = sio.Camera(1, "PINHOLE", 20, 40, 30, 30, 10, 20)
    img, c = sio.load_image_for_camera(tmp_path, "a.jpg", cam_rot, 1)
    assert img.shape == (40, 20, 3)


# ----------------------------------------------------------------------------- dataset

def test_split_indices():
    assert sio.split_indices(20, "test") == [0, 8, 16]
    assert sio.split_indices(20, "train") == [i for i in range(20) if i not in (0, 8, 16)]
    assert sio.split_indices(20, "all") == list(range(20))
    assert sio.split_indices(5, "test", holdout_every=2) == [0, 2, 4]
    assert sio.split_indices(5, "test", holdout_every=None) == []
    assert sio.split_indices(5, "train", holdout_every=0) == list(range(5))
    with pytest.raises(ValueError, match="split must be one of"):
        sio.split_indices(5, "val")
    with pytest.raises(ValueError, match="holdout_every"):
        sio.split_indices(5, "test", holdout_every=-1)


def test_dataset_items_order_and_extent(tmp_path):
    names = [f"{c}.png" for c in "jihgfedcba"]  # written in reverse name order
    centers = np.array([[i, 2.0 * (i % 3), 0.0] for i in range(10)])
    cam, _ = _dataset(tmp_path, [(32, 24)] * 10, names=names, centers=centers)
    ds = sio.ColmapDataset(tmp_path, split="all")
    assert ds.names == sorted(names) and len(ds) == 10
    test = sio.ColmapDataset(tmp_path, split="test", holdout_every=4)
    assert test.names == ["a.png", "e.png", "i.png"]
    item = ds[2]
    assert item.name == "c.png" and item["name"] == "c.png"
    assert item.image.shape == (24, 32, 3) and item.image.dtype == np.float32
    assert (item.width, item.height) == (32, 24)
    assert item.K.dtype == np.float32 and item.viewmat.dtype == np.float32
    np.testing.assert_array_equal(item.K, cam.K.astype(np.float32))
    src = ds.model.images[item.image_id]
    np.testing.assert_array_equal(item.viewmat, src.viewmat.astype(np.float32))
    np.testing.assert_allclose(src.camera_center, centers[names.index("c.png")], atol=1e-12)
    np.testing.assert_allclose(ds.camera_centers()[2], centers[names.index("c.png")], atol=1e-12)
    c = ds.camera_centers()
    assert ds.scene_extent() == pytest.approx(1.1 * np.linalg.norm(c - c.mean(0), axis=1).max())
    assert ds[-1].name == "j.png"
    with pytest.raises(IndexError):
        ds[10]
    assert len(ds.points) == 2
    assert not item.image.flags.writeable
    d2 = sio.ColmapDataset(tmp_path, downscale=2, split="all")
    assert d2[0].image.shape == (12, 16, 3) and d2.Ks[0][0, 0] == pytest.approx(25.0)


def test_dataset_lru_cache_respects_byte_budget(tmp_path):
    _dataset(tmp_path, [(32, 24)] * 9)
    one = 32 * 24 * 3 * 4
    ds = sio.ColmapDataset(tmp_path, split="all", max_cache_bytes=int(2.5 * one))
    for _ in range(2):
        for item in ds:
            assert ds.cache_bytes <= ds.max_cache_bytes
            assert item.image.shape == (24, 32, 3)
    assert ds.cache_bytes == 2 * one
    misses = ds.cache_misses
    ds[8]  # most recently used: a hit
    assert ds.cache_misses == misses and ds.cache_hits >= 1
    ds[0]  # evicted long ago: a miss
    assert ds.cache_misses == misses + 1
    nocache = sio.ColmapDataset(tmp_path, split="all", max_cache_bytes=0)
    for item in nocache:
        assert nocache.cache_bytes == 0


def test_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        sio.ColmapDataset(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="no image folder"):
        sio.ColmapDataset(tmp_path / "a")
    (tmp_path / "a" / "images").mkdir()
    with pytest.raises(FileNotFoundError, match="no COLMAP sparse model"):
        sio.ColmapDataset(tmp_path / "a")
    _dataset(tmp_path / "b", [(16, 12)] * 3)
    (tmp_path / "b" / "images" / "001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 3 images .* missing.*001.png"):
        sio.ColmapDataset(tmp_path / "b")
    for p in (tmp_path / "b" / "images").iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match="none of the 3 images"):
        sio.ColmapDataset(tmp_path / "b")
    empty = tmp_path / "c"
    (empty / "images").mkdir(parents=True)
    sio.write_model(empty / "sparse" / "0", sio.ColmapModel(
        {}, {}, sio.Points(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0))))
    with pytest.raises(ValueError, match="no registered images"):
        sio.ColmapDataset(empty)
    _dataset(tmp_path / "d", [(16, 12)])
    with pytest.raises(ValueError, match="split must be one of"):
        sio.ColmapDataset(tmp_path / "d", split="val")
    with pytest.raises(ValueError, match="max_cache_bytes"):
        sio.ColmapDataset(tmp_path / "d", max_cache_bytes=-1)
    with pytest.raises(ValueError, match="downscale must be a positive integer"):
        sio.ColmapDataset(tmp_path / "d", downscale=1.5)
