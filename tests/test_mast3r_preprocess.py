"""splatcore.mast3r.preprocess / load_images against an independent re-implementation
of dust3r's load_images rule (written here from its documented behaviour: EXIF
transpose, long side to `size` with LANCZOS down / BICUBIC up, centre crop to
multiples of 16 with a 4:3 cut of square images, (x / 255 - 0.5) / 0.5), on
synthetic images of several sizes and orientations."""
import io
import os
from fractions import Fraction

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from splatcore.mast3r import load_images, preprocess  # noqa: E402


def synthetic(rng, w, h, mode="RGB"):
    """A smooth image with some texture (so that resampling filters matter)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([np.sin(x / (w / 6.0) + 0.3 * c) * np.cos(y / (h / 5.0) - 0.2 * c) for c in range(3)], -1)
    noise = rng.uniform(-0.2, 0.2, (h, w, 3))
    a = np.clip((base + noise) * 100 + 128, 0, 255).astype(np.uint8)
    im = Image.fromarray(a)
    if mode == "RGBA":
        alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
        im = Image.fromarray(np.dstack([a, alpha]), "RGBA")
    elif mode == "L":
        im = im.convert("L")
    return im


def half_even(fr):
    """Python's round(), half to even, of an exact Fraction."""
    fl = fr.numerator // fr.denominator
    rem = fr - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        fl += 1
    return fl


