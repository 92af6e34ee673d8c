"""Run-time CPU dispatch (cpp/core/cpu_target.h): every CPU target compiled in
and supported by this machine gives the portable target's bits, and matches
an independent reference, for each kernel compiled per target (the sources of
SPLATCORE_PER_TARGET_SOURCES, all built with -ffp-contract=off, summing in the
same order on every target):
- the rasterizer: compositing rows, per-Gaussian projection / SH / backward,
  both the activated form and the training form (rasterize_params); reference
  tests/raster_reference.py (float64 NumPy) at the rasterizer tests' tolerances;
- SSIM forward and backward; reference the SciPy SSIM of tests/test_loss.py
  and central finite differences.
SPLATCORE_CPU_TARGET forces a target; a bad value fails at import.
"""
import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

import splatcore as sc
from splatcore._info import forced_cpu_target
from helpers import check_grad, rel_err
from test_loss import SHAPES as SSIM_SHAPES, image_pair, ssim_ref
from test_rasterize import (F32_TOL, F64_TOL, _fd_scene_try, compare_to_reference, cpp_backward,
                            random_scene, screened, upstream)

ALL_TARGETS = [name for name, _, _ in sc._core.cpu_targets()]
USABLE = [name for name, compiled, supported in sc._core.cpu_targets() if compiled and supported]
X86 = platform.machine().lower() in ("x86_64", "amd64")
ARM64 = platform.machine().lower() in ("aarch64", "arm64")


@pytest.fixture
def target(request):
    """Switch to the parametrised CPU target; restore the previous one after."""
    name = request.param
    table = {n: (c, s) for n, c, s in sc._core.cpu_targets()}
    compiled, supported = table[name]
    if not compiled:
        pytest.skip(f"CPU target {name} is not compiled for {platform.machine()}")
    if not supported:
        pytest.skip(f"this CPU does not support {name}")
    with forced_cpu_target(name):
        yield name


def test_targets_of_this_architecture_are_compiled():
    names = {n for n, c, _ in sc._core.cpu_targets() if c}
    assert "portable" in names
    if X86:
        assert {"sse2", "avx2", "avx512"} <= names
    if ARM64:
        assert "neon" in names
    assert sc._core.cpu_target() in USABLE
    if not os.environ.get("SPLATCORE_CPU_TARGET"):
        assert sc._core.cpu_target() == USABLE[-1], "the best usable target is the default"
    assert sc.info()["cpu_target"] == sc._core.cpu_target()


def test_switching_target():
    for name in USABLE:
        with forced_cpu_target(name):
            assert sc._core.cpu_target() == name
    bad = [n for n in ALL_TARGETS if n not in USABLE]
    for name in bad:
        with pytest.raises(ValueError, match=name):
            sc._core._set_cpu_target(name)
    with pytest.raises(ValueError, match="unknown CPU target"):
        sc._core._set_cpu_target("avx1024")


def _run(env_value):
    env = dict(os.environ, SPLATCORE_CPU_TARGET=env_value)
    code = "import splatcore as sc; print(sc._core.cpu_target())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("name", ALL_TARGETS + ["bogus"])
def test_environment_variable_forces_target(name):
    p = _run(name)
    if name in USABLE:
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == name
    else:
        assert p.returncode != 0
        assert "SPLATCORE_CPU_TARGET" in p.stderr or "unknown CPU target" in p.stderr, p.stderr


