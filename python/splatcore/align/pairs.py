"""Scene graphs: which image pairs go through MASt3R before the global alignment.

The graph names and their meaning follow DUSt3R's ``make_pairs``:

* ``complete``: every unordered pair {i, j}.
* ``swin-W``: each image with the next W images (a sliding window), cyclic by
  default (the last images pair with the first ones, an explicit loop closure);
  ``swin-W-noncyclic`` stops at the ends. ``swin`` alone means W = 3.
* ``logwin-W``: each image with the images 1, 2, 4, ..., 2^(W-1) steps before and
  after it, cyclic unless ``-noncyclic``. ``logwin`` alone means W = 3.
* ``oneref-K``: image K (0 by default) with every other image.

``symmetrize=True`` (the default, as in DUSt3R) adds (j, i) for every (i, j), so
every image is the first view (its own camera frame) of some pair: the alignment
then reads each image's focal and depth from its own pointmap.
"""
from __future__ import annotations

import re
from typing import List, Tuple

__all__ = ["make_pairs", "default_scene_graph", "parse_scene_graph", "SCENE_GRAPHS"]

SCENE_GRAPHS = ("complete", "swin", "logwin", "oneref")

#: Up to this many images the default graph is ``complete`` (n (n - 1) ordered
#: pairs: 132 for 12 images); above it, ``logwin-3`` (6 n ordered pairs: 600 for
#: 100 images), which links every image to neighbours 1, 2 and 4 steps away on
#: both sides and closes the loop.
COMPLETE_UP_TO = 12

_GRAPH_RE = re.compile(r"^(complete|swin|logwin|oneref)(?:-(\d+))?(-noncyclic)?$")


def parse_scene_graph(scene_graph: str) -> Tuple[str, int, bool]:
    """``(kind, parameter, cyclic)`` of a scene-graph name; ValueError when malformed."""
    if not isinstance(scene_graph, str):
        raise TypeError(f"scene_graph: expected a str, got {type(scene_graph).__name__}")
    m = _GRAPH_RE.match(scene_graph.strip())
    if not m:
        raise ValueError(f"scene_graph: expected 'complete', 'swin-W', 'swin-W-noncyclic', "
                         f"'logwin-W', 'logwin-W-noncyclic' or 'oneref-K', got {scene_graph!r}")
    kind, num, noncyc = m.group(1), m.group(2), m.group(3)
    if kind == "complete" and (num or noncyc):
        raise ValueError(f"scene_graph: 'complete' takes no parameter, got {scene_graph!r}")
    if kind == "oneref" and noncyc:
        raise ValueError(f"scene_graph: 'oneref-K' has no cyclic variant, got {scene_graph!r}")
    default = 0 if kind == "oneref" else 3
    value = int(num) if num is not None else default
    if kind in ("swin", "logwin") and value < 1:
        raise ValueError(f"scene_graph: the window of {kind!r} must be >= 1, got {value}")
    return kind, value, noncyc is None


def make_pairs(n: int, scene_graph: str = "complete", symmetrize: bool = True) -> List[Tuple[int, int]]:
    """Ordered image pairs (i, j) for ``n`` images under ``scene_graph``.

    Each unordered pair appears once as (i, j) with i < j, in a fixed order, then
    (with ``symmetrize``) the reversed pairs follow in the same order. One image
    gives ``[(0, 0)]``: MASt3R runs on the image paired with itself (as DUSt3R
    does for a single image) and the alignment reads its pointmap directly."""
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            import numpy as np
            if isinstance(n, np.integer):
                n = int(n)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"n: expected an int (number of images), got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n: expected at least one image, got {n}")
    kind, value, cyclic = parse_scene_graph(scene_graph)
    if n == 1:
        return [(0, 0)]
    und = set()
    if kind == "complete":
        und = {(i, j) for i in range(n) for j in range(i + 1, n)}
    elif kind == "swin":
        for i in range(n):
            for k in range(1, value + 1):
                j = i + k
                if cyclic:
                    j %= n
                if j >= n or j == i:
                    continue
                und.add((min(i, j), max(i, j)))
    elif kind == "logwin":
        offsets = [2 ** k for k in range(value)]
        for i in range(n):
            for off in offsets:
                for j in (i - off, i + off):
                    if cyclic:
                        j %= n
                    if j < 0 or j >= n or j == i:
                        continue
                    und.add((min(i, j), max(i, j)))
    else:  # oneref
        if not 0 <= value < n:
            raise ValueError(f"scene_graph: reference image {value} of {scene_graph!r} is out of "
                             f"range for {n} images")
        und = {(min(value, j), max(value, j)) for j in range(n) if j != value}
    pairs = sorted(und)
    if kind == "oneref":  # the reference is the first view, as in DUSt3R
        pairs = [(value, j if i == value else i) for i, j in pairs]
    if symmetrize:
        pairs = pairs + [(j, i) for i, j in pairs]
    return pairs


def default_scene_graph(n: int) -> str:
    """The graph used when none is given: ``complete`` up to 12 images, ``logwin-3``
    (cyclic) above, so the number of pairs grows linearly (600 ordered pairs for
    100 photos instead of 9900)."""
    if n < 1:
        raise ValueError(f"n: expected at least one image, got {n}")
    return "complete" if n <= COMPLETE_UP_TO else "logwin-3"