def reference(im, size=512, square_ok=False):
    """The rule, independently: exact rational sizes, NumPy slicing for the crop."""
    im = im.convert("RGB")
    W1, H1 = im.size
    S = max(W1, H1)
    long_edge = size
    if size == 224:
        long_edge = half_even(Fraction(size) * max(Fraction(W1, H1), Fraction(H1, W1)))
    new = (half_even(Fraction(W1 * long_edge, S)), half_even(Fraction(H1 * long_edge, S)))
    filt = Image.LANCZOS if S > long_edge else Image.BICUBIC
    r = np.asarray(im.resize(new, filt))
    H, W = r.shape[:2]
    if size == 224:
        half = min(W // 2, H // 2)
        x0, y0, w2, h2 = W // 2 - half, H // 2 - half, 2 * half, 2 * half
    else:
        w2 = (W // 2 * 2) // 16 * 16  # 2 * halfw
        h2 = (H // 2 * 2) // 16 * 16
        if W == H and not square_ok:
            h2 = w2 * 3 // 4
        x0, y0 = W // 2 - w2 // 2, H // 2 - h2 // 2
    crop = r[y0:y0 + h2, x0:x0 + w2]
    x = (crop.astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.5)
    return x, (H1, W1), (H, W), (x0, y0, x0 + w2, y0 + h2)


SIZES = [(640, 480), (480, 640), (512, 512), (300, 200), (1000, 333), (513, 511), (37, 91), (1300, 975),
         (512, 300), (20, 10)]


@pytest.mark.parametrize("w,h", SIZES)
def test_preprocess_matches_rule(rng, w, h):
    im = synthetic(rng, w, h)
    out = preprocess(im)
    ref, orig, resized, box = reference(im)
    assert out.img.dtype == np.float32 and out.img.shape == ref.shape
    np.testing.assert_array_equal(out.img, ref)
    H, W = out.true_shape
    assert (H, W) == ref.shape[:2] and H % 16 == 0 and W % 16 == 0 and max(H, W) <= 512
    assert out.orig_shape == orig and out.resized_shape == resized and out.crop == box
    assert max(resized) == 512
    if w == h:
        assert (H, W) == (384, 512)  # square images are cut to 4:3 landscape
    assert out.img.min() >= -1 and out.img.max() <= 1


def test_square_ok_and_size_224(rng):
    im = synthetic(rng, 300, 300)
    a = preprocess(im, square_ok=True)
    np.testing.assert_array_equal(a.img, reference(im, square_ok=True)[0])
    assert a.true_shape == (512, 512)
    for w, h in [(640, 480), (333, 500)]:
        im = synthetic(rng, w, h)
        b = preprocess(im, size=224)
        ref, _, resized, box = reference(im, size=224)
        np.testing.assert_array_equal(b.img, ref)
        assert b.true_shape == (224, 224) and min(resized) == 224 and b.crop == box


def test_modes_alpha_grey_and_arrays(rng):
    rgba = synthetic(rng, 200, 120, "RGBA")
    out = preprocess(rgba)
    np.testing.assert_array_equal(out.img, reference(rgba)[0])  # alpha dropped, not composited
    grey = synthetic(rng, 120, 200, "L")
    np.testing.assert_array_equal(preprocess(grey).img, reference(grey)[0])
    # arrays: uint8, or floats in [0, 1]
    im = synthetic(rng, 160, 100)
    a = np.asarray(im)
    np.testing.assert_array_equal(preprocess(a).img, reference(im)[0])
    np.testing.assert_array_equal(preprocess(a.astype(np.float32) / 255).img, reference(im)[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        preprocess(a.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((4, 5, 2), np.uint8))


def _jpeg_with_orientation(im, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


# EXIF orientation -> the NumPy operation that displays the stored pixels upright
UPRIGHT = {
    1: lambda a: a,
    3: lambda a: a[::-1, ::-1],
    6: lambda a: np.rot90(a, k=-1),  # rotate 90 degrees clockwise
    8: lambda a: np.rot90(a, k=1),   # 90 degrees counter-clockwise
    2: lambda a: a[:, ::-1],
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_rotated_jpeg(rng, tmp_path, orientation):
    stored = synthetic(rng, 320, 208)
    path = tmp_path / f"photo_{orientation}.jpg"
    path.write_bytes(_jpeg_with_orientation(stored, orientation))
    out = preprocess(path)
    with Image.open(path) as f:  # the stored pixels, decoded without any transposition
        raw = np.asarray(f.convert("RGB"))
    upright = Image.fromarray(np.ascontiguousarray(UPRIGHT[orientation](raw)))
    ref, orig, _, _ = reference(upright)
    np.testing.assert_array_equal(out.img, ref)
    swapped = orientation in (5, 6, 7, 8)
    assert orig == ((320, 208) if swapped else (208, 320))
    assert out.exif_transposed == (orientation != 1)
    assert out.path == str(path)


def test_pixel_mapping_to_original(rng):
    # 1024 x 768 -> 512 x 384, no crop: a pure x2 scale
    out = preprocess(synthetic(rng, 1024, 768))
    assert out.crop == (0, 0, 512, 384) and out.scale == (0.5, 0.5)
    np.testing.assert_allclose(out.to_original([[0.5, 0.5], [100.25, 37.0]]), [[1.0, 1.0], [200.5, 74.0]])
    # 700 x 700 -> 512 x 512 -> 512 x 384 (rows 64..448 kept)
    sq = preprocess(synthetic(rng, 700, 700))
    assert sq.crop == (0, 64, 512, 448)
    p = np.array([[10.0, 20.0], [511.5, 383.5]])
    q = sq.to_original(p)
    np.testing.assert_allclose(q, (p + [0, 64]) * 700 / 512)
    np.testing.assert_allclose(sq.from_original(q), p)
    # intrinsics: a pinhole of the processed image, seen in the original
    K = np.array([[400.0, 0, 256.0], [0, 400.0, 192.0], [0, 0, 1]])
    Ko = sq.intrinsics_to_original(K)
    # projecting a 3-D point with Ko lands where to_original sends its processed projection
    X = np.array([0.3, -0.2, 2.0])
    u = K @ X
    uo = Ko @ X
    np.testing.assert_allclose(uo[:2] / uo[2], sq.to_original(u[:2] / u[2]))
    d = sq.as_dust3r()
    assert d["img"].shape == (1, 3, 384, 512) and d["true_shape"].tolist() == [[384, 512]]


def test_load_images_folder_and_list(rng, tmp_path):
    sizes = {"b.png": (200, 150), "a.jpg": (90, 160), "c.JPEG": (64, 64)}
    for name, (w, h) in sizes.items():
        synthetic(rng, w, h).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "d.bmp").write_bytes(b"BM")  # not in the original's extension list: skipped
    imgs = load_images(tmp_path)
    assert [os.path.basename(i.path) for i in imgs] == ["a.jpg", "b.png", "c.JPEG"]  # sorted
    assert [i.index for i in imgs] == [0, 1, 2]
    for i in imgs:
        with Image.open(i.path) as f:
            np.testing.assert_array_equal(i.img, reference(f)[0])
    listed = load_images([tmp_path / "c.JPEG", str(tmp_path / "a.jpg")])
    assert [os.path.basename(i.path) for i in listed] == ["c.JPEG", "a.jpg"]
    np.testing.assert_array_equal(listed[1].img, imgs[0].img)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_images(empty)
    with pytest.raises(ValueError, match="empty"):
        load_images([])


def test_unreadable_files_are_named(rng, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG body" + bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    with pytest.raises(ValueError, match="corrupt.jpg"):
        preprocess(bad)
    buf = io.BytesIO()
    synthetic(rng, 128, 96).save(buf, "PNG")
    folder = tmp_path / "set"
    folder.mkdir()
    synthetic(rng, 64, 48).save(folder / "a_good.png")
    trunc = folder / "truncated.png"
    trunc.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="truncated.png"):
        preprocess(trunc)
    with pytest.raises(ValueError, match="truncated.png"):
        load_images(folder)  # read from a folder, the error still names the file
    with pytest.raises(FileNotFoundError, match="missing.png"):
        preprocess(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError):
        load_images(tmp_path / "no_such_folder")
    with pytest.raises(ValueError, match="size"):
        preprocess(synthetic(rng, 10, 10), size=0)
