"""A COLMAP dataset folder (``images/`` + ``sparse/0``) as an indexable set of views.

Layout expected (3D Gaussian Splatting convention)::

    root/images/<name>            full-resolution, undistorted photos
    root/images_2/<name> ...      optional pre-downscaled copies (used when present)
    root/sparse/0/{cameras,images,points3D}.{bin,txt}   (or root/sparse/)

Views are sorted by image name. The standard held-out split puts indices
0, holdout_every, 2*holdout_every, ... (of the name-sorted list) in ``"test"`` and
the rest in ``"train"``; ``"all"`` keeps every view.

Images are loaded lazily and kept in an LRU cache bounded by ``max_cache_bytes``
(the returned arrays are read-only views of the cached data: copy before editing).
"""
from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from .colmap import Camera, ColmapModel, Image, Points, read_model
from .images import ImageSource, _check_factor, check_image_name, load_source, resolve_image

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["ColmapDataset", "DatasetItem", "split_indices"]

_SPLITS = ("train", "test", "all")


def split_indices(n: int, split: str = "train", holdout_every: Optional[int] = 8) -> List[int]:
    """Indices (into the name-sorted list of ``n`` views) of ``split``.

    ``"test"`` = ``0, holdout_every, 2*holdout_every, ...``; ``"train"`` = the others;
    ``"all"`` = everything. ``holdout_every=None`` (or 0) holds nothing out.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if holdout_every is not None and (isinstance(holdout_every, bool)
                                      or not isinstance(holdout_every, (int, np.integer))
                                      or holdout_every < 0):
        raise ValueError(f"holdout_every must be a non-negative integer or None, got {holdout_every!r}")
    if split == "all":
        return list(range(n))
    if not holdout_every:
        return list(range(n)) if split == "train" else []
    if split == "test":
        return list(range(0, n, int(holdout_every)))
    return [i for i in range(n) if i % holdout_every]


@dataclass(frozen=True)
class DatasetItem:
    """One view. Also readable as a mapping: ``item["image"]``."""
    index: int
    name: str
    image: np.ndarray       # (H, W, 3) float32 in [0, 1], read-only
    viewmat: np.ndarray     # (4, 4) float32 world-to-camera
    K: np.ndarray           # (3, 3) float32 intrinsics for this image size
    width: int
    height: int
    image_id: int
    camera_id: int

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return list(self.__dataclass_fields__)


class ColmapDataset:
    """Views of a COLMAP dataset folder, with lazily loaded, LRU-cached images.

    Parameters
    ----------
    path: dataset folder (holding ``images/`` and ``sparse/0`` or ``sparse/``).
    downscale: integer factor (1, 2, 4, 8, ...); uses ``images_{downscale}/`` when
        it has the image, else resizes with an area filter. Intrinsics follow.
    split: ``"train"``, ``"test"`` or ``"all"``.
    holdout_every: every this-many-th view (from index 0) is a test view; None/0: none.
    max_cache_bytes: budget of the image cache in bytes (default 2 GiB; 0 disables
        caching). An image larger than the budget is returned but not cached.
    images_dir: name of the photo folder inside ``path``.
    """

    def __init__(self, path: PathLike, downscale: int = 1, split: str = "train",
                 holdout_every: Optional[int] = 8, max_cache_bytes: int = 2 << 30,
                 images_dir: str = "images"):
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"ColmapDataset: dataset folder not found: {os.fspath(path)!r}")
        if isinstance(max_cache_bytes, bool) or not isinstance(max_cache_bytes, (int, np.integer)) \
                or max_cache_bytes < 0:
            raise ValueError(f"ColmapDataset: max_cache_bytes must be a non-negative integer, "
                             f"got {max_cache_bytes!r}")
        downscale = _check_factor(downscale)
        split_indices(0, split, holdout_every)  # validates both arguments early
        img_root = root / images_dir
        if not img_root.is_dir():
            raise FileNotFoundError(f"ColmapDataset: no image folder {os.fspath(img_root)!r} "
                                    f"(expected the photos in {images_dir}/ next to sparse/)")
        try:
            model = read_model(root)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"ColmapDataset: {e}") from None
        if not model.images:
            raise ValueError(f"ColmapDataset: the COLMAP model in {os.fspath(model.path)!r} has "
                             f"no registered images")
        ordered = model.sorted_images()
        names = [im.name for im in ordered]
        images_file = os.fspath(model.path / "images.*")
        for n in names:
            check_image_name(n, images_file)
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"ColmapDataset: image names appear more than once in the model: {dup[:5]}")
        missing = [n for n in names if not (img_root / n).is_file()]
        if missing:
            if len(missing) == len(names):
                raise FileNotFoundError(
                    f"ColmapDataset: none of the {len(names)} images of the COLMAP model are in "
                    f"{os.fspath(img_root)!r} (first expected: {names[0]!r})")
            raise FileNotFoundError(
                f"ColmapDataset: {len(missing)} of {len(names)} images of the COLMAP model are "
                f"missing from {os.fspath(img_root)!r}: {missing[:5]}")

        self.root = root
        self.model: ColmapModel = model
        self.downscale = downscale
        self.split = split
        self.holdout_every = holdout_every
        self.max_cache_bytes = int(max_cache_bytes)
        self.indices = split_indices(len(ordered), split, holdout_every)  # into the sorted list
        self._images: List[Image] = [ordered[i] for i in self.indices]
        self._sources: List[ImageSource] = [
            resolve_image(root, im.name, model.cameras[im.camera_id], downscale, images_dir)
            for im in self._images]
        self.names = [im.name for im in self._images]
        self.cameras: List[Camera] = [s.camera for s in self._sources]
        n = len(self._images)
        self.viewmats = np.stack([im.viewmat for im in self._images]).astype(np.float32) \
            if n else np.zeros((0, 4, 4), np.float32)
        self.Ks = np.stack([c.K for c in self.cameras]).astype(np.float32) \
            if n else np.zeros((0, 3, 3), np.float32)
        for a in (self.viewmats, self.Ks):
            a.flags.writeable = False
        self._cache: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    # ----------------------------------------------------------------- metadata
    def __len__(self) -> int:
        return len(self._images)

    @property
    def points(self) -> Points:
        """The sparse COLMAP point cloud (all points, whatever the split)."""
        return self.model.points

    @property
    def sizes(self) -> List[tuple]:
        """(width, height) of each view's image, known without loading pixels."""
        return [(c.width, c.height) for c in self.cameras]

    def camera_centers(self) -> np.ndarray:
        """(N, 3) float64 camera centres of this split's views."""
        if not self._images:
            return np.zeros((0, 3))
        return np.stack([im.camera_center for im in self._images])

    def scene_extent(self) -> float:
        """The 3DGS "cameras extent": 1.1 x the largest distance of this split's camera
        centres from their mean (3DGS computes it on the train cameras). Returns 1.0
        when all centres coincide (e.g. a single view), to keep learning rates finite."""
        c = self.camera_centers()
        if len(c) == 0:
            return 1.0
        r = float(np.max(np.linalg.norm(c - c.mean(axis=0), axis=1))) * 1.1
        return r if r > 0 else 1.0

    # ----------------------------------------------------------------- images
    @property
    def cache_bytes(self) -> int:
        """Bytes currently held by the image cache."""
        return self._cache_bytes

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_bytes = 0

    def load_image(self, i: int) -> np.ndarray:
        """Image of view ``i`` (H, W, 3) float32, through the LRU cache (read-only)."""
        i = self._index(i)
        with self._lock:
            img = self._cache.get(i)
            if img is not None:
                self._cache.move_to_end(i)
                self.cache_hits += 1
                return img
            self.cache_misses += 1
        img = load_source(self._sources[i])  # outside the lock: decoding is slow
        img.flags.writeable = False
        if img.nbytes <= self.max_cache_bytes:
            with self._lock:
                if i not in self._cache:
                    self._cache[i] = img
                    self._cache_bytes += img.nbytes
                while self._cache_bytes > self.max_cache_bytes:
                    _, old = self._cache.popitem(last=False)
                    self._cache_bytes -= old.nbytes
        return img

    def _index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"ColmapDataset index must be an integer, got {type(i).__name__}")
        n = len(self._images)
        if not -n <= i < n:
            raise IndexError(f"ColmapDataset index {i} out of range for {n} views ({self.split} split)")
        return int(i) % n

    def __getitem__(self, i) -> DatasetItem:
        i = self._index(i)
        im, cam = self._images[i], self.cameras[i]
        return DatasetItem(index=i, name=im.name, image=self.load_image(i),
                           viewmat=self.viewmats[i], K=self.Ks[i], width=cam.width,
                           height=cam.height, image_id=im.id, camera_id=im.camera_id)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return (f"ColmapDataset({os.fspath(self.root)!r}, split={self.split!r}, views={len(self)}, "
                f"downscale={self.downscale}, points={len(self.points)})")
