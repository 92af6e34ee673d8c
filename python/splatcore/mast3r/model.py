"""MASt3R inference on splatcore's C++ core: :func:`load` and :class:`Model`.

A thin wrapper over ``splatcore._core._Mast3rModel`` (cpp/mast3r/): the
encoder (ViT with 2-D RoPE), the two cross-attending decoders, the DPT head
(``pts3d`` + ``conf``) and the local-feature head (``desc`` + ``desc_conf``)
all run in C++, without the GIL.

    import splatcore.mast3r as m3
    model = m3.load("model.safetensors", dtype="float16")   # or m3.load() after m3.download()
    a, b = m3.load_images(["left.jpg", "right.jpg"])        # dust3r's load_images(size=512)
    out = model.infer_pair(a, b)
    out["view1"]["pts3d"], out["view1"]["conf"], out["view1"]["desc"], out["view1"]["desc_conf"]
    out["view2"]["pts3d_in_other_view"], ...                 # view 2's points in view 1's frame
    outs = model.infer_pairs([a, b, c], [(0, 1), (1, 2)])    # each image encoded once

Inputs are (H, W, 3) arrays with H and W multiples of 16: **float arrays are
taken as already normalised to [-1, 1]** (what :func:`preprocess` returns),
uint8 RGB arrays are normalised here ((x / 255 - 0.5) / 0.5). Images are not
resized here; landscape and portrait both go through as they are (no
transposition), as the official loader does with ``landscape_only=False``. The
two images of a pair may differ in size (as in the original; dust3r's loader
gives different sizes to photos of different aspect ratios).
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _core

__all__ = ["Model", "load", "normalize_image", "load_config", "check_state_dict"]

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

    Accepts uint8 (0..255), uint16 (0..65535), bool, or float arrays **in
    [0, 1]** (as ``splatcore.io.images.load_image`` returns them); (H, W)
    grayscale is repeated to 3 channels, an alpha channel dropped. Anything
    array-like works (a PIL image included).

    Note the difference with :meth:`Model.infer_pair`, which takes float arrays
    as *already normalised* to [-1, 1] (the output of this function or of
    :func:`preprocess`) and only normalises uint8 arrays itself.
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
_WEIGHT_DTYPES = ("float32", "float16", "bfloat16")
# The Linear weights (kept in the chosen dtype); a name ending in one of these.
_LINEAR_SUFFIXES = (".qkv.weight", ".proj.weight", ".projq.weight", ".projk.weight",
                    ".projv.weight", ".fc1.weight", ".fc2.weight")


def _is_linear_weight(name: str) -> bool:
    return name == "decoder_embed.weight" or (
        name.endswith(_LINEAR_SUFFIXES) and not name.startswith("patch_embed"))


def _dtype_name(dtype: Any) -> Optional[str]:
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
    name = name.lower().replace("torch.", "")
    name = {"half": "float16", "f16": "float16", "bf16": "bfloat16", "float": "float32",
            "f32": "float32"}.get(name, name)
    if name not in _WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_WEIGHT_DTYPES)} (or None: as stored), got {dtype!r}")
    return name


def _stored_dtype(weights: Mapping[str, Any]) -> str:
    """The dtype a checkpoint keeps its Linear weights in (float64 -> float32)."""
    for name, t in weights.items():
        if _is_linear_weight(name):
            d = str(getattr(t, "dtype", "float32"))
            d = d.replace("torch.", "")
            if "bfloat16" in d or d == "uint16":  # the NumPy fallback reader's bf16 bits
                return "bfloat16"
            if "float16" in d:
                return "float16"
            return "float32"
    return "float32"


def load(path: Optional[PathLike] = None, dtype: Any = None, config: Any = None, *,
         num_heads: Union[None, int, Tuple[int, int]] = None) -> "Model":
    """Load the MASt3R checkpoint as a :class:`Model`.

    path: ``model.safetensors`` (or a directory holding it); None looks for
        ``$SPLATCORE_MAST3R_WEIGHTS``, then a cached :func:`splatcore.mast3r.download`.
    dtype: the precision the Linear weights (~98% of the 689M parameters) are kept
        in: ``"float32"`` (2.75 GB), ``"float16"`` or ``"bfloat16"`` (1.4 GB; computed
        in float32, converted tile by tile just before each product). None (default):
        as stored in the file (float32 for the official checkpoint). Norms, biases,
        the patch embedding and the DPT convs stay float32. float16 changes the
        outputs by ~1e-3 relative, bfloat16 by ~1e-2.
    config: a dict or JSON path; default: a ``config.json`` beside the weights, else
        the main checkpoint's (``splatcore.mast3r.FULL_CONFIG``).

    Tensors are read from the file one by one into memory splatcore owns (not
    memory-mapped); with a dtype other than the file's, each is converted as it
    is read, so the peak memory stays near the model's own size plus one tensor.
    """
    from .weights import FULL_CONFIG, find_weights
    p = find_weights(path)
    if config is None:
        beside = p.parent / "config.json"
        config = beside if beside.is_file() else FULL_CONFIG
    want = _dtype_name(dtype)
    return Model.from_weights(_read_checkpoint(p, want), config, num_heads=num_heads, dtype=want)


def _read_checkpoint(path: PathLike, dtype: Optional[str]) -> Dict[str, Any]:
    """The tensors of a safetensors file, the Linear weights converted to
    ``dtype`` one by one (each float32 read is freed after its conversion)."""
    from .weights import _resolve_file, add_tied_aliases
    f = _core.SafetensorsFile(_resolve_file(path))
    weights: Dict[str, Any] = {}
    for name in f.names():
        t = f.tensor(name)
        if dtype is not None and _is_linear_weight(name) and str(t.dtype) != dtype:
            weights[name] = _core._nn_convert_weight(t, dtype)
        else:
            weights[name] = t
    return add_tied_aliases(weights, f.metadata())


class Model:
    """MASt3R (``AsymmetricMASt3R``, head ``catmlp+dpt``) inference on the CPU.

    Build it with :func:`load` (a checkpoint file) or :meth:`from_weights` (a
    state dict). Every width and depth comes from the weights; the head counts
    from the config (``enc_num_heads``, ``dec_num_heads``), else ``num_heads``,
    else embedding dim / 64 (right for the official ViT-L / ViT-B checkpoint).
    """

    def __init__(self, core: "_core._Mast3rModel", config: Mapping[str, Any]):
        self._core = core
        self.config = dict(config)
        #: wall time in ms of each stage of the last call: encoder, decoder, head1, head2, total
        self.last_timings: Dict[str, float] = {}

    @classmethod
    def from_weights(cls, weights: Union[PathLike, Mapping[str, Any]], config: Any = None, *,
                     num_heads: Union[None, int, Tuple[int, int]] = None,
                     enc_num_heads: Optional[int] = None, dec_num_heads: Optional[int] = None,
                     dtype: Any = None, strict: bool = True) -> "Model":
        """Build the model.

        weights: a ``model.safetensors`` path (or a directory holding one), or a
            dict name -> array / Tensor with the official state-dict names.
        config: a dict or a JSON path (``{"config": ...}`` wrappers accepted).
            With a weights path and no config, a ``config.json`` beside the
            weights is used when present.
        num_heads: an int for both stacks or (encoder, decoder); overrides the config.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"`` for the Linear
            weights (see :func:`load`); None: as the weights are stored.
        strict: raise on names the model does not use (``mask_token`` excepted).

        Raises ValueError naming the first missing or mis-shaped tensor.
        """
        want = _dtype_name(dtype)
        if isinstance(weights, (str, os.PathLike)):
            if config is None:
                p = Path(weights)
                beside = (p if p.is_dir() else p.parent) / "config.json"
                if beside.is_file():
                    config = beside
            try:
                weights = _read_checkpoint(weights, want)
            except ImportError:  # pragma: no cover - without splatcore.mast3r.weights
                weights = _numpy_safetensors(weights)
        if not isinstance(weights, Mapping):
            raise TypeError(f"Model.from_weights: weights must be a path or a dict, got {type(weights).__name__}")
        want = want or _stored_dtype(weights)
        core = _core._Mast3rModel(dict(weights), weight_dtype=want, strict=strict,
                                  **_core_config(config, num_heads, enc_num_heads, dec_num_heads))
        cfg = _full_config(config, num_heads, enc_num_heads, dec_num_heads)
        cfg.update(enc_num_heads=core.enc_num_heads, dec_num_heads=core.dec_num_heads,
                   enc_embed_dim=core.enc_embed_dim, dec_embed_dim=core.dec_embed_dim,
                   enc_depth=core.enc_depth, dec_depth=core.dec_depth, weight_dtype=want)
        return cls(core, cfg)

    # -- inference ------------------------------------------------------------
    def infer_pair(self, img1: Any, img2: Any, intermediates: bool = False,
                   device: Any = None, keep_on_device: bool = False) -> Dict[str, Dict[str, Any]]:
        """Run one pair of images.

        img1, img2: (H, W, 3) arrays, H and W multiples of the patch size (16):
            float arrays already normalised to [-1, 1] (as :func:`preprocess`
            returns them), or uint8 RGB (normalised here); also the
            ``PreprocessedImage`` objects of :func:`preprocess` / :func:`load_images`.

        Returns ``{"view1": {"pts3d", "conf", "desc", "desc_conf"}, "view2":
        {"pts3d_in_other_view", "conf", "desc", "desc_conf"}}`` of float32 NumPy
        arrays: pts3d (H, W, 3), conf (H, W), desc (H, W, 24) (unit norm per pixel),
        desc_conf (H, W); view 2's points are in view 1's camera frame. With
        ``intermediates``, each view also has ``enc`` (tokens, enc_dim; after
        enc_norm) and ``dec_last`` (tokens, dec_dim; after dec_norm).

        device: None or ``"cpu"``: the CPU; a GPU device (``"cuda"``,
        ``"metal"``, ``"sim"``): the whole network runs there, the weights
        uploaded on the first call for that device and kept resident (Linear
        weights in the model's weight dtype); the outputs still come back as
        NumPy arrays, unless ``keep_on_device``: then they stay there as
        splatcore Tensors, for work that goes on on the device (nothing is
        copied and nothing waits for the device's queue).
        """
        a = _model_image(img1, "img1", self.patch_size)
        b = _model_image(img2, "img2", self.patch_size)
        dev = _device_arg(device)
        keep = _keep_arg(keep_on_device, dev, device, "infer_pair")
        v1, v2, self.last_timings = self._core.forward(a, b, intermediates, dev, keep)
        return {"view1": v1, "view2": v2}

    __call__ = infer_pair
    forward = infer_pair

    def encode(self, images: Sequence[Any], device: Any = None) -> List[np.ndarray]:
        """Encoder outputs (h*w, enc_dim) of each image (inputs as :meth:`infer_pair`);
        images of one size are encoded together (on ``device`` when it is a GPU;
        NumPy arrays either way)."""
        arrs = [_model_image(im, f"images[{i}]", self.patch_size) for i, im in enumerate(images)]
        dev = _device_arg(device)
        out: List[Optional[np.ndarray]] = [None] * len(arrs)
        for idx in _groups_by_size(arrs, len(arrs)):
            enc = self._core.encode([arrs[i] for i in idx], dev).numpy()
            n = enc.shape[0] // len(idx)
            for k, i in enumerate(idx):
                out[i] = enc[k * n:(k + 1) * n]
        return out  # type: ignore[return-value]

    def iter_pairs(self, images: Sequence[Any], pairs: Iterable[Tuple[int, int]], batch: int = 2,
                   progress: bool = True, intermediates: bool = False,
                   device: Any = None, pair_batch: Optional[int] = None,
                   keep_on_device: bool = False) -> Iterator[Dict[str, Dict[str, Any]]]:
        """:meth:`infer_pairs` as a generator (one result at a time on the CPU; on a
        GPU device up to ``pair_batch`` at a time: at 512 x 384 the outputs of a
        pair take ~45 MB)."""
        p = self.patch_size
        arrs = [_model_image(im, f"images[{i}]", p) for i, im in enumerate(images)]
        pairs = [_pair_arg(pr, k, len(arrs)) for k, pr in enumerate(pairs)]
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"infer_pairs: batch must be a positive int (images per encoder call), got {batch!r}")
        if pair_batch is not None and (isinstance(pair_batch, bool) or not isinstance(pair_batch, (int, np.integer))
                                       or pair_batch < 1):
            raise ValueError(f"infer_pairs: pair_batch must be a positive int (pairs decoded together), "
                             f"got {pair_batch!r}")
        dev = _device_arg(device)
        keep = _keep_arg(keep_on_device, dev, device, "infer_pairs")
        used = sorted({i for pr in pairs for i in pr})
        groups = _groups_by_size(arrs, int(batch), used)
        bar = _progress(len(groups) + len(pairs), progress)
        try:
            enc: Dict[int, Any] = {}  # NumPy arrays, or Tensors on the GPU device
            for idx in groups:  # each image once, up to `batch` of one size per call
                out = self._core.encode([arrs[i] for i in idx], dev)
                if dev is None:
                    out = out.numpy()
                n = out.shape[0] // len(idx)
                for k, i in enumerate(idx):
                    enc[i] = out[k * n:(k + 1) * n]
                bar.update(1)
            grid = [(a.shape[0] // p, a.shape[1] // p) for a in arrs]
            if dev is None:
                for i, j in pairs:
                    (h1, w1), (h2, w2) = grid[i], grid[j]
                    v1, v2, self.last_timings = self._core.decode(enc[i], h1, w1, enc[j], h2, w2, intermediates)
                    bar.update(1)
                    yield {"view1": v1, "view2": v2}
                return
            # on the device: runs of consecutive pairs of one shape decode together
            nb = self._pair_batch(pair_batch, dev, grid)
            k = 0
            while k < len(pairs):
                shape = grid[pairs[k][0]] + grid[pairs[k][1]]
                run = [pairs[k]]
                while (k + len(run) < len(pairs) and len(run) < nb
                       and grid[pairs[k + len(run)][0]] + grid[pairs[k + len(run)][1]] == shape):
                    run.append(pairs[k + len(run)])
                k += len(run)
                (h1, w1), (h2, w2) = grid[run[0][0]], grid[run[0][1]]
                res, self.last_timings = self._core.decode_batch(
                    [enc[i] for i, _ in run], h1, w1, [enc[j] for _, j in run], h2, w2, intermediates, keep)
                for v1, v2 in res:
                    bar.update(1)
                    yield {"view1": v1, "view2": v2}
        finally:
            bar.close()

    def _pair_batch(self, pair_batch: Optional[int], dev: Any, grid) -> int:
        """Pairs decoded together on a GPU device: ``pair_batch`` when given, else up
        to 8, as many as a quarter of the device's free memory holds at about 40
        decoder-width rows per token of both views (the decoder's live tensors)."""
        if pair_batch is not None:  # checked by iter_pairs
            return int(pair_batch)
        total = int(_core.device_properties(dev).get("memory_bytes", 0))
        if total <= 0:  # not known (the simulator)
            return 8
        free = total - int(_core.device_memory(dev)["in_use_bytes"])
        tokens = 2 * max(h * w for h, w in grid)
        per_pair = 40 * tokens * self.dec_embed_dim * 4
        return int(max(1, min(8, free // 4 // max(per_pair, 1))))

    def infer_pairs(self, images: Sequence[Any], pairs: Iterable[Tuple[int, int]], batch: int = 2,
                    progress: bool = True, intermediates: bool = False,
                    device: Any = None, pair_batch: Optional[int] = None,
                    keep_on_device: bool = False) -> List[Dict[str, Dict[str, Any]]]:
        """Run many pairs of a set of images, encoding each image once.

        images: a sequence of images (as :meth:`infer_pair` takes them).
        pairs: (i, j) index pairs into ``images``; the result for (i, j) has
            view1 = image i and view2 = image j (pass both (i, j) and (j, i) for
            the symmetric pairs of dust3r's ``make_pairs``).
        batch: images encoded per encoder call (images of one size are batched;
            the encoder is ~2/3 of the work of a pair).
        progress: a tqdm progress bar (shown on terminals).

        device: as :meth:`infer_pair`; on a GPU device the encoder outputs stay
            there between the encoder and the pairs' decoders.
        pair_batch: on a GPU device, how many consecutive pairs of one shape run
            their decoders together (default: up to 8, sized to the device's
            free memory).
        keep_on_device: as :meth:`infer_pair` (GPU devices only).

        Returns one dict per pair, as :meth:`infer_pair` does; the results equal
        ``infer_pair(images[i], images[j])`` to float32 rounding.
        """
        return list(self.iter_pairs(images, pairs, batch=batch, progress=progress,
                                    intermediates=intermediates, device=device, pair_batch=pair_batch,
                                    keep_on_device=keep_on_device))

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
    weight_dtype = property(lambda self: self._core.weight_dtype)

    def __repr__(self) -> str:
        return (f"Model(patch={self.patch_size}, encoder {self.enc_embed_dim}d x {self.enc_depth} "
                f"({self.enc_num_heads} heads), decoder {self.dec_embed_dim}d x {self.dec_depth} "
                f"({self.dec_num_heads} heads), desc {self.desc_dim}, hooks {self.hooks}, "
                f"weights {self.weight_dtype})")


def check_state_dict(shapes: Mapping[str, Sequence[int]], config: Any = None, *,
                     num_heads: Union[None, int, Tuple[int, int]] = None) -> List[str]:
    """Build the C++ model's structure from names and shapes only (no memory is
    allocated for the tensors: each is a zero-stride placeholder) and return the
    names it does not use (``mask_token``, CroCo's pretraining token that inference
    never needs, is not reported: an empty list for the official checkpoint).

    ``shapes``: name -> shape, or a manifest (``{"tensors": {name: {"shape": ...}}}``,
    its ``config`` used when ``config`` is None). Raises ValueError naming the
    first missing or mis-shaped tensor, as loading the real weights would.
    """
    if "tensors" in shapes and isinstance(shapes["tensors"], Mapping):
        if config is None and "config" in shapes:
            config = shapes["config"]
        shapes = {n: v["shape"] for n, v in shapes["tensors"].items()}
    zero = np.zeros((), np.float32)
    weights = {str(n): np.broadcast_to(zero, tuple(int(d) for d in s)) for n, s in shapes.items()}
    core = _core._Mast3rModel(weights, strict=False, check_only=True,
                              **_core_config(config, num_heads, None, None))
    return list(core.unused_weights)


def _full_config(config: Any, num_heads, enc_num_heads, dec_num_heads) -> Dict[str, Any]:
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
    return cfg


def _core_config(config: Any, num_heads, enc_num_heads, dec_num_heads) -> Dict[str, Any]:
    cfg = _full_config(config, num_heads, enc_num_heads, dec_num_heads)
    desc_dim = 0
    if cfg.get("output_mode"):
        m = re.fullmatch(r"pts3d\+desc(\d+)", str(cfg["output_mode"]))
        if not m:
            raise ValueError(f"Model: output_mode {cfg['output_mode']!r} is not supported "
                             "(expected 'pts3d+desc<N>')")
        desc_dim = int(m.group(1))
    return dict(
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


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
def _model_image(img: Any, name: str, patch: int) -> Any:
    """One model input: float32 (H, W, 3) in [-1, 1], checked."""
    if isinstance(img, _core.Tensor):
        img = img.numpy()
    inner = getattr(img, "img", None)  # a PreprocessedImage
    if isinstance(inner, np.ndarray):
        img = inner
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: expected an (H, W, 3) RGB image, got shape {a.shape}")
    H, W = a.shape[:2]
    if H <= 0 or W <= 0 or H % patch or W % patch:
        raise ValueError(f"{name}: size {W}x{H} (W x H) is not a positive multiple of the patch size "
                         f"{patch} in both dimensions; resize / crop it first (splatcore.mast3r.preprocess)")
    if a.dtype == np.uint8:
        return normalize_image(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: expected uint8 RGB or a float image normalised to [-1, 1], got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: the image holds NaN or infinite values")
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"{name}: float images must be normalised to [-1, 1] (got values in "
                         f"[{lo:g}, {hi:g}]); pass uint8 RGB, or normalise with normalize_image / preprocess")
    return a


def _device_arg(device: Any) -> Any:
    """None for the CPU, else the device as given (checked by the core)."""
    if device is None or (isinstance(device, str) and device == "cpu"):
        return None
    return device


def _keep_arg(keep_on_device: Any, dev: Any, device: Any, fn: str) -> bool:
    """keep_on_device as a bool; ValueError without a GPU device to keep the outputs on."""
    if keep_on_device and dev is None:
        raise ValueError(f"{fn}: keep_on_device needs a GPU device, got device={device!r}")
    return bool(keep_on_device)


def _pair_arg(pr: Any, k: int, n: int) -> Tuple[int, int]:
    try:
        i, j = pr
        i, j = int(i), int(j)
    except (TypeError, ValueError):
        raise ValueError(f"pairs[{k}]: expected an (i, j) pair of image indices, got {pr!r}") from None
    for v in (i, j):
        if not 0 <= v < n:
            raise ValueError(f"pairs[{k}]: index {v} is out of range for {n} images")
    return i, j


def _groups_by_size(arrs: List[np.ndarray], batch: int, which: Optional[Iterable[int]] = None) -> List[List[int]]:
    by_size: Dict[Tuple[int, int], List[int]] = {}
    for i in (range(len(arrs)) if which is None else which):
        by_size.setdefault(arrs[i].shape[:2], []).append(i)
    return [idx[k:k + batch] for idx in by_size.values() for k in range(0, len(idx), batch)]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoBar()
    return tqdm(total=total, desc="MASt3R", unit="step", disable=None, leave=False)
