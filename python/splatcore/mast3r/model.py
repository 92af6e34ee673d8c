"""MASt3R inference on splatcore's C++ core: :class:`Model`.

A thin wrapper over ``splatcore._core._Mast3rModel`` (cpp/mast3r/): the
encoder (ViT with 2-D RoPE), the two cross-attending decoders, the DPT head
(``pts3d`` + ``conf``) and the local-feature head (``desc`` + ``desc_conf``)
all run in C++, without the GIL.

    from splatcore.mast3r import Model
    model = Model.from_weights("model.safetensors")          # the official checkpoint
    view1, view2 = model.infer_pair(rgb1_uint8, rgb2_uint8)  # (H, W, 3) images, H, W multiples of 16
    view1["pts3d"], view1["conf"], view1["desc"], view1["desc_conf"]
    view2["pts3d_in_other_view"], ...                        # view 2's points in view 1's frame

Images are not resized here: both sides must be multiples of the patch size
(16); landscape and portrait both go through as they are (no transposition),
as the official loader does with ``landscape_only=False``.
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from .. import _core

__all__ = ["Model", "normalize_image", "load_config"]

PathLike = Union[str, "os.PathLike[str]"]

# Postprocess modes of the main checkpoint (MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric).
_DEFAULTS: Dict[str, Any] = {
    "pos_embed": "RoPE100",
    "depth_mode": ["exp", float("-inf"), float("inf")],
    "conf_mode": ["exp", 1, float("inf")],
    "desc_conf_mode": ["exp", 0, float("inf")],
    "two_confs": True,
}


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------
def normalize_image(img: Any) -> np.ndarray:
    """An RGB image -> float32 (H, W, 3) in [-1, 1], as MASt3R's ImgNorm
    ((x - 0.5) / 0.5 of x in [0, 1]).

    Accepts uint8 (0..255), uint16 (0..65535), bool, or float arrays already in
    [0, 1]; (H, W) grayscale is repeated to 3 channels, an alpha channel dropped.
    Anything array-like works (a PIL image included).
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"normalize_image: expected an (H, W, 3) RGB image, got shape {a.shape}")
    a = a[:, :, :3]
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / np.float32(255.0)
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / np.float32(65535.0)
    elif a.dtype == np.bool_:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32)
    else:
        raise TypeError(f"normalize_image: unsupported dtype {a.dtype} (expected uint8, uint16 or float)")
    return np.ascontiguousarray((x - np.float32(0.5)) / np.float32(0.5), dtype=np.float32)


# ---------------------------------------------------------------------------
# config and weights
# ---------------------------------------------------------------------------
def load_config(config: Any) -> Dict[str, Any]:
    """A model config from a dict or a JSON file; a ``{"config": {...}}``
    wrapper (as in the golden ``config.json`` and the checkpoint manifest) is
    unwrapped."""
    if config is None:
        return {}
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as f:
            config = json.load(f)
    if not isinstance(config, Mapping):
        raise TypeError(f"Model: config must be a dict or a path to a JSON file, got {type(config).__name__}")
    if "config" in config and isinstance(config["config"], Mapping):
        config = config["config"]
    return dict(config)


