"""The Metal backend's host code compiles against Apple's metal-cpp on Linux
(issue 15, check b): tools/check_metal_host.py runs clang++ -fsyntax-only over
cpp/gpu/metal and cpp/backend/metal with tools/metal_stubs/ for the Apple
system headers, and each planted error (a method, an overload or an enum
value metal-cpp does not have) must make it fail.

Needs clang++ and metal-cpp: ../shared/third_party/metal-cpp beside the
checkout, or SPLATCORE_METAL_CPP_DIR (.ci/run fetches metal-cpp and sets it).
Without them these tests skip and say which is missing."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "check_metal_host.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import check_metal_host  # noqa: E402


def _missing():
    if not check_metal_host.find_clang():
        return "clang++ not found (apt-get install clang, or set CLANGXX)"
    if not check_metal_host.find_metal_cpp():
        return ("metal-cpp not found (set SPLATCORE_METAL_CPP_DIR, as .ci/run does, or provide "
                "../shared/third_party/metal-cpp)")
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _run(*files):
    return subprocess.run([sys.executable, SCRIPT, *files], capture_output=True, text=True, timeout=300)


def test_metal_host_sources_compile_against_metal_cpp():
    r = _run()
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(check_metal_host.sources())
    assert n >= 6 and f"{n} Metal host sources compile" in r.stdout
    assert any(p.endswith("mps_gemm.cpp") for p in check_metal_host.sources()), "the MPS GEMM is not checked"


# (source, text in it, planted replacement, what clang must report)
PLANTED = [
    ("cpp/gpu/metal/pipelines.cpp", "state->maxTotalThreadsPerThreadgroup()", "state->maxThreadsPerGroup()",
     "no member named 'maxThreadsPerGroup'"),
    ("cpp/gpu/metal/metal_runtime.cpp", "enc->setBytes(args, args_bytes, 0);", "enc->setBytes(args, 0);",
     "no matching member function for call to 'setBytes'"),
    ("cpp/gpu/metal/command_stream.cpp", "MTL::CommandBufferStatusError", "MTL::CommandBufferStatusFailed",
     "CommandBufferStatusFailed"),
    ("cpp/gpu/metal/buffer_pool.cpp", "buf->gpuAddress()", "buf->gpuAddress(0)",
     "gpuAddress"),
    # The MPS GEMM (Objective-C messages sent from C++ through a typed method table):
    # a selector whose colons differ from its declared signature's arity,
    ("cpp/gpu/metal/mps_gemm.cpp", '"setBatchSize:"', '"setBatchSize"',
     "differ in arity"),
    # a call that leaves out an argument of its method,
    ("cpp/gpu/metal/mps_gemm.cpp", "send<Encode>(k, cb, m[0], m[1], m[2]);", "send<Encode>(k, cb, m[0], m[1]);",
     "wrong number of arguments"),
    # an argument narrower than the method's NSUInteger (an int would leave the
    # register's upper half undefined on arm64),
    ("cpp/gpu/metal/mps_gemm.cpp", "send<SetBatchSize>(k, NS::UInteger(nb));", "send<SetBatchSize>(k, int(nb));",
     "cannot be narrowed"),
    # one MPS object passed where another is declared (a descriptor for a matrix),
    ("cpp/gpu/metal/mps_gemm.cpp", "send<Encode>(k, cb, m[0], m[1], m[2]);",
     "send<Encode>(k, cb, m[0], m[1], static_cast<MPSMatrixDescriptor*>(nullptr));",
     "MPSMatrixDescriptor"),
    # a metal-cpp call the runtime's MPS path makes that metal-cpp does not have,
    ("cpp/gpu/metal/metal_runtime.cpp", "r.offset + extent > r.buffer->length()",
     "r.offset + extent > r.buffer->size()", "no member named 'size'"),
    # and the command stream handing MPS its command buffer with a wrong type.
    ("cpp/gpu/metal/command_stream.cpp", "  note(what);\n  return open_.cb;", "  note(what);\n  return encoder_;",
     "MTL::CommandEncoder"),
]


@pytest.mark.parametrize("source,old,new,message", PLANTED, ids=[p[2] for p in PLANTED])
def test_planted_error_fails_the_check(tmp_path, source, old, new, message):
    text = open(os.path.join(ROOT, source), encoding="utf-8").read()
    assert old in text, f"{source} no longer contains {old!r}: update the planted error"
    bad = tmp_path / os.path.basename(source)
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    r = _run(str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stdout, r.stdout
