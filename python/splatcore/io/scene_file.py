"""Splat scene files by name: 3DGS ``.ply``, Niantic ``.spz``, antimatter15 ``.splat``."""
from __future__ import annotations

import os
from typing import Optional

from .ply import SplatData

__all__ = ["SCENE_FORMATS", "scene_format", "read_scene", "write_scene"]

SCENE_FORMATS = ("ply", "spz", "splat")


def scene_format(path, fmt: Optional[str] = None, fn: str = "read_scene") -> str:
    """The scene format from `fmt` or from the file name's extension."""
    if fmt is not None:
        if fmt not in SCENE_FORMATS:
            raise ValueError(f"{fn}: format must be one of {', '.join(SCENE_FORMATS)}, got {fmt!r}")
        return fmt
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in SCENE_FORMATS:
        raise ValueError(f"{fn}: cannot tell the splat format from {os.fspath(path)!r}: expected "
                         f"a .ply, .spz or .splat name")
    return ext


def read_scene(path, fmt: Optional[str] = None) -> SplatData:
    """Read a splat scene (float32 :class:`SplatData`, splatcore's axes)."""
    f = scene_format(path, fmt)
    if f == "ply":
        from .ply import read_splat_ply

        return read_splat_ply(path)
    if f == "spz":
        from .spz import read_spz

        return read_spz(path)
    from .splat_format import read_splat

    return read_splat(path)


def write_scene(path, scene, fmt: Optional[str] = None) -> int:
    """Write a scene (SplatData, Gaussians or dict) in the format its name (or `fmt`)
    says, atomically; returns the file size in bytes."""
    f = scene_format(path, fmt, "write_scene")
    if f == "spz":
        from .spz import write_spz

        return write_spz(path, scene)
    if f == "splat":
        from .splat_format import write_splat

        return write_splat(path, scene)
    from .ply import write_splat_ply
    from .splat_common import as_splat_data

    s = as_splat_data(scene, "write_scene")
    write_splat_ply(path, *s)
    return os.path.getsize(path)
