"""Issue 12, defect 3: a safetensors file truncated or rewritten after it was
opened must not kill the process (it did, with SIGBUS, while tensors were
views into a memory map). Each case runs in a child process, so that a crash
fails the test instead of killing pytest."""
import json
import struct
import subprocess
import sys
import textwrap

import numpy as np


def st_file(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return 8 + len(h)


def run_child(code):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_truncated_after_open(tmp_path, rng):
    a = rng.standard_normal(1 << 18).astype(np.float32)  # 1 MiB: many pages
    b = rng.standard_normal(1 << 16).astype(np.float32)
    p = tmp_path / "w.safetensors"
    data0 = st_file(p, {"a": a, "b": b})
    np.save(tmp_path / "a.npy", a)
    out = run_child(f"""
        import os, numpy as np, splatcore as sc
        f = sc._core.SafetensorsFile({str(p)!r})
        t = f.tensor("a")
        os.truncate({str(p)!r}, {data0 + 100})   # another process cuts the file
        # the tensor read before is intact (a mapped view would SIGBUS here) ...
        assert np.array_equal(t.numpy(), np.load({str(tmp_path / "a.npy")!r}))
        # ... and reading after the cut is a clear error naming the file
        for name in ("a", "b"):
            try:
                f.tensor(name)
            except ValueError as e:
                print("error:", e)
    """)
    lines = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(lines) == 2, out
    for ln in lines:
        assert str(p) in ln and "truncated" in ln


def test_rewritten_after_open(tmp_path, rng):
    a = rng.standard_normal(1 << 16).astype(np.float32)
    p = tmp_path / "w.safetensors"
    st_file(p, {"a": a})
    np.save(tmp_path / "a.npy", a)
    out = run_child(f"""
        import numpy as np, splatcore as sc
        f = sc._core.SafetensorsFile({str(p)!r})
        t = f.tensor("a")
        with open({str(p)!r}, "r+b") as fh:   # rewritten in place, then shortened
            fh.seek(0); fh.write(b"\\xff" * 4096); fh.truncate(4096)
        assert np.array_equal(t.numpy(), np.load({str(tmp_path / "a.npy")!r}))
        try:
            f.tensor("a")
        except ValueError as e:
            print("error:", e)
    """)
    assert "error:" in out and str(p) in out


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    out = run_child(f"""
        import splatcore as sc
        try:
            sc._core.SafetensorsFile({str(fifo)!r})
        except ValueError as e:
            print("error:", e)
    """)
    assert "not a regular file" in out and str(fifo) in out
