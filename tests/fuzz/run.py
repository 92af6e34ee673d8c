"""Run one fuzz target under atheris (libFuzzer).

    python tests/fuzz/run.py TARGET [libFuzzer options] [CORPUS_DIR ...]

e.g. an hour on the COLMAP readers, new inputs kept in a scratch corpus:

    mkdir -p /tmp/c && cp tests/fuzz/corpus/colmap/* /tmp/c
    python tests/fuzz/run.py colmap -max_total_time=3600 -timeout=10 /tmp/c

Targets: see targets.TARGETS. A finding (an unexpected exception, a crash, a
hang over -timeout seconds) is written as crash-* / timeout-* (-artifact_prefix);
replay it with `python tests/fuzz/run.py TARGET crash-...`.
"""
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["splatcore", "targets"]):
    import splatcore.io.colmap  # noqa: F401  (instrumented for coverage)
    import splatcore.io.dataset  # noqa: F401
    import splatcore.io.ply  # noqa: F401
    import splatcore.mesh.io  # noqa: F401
    import splatcore.checkpoint  # noqa: F401
    import targets


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} TARGET [libFuzzer options] [CORPUS ...]; "
                 f"TARGET in {sorted(targets.TARGETS)}")
    target = targets.TARGETS[sys.argv[1]]

    def one_input(data):
        try:
            target(data)
        except targets.EXPECTED:
            pass

    atheris.Setup([sys.argv[0]] + sys.argv[2:], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
