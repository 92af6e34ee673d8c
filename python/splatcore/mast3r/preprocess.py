"""Image preprocessing for MASt3R, as the original ``dust3r.utils.image.load_images``.

For each image (path, PIL image or array):

1. ``PIL.ImageOps.exif_transpose`` (files and PIL images; arrays have no EXIF),
   then ``.convert("RGB")`` (an alpha channel is dropped, not
   composited; palette / greyscale images expand to RGB);
2. resize so that the long side is ``size`` (512): LANCZOS when shrinking,
   BICUBIC otherwise (also when the long side already is ``size``), to
   ``(int(round(W * size / S)), int(round(H * size / S)))`` with ``S = max(W, H)``
   (Python's round, half to even). For ``size == 224`` the *short* side goes to
   224 instead (the long side to ``round(224 * max(W/H, H/W))``);
3. centre crop: ``cx, cy = W // 2, H // 2`` of the resized image,
   ``halfw, halfh = ((2 * cx) // 16) * 8, ((2 * cy) // 16) * 8`` so both sides are
   multiples of 16, and a square image is cut to 4:3 landscape
   (``halfh = 3 * halfw / 4``) unless ``square_ok``; box
   ``(cx - halfw, cy - halfh, cx + halfw, cy + halfh)``. For ``size == 224`` a
   centred square of half-side ``min(cx, cy)``;
4. normalise: ``(x / 255 - 0.5) / 0.5`` in float32 (torchvision's ToTensor +
   Normalize(0.5, 0.5)).

Each image comes back as a :class:`PreprocessedImage`: the (H, W, 3) float32 array
the model takes, its ``true_shape`` (H, W), and the geometry that maps its pixels
back to the original photo (for intrinsics).

Differences with the original: an explicit list of paths is read as given (the
original silently skips names without a .jpg/.jpeg/.png extension; a folder is
still filtered like that, plus .heic/.heif when ``pillow_heif`` is installed); the
arrays are (H, W, 3) instead of (1, 3, H, W) tensors; unreadable files raise
ValueError naming the file (missing ones FileNotFoundError).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..io.images import check_pixels

__all__ = ["PreprocessedImage", "preprocess", "load_images", "IMAGE_EXTENSIONS"]

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # the original's list (+ .heic/.heif with pillow_heif)


@dataclass
class PreprocessedImage:
    """One image as MASt3R takes it, and how it came from the original.

    Coordinates are continuous pixel coordinates with pixel (i, j) covering
    ``[j, j + 1) x [i, i + 1)`` (its centre at ``(j + 0.5, i + 0.5)``, the
    convention of COLMAP / OpenCV intrinsics used elsewhere in splatcore).
    """

    img: np.ndarray                    #: (H, W, 3) float32 in [-1, 1]
    true_shape: Tuple[int, int]        #: (H, W) of ``img``
    orig_shape: Tuple[int, int]        #: (H, W) of the original, after the EXIF rotation
    resized_shape: Tuple[int, int]     #: (H, W) after the resize, before the crop
    crop: Tuple[int, int, int, int]    #: (x0, y0, x1, y1) box cut from the resized image
    path: Optional[str] = None         #: the file read, when there was one
    index: int = 0                     #: position in the list given to load_images
    exif_transposed: bool = field(default=False)  #: whether an EXIF orientation was applied

    @property
    def scale(self) -> Tuple[float, float]:
        """(sx, sy): resized pixels per original pixel along x and y (they differ
        slightly because each side is rounded on its own)."""
        return (self.resized_shape[1] / self.orig_shape[1], self.resized_shape[0] / self.orig_shape[0])

    def to_original(self, xy: Any) -> np.ndarray:
        """Map points (..., 2) = (x, y) in ``img`` pixel coordinates to the original
        image (after its EXIF rotation): ``x_orig = (x + x0) / sx``."""
        p = np.asarray(xy, dtype=np.float64)
        sx, sy = self.scale
        out = np.empty(p.shape, dtype=np.float64)
        out[..., 0] = (p[..., 0] + self.crop[0]) / sx
        out[..., 1] = (p[..., 1] + self.crop[1]) / sy
        return out

    def from_original(self, xy: Any) -> np.ndarray:
        """The inverse of :meth:`to_original`."""
        p = np.asarray(xy, dtype=np.float64)
        sx, sy = self.scale
        out = np.empty(p.shape, dtype=np.float64)
        out[..., 0] = p[..., 0] * sx - self.crop[0]
        out[..., 1] = p[..., 1] * sy - self.crop[1]
        return out

    def intrinsics_to_original(self, K: Any) -> np.ndarray:
        """A pinhole K (3, 3) of ``img`` as the K of the original image."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"intrinsics_to_original: K must be (3, 3), got {K.shape}")
        sx, sy = self.scale
        out = K.copy()
        out[0, 0], out[0, 1], out[0, 2] = K[0, 0] / sx, K[0, 1] / sx, (K[0, 2] + self.crop[0]) / sx
        out[1, 1], out[1, 2] = K[1, 1] / sy, (K[1, 2] + self.crop[1]) / sy
        return out

    # dust3r's dict form, for code written against the original
    def as_dust3r(self) -> dict:
        """``{"img": (1, 3, H, W) float32, "true_shape": int32 [[H, W]], "idx", "instance"}``."""
        return {"img": np.ascontiguousarray(self.img.transpose(2, 0, 1)[None]),
                "true_shape": np.int32([self.true_shape]), "idx": self.index,
                "instance": str(self.index)}


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError as e:  # pragma: no cover - Pillow is a dependency
        raise ImportError("splatcore.mast3r.preprocess needs Pillow: pip install pillow") from e
    return Image, ImageOps


