"""Loading photos as float32 RGB arrays (Pillow), with downscaling and intrinsics.

* EXIF orientation is honoured (``PIL.ImageOps.exif_transpose``) by default.
* Output is ``(H, W, 3)`` float32 in ``[0, 1]``. Images with transparency are
  composited on black (``rgb * alpha``, i.e. premultiplied); ask for
  ``return_alpha=True`` to also get the ``(H, W)`` alpha mask (None when opaque).
  16-bit greyscale images keep their precision (divided by 65535).
* Downscaling by an integer factor uses the dataset's ``images_N`` folder when it
  holds the image (the 3D Gaussian Splatting layout), otherwise resizes with an
  area (box) filter to ``round(W / N) x round(H / N)``. In both cases the camera is
  rescaled to the size actually obtained: fx, cx times ``new_W / W`` and fy, cy
  times ``new_H / H``.
* Missing files raise FileNotFoundError; unreadable, truncated or corrupt files
  raise ValueError naming the file.
* Decompression bombs: the size an image declares is checked before its pixels
  are decoded, against ``MAX_PIXELS`` (float32 RGB of that many pixels is
  1.6 GB) and, for dataset images, against the COLMAP camera (at most
  ``MAX_CAMERA_RATIO`` times its width and height).

Pillow is imported lazily so that ``splatcore.io`` imports without it.
"""
from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .colmap import Camera

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["load_image", "image_size", "resize_image", "downscaled_size",
           "ImageSource", "resolve_image", "load_source", "load_image_for_camera",
           "check_image_name", "check_pixels", "MAX_PIXELS", "MAX_CAMERA_RATIO"]

MAX_PIXELS = 1 << 27  # 134 MP: more than any camera's photos, 1.6 GB as float32 RGB
MAX_CAMERA_RATIO = 2  # a dataset image may be at most this many times its camera's size

_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that exchange width and height


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("splatcore.io.images needs Pillow: pip install pillow") from e
    return Image, ImageOps


def _check_file(path: PathLike) -> str:
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"image file not found: {p!r}")
    return p


def _unreadable(p: str, e: BaseException) -> ValueError:
    return ValueError(f"cannot read image {p!r}: expected a complete image file Pillow can decode "
                      f"(PNG, JPEG, ...), got an error: {type(e).__name__}: {e}")


def _open(p: str):
    Image, _ = _pil()
    try:
        with warnings.catch_warnings():  # the size is checked by check_pixels instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(p)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as e:
        raise _unreadable(p, e) from None


