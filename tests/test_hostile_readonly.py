"""Issue 12, defect 1: no C++ path writes through read-only memory.

Each case wraps read-only memory (a NumPy array with writeable=False, an
immutable `bytes` through np.frombuffer, np.memmap(mode="r")) in a tensor and
asks for a write: it must raise ValueError naming the tensor, and the memory
must be unchanged (compared with a copy taken before)."""
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import splatcore as sc
from splatcore import optim


def readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def leaf(a):
    t = sc.tensor(a)
    t.requires_grad = True
    return t


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=1e-2), lambda ps: optim.AdamW(ps, lr=1e-2),
    lambda ps: optim.SGD(ps, lr=1e-2, momentum=0.9)])
def test_optimizers_refuse_read_only_parameters(rng, make):
    a = readonly(rng.standard_normal((5, 3)).astype(np.float32))
    before = a.copy()
    p = leaf(a)
    with pytest.raises(ValueError, match=r"params\[0\].*read-only"):
        make([p])
    ok = leaf(rng.standard_normal(2).astype(np.float32))
    opt = make([ok])
    with pytest.raises(ValueError, match=r"params\[0\].*read-only"):
        opt.add_param_group({"params": [p]})
    np.testing.assert_array_equal(a, before)


def test_immutable_bytes_are_never_written(rng):
    raw = rng.standard_normal(8).astype(np.float64).tobytes()
    before = bytes(raw)
    p = leaf(np.frombuffer(raw, np.float64))
    with pytest.raises(ValueError, match="read-only"):
        optim.Adam([p], lr=0.1)
    assert raw == before


def test_row_surgery_refuses_a_read_only_replacement(rng):
    w = leaf(rng.standard_normal((4, 2)))
    opt = optim.Adam([w], lr=1e-2)
    new = readonly(rng.standard_normal((6, 2)))
    before = new.copy()
    with pytest.raises(ValueError, match="new.*read-only"):
        opt.append_rows(w, leaf(new))
    with pytest.raises(ValueError, match="read-only"):
        opt.replace_param(w, leaf(new), np.arange(6) % 4)
    np.testing.assert_array_equal(new, before)


def test_accumulate_grad2d_refuses_read_only_outputs(rng):
    n = 16
    g = rng.standard_normal((n, 2)).astype(np.float32)
    radii = rng.integers(1, 5, (n, 2)).astype(np.int32)
    s, c = readonly(rng.random(n)), np.zeros(n)
    before = s.copy()
    with pytest.raises(ValueError, match="grad_sum.*read-only"):
        sc._core.accumulate_grad2d(g, radii, 1.0, 1.0, s, c)
    np.testing.assert_array_equal(s, before)
    with pytest.raises(ValueError, match="count.*read-only"):
        sc._core.accumulate_grad2d(g, radii, 1.0, 1.0, np.zeros(n), readonly(np.ones(n)))


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_in_place_operators_refuse_read_only_tensors(rng, op):
    a = readonly(rng.random(6) + 0.5)
    before = a.copy()
    t = sc.tensor(a)
    with pytest.raises(ValueError, match=re.escape(op) + ".*read-only"):
        exec(f"t {op} 2.0", {"t": t})
    with pytest.raises(ValueError, match="setitem.*read-only"):
        t[1:3] = 0.0
    np.testing.assert_array_equal(a, before)


def test_grad_accumulation_never_writes_into_a_read_only_grad(rng):
    x = leaf(rng.standard_normal(5))
    g0 = readonly(rng.standard_normal(5))
    before = g0.copy()
    x.grad = g0
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), before + 3.0, rtol=1e-15)
    np.testing.assert_array_equal(g0, before)


def test_step_on_a_read_only_memmap_raises_instead_of_crashing(tmp_path):
    # Used to die with SIGSEGV: run it in a child so a crash fails the test
    # instead of killing pytest.
    path = tmp_path / "w.bin"
    np.random.default_rng(7).standard_normal(1000).astype(np.float32).tofile(path)
    code = textwrap.dedent(f"""
        import numpy as np, splatcore as sc
        from splatcore import optim
        m = np.memmap({str(path)!r}, dtype=np.float32, mode="r")
        p = sc.tensor(m); p.requires_grad = True
        try:
            opt = optim.SGD([p], lr=0.5)
        except ValueError as e:
            print("refused:", e)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "read-only" in r.stdout
    np.testing.assert_array_equal(np.fromfile(path, np.float32),
                                  np.random.default_rng(7).standard_normal(1000).astype(np.float32))
