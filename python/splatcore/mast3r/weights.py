"""MASt3R checkpoint files: loading, checking and finding ``model.safetensors``.

The checkpoint is the ``model.safetensors`` of the Hugging Face repo
``naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric`` (2.75 GB, float32),
with the key names of the official ``AsymmetricMASt3R`` state dict. It is
read into memory that splatcore owns, not memory-mapped (a mapped file
truncated by another process would kill this one with SIGBUS).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .. import _core

HF_REPO = "naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric"
FILENAME = "model.safetensors"
ENV_VAR = "SPLATCORE_MAST3R_WEIGHTS"  # a path to model.safetensors, checked by find_weights()

# The config of the main checkpoint (as stored with it).
FULL_CONFIG: Dict[str, Any] = {
    "pos_embed": "RoPE100",
    "patch_embed_cls": "PatchEmbedDust3R",
    "img_size": [512, 512],
    "head_type": "catmlp+dpt",
    "output_mode": "pts3d+desc24",
    "depth_mode": ["exp", float("-inf"), float("inf")],
    "conf_mode": ["exp", 1, float("inf")],
    "enc_embed_dim": 1024,
    "enc_depth": 24,
    "enc_num_heads": 16,
    "dec_embed_dim": 768,
    "dec_depth": 12,
    "dec_num_heads": 12,
    "two_confs": True,
    "desc_conf_mode": ["exp", 0, float("inf")],
    "landscape_only": False,
}

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "FILENAME", "FULL_CONFIG", "HF_REPO", "WeightsReport", "add_tied_aliases", "check_weights",
    "download", "expected_shapes", "find_weights", "load_weights",
]

# ---------------------------------------------------------------------------
# tied DPT weights
# ---------------------------------------------------------------------------
# In the state dict `<head>.dpt.scratch.layer{i}_rn.weight` and
# `<head>.dpt.scratch.layer_rn.{i-1}.weight` are one tensor; a file may hold
# either name, or both.
_TIED_A = re.compile(r"^(?P<p>.*\.scratch\.)layer(?P<i>[1-4])_rn\.weight$")
_TIED_B = re.compile(r"^(?P<p>.*\.scratch\.)layer_rn\.(?P<i>[0-3])\.weight$")


def _tied_partner(name: str) -> Optional[str]:
    m = _TIED_A.match(name)
    if m:
        return f"{m['p']}layer_rn.{int(m['i']) - 1}.weight"
    m = _TIED_B.match(name)
    if m:
        return f"{m['p']}layer{int(m['i']) + 1}_rn.weight"
    return None


def add_tied_aliases(weights: Dict[str, Any], metadata: Optional[Mapping[str, str]] = None):
    """Add the missing name of each tied DPT pair to ``weights`` (in place, same
    tensor object), and the aliases a safetensors ``__metadata__`` records in the
    ``{removed_name: kept_name}`` form torch's ``save_model`` writes. Returns
    ``weights``."""
    for name in list(weights):
        partner = _tied_partner(name)
        if partner is not None and partner not in weights:
            weights[partner] = weights[name]
    for alias, target in (metadata or {}).items():
        if alias not in weights and target in weights and alias != "__metadata__":
            weights[alias] = weights[target]
    return weights


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def _resolve_file(path: PathLike) -> Path:
    p = Path(os.fspath(path)).expanduser()
    if p.is_dir():
        if (p / FILENAME).is_file():
            return p / FILENAME
        raise FileNotFoundError(f"load_weights: directory {p} holds no {FILENAME}")
    return p


def load_weights(path: PathLike, dtype: Optional[str] = None) -> Dict[str, "_core.Tensor"]:
    """Read a safetensors checkpoint: ``{name: Tensor}``.

    Tensors own their memory (read from the file, not mapped); with ``dtype``
    (e.g. ``"float32"`` for a float16 or bfloat16 checkpoint) tensors of
    another dtype are converted.
    Both names of each tied DPT weight are present. ``path`` may be the file
    or a directory holding ``model.safetensors``.

    Raises FileNotFoundError for a missing file and ValueError for anything
    that is not a valid safetensors file (a PyTorch ``.pth`` included).
    """
    f = _core.SafetensorsFile(_resolve_file(path))
    weights = {name: f.tensor(name, dtype) for name in f.names()}
    return add_tied_aliases(weights, f.metadata())


# ---------------------------------------------------------------------------
# expected names and shapes
# ---------------------------------------------------------------------------
def _desc_dim(output_mode: str) -> int:
    m = re.search(r"desc(\d+)", output_mode or "")
    if not m:
        raise ValueError(f"check_weights: output_mode {output_mode!r} has no 'descN' part "
                         "(only the catmlp+dpt MASt3R head is supported)")
    return int(m.group(1))


def expected_shapes(config: Mapping[str, Any], dpt: Optional[Mapping[str, Any]] = None,
                    patch_size: int = 16) -> Dict[str, Tuple[int, ...]]:
    """Every name and shape of an ``AsymmetricMASt3R`` state dict (head
    ``catmlp+dpt``) built with ``config``, both names of tied pairs included.

    The DPT widths are not part of the config; ``dpt`` may give
    ``feature_dim``, ``last_dim`` and ``layer_dims`` (defaults: those of the
    main checkpoint, 256, 128 and [96, 192, 384, 768]).
    """
    cfg = dict(config.get("config", config))
    if cfg.get("head_type", "catmlp+dpt") != "catmlp+dpt":
        raise ValueError(f"check_weights: head_type {cfg.get('head_type')!r} is not supported "
                         "(expected 'catmlp+dpt')")
    E, D = int(cfg["enc_embed_dim"]), int(cfg["dec_embed_dim"])
    ne, nd = int(cfg["enc_depth"]), int(cfg["dec_depth"])
    P = patch_size
    desc = _desc_dim(cfg.get("output_mode", "pts3d+desc24"))
    two_confs = bool(cfg.get("two_confs", True))
    dpt = dict(dpt or {})
    F = int(dpt.get("feature_dim", 256))
    last = int(dpt.get("last_dim", F // 2))
    L = [int(v) for v in dpt.get("layer_dims", [96, 192, 384, 768])]
    if len(L) != 4:
        raise ValueError(f"expected_shapes: dpt layer_dims must have 4 entries, got {L}")

    s: Dict[str, Tuple[int, ...]] = {}

    def lin(name, o, i, bias=True):
        s[f"{name}.weight"] = (o, i)
        if bias:
            s[f"{name}.bias"] = (o,)

    def norm(name, d):
        s[f"{name}.weight"] = (d,)
        s[f"{name}.bias"] = (d,)

    def conv(name, o, i, k, bias=True):
        s[f"{name}.weight"] = (o, i, k, k)
        if bias:
            s[f"{name}.bias"] = (o,)

    s["mask_token"] = (1, 1, D)
    conv("patch_embed.proj", E, 3, P)
    for b in range(ne):
        p = f"enc_blocks.{b}"
        norm(f"{p}.norm1", E)
        lin(f"{p}.attn.qkv", 3 * E, E)
        lin(f"{p}.attn.proj", E, E)
        norm(f"{p}.norm2", E)
        lin(f"{p}.mlp.fc1", 4 * E, E)
        lin(f"{p}.mlp.fc2", E, 4 * E)
    norm("enc_norm", E)
    lin("decoder_embed", D, E)
    for stack in ("dec_blocks", "dec_blocks2"):
        for b in range(nd):
            p = f"{stack}.{b}"
            norm(f"{p}.norm1", D)
            lin(f"{p}.attn.qkv", 3 * D, D)
            lin(f"{p}.attn.proj", D, D)
            for x in ("projq", "projk", "projv", "proj"):
                lin(f"{p}.cross_attn.{x}", D, D)
            norm(f"{p}.norm2", D)
            norm(f"{p}.norm3", D)
            lin(f"{p}.mlp.fc1", 4 * D, D)
            lin(f"{p}.mlp.fc2", D, 4 * D)
            norm(f"{p}.norm_y", D)
    norm("dec_norm", D)
    dims = [E, D, D, D]  # tokens the DPT hooks see: encoder output, then decoder layers
    for h in ("downstream_head1", "downstream_head2"):
        p = f"{h}.dpt"
        for i in range(4):
            conv(f"{p}.scratch.layer{i + 1}_rn", F, L[i], 3, bias=False)
            conv(f"{p}.scratch.layer_rn.{i}", F, L[i], 3, bias=False)
            r = f"{p}.scratch.refinenet{i + 1}"
            conv(f"{r}.out_conv", F, F, 1)
            for u in ("resConfUnit1", "resConfUnit2"):
                conv(f"{r}.{u}.conv1", F, F, 3)
                conv(f"{r}.{u}.conv2", F, F, 3)
        conv(f"{p}.head.0", F // 2, F, 3)
        conv(f"{p}.head.2", last, F // 2, 3)
        conv(f"{p}.head.4", 3 + 1, last, 1)  # pts3d + confidence
        a = f"{p}.act_postprocess"
        conv(f"{a}.0.0", L[0], dims[0], 1)
        conv(f"{a}.0.1", L[0], L[0], 4)  # ConvTranspose2d: (in, out, k, k)
        conv(f"{a}.1.0", L[1], dims[1], 1)
        conv(f"{a}.1.1", L[1], L[1], 2)  # ConvTranspose2d
        conv(f"{a}.2.0", L[2], dims[2], 1)
        conv(f"{a}.3.0", L[3], dims[3], 1)
        conv(f"{a}.3.1", L[3], L[3], 3)
        cin = E + D
        lin(f"{h}.head_local_features.fc1", 4 * cin, cin)
        lin(f"{h}.head_local_features.fc2", (desc + int(two_confs)) * P * P, 4 * cin)
    return s


def _infer_dpt(shapes: Mapping[str, Tuple[int, ...]], head: str = "downstream_head1") -> Dict[str, Any]:
    """DPT widths as the weights hold them (defaults where a key is missing)."""
    out: Dict[str, Any] = {}
    layer_dims = []
    for i in range(4):
        sh = shapes.get(f"{head}.dpt.act_postprocess.{i}.0.weight")
        if sh is None or len(sh) < 1:
            break
        layer_dims.append(int(sh[0]))
    if len(layer_dims) == 4:
        out["layer_dims"] = layer_dims
    sh = shapes.get(f"{head}.dpt.scratch.refinenet1.out_conv.weight")
    if sh:
        out["feature_dim"] = int(sh[0])
    sh = shapes.get(f"{head}.dpt.head.2.weight")
    if sh:
        out["last_dim"] = int(sh[0])
    return out


# ---------------------------------------------------------------------------
# checking
# ---------------------------------------------------------------------------
@dataclass
class WeightsReport:
    """What check_weights found; ``ok`` when nothing is missing, unexpected or mis-shaped."""

    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    checked: int = 0  # names compared

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"weights OK ({self.checked} names checked)"

        def some(items: Iterable[str], n: int = 8) -> str:
            items = list(items)
            more = f", ... ({len(items) - n} more)" if len(items) > n else ""
            return ", ".join(items[:n]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {some(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {some(self.unexpected)}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} with the wrong shape: " + some(
                f"{n} expected {tuple(e)} got {tuple(g)}" for n, e, g in self.mismatched))
        return "weights do not match the MASt3R state dict: " + "; ".join(parts)

    def raise_if_bad(self) -> "WeightsReport":
        if not self.ok:
            raise ValueError(str(self))
        return self


def _shapes_of(weights: Any) -> Dict[str, Tuple[int, ...]]:
    if isinstance(weights, (str, os.PathLike)):
        weights = _core.SafetensorsFile(_resolve_file(weights))
    if isinstance(weights, _core.SafetensorsFile):
        shapes = {n: tuple(weights.info(n)["shape"]) for n in weights.names()}
        return add_tied_aliases(shapes, weights.metadata())
    shapes = {str(n): tuple(int(v) for v in t.shape) for n, t in weights.items()}
    return add_tied_aliases(shapes)


def _reference_shapes(reference: Any, shapes: Mapping[str, Tuple[int, ...]]):
    if reference is None:  # the main checkpoint: its DPT widths are the defaults
        return expected_shapes(FULL_CONFIG)
    if isinstance(reference, (str, os.PathLike)):
        with open(os.fspath(reference), encoding="utf-8") as fh:
            reference = json.load(fh)
    if not isinstance(reference, Mapping):
        raise TypeError("check_weights: reference must be a manifest, a config (dict or JSON "
                        f"path) or None, got {type(reference).__name__}")
    if "tensors" in reference:  # a manifest: exact names and shapes
        return {n: tuple(v["shape"]) for n, v in reference["tensors"].items()}
    cfg = reference.get("config", reference)
    if "enc_embed_dim" not in cfg:
        raise ValueError("check_weights: reference is neither a manifest (with 'tensors') nor "
                         "a MASt3R config (with 'enc_embed_dim', 'enc_depth', ...)")
    return expected_shapes(cfg, dpt=_infer_dpt(shapes))


def check_weights(weights: Any, reference: Any = None, strict: bool = False) -> WeightsReport:
    """Compare checkpoint names and shapes with what the model expects.

    ``weights``: a ``{name: tensor}`` dict (e.g. from :func:`load_weights`), a
    ``SafetensorsFile`` or a path. ``reference``: a manifest (dict with
    ``"tensors": {name: {"shape": ...}}``, or the path of its JSON) for an exact
    check, or a MASt3R config (dict, ``{"config": ...}`` or JSON path; default:
    the main checkpoint's), from which every name and the shapes are derived
    (DPT widths read from the weights themselves, checked for consistency).
    Tied DPT names count as present when their partner is. With ``strict``,
    a bad report raises ValueError.
    """
    shapes = _shapes_of(weights)
    ref = _reference_shapes(reference, shapes)
    rep = WeightsReport()
    rep.missing = sorted(n for n in ref if n not in shapes)
    rep.unexpected = sorted(n for n in shapes if n not in ref)
    rep.mismatched = sorted((n, tuple(ref[n]), shapes[n]) for n in ref
                            if n in shapes and tuple(ref[n]) != shapes[n])
    rep.checked = len(ref)
    if strict:
        rep.raise_if_bad()
    return rep


# ---------------------------------------------------------------------------
# finding / downloading the checkpoint
# ---------------------------------------------------------------------------
def download(cache_dir: Optional[PathLike] = None, revision: Optional[str] = None) -> Path:
    """Download ``model.safetensors`` (2.75 GB) of the main MASt3R checkpoint from
    the Hugging Face Hub (cached; needs ``pip install huggingface_hub``)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:
        raise ImportError("splatcore.mast3r.download() needs huggingface_hub: "
                          "pip install huggingface_hub") from e
    return Path(hf_hub_download(repo_id=HF_REPO, filename=FILENAME, revision=revision,
                                cache_dir=None if cache_dir is None else os.fspath(cache_dir)))


def _hf_cache_root(cache_dir: Optional[PathLike]) -> Path:
    if cache_dir is not None:
        return Path(os.fspath(cache_dir)).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _cached_download(cache_dir: Optional[PathLike] = None) -> Optional[Path]:
    """The cached model.safetensors of HF_REPO, if a download left one."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        try_to_load_from_cache = None
    if try_to_load_from_cache is not None:
        try:
            hit = try_to_load_from_cache(HF_REPO, FILENAME, cache_dir=(
                None if cache_dir is None else os.fspath(cache_dir)))
        except Exception:  # noqa: BLE001  (an odd cache must not break the lookup)
            hit = None
        if isinstance(hit, (str, os.PathLike)) and Path(hit).is_file():
            return Path(hit)
    # The hub cache layout: models--{org}--{name}/snapshots/{commit}/{file}.
    repo_dir = _hf_cache_root(cache_dir) / ("models--" + HF_REPO.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    try:
        commit = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        commit = ""
    if commit and (snapshots / commit / FILENAME).is_file():
        return snapshots / commit / FILENAME
    if snapshots.is_dir():
        hits = sorted((p for p in snapshots.glob(f"*/{FILENAME}") if p.is_file()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        if hits:
            return hits[0]
    return None


def find_weights(path: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None) -> Path:
    """The checkpoint to use: ``path`` when given (a file, or a directory holding
    model.safetensors), else ``$SPLATCORE_MAST3R_WEIGHTS``, else a cached
    :func:`download`. FileNotFoundError says how to get one otherwise."""
    how = (f"get the MASt3R checkpoint with `splatcore.mast3r.download()` (pip install "
           f"huggingface_hub; fetches {FILENAME}, 2.75 GB, from https://huggingface.co/{HF_REPO}) "
           f"or pass `--weights PATH` to a downloaded {FILENAME}")
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
        origin = f"${ENV_VAR}"
    else:
        origin = "weights"
    if path is not None:
        p = Path(os.fspath(path)).expanduser()
        if p.is_dir():
            p = p / FILENAME
        if not p.is_file():
            raise FileNotFoundError(f"{origin}: no such file: {p}; {how}")
        return p
    hit = _cached_download(cache_dir)
    if hit is not None:
        return hit
    raise FileNotFoundError(f"no MASt3R checkpoint found (no path given, no cached download); {how}")
