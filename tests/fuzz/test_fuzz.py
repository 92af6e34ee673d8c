"""Runs every fuzz target for a few seconds with a fixed seed, from the seed
corpus (copied: new inputs stay in tmp). A finding fails the test with the
reproducer's path and libFuzzer's report. Longer runs: see run.py."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = 3  # per target: the whole suite runs on 2 cores in CI
sys.path.insert(0, HERE)

from targets import TARGETS  # noqa: E402

# atheris ships wheels for Linux (and macOS x86); it is in the `test` extra there.
atheris = pytest.importorskip("atheris", reason="atheris (the fuzzer) is installed on Linux only") \
    if not sys.platform.startswith("linux") else __import__("atheris")


def test_every_target_has_a_seed_corpus():
    for name in TARGETS:
        d = os.path.join(HERE, "corpus", name)
        assert os.path.isdir(d) and os.listdir(d), name


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(os.path.join(HERE, "corpus", name), corpus)
    cmd = [sys.executable, os.path.join(HERE, "run.py"), name, "-seed=20261203",
           f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=3000",
           "-max_len=4096", f"-artifact_prefix={tmp_path}{os.sep}", "-print_final_stats=1",
           str(corpus)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 120)
    found = [f for f in os.listdir(tmp_path) if f.split("-")[0] in ("crash", "timeout", "oom", "leak")]
    report = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0 and not found, f"{name}: rc {r.returncode}, {found}\n{report}"
    runs = [ln for ln in report.splitlines() if ln.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 50, report  # it really ran