def _scenes(rng):
    """Scenes that reach every branch of the rows: partial rows (widths not a
    multiple of 16), pixels that hit the T <= 1e-4 stop, colours clamped at
    zero, 3 to 16 channels, depth channels."""
    seed = int(rng.integers(1 << 30))
    w, h = int(rng.integers(17, 70)), int(rng.integers(9, 50))
    yield "sh3", random_scene(seed, n=int(rng.integers(100, 400)), width=w, height=h, sh_degree=3), {}
    yield "dense", _fd_scene_try(seed, 60, w, h, 2, 3, True, dense=True), dict(render_mode="RGB+ED")
    yield "c16", random_scene(seed + 1, n=150, width=w, height=h, sh_degree=None, n_colors=16), {}
    yield "c5+D", random_scene(seed + 2, n=150, width=w, height=h, sh_degree=None, n_colors=5), \
        dict(render_mode="RGB+D", antialiased=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_matches_portable_bits(target, dtype, rng):
    for label, scene, kw in _scenes(rng):
        h, w = scene["height"], scene["width"]
        n_ch = 3 if scene["sh_degree"] is not None else scene["colors_or_sh"].shape[-1]
        n_ch += kw.get("render_mode", "RGB").count("D")
        w_img, w_alpha = upstream(rng, (h, w, n_ch), h, w)
        got = cpp_backward(scene, w_img, w_alpha, dtype=dtype, **kw)
        with forced_cpu_target("portable"):
            want = cpp_backward(scene, w_img, w_alpha, dtype=dtype, **kw)
        (g, img, alpha, _), (g0, img0, alpha0, _) = got, want
        assert np.abs(img0).max() > 0, f"{label}: empty render"
        assert np.array_equal(img, img0), f"{label}: {target} image differs from portable"
        assert np.array_equal(alpha, alpha0), f"{label}: {target} alpha differs from portable"
        for k in g0:
            if g0[k] is None:
                continue
            assert np.abs(g0[k]).max() > 0, f"{label}: no gradient for {k}"
            assert np.array_equal(g[k], g0[k]), (
                f"{label}: {target} d/d{k} differs from portable by up to "
                f"{np.abs(g[k] - g0[k]).max():.3e}")


@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_matches_reference(target, rng):
    seed = int(rng.integers(1 << 30))
    for kw in (dict(render_mode="RGB"), dict(render_mode="RGB+ED", antialiased=True)):
        scene = screened(lambda s: random_scene(s, n=250, width=53, height=37, sh_degree=3), seed,
                         [kw])
        compare_to_reference(scene, np.float32, F32_TOL, **kw)
        compare_to_reference(scene, np.float64, F64_TOL, **kw)


def _params_form(scene, sh_degree, antialiased, w_img, w_alpha, dtype):
    """rasterize_params (training's form: log-scales, logits, sh0 + shN read in
    place) forward and backward: image, alpha and every parameter gradient."""
    sh = np.asarray(scene["colors_or_sh"], np.float64)
    raw = dict(means=scene["means"], quats=scene["quats"], scales=np.log(scene["scales"]),
               opacities=np.log(scene["opacities"] / (1 - scene["opacities"])),
               sh0=sh[:, :1], shN=sh[:, 1:])
    t = {k: sc.tensor(np.ascontiguousarray(v, dtype), requires_grad=True) for k, v in raw.items()}
    img, alpha, _ = sc._core.rasterize_params(
        t["means"], t["quats"], t["scales"], t["opacities"], t["sh0"], t["shN"],
        viewmat=np.asarray(scene["viewmat"], dtype), K=np.asarray(scene["K"], dtype), width=scene["width"],
        height=scene["height"], sh_degree=sh_degree, background=np.asarray(scene["background"], dtype),
        antialiased=antialiased)
    ((img * sc.tensor(w_img.astype(dtype))).sum() + (alpha * sc.tensor(w_alpha.astype(dtype))).sum()).backward()
    return [img.numpy(), alpha.numpy()] + [t[k].grad.numpy() for k in sorted(t)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_parameter_form_matches_portable_bits(target, dtype, rng):
    for sh_degree, aa in ((1, False), (3, True)):
        scene = random_scene(int(rng.integers(1 << 30)), n=300, width=int(rng.integers(20, 70)),
                             height=int(rng.integers(12, 50)), sh_degree=3, n_culled=5)
        h, w = scene["height"], scene["width"]
        w_img, w_alpha = rng.standard_normal((h, w, 3)), rng.standard_normal((h, w, 1))
        got = _params_form(scene, sh_degree, aa, w_img, w_alpha, dtype)
        with forced_cpu_target("portable"):
            want = _params_form(scene, sh_degree, aa, w_img, w_alpha, dtype)
        assert np.abs(want[0]).max() > 0 and np.abs(want[-1]).max() > 0
        for k, (a, b) in enumerate(zip(got, want)):
            assert np.array_equal(a, b), (f"{target}, SH degree {sh_degree}: output {k} differs from "
                                          f"portable by up to {np.abs(a - b).max():.3e}")


# ---- SSIM ----------------------------------------------------------------------------
def _ssim_value_and_grads(a, b, dtype):
    ta = sc.tensor(a.astype(dtype), requires_grad=True)
    tb = sc.tensor(b.astype(dtype), requires_grad=True)
    v = sc.loss.ssim(ta, tb)
    (v * sc.tensor(np.array(-1.7, dtype))).backward()
    return v.numpy(), ta.grad.numpy(), tb.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ALL_TARGETS, indirect=True)
def test_target_ssim_matches_portable_bits_and_reference(target, dtype, rng):
    """Row widths W*C that are and are not multiples of every register width,
    images narrower than the window, batches; value and both gradients."""
    for shape in SSIM_SHAPES + [(96, 128, 3), (37, 61, 3), (20, 45, 1)]:
        for kind in ("independent", "close"):
            a, b = image_pair(rng, shape, kind)
            got = _ssim_value_and_grads(a, b, dtype)
            with forced_cpu_target("portable"):
                want = _ssim_value_and_grads(a, b, dtype)
            for name, x, y in zip(("value", "d/dimg1", "d/dimg2"), got, want):
                assert np.array_equal(x, y), f"{shape} {kind}: {target} SSIM {name} differs from portable"
            a_r, b_r = a.astype(dtype), b.astype(dtype)  # the reference on the rounded inputs
            assert rel_err(float(got[0]), ssim_ref(a_r, b_r)) < (1e-5 if dtype == np.float32 else 1e-10)
            if dtype == np.float32:  # float32 gradients against the float64 ones
                g64 = _ssim_value_and_grads(a, b, np.float64)
                assert rel_err(got[1], g64[1]) < 1e-4 and rel_err(got[2], g64[2]) < 1e-4
    for shape in ((13, 9, 3), (2, 6, 7, 2)):  # float64 gradients against finite differences
        a, b = image_pair(rng, shape, "independent")
        check_grad(sc.loss.ssim, [a, b], tol=1e-4)


def _tool(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def test_neon_rows_bits_under_qemu(tmp_path):
    """The NEON rows (4 registers of 4 lanes) against the portable kernels, bit
    for bit, cross-compiled with the flags of cmake/cpu_targets.cmake and run
    under qemu (tools/rows_bits.cpp). Needs an AArch64 cross compiler and
    qemu-aarch64; on an AArch64 machine the tests above run the NEON target."""
    cxx = _tool("aarch64-linux-gnu-g++")
    qemu = _tool("qemu-aarch64-static", "qemu-aarch64")
    if ARM64 or not cxx or not qemu:
        pytest.skip("needs aarch64-linux-gnu-g++ and qemu-aarch64 on a non-AArch64 machine")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    objs = []
    for name, width in (("neon", 16), ("portable", 0)):
        obj = str(tmp_path / f"rows_{name}.o")
        subprocess.run([cxx, "-std=gnu++17", "-O3", "-fno-math-errno", "-ffp-contract=off",
                        f"-DSC_TARGET_NAME={name}", f"-DSC_ROWS_BYTES={width}", "-I", f"{root}/cpp",
                        "-c", f"{root}/cpp/splat/rows_target.cpp", "-o", obj], check=True)
        objs.append(obj)
    exe = str(tmp_path / "rows_bits")
    subprocess.run([cxx, "-std=gnu++17", "-O2", "-I", f"{root}/cpp", f"{root}/tools/rows_bits.cpp",
                    *objs, "-static", "-o", exe], check=True)
    p = subprocess.run([qemu, exe], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "neon: 0 mismatching trials" in p.stdout


# per-source flags of cmake/cpu_targets.cmake (set_source_files_properties)
SOURCE_FLAGS = {"splat/binning_target": ["-fno-trapping-math"]}


def _build_target_bits(cxx, targets, out, tmp_path, static=False, tool="target_bits",
                       sources=("splat/gaussians_target", "splat/ssim_target")):
    """tools/<tool>.cpp linked with the per-target `sources` (under cpp/)
    compiled for each (name, bytes) of `targets` with the per-target flags (no
    contraction); by default tools/target_bits.cpp with splat/gaussians_target.cpp
    and splat/ssim_target.cpp."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    objs, jobs = [], []
    for src in sources:
        for name, width in targets:
            obj = str(tmp_path / f"{os.path.basename(src)}_{name}_{os.path.basename(cxx)}.o")
            jobs.append(subprocess.Popen([cxx, "-std=gnu++17", "-O3", "-fno-math-errno", "-ffp-contract=off",
                                          *SOURCE_FLAGS.get(src, []), f"-DSC_TARGET_NAME={name}",
                                          f"-DSC_ROWS_BYTES={width}", "-I", f"{root}/cpp", "-c",
                                          f"{root}/cpp/{src}.cpp", "-o", obj]))
            objs.append(obj)
    for job in jobs:  # compiled side by side (a few seconds less on two cores)
        assert job.wait() == 0, job.args
    exe = str(tmp_path / out)
    subprocess.run([cxx, "-std=gnu++17", "-O2", "-ffp-contract=off", "-I", f"{root}/cpp",
                    f"{root}/tools/{tool}.cpp", *objs, *(["-static"] if static else []), "-o", exe],
                   check=True)
    return exe


def neon_against_x86_under_qemu(tmp_path, **build):
    """Builds a bit-check tool (_build_target_bits(**build)) for AArch64
    (portable + neon, run under qemu) and for this x86-64 machine (portable +
    sse2), runs both on the same fresh seed, and checks that each found no
    difference between its two targets and that both printed the same digest
    of their outputs. Skips without the cross tools."""
    cxx = _tool("aarch64-linux-gnu-g++")
    qemu = _tool("qemu-aarch64-static", "qemu-aarch64")
    if ARM64 or not cxx or not qemu or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs aarch64-linux-gnu-g++ and qemu-aarch64 on an x86-64 machine")
    tool = build.get("tool", "target_bits")
    arm = _build_target_bits(cxx, [("portable", 0), ("neon", 16)], f"{tool}_arm", tmp_path, static=True, **build)
    x86 = _build_target_bits("g++", [("portable", 0), ("sse2", 16)], f"{tool}_x86", tmp_path, **build)
    seed = str(int(np.random.default_rng().integers(1, 2**31)))  # fresh inputs each run
    pa = subprocess.run([qemu, arm, "--digest", seed], capture_output=True, text=True)
    px = subprocess.run([x86, "--digest", seed], capture_output=True, text=True)
    assert pa.returncode == 0, pa.stdout + pa.stderr
    assert px.returncode == 0, px.stdout + px.stderr
    assert "neon: 0 mismatching trials" in pa.stdout and "sse2: 0 mismatching trials" in px.stdout
    da, dx = pa.stdout.split()[1], px.stdout.split()[1]
    assert pa.stdout.startswith("digest ") and da == dx, (seed, pa.stdout, px.stdout)
    return pa.stdout


def test_neon_targets_bits_under_qemu(tmp_path):
    """The per-Gaussian stages (projection, SH features, backward) and the SSIM
    rows built for AArch64's NEON target, run under qemu, against the portable
    target there bit for bit, and against this machine's x86-64 build on the
    same inputs (a digest of every output): the two architectures give the same
    bits."""
    neon_against_x86_under_qemu(tmp_path)
