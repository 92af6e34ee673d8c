"""Issue 12, defect 4: SIGTERM (timeout, docker stop, schedulers) does what
Ctrl-C does, periodic checkpoints, and no temporary file outlives a signal."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from helpers_colmap import write_tiny_colmap
from splatcore.gaussians import Gaussians

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def temporaries(d):
    return [f for r, _, fs in os.walk(d) for f in fs if f.endswith(".tmp")]


def wait_for(pred, timeout=120.0):
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_training_writes_everything(tmp_path, sig):
    data, out = tmp_path / "data", tmp_path / "out"
    write_tiny_colmap(data, n_images=4)
    ckpt = out / "checkpoint.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "splatcore", "train", str(data), "-o", str(out),
                             "--iters", "1000000", "--checkpoint-every", "5", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the periodic checkpoint appears while training runs
        assert wait_for(lambda: ckpt.exists() or proc.poll() is not None), "no periodic checkpoint"
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] is True and 5 <= m["steps"] < 1000000
    g = Gaussians.load_ply(str(out / "scene.ply"))
    assert len(g) > 0 and np.all(np.isfinite(g.means.numpy()))
    # the final checkpoint is the stopped state, and it resumes
    from splatcore import checkpoint
    assert checkpoint.load(ckpt)["step"] == m["steps"]
    assert temporaries(out) == []


def test_stale_temporaries_are_removed_at_start(tmp_path):
    from splatcore.cli import main

    data, out = tmp_path / "data", tmp_path / "out"
    write_tiny_colmap(data)
    out.mkdir()
    stale = [out / ".scene.ply.k2j4h_9a.tmp", out / ".checkpoint.safetensors.aaaaaaaa.tmp"]
    for s in stale:
        s.write_bytes(os.urandom(100))
    keep = out / "notes.tmp"  # not one of ours: left alone
    keep.write_text("mine")
    assert main(["train", str(data), "-o", str(out), "--iters", "3", "-q"]) == 0
    assert not any(s.exists() for s in stale) and keep.exists()
    assert temporaries(out) == ["notes.tmp"]


def test_sigterm_during_a_write_leaves_no_temporary(tmp_path):
    # A command that is writing (atomic_write) when SIGTERM comes: the write is
    # abandoned and its temporary file deleted, exit code 130.
    target = tmp_path / "big.bin"
    code = textwrap.dedent(f"""
        import sys, time
        from splatcore.cli_errors import run
        from splatcore.io.atomic import atomic_write

        def slow_write(_):
            with atomic_write({str(target)!r}, "wb") as f:
                print("writing", flush=True)
                for _ in range(6000):
                    f.write(b"x" * 1000)
                    time.sleep(0.01)
            return 0

        sys.exit(run("test", slow_write, None))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert temporaries(tmp_path)  # the write is in progress
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert temporaries(tmp_path) == [] and not target.exists()
