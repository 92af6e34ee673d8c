"""Issue 12, defect 6: thread counts without bounds. Each case runs in a child
process: the failures were an abort and a hang of the whole process."""
import os
import subprocess
import sys
import textwrap

import pytest

import splatcore as sc

# An op that goes through the pool, checked against NumPy.
CHECK = """
import numpy as np
a = np.random.default_rng(1).standard_normal(1 << 20)
assert abs(float(sc.tensor(a).sum().item()) - a.sum()) < 1e-6 * np.abs(a).sum()
"""


def child(code, env=None, timeout=60):
    e = dict(os.environ, **(env or {}))
    r = subprocess.run([sys.executable, "-c", "import splatcore as sc\n" + textwrap.dedent(code)
                        + CHECK + "print('ok', sc.num_threads())"],
                       capture_output=True, text=True, timeout=timeout, env=e)
    assert r.returncode == 0, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.stdout.split()[0] == "ok"
    return int(r.stdout.split()[1]), r.stderr


def test_set_num_threads_refuses_too_many():
    n, _ = child("""
        sc.set_num_threads(3)
        try:
            sc.set_num_threads(100000)
        except ValueError as e:
            assert "100000" in str(e) and "limit" in str(e), e
        else:
            raise SystemExit("no ValueError")
    """)
    assert n == 3  # the pool is as it was


@pytest.mark.parametrize("value, expect", [("100000", "exceeds the limit"),
                                           ("-3", "not a positive"), ("lots", "not a positive"),
                                           ("99999999999999999999999", "not a positive")])
def test_environment_variable_is_clamped_with_a_warning(value, expect):
    n, err = child("", env={"SPLATCORE_NUM_THREADS": value})
    assert expect in err and "SPLATCORE_NUM_THREADS" in err
    assert 1 <= n <= max(64, 4 * os.cpu_count())


def test_in_process_bounds():
    before = sc.num_threads()
    with pytest.raises(ValueError, match="limit"):
        sc.set_num_threads(10 ** 6)
    assert sc.num_threads() == before