_NP_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": np.uint16,
              "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def _numpy_safetensors(path: PathLike) -> Dict[str, np.ndarray]:
    """A minimal safetensors reader (used only when splatcore.mast3r.weights is
    not available): memory-mapped, bounds-checked, bfloat16 widened to float32."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"Model: weights file not found: {path}")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if raw.size < 8:
        raise ValueError(f"Model: {path} is not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8].tobytes())
    if n > raw.size - 8:
        raise ValueError(f"Model: {path} is not a safetensors file (header length {n} beyond the file)")
    try:
        header = json.loads(raw[8:8 + n].tobytes())
    except ValueError as e:
        raise ValueError(f"Model: {path} is not a safetensors file ({e})") from None
    base, out = 8 + n, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _NP_DTYPES.get(info.get("dtype"))
        if dt is None:
            raise ValueError(f"Model: tensor '{name}' has unsupported dtype {info.get('dtype')!r}")
        a, b = info["data_offsets"]
        shape = tuple(int(s) for s in info["shape"])
        if not (0 <= a <= b <= raw.size - base) or (b - a) != int(np.prod(shape)) * np.dtype(dt).itemsize:
            raise ValueError(f"Model: tensor '{name}' has bad data offsets {a}..{b}")
        arr = raw[base + a:base + b].view(dt).reshape(shape)
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


def _load_weights_file(path: PathLike) -> Mapping[str, Any]:
    try:
        from .weights import load_weights  # the project's reader (memory-mapped, checked)
    except ImportError:
        return _numpy_safetensors(path)
    return load_weights(path)


def _mode(value: Any, name: str) -> Tuple[str, float, float]:
    if isinstance(value, str):  # a bare mode name keeps the default bounds
        value = [value, *_DEFAULTS[name][1:]]
    try:
        mode, vmin, vmax = value
    except (TypeError, ValueError):
        raise ValueError(f"Model: {name} must be (mode, vmin, vmax), got {value!r}") from None
    return str(mode), float(vmin), float(vmax)


def _rope_base(pos_embed: str) -> float:
    m = re.fullmatch(r"RoPE(\d+(?:\.\d+)?)", str(pos_embed))
    if not m:
        raise ValueError(f"Model: pos_embed {pos_embed!r} is not supported (expected 'RoPE<base>', e.g. 'RoPE100')")
    return float(m.group(1))


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
class Model:
    """MASt3R (``AsymmetricMASt3R``, head ``catmlp+dpt``) inference, float32 on the CPU.

    Build it with :meth:`from_weights`. Every width and depth comes from the
    weights; the head counts from the config (``enc_num_heads``,
    ``dec_num_heads``), else ``num_heads``, else embedding dim / 64 (right for
    the official ViT-L / ViT-B checkpoint).
    """

    def __init__(self, core: "_core._Mast3rModel", config: Mapping[str, Any]):
        self._core = core
        self.config = dict(config)
        #: wall time in ms of each stage of the last call: encoder, decoder, head1, head2, total
        self.last_timings: Dict[str, float] = {}

    @classmethod
    def from_weights(cls, weights: Union[PathLike, Mapping[str, Any]], config: Any = None, *,
                     num_heads: Union[None, int, Tuple[int, int]] = None,
                     enc_num_heads: Optional[int] = None, dec_num_heads: Optional[int] = None) -> "Model":
        """Build the model.

        weights: a ``model.safetensors`` path (or a directory holding one), or a
            dict name -> array / Tensor with the official state-dict names.
        config: a dict or a JSON path (``{"config": ...}`` wrappers accepted).
            With a weights path and no config, a ``config.json`` beside the
            weights is used when present.
        num_heads: an int for both stacks or (encoder, decoder); overrides the config.

        Raises ValueError naming the first missing or mis-shaped tensor.
        """
        if isinstance(weights, (str, os.PathLike)):
            if config is None:
                p = Path(weights)
                beside = (p if p.is_dir() else p.parent) / "config.json"
                if beside.is_file():
                    config = beside
            weights = _load_weights_file(weights)
        if not isinstance(weights, Mapping):
            raise TypeError(f"Model.from_weights: weights must be a path or a dict, got {type(weights).__name__}")
        cfg = dict(_DEFAULTS)
        cfg.update(load_config(config))
        if cfg.get("head_type", "catmlp+dpt") != "catmlp+dpt":
            raise ValueError(f"Model: head_type {cfg['head_type']!r} is not supported (expected 'catmlp+dpt')")
        if cfg.get("patch_embed_cls", "PatchEmbedDust3R") != "PatchEmbedDust3R":
            raise ValueError(f"Model: patch_embed_cls {cfg['patch_embed_cls']!r} is not supported "
                             "(expected 'PatchEmbedDust3R')")
        if num_heads is not None:
            e, d = (num_heads, num_heads) if isinstance(num_heads, int) else tuple(num_heads)
            cfg["enc_num_heads"], cfg["dec_num_heads"] = int(e), int(d)
        if enc_num_heads is not None:
            cfg["enc_num_heads"] = int(enc_num_heads)
        if dec_num_heads is not None:
            cfg["dec_num_heads"] = int(dec_num_heads)
        desc_dim = 0
        if cfg.get("output_mode"):
            m = re.fullmatch(r"pts3d\+desc(\d+)", str(cfg["output_mode"]))
            if not m:
                raise ValueError(f"Model: output_mode {cfg['output_mode']!r} is not supported "
                                 "(expected 'pts3d+desc<N>')")
            desc_dim = int(m.group(1))
        core = _core._Mast3rModel(
            dict(weights),
            enc_num_heads=int(cfg.get("enc_num_heads") or 0),
            dec_num_heads=int(cfg.get("dec_num_heads") or 0),
            rope_base=_rope_base(cfg.get("pos_embed", "RoPE100")),
            depth_mode=_mode(cfg["depth_mode"], "depth_mode"),
            conf_mode=_mode(cfg["conf_mode"], "conf_mode"),
            desc_conf_mode=_mode(cfg["desc_conf_mode"], "desc_conf_mode"),
            desc_mode=str(cfg.get("desc_mode", "norm")),
            desc_dim=desc_dim,
            two_confs=bool(cfg.get("two_confs", True)),
        )
        cfg.update(enc_num_heads=core.enc_num_heads, dec_num_heads=core.dec_num_heads,
                   enc_embed_dim=core.enc_embed_dim, dec_embed_dim=core.dec_embed_dim,
                   enc_depth=core.enc_depth, dec_depth=core.dec_depth)
        return cls(core, cfg)

    # -- inference ------------------------------------------------------------
    def __call__(self, img1: Any, img2: Any, intermediates: bool = False) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]:
        """Run one pair of images already normalised to [-1, 1], float (H, W, 3)
        with H and W multiples of the patch size.

        Returns ``(view1, view2)`` dicts of NumPy arrays: view1 has ``pts3d``
        (H, W, 3), ``conf`` (H, W), ``desc`` (H, W, D), ``desc_conf`` (H, W);
        view2 the same with ``pts3d_in_other_view`` (view 2's points in view 1's
        frame). With ``intermediates``, also ``enc`` (tokens, enc_dim; after
        enc_norm) and ``dec_last`` (tokens, dec_dim; after dec_norm).
        """
        v1, v2, self.last_timings = self._core.forward(_float_image(img1), _float_image(img2), intermediates)
        return v1, v2

    forward = __call__

    def infer_pair(self, img1: Any, img2: Any, normalize: bool = True,
                   intermediates: bool = False) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]:
        """Like calling the model, but normalising the images first
        (:func:`normalize_image`: uint8 0..255 or float 0..1 RGB)."""
        if normalize:
            img1, img2 = normalize_image(img1), normalize_image(img2)
        return self(img1, img2, intermediates=intermediates)

    # -- description ------------------------------------------------------------
    patch_size = property(lambda self: self._core.patch_size)
    enc_embed_dim = property(lambda self: self._core.enc_embed_dim)
    dec_embed_dim = property(lambda self: self._core.dec_embed_dim)
    enc_depth = property(lambda self: self._core.enc_depth)
    dec_depth = property(lambda self: self._core.dec_depth)
    enc_num_heads = property(lambda self: self._core.enc_num_heads)
    dec_num_heads = property(lambda self: self._core.dec_num_heads)
    desc_dim = property(lambda self: self._core.desc_dim)
    hooks = property(lambda self: list(self._core.hooks))

    def __repr__(self) -> str:
        return (f"Model(patch={self.patch_size}, encoder {self.enc_embed_dim}d x {self.enc_depth} "
                f"({self.enc_num_heads} heads), decoder {self.dec_embed_dim}d x {self.dec_depth} "
                f"({self.dec_num_heads} heads), desc {self.desc_dim}, hooks {self.hooks})")


def _float_image(img: Any) -> Any:
    if isinstance(img, _core.Tensor):
        return img
    a = np.asarray(img)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"Model: images must be float arrays normalised to [-1, 1] (got dtype {a.dtype}); "
                        "use Model.infer_pair or normalize_image for uint8 images")
    return np.ascontiguousarray(a, dtype=np.float32)