def _heif_extensions() -> Tuple[str, ...]:
    try:
        from pillow_heif import register_heif_opener  # noqa: F401
    except ImportError:
        return ()
    register_heif_opener()
    return (".heic", ".heif")


def _open_file(path: PathLike):
    """The image at ``path``, EXIF-transposed, fully decoded; errors name the file."""
    Image, ImageOps = _pil()
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"image file not found: {p!r}")
    if p.lower().endswith((".heic", ".heif")):
        _heif_extensions()
    try:
        with Image.open(p) as im:
            check_pixels(p, im)  # a decompression bomb is refused before decoding
            im.load()
            return _exif_transpose(im)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image {p!r}: expected an image file Pillow can decode "
                         f"(JPEG, PNG, ...), got {type(e).__name__}: {e}") from None


def _exif_transpose(im):
    """(the image with its EXIF orientation applied, whether it changed anything)."""
    _, ImageOps = _pil()
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001  (a broken EXIF block: Pillow's transpose decides)
        orientation = 0
    out = ImageOps.exif_transpose(im)
    if out is None:  # Pillow < 9.4 with in_place semantics never returns None; be safe
        out = im
    return (out if out is not im else im.copy()), orientation not in (0, 1)


def _as_pil(img: Any, name: str):
    """A PIL image from an array (uint8 0..255, or float in [0, 1]) or a PIL image."""
    Image, _ = _pil()
    if isinstance(img, Image.Image):
        return img
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1):
                raise ValueError(f"{name}: float images must be RGB in [0, 1] (got values outside); "
                                 "pass uint8 for 0..255 data")
            a = np.clip(np.round(np.nan_to_num(a) * 255.0), 0, 255).astype(np.uint8)
        else:
            raise TypeError(f"{name}: expected a uint8 or float image, got dtype {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))


def _resize_long_side(im, long_edge: int):
    Image, _ = _pil()
    W, H = im.size
    S = max(W, H)
    interp = Image.LANCZOS if S > long_edge else Image.BICUBIC
    new_size = tuple(int(round(x * long_edge / S)) for x in (W, H))
    return im.resize(new_size, interp)


def preprocess(img_or_path: Any, size: int = 512, square_ok: bool = False) -> PreprocessedImage:
    """One image (a path, a PIL image or an (H, W, 3) uint8 / [0, 1] float array)
    as MASt3R takes it: see the module docstring for the exact rule (dust3r's
    ``load_images``). Paths get their EXIF orientation applied."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"preprocess: size must be an int >= 16 (512 for MASt3R), got {size!r}")
    size = int(size)
    path = None
    transposed = False
    if isinstance(img_or_path, (str, os.PathLike)):
        path = os.fspath(img_or_path)
        im, transposed = _open_file(path)
    else:
        im, transposed = _exif_transpose(_as_pil(img_or_path, "img"))
    im = im.convert("RGB")
    W1, H1 = im.size
    if W1 < 1 or H1 < 1:
        raise ValueError(f"{path or 'img'}: empty image ({W1}x{H1})")
    if size == 224:
        im = _resize_long_side(im, round(size * max(W1 / H1, H1 / W1)))
    else:
        im = _resize_long_side(im, size)
    W, H = im.size
    cx, cy = W // 2, H // 2
    if size == 224:
        half = min(cx, cy)
        box = (cx - half, cy - half, cx + half, cy + half)
    else:
        halfw, halfh = ((2 * cx) // 16) * 8, ((2 * cy) // 16) * 8
        if not square_ok and W == H:
            halfh = 3 * halfw / 4
        box = tuple(int(round(v)) for v in (cx - halfw, cy - halfh, cx + halfw, cy + halfh))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"{path or 'img'}: image of {W1}x{H1} is too small for MASt3R at size {size} "
                         f"(resized to {W}x{H}, nothing left after cropping to multiples of 16)")
    im = im.crop(box)
    a = np.asarray(im, dtype=np.uint8)
    x = (a.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return PreprocessedImage(img=np.ascontiguousarray(x, dtype=np.float32),
                             true_shape=(a.shape[0], a.shape[1]), orig_shape=(H1, W1),
                             resized_shape=(H, W), crop=box, path=path,
                             exif_transposed=transposed)


def load_images(paths_or_folder: Union[PathLike, Sequence[Any]], size: int = 512,
                square_ok: bool = False) -> List[PreprocessedImage]:
    """:func:`preprocess` for a folder (its .jpg / .jpeg / .png files in sorted
    order, as the original) or a list of paths / images (read as given)."""
    if isinstance(paths_or_folder, (str, os.PathLike)):
        root = Path(os.fspath(paths_or_folder))
        if not root.exists():
            raise FileNotFoundError(f"load_images: no such folder or file: {os.fspath(root)!r}")
        if root.is_dir():
            exts = IMAGE_EXTENSIONS + _heif_extensions()
            items: List[Any] = [str(root / n) for n in sorted(os.listdir(root))
                                if n.lower().endswith(exts) and (root / n).is_file()]
            if not items:
                raise ValueError(f"load_images: no images ({', '.join(exts)}) found in {os.fspath(root)!r}")
        else:
            items = [str(root)]
    else:
        items = list(paths_or_folder)
        if not items:
            raise ValueError("load_images: the list of images is empty")
    out = []
    for i, it in enumerate(items):
        r = preprocess(it, size=size, square_ok=square_ok)
        r.index = i
        out.append(r)
    return out
