"""The kernel portability guard passes on the tree and fails on each forbidden construct."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUARD = os.path.join(ROOT, "tools", "check_kernels.py")
HEADER = '#pragma once\n#include "kernels/compat.h"\n'


def run_guard(*paths):
    return subprocess.run([sys.executable, GUARD, *paths], capture_output=True, text=True)


def test_tree_kernels_pass():
    r = run_guard()
    assert r.returncode == 0, r.stdout + r.stderr


def test_clean_header_passes(tmp_path):
    h = tmp_path / "ok.h"
    h.write_text(HEADER + "template <typename T> SC_FN T twice(T x) { return x + x; }\n"
                 "SC_FN float f(SC_DEVICE const float* p, int i) { return exp(p[i]) + sqrt(p[i]); }\n")
    r = run_guard(str(h))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("body, why", [
    ("SC_FN float f(float x) { return std::exp(x); }", "std"),
    ("SC_FN float* f(int n) { return new float[n]; }", "new"),
    ("SC_FN float f(float x) { if (x < 0) throw 1; return x; }", "exception"),
    ("SC_FN int f(int n) { return n <= 1 ? 1 : n * f(n - 1); }", "calls itself"),
    ("SC_FN double f(double x) { return x; }", "double"),
    ("SC_FN float f(float** p) { return p[0][0]; }", "pointer-to-pointer"),
    ("SC_FN float f(float x) { return erf(x); }", "erf"),
    ("#include <cmath>\nSC_FN float f(float x) { return x; }", "include"),
    ("struct B { virtual float f() { return 0; } };", "virtual"),
])
def test_forbidden_constructs_fail(tmp_path, body, why):
    h = tmp_path / "bad.h"
    h.write_text(HEADER + body + "\n")
    r = run_guard(str(h))
    assert r.returncode != 0, f"guard accepted a header using {why}:\n{body}"


GPU_HEADER = ('#pragma once\n#include "gpu/dialect.h"\n'
              'struct Args { SC_PTR(float) out; SC_PTR(const float) in; sc_i64 n; };\n')


def test_metal_only_branches_may_spell_msl(tmp_path):
    # MSL's own names inside the Metal-only branch, and pointers of a CUDA-only
    # branch, are not the common subset's business.
    h = tmp_path / "gpu_branches.h"
    h.write_text(GPU_HEADER + "#if defined(__METAL_VERSION__)\nSC_FN half widen(uint x) { return half(x); }\n"
                 "#elif defined(__CUDACC__)\nSC_FN float first(const float* p) { return p[0]; }\n#endif\n"
                 "SC_FN float f(SC_DEVICE const float* p, SC_THREAD float& acc) { acc += p[0]; return acc; }\n")
    r = run_guard(str(h))
    assert r.returncode == 0, r.stdout + r.stderr


def test_clean_gpu_kernel_passes(tmp_path):
    h = tmp_path / "gpu_ok.h"
    h.write_text(GPU_HEADER + "SC_KERNEL(k, Args) {\n  SC_SHARED(float, s, 64);\n"
                 "  s[SC_TID_X] = args.in[SC_TID_X];\n  SC_BARRIER();\n"
                 "  args.out[SC_TID_X] = sc_simd_sum(s[63 - SC_TID_X]);\n}\n"
                 "#if SC_GPU_HAS_FLOAT64\nSC_FN double widen(float x) { return x; }\n#endif\n")
    r = run_guard(str(h))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("body, why", [
    ("SC_KERNEL(k, Args) { double d = args.in[0]; args.out[0] = (float)d; }", "double"),
    ("SC_KERNEL(k, Args) { args.out[0] = std::sqrt(args.in[0]); }", "compile"),
    ("SC_KERNEL(k, Args) { float* p = new float[4]; args.out[0] = p[0]; }", "compile"),
    # what C++ accepts and Apple's Metal compiler does not: MSL's reserved names as identifiers,
    ("SC_KERNEL(k, Args) { float half[2] = {0, 1}; args.out[0] = half[1]; }", "'half' used as a name"),
    ("SC_FN float f(float uint) { return uint; }", "'uint' used as a name"),
    ("SC_FN float f(float float2) { return float2; }", "'float2' used as a name"),
    # and pointer / reference parameters with no address space (MSL requires one).
    ("SC_FN float first(const float* p) { return p[0]; }", "has no address space"),
    ("SC_FN void bump(float& x) { x += 1.0f; }", "has no address space"),
    # built-in indices and shared memory outside kernel bodies (MSL passes the
    # indices as kernel parameters and declares threadgroup memory at kernel scope)
    ("SC_GROUP_FN float lane_value(float x) { return sc_simd_shuffle(x, SC_LANE ^ 1u); }", "sc_guard_builtins"),
    ("SC_GROUP_FN void stage(SC_ARGS_REF(Args) a) { SC_SHARED(float, s, 32); s[0] = a.in[0]; }",
     "sc_guard_builtins"),
])
def test_gpu_kernel_violations_fail(tmp_path, body, why):
    h = tmp_path / "gpu_bad.h"
    h.write_text(GPU_HEADER + body + "\n")
    r = run_guard(str(h))
    assert r.returncode == 1, r.stdout
    assert why in r.stdout