def check_pixels(p: str, im, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse, from the header, an image that would decode to more than max_pixels."""
    w, h = im.size
    if w * h > max_pixels:
        raise ValueError(f"image {p!r} declares {w}x{h} px ({w * h / 1e6:.0f} MP), over the "
                         f"limit of {max_pixels / 1e6:.0f} MP (a decompression bomb, or a photo "
                         f"to downscale first); not decoded")


def _check_finite(p: str, rgb: np.ndarray) -> None:
    """Float images (mode F TIFFs) can hold NaN/inf; name the first such pixel."""
    bad = ~np.isfinite(rgb)
    if bad.any():
        y, x = np.argwhere(bad)[0][:2]
        raise ValueError(f"image {p!r}: expected finite pixel values, got {int(bad.sum())} "
                         f"NaN/inf pixels (first at row {y}, column {x})")


def _orientation(im) -> int:
    try:
        v = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # malformed EXIF: treat as no orientation, the pixels may still be fine
        return 1
    return v if 1 <= v <= 8 else 1


def image_size(path: PathLike, exif_transpose: bool = True) -> Tuple[int, int]:
    """(width, height) from the file header only (after EXIF orientation if asked)."""
    p = _check_file(path)
    with _open(p) as im:
        w, h = im.size
        if exif_transpose and _orientation(im) in _SWAPPING_ORIENTATIONS:
            w, h = h, w
    return int(w), int(h)


def _to_float(im, p: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Pillow image -> (rgb float32 (H,W,3) premultiplied, alpha (H,W) or None)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        g = np.asarray(im, dtype=np.float32)
        g = np.clip(g / 65535.0, 0.0, 1.0)
        return np.repeat(g[:, :, None], 3, axis=2), None
    if mode == "F":
        g = np.asarray(im, dtype=np.float32)
        _check_finite(p, g)
        g = np.clip(g, 0.0, 1.0)
        return np.repeat(g[:, :, None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        a8 = np.asarray(im.convert("RGBA"))
        rgb = a8[:, :, :3].astype(np.float32) * (1.0 / 255.0)
        alpha = a8[:, :, 3].astype(np.float32) * (1.0 / 255.0)
        rgb *= alpha[:, :, None]
        return rgb, alpha
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im).astype(np.float32) * np.float32(1.0 / 255.0), None


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an (H,W) or (H,W,C) float image with an area (box) filter."""
    Image, _ = _pil()
    a = np.asarray(image, dtype=np.float32)
    if a.ndim not in (2, 3):
        raise ValueError(f"resize_image: expected an (H,W) or (H,W,C) array, got shape {a.shape}")
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise ValueError(f"resize_image: size must be positive, got {width}x{height}")
    if (a.shape[1], a.shape[0]) == (width, height):
        return a.copy()
    box = Image.Resampling.BOX
    if a.ndim == 2:
        return np.asarray(Image.fromarray(a, mode="F").resize((width, height), box))
    out = np.empty((height, width, a.shape[2]), np.float32)
    for c in range(a.shape[2]):
        ch = Image.fromarray(np.ascontiguousarray(a[:, :, c]), mode="F")
        out[:, :, c] = np.asarray(ch.resize((width, height), box))
    return out


def load_image(path: PathLike, size: Optional[Tuple[int, int]] = None, *,
               exif_transpose: bool = True, return_alpha: bool = False,
               max_pixels: int = MAX_PIXELS):
    """Load an image as float32 ``(H, W, 3)`` RGB in [0, 1].

    ``size=(width, height)`` resizes with an area filter. Transparent pixels are
    composited on black; with ``return_alpha=True`` returns ``(rgb, alpha)`` where
    alpha is ``(H, W)`` float32 or None for opaque images. An image that
    declares more than ``max_pixels`` pixels is refused before decoding.
    """
    Image, ImageOps = _pil()
    p = _check_file(path)
    im = _open(p)
    try:
        with im:
            check_pixels(p, im, max_pixels)
            im.load()
            if exif_transpose:
                im = ImageOps.exif_transpose(im)
            rgb, alpha = _to_float(im, p)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as e:
        raise _unreadable(p, e) from None
    if size is not None:
        w, h = size
        rgb = resize_image(rgb, w, h)
        if alpha is not None:
            alpha = resize_image(alpha, w, h)
    return (rgb, alpha) if return_alpha else rgb


def downscaled_size(width: int, height: int, factor: int) -> Tuple[int, int]:
    """Size of an image downscaled by ``factor``: ``round(W / f) x round(H / f)`` (at least 1)."""
    return max(1, int(round(width / factor))), max(1, int(round(height / factor)))


def _check_factor(downscale) -> int:
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer (1, 2, 4, 8, ...), got {downscale!r}")
    return int(downscale)


@dataclass(frozen=True)
class ImageSource:
    """Where and how to load one dataset image (decided from file headers only).

    ``path`` is the file read, ``exif_transpose`` whether its EXIF orientation is
    applied, ``resize_to`` the (w, h) to resize to (None: use as is), and ``camera``
    the intrinsics for the final ``camera.width x camera.height`` image.
    """
    path: str
    exif_transpose: bool
    resize_to: Optional[Tuple[int, int]]
    camera: Camera

    @property
    def size(self) -> Tuple[int, int]:
        return self.camera.width, self.camera.height


def check_image_name(name: str, where: str) -> str:
    """An image name from a COLMAP model must stay inside the image folder: no
    absolute path, drive or '..' component (as POSIX or Windows paths), no NUL."""
    from pathlib import PurePosixPath, PureWindowsPath

    bad = ("\0" in name or not name or any(
        pp.is_absolute() or pp.drive or pp.anchor or ".." in pp.parts
        for pp in (PurePosixPath(name), PureWindowsPath(name))))
    if bad:
        raise ValueError(f"{where}: image name {name!r} points outside the image folder "
                         f"(absolute, or with '..'); expected a path relative to images/")
    return name


def _aspect_ok(w: int, h: int, ref_w: float, ref_h: float) -> bool:
    tol = 1.0 / w + 1.0 / h + 0.01
    return abs((w / h) / (ref_w / ref_h) - 1.0) <= tol


def resolve_image(root: PathLike, name: str, camera: Camera, downscale: int = 1,
                  images_dir: str = "images") -> ImageSource:
    """Decide how to load image ``name`` of a dataset folder ``root`` for ``camera``.

    Uses ``root/{images_dir}_{downscale}/name`` when ``downscale > 1`` and that file
    exists, else ``root/{images_dir}/name`` resized. EXIF orientation is applied
    unless only the un-rotated pixels match the camera's aspect ratio (COLMAP itself
    ignores EXIF orientation, so its cameras describe the stored pixels). A file
    whose aspect ratio matches the camera neither way raises ValueError.
    """
    f = _check_factor(downscale)
    root = Path(root)
    check_image_name(name, os.fspath(root))
    full = root / images_dir / name
    path, prescaled = full, False
    if f > 1:
        cand = root / f"{images_dir}_{f}" / name
        if cand.is_file():
            path, prescaled = cand, True
    p = _check_file(path)
    with _open(p) as im:
        raw_w, raw_h = im.size
        orient = _orientation(im)
        check_pixels(p, im)
    lim_w, lim_h = MAX_CAMERA_RATIO * camera.width + 1, MAX_CAMERA_RATIO * camera.height + 1
    if max(raw_w, raw_h) > max(lim_w, lim_h) or raw_w * raw_h > lim_w * lim_h:
        raise ValueError(f"image {p!r} declares {raw_w}x{raw_h} px, more than {MAX_CAMERA_RATIO}x "
                         f"the {camera.width}x{camera.height} px of its COLMAP camera "
                         f"{camera.id}; not decoded (is it the right file?)")
    swap = orient in _SWAPPING_ORIENTATIONS
    rot_w, rot_h = (raw_h, raw_w) if swap else (raw_w, raw_h)
    if _aspect_ok(rot_w, rot_h, camera.width, camera.height):
        transpose, w, h = True, rot_w, rot_h
    elif swap and _aspect_ok(raw_w, raw_h, camera.width, camera.height):
        transpose, w, h = False, raw_w, raw_h
    else:
        raise ValueError(f"image {p!r} is {rot_w}x{rot_h} px (EXIF orientation {orient}), which "
                         f"does not match the aspect ratio of COLMAP camera {camera.id} "
                         f"({camera.width}x{camera.height}); is it the right file?")
    resize_to = None
    if f > 1 and not prescaled:
        resize_to = downscaled_size(w, h, f)
        w, h = resize_to
    return ImageSource(p, transpose, resize_to, camera.scaled(w, h))


def load_source(src: ImageSource) -> np.ndarray:
    """Load the pixels an :class:`ImageSource` describes: float32 (H, W, 3)."""
    img = load_image(src.path, src.resize_to, exif_transpose=src.exif_transpose)
    if (img.shape[1], img.shape[0]) != src.size:
        raise ValueError(f"image {src.path!r} changed on disk: expected {src.size[0]}x{src.size[1]} "
                         f"px, got {img.shape[1]}x{img.shape[0]}")
    return img


def load_image_for_camera(root: PathLike, name: str, camera: Camera, downscale: int = 1,
                          images_dir: str = "images") -> Tuple[np.ndarray, Camera]:
    """Load dataset image ``name`` at ``1/downscale`` resolution; returns
    ``(image (H,W,3) float32, camera scaled to W x H)``."""
    src = resolve_image(root, name, camera, downscale, images_dir)
    return load_source(src), src.camera


def save_png(path: PathLike, image: np.ndarray) -> None:
    """Writes an (H,W,3) or (H,W) float image in [0,1] (clipped) as an 8-bit PNG,
    atomically (temporary file + rename). Creates the parent folder."""
    from .atomic import atomic_write

    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"save_png: image must be (H,W), (H,W,1), (H,W,3) or (H,W,4), got {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    Image, _ = _pil()
    im = Image.fromarray(np.ascontiguousarray(a))
    with atomic_write(path, "wb") as f:
        im.save(f, format="PNG")
