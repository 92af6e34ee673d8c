"""Training checkpoints in a format that cannot run code when read.

One file in the safetensors layout (8-byte little-endian header length, a JSON
header, raw little-endian tensor bytes). Arrays are its tensors; everything
else (step, config, optimizer hyper-parameters, RNG states, history) is one
JSON document in the header's ``__metadata__`` under ``"state"``, beside
``"format"`` and ``"version"``. Reading goes through the bounds-checked C++
safetensors reader and ``json.loads``: no pickle anywhere. Checkpoints of
splatcore before this format were pickles; they are refused (a pickle runs
code chosen by whoever wrote the file while it is loaded).
"""
import json
import os
import struct

import numpy as np

FORMAT = "splatcore-checkpoint"
VERSION = 2  # version 1 was the pickle
FILENAME = "checkpoint.safetensors"

# NumPy dtype -> safetensors dtype code (the ones a checkpoint holds).
_CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.float16): "F16",
          np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.uint32): "U32",
          np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


class CheckpointError(ValueError):
    """A file that is not a checkpoint this version of splatcore can resume from."""


def _looks_like_pickle(head):
    # Protocol 2+ pickles start with PROTO (0x80, version); torch.save zips with "PK".
    return (len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5) or head[:2] == b"PK"


def _split(obj, tensors, where="state"):
    """`obj` with every NumPy array replaced by {"__tensor__": name}; the arrays
    go to `tensors` under those names (their path in `obj`)."""
    if isinstance(obj, np.ndarray):
        tensors[where] = obj
        return {"__tensor__": where}
    if isinstance(obj, dict):
        return {str(k): _split(v, tensors, f"{where}/{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, tensors, f"{where}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join(obj, tensors, path):
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            name = obj["__tensor__"]
            if name not in tensors:
                raise CheckpointError(f"{path}: the state refers to tensor {name!r}, which the "
                                      f"file does not hold")
            return tensors[name]
        return {k: _join(v, tensors, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors, path) for v in obj]
    return obj


def _layout(state):
    """(header bytes, arrays in data order) of the file holding `state`."""
    tensors = {}
    doc = json.dumps(_split(state, tensors))  # NaN/inf (a diverged loss) stay readable by json
    header, arrays, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))  # the format is little-endian
        code = _CODES.get(a.dtype)
        if code is None:
            raise TypeError(f"checkpoint: tensor {name!r} has dtype {a.dtype}, which a "
                            f"checkpoint cannot hold")
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        arrays.append(a)
        offset += a.nbytes
    header["__metadata__"] = {"format": FORMAT, "version": str(VERSION), "state": doc}
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)  # tensor data 8-byte aligned, as other writers do
    return struct.pack("<Q", len(h)) + h, arrays


def save(path, state):
    """Write `state` (dicts, lists, numbers, strings and NumPy arrays) as a
    checkpoint, atomically (a temporary file renamed over `path`)."""
    from .io.atomic import atomic_write

    head, arrays = _layout(state)
    with atomic_write(path, "wb") as f:
        f.write(head)
        for a in arrays:
            f.write(memoryview(a.reshape(-1).view(np.uint8)))


def load(path):
    """The state save() wrote (arrays as NumPy arrays, tuples as lists).

    CheckpointError (a ValueError) naming the file for an old pickle
    checkpoint, another safetensors file, or an unknown format version;
    FileNotFoundError when it does not exist."""
    from . import _core

    path = os.fsdecode(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    if not os.path.isfile(path):  # a directory, or a FIFO that would block the open
        raise CheckpointError(f"{path}: not a regular file, expected a checkpoint file ({FILENAME})")
    with open(path, "rb") as f:
        head = f.read(16)
    if _looks_like_pickle(head):
        raise CheckpointError(
            f"{path}: this is a pickle checkpoint (written by splatcore before checkpoint "
            f"format {VERSION}); pickles can run arbitrary code when loaded, so splatcore no "
            f"longer reads them. Resume from a {FILENAME} written by this version, or start "
            f"the training again")
    try:
        f = _core.SafetensorsFile(path)
    except ValueError as e:
        raise CheckpointError(f"{path}: not a splatcore checkpoint ({e})") from None
    meta = f.metadata()
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a safetensors file, but not a splatcore checkpoint "
                              f"(no \"format\": {FORMAT!r} in its metadata)")
    if meta.get("version") != str(VERSION):
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r}, this "
                              f"splatcore reads version {VERSION}")
    try:
        state = json.loads(meta.get("state", ""))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: the checkpoint's state is not valid JSON ({e})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint's state is a {type(state).__name__}, "
                              f"expected an object")
    try:
        tensors = {name: np.array(f.tensor(name).numpy(), copy=True) for name in f.names()}
    except TypeError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return _join(state, tensors, path)


__all__ = ["FORMAT", "VERSION", "FILENAME", "CheckpointError", "save", "load"]
