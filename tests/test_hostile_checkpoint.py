"""Issue 12, defect 2: resuming never runs code from the checkpoint file.

Checkpoints are safetensors (arrays) + JSON (everything else); an old pickle
checkpoint is refused before anything in it is evaluated."""
import json
import os
import pickle
import struct

import numpy as np
import pytest

from splatcore import checkpoint
from splatcore.checkpoint import CheckpointError
from splatcore.cli import main
from splatcore.datasets.synthetic import make_dataset
from splatcore.gaussians import Gaussians
from splatcore.trainer import TrainConfig, Trainer


class _Payload:
    """Unpickling this calls open(marker, "w"): the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def tiny():
    return make_dataset(n_views=6, width=24, height=18, seed=3, n_points=200)


def trainer(ds, iters=8):
    cfg = TrainConfig(seed=0, sh_degree=1).scaled_to(iters)
    xyz, rgb = ds.points
    return Trainer(ds.train, Gaussians.from_points(xyz, rgb, sh_degree=1), ds.scene_extent(), cfg)


def test_malicious_pickle_is_refused_without_running(tiny, tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "checkpoint.pkl"
    bad.write_bytes(pickle.dumps({"version": 1, "x": _Payload(str(marker))}, protocol=4))
    assert not marker.exists()
    with pytest.raises(ValueError, match="pickle") as e:
        trainer(tiny).load_checkpoint(str(bad))
    assert str(bad) in str(e.value) and "run arbitrary code" in str(e.value)
    assert not marker.exists()


def test_cli_resume_from_pickle_is_a_user_error(tiny, tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = tmp_path / "old.pkl"
    bad.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=2))
    data = tmp_path / "data"
    from helpers_colmap import write_tiny_colmap  # noqa: F401  (a COLMAP dataset on disk)

    write_tiny_colmap(data)
    rc = main(["train", str(data), "-o", str(tmp_path / "out"), "--iters", "2", "-q",
               "--resume", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "pickle" in err and str(bad) in err and "Traceback" not in err
    assert not marker.exists()


def test_checkpoint_holds_no_pickle_and_round_trips(tiny, tmp_path, rng):
    t = trainer(tiny)
    t.train(progress=False)
    path = tmp_path / checkpoint.FILENAME
    t.save_checkpoint(str(path))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == checkpoint.FORMAT and meta["version"] == str(checkpoint.VERSION)
    state = json.loads(meta["state"])
    assert state["step"] == 8 and {"gaussians", "optimizer", "strategy", "rng"} <= set(state)
    assert {"dtype", "shape", "data_offsets"} == set(header["state/gaussians/means"])
    # the arrays in the file are the trainer's, bit for bit (read back independently)
    e = header["state/gaussians/means"]
    a = np.frombuffer(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], "<f4")
    np.testing.assert_array_equal(a.reshape(e["shape"]), t.g.means.numpy())
    # a generic state round-trips: arrays of several dtypes, nested lists, big ints
    s = {"a": rng.standard_normal((3, 2)), "b": [rng.integers(0, 9, 4).astype(np.int32),
         {"c": np.array([True, False])}], "n": 2 ** 100, "f": 0.1}
    checkpoint.save(tmp_path / "g.safetensors", s)
    back = checkpoint.load(tmp_path / "g.safetensors")
    np.testing.assert_array_equal(back["a"], s["a"])
    np.testing.assert_array_equal(back["b"][0], s["b"][0])
    assert back["b"][0].dtype == np.int32 and back["b"][1]["c"].dtype == np.bool_
    assert back["n"] == 2 ** 100 and back["f"] == 0.1


def test_not_a_checkpoint(tiny, tmp_path):
    t = trainer(tiny)
    other = tmp_path / "weights.safetensors"
    h = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    other.write_bytes(struct.pack("<Q", len(h)) + h + b"\0\0\0\0")
    with pytest.raises(ValueError, match="not a splatcore checkpoint"):
        t.load_checkpoint(str(other))
    garbage = tmp_path / "g.bin"
    garbage.write_bytes(os.urandom(64))
    with pytest.raises(ValueError, match=str(garbage)):
        t.load_checkpoint(str(garbage))
    # a well-formed checkpoint whose state is not the trainer's
    checkpoint.save(tmp_path / "x.safetensors", {"step": 3})
    with pytest.raises(ValueError, match="not a valid training checkpoint"):
        t.load_checkpoint(str(tmp_path / "x.safetensors"))
    # a newer format version
    raw = (tmp_path / "x.safetensors").read_bytes().replace(b'"version": "2"', b'"version": "9"')
    (tmp_path / "v.safetensors").write_bytes(raw)
    with pytest.raises(ValueError, match="version"):
        t.load_checkpoint(str(tmp_path / "v.safetensors"))


def test_paths_that_are_not_files(tiny, tmp_path):
    t = trainer(tiny)
    with pytest.raises(FileNotFoundError, match="nope"):
        t.load_checkpoint(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="not a regular file"):
        t.load_checkpoint(str(tmp_path))
    fifo = tmp_path / "fifo"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)  # opening it would block until a writer comes
        with pytest.raises(ValueError, match="not a regular file"):
            t.load_checkpoint(str(fifo))


def test_non_finite_tensors_in_a_checkpoint(tiny, tmp_path):
    t = trainer(tiny)
    path = tmp_path / "c.safetensors"
    t.save_checkpoint(str(path))
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    e = json.loads(raw[8:8 + n])["state/gaussians/shN"]
    at = 8 + n + e["data_offsets"][0] + 4 * 7
    raw[at:at + 4] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"state/gaussians/shN.*NaN") as err:
        trainer(tiny).load_checkpoint(str(path))
    assert str(path) in str(err.value)
