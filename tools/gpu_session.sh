#!/usr/bin/env bash
# One full run on a CUDA machine: build, every GPU test on sim + cuda, then each
# GPU benchmark beside its anchor measured in the same run. Logs and JSON go to
# $OUT (default ./gpu_session_out). Made for the lent H200, where device time is
# scarce: one call does everything.
#
#   cp -r ../shared/gpu .anchors            # an ignored folder (carry it to the machine)
#   OUT=... bash tools/gpu_session.sh [tests|raster|train|mast3r|align|mesh|ops|scan|all ...]
#
# A carried copy of ../shared (SHARED_COPY, default .dev1/shared: golden/, gpu/,
# data/ as far as a run needs them) is linked as ../shared when the machine has
# none, so the tests and benches find the goldens and photos where they look.
# Only a few files come back from the device tool, so the logs are packed into
# $OUT/session.tgz, with session.log (the summary) beside it.
#
# Anchors, from .anchors/ (../shared/gpu): gsplat (gsplat_install.sh) for the
# rasterizer and training, PyTorch MASt3R (mast3r_torch_bench.py), torch for
# the op benches (CUB sort, cuBLAS). A missing anchor is said, and ours is still
# timed. SPLATCORE_CUDA_ARCHS (default 90) picks the architecture to build.
set -uo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(all)
want() { for p in "${parts[@]}"; do [ "$p" = all ] || [ "$p" = "$1" ] && return 0; done; return 1; }
stamp() { echo "== $(date +%T) $*" | tee -a "$OUT/session.log"; }
FINAL="${OUT:-$PWD/gpu_session_out}"
OUT="$(mktemp -d)/logs"
ANCHORS="${ANCHORS:-$PWD/.anchors}"
BUILD="${SPLATCORE_BUILD_DIR:-build/h200}"
SHARED_COPY="${SHARED_COPY:-$PWD/.dev1/shared}"
mkdir -p "$OUT" "$FINAL"
pack() { cp "$OUT/session.log" "$FINAL/" 2>/dev/null; tar czf "$FINAL/session.tgz" -C "$OUT" .; }
trap pack EXIT
if [ ! -e ../shared ] && [ -d "$SHARED_COPY" ]; then ln -s "$SHARED_COPY" ../shared; fi
# the PyTorch MASt3R anchor's RoPE kernel builds beside ours (~2 min)
CUROPE=""
if [ -f ../shared/gpu/curope_build.sh ] && want mast3r; then
  bash ../shared/gpu/curope_build.sh > "$OUT/curope_build.log" 2>&1 & CUROPE=$!
fi

stamp build
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLATCORE_CUDA=ON \
  -DSPLATCORE_CUDA_ARCHS="${SPLATCORE_CUDA_ARCHS:-90}" -DPython_EXECUTABLE="$(command -v python3)" \
  > "$OUT/cmake.log" 2>&1 && ninja -C "$BUILD" -j"$(nproc)" > "$OUT/build.log" 2>&1 ||
  { tail -40 "$OUT/build.log"; exit 1; }
export SPLATCORE_BUILD_DIR="$BUILD" PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
bench() {  # name, then the pytest arguments
  local name="$1"; shift
  stamp "$name"
  SPLATCORE_BENCH_JSON="$OUT/$name.json" timeout "${BENCH_TIMEOUT:-300}" python3 -m pytest "$@" -q -s -p no:cacheprovider \
    > "$OUT/$name.log" 2>&1
  grep -E "^\[|ratio|splatcore|passed|failed|error|ms" "$OUT/$name.log" | tail -40 | tee -a "$OUT/session.log"
}

if want tests; then
  stamp tests
  # shellcheck disable=SC2086  # TESTS: a subset (files, -k ...), every GPU test by default
  timeout 300 python3 -m pytest ${TESTS:-tests/test_gpu_*.py} -q -p no:cacheprovider --durations=15 > "$OUT/tests.log" 2>&1
  grep -E "passed|failed|FAILED|Error" "$OUT/tests.log" | tail -15 | tee -a "$OUT/session.log"
fi
if [ -f "$ANCHORS/gsplat_install.sh" ]; then
  # shellcheck disable=SC1091
  . "$ANCHORS/gsplat_install.sh" || echo "gpu_session: gsplat could not be installed: ours only"
fi
want ops && bench ops bench/bench_gpu_ops.py
if want raster; then
  bench raster bench/bench_gpu_raster.py
  stamp raster-profile  # each kernel alone (SPLATCORE_PROFILE=1), 1M Gaussians 1920x1080
  SPLATCORE_PROFILE=1 timeout 120 python3 tools/profile_gpu_raster.py > "$OUT/raster_profile.log" 2>&1
  head -26 "$OUT/raster_profile.log" | tee -a "$OUT/session.log"
fi
want mesh && bench mesh bench/bench_gpu_mesh.py
if want align && ! python3 -c "import pytest_benchmark" 2>/dev/null; then
  echo "gpu_session: bench_align.py needs pytest-benchmark, not installed here: alignment skipped"
elif want align; then
  SPLATCORE_BENCH_ALIGN_DEVICE=cuda SPLATCORE_BENCH_ALIGN_VIEWS="${ALIGN_VIEWS:-10,30}" \
    bench align bench/bench_align.py -k alignment
fi
if want mast3r; then
  anchor_py=../shared/gpu/mast3r_torch_bench.py
  [ -f "$anchor_py" ] || anchor_py="$ANCHORS/mast3r_torch_bench.py"
  if [ -f "$anchor_py" ]; then
    [ -n "$CUROPE" ] && { wait "$CUROPE" || echo "gpu_session: curope did not build (PyTorch uses its slower RoPE)"; }
    stamp mast3r-anchor
    python3 "$anchor_py" > "$OUT/mast3r_torch.json" 2> "$OUT/mast3r_torch.log"
    grep -v '^ "B\|^[{}]' "$OUT/mast3r_torch.json" | tee -a "$OUT/session.log"
    export SPLATCORE_MAST3R_ANCHOR="$OUT/mast3r_torch.json"
  fi
  bench mast3r bench/bench_gpu_mast3r.py
  stamp mast3r-profile  # each kernel and GEMM alone (SPLATCORE_PROFILE=1), one TF32 pair
  SPLATCORE_PROFILE=1 python3 - > "$OUT/mast3r_profile.log" 2>&1 <<'PY'
import sys; sys.path.insert(0, "bench")
import numpy as np, splatcore as sc
from bench_gpu_mast3r import full_random_weights, H, W
from splatcore.mast3r.model import Model
m = Model.from_weights(*full_random_weights())
sc.set_matmul_precision("high")
rng = np.random.default_rng(1)
a, b = (rng.uniform(-1, 1, (H, W, 3)).astype(np.float32) for _ in range(2))
m.infer_pair(a, b, device="cuda"); sc._core._stage_times(True)
m.infer_pair(a, b, device="cuda")
t = sorted(sc._core._stage_times(True), key=lambda kv: -kv[1])
print("total of the timed stages %.1f ms" % (1e3 * sum(v for k, v in t if k.startswith("gpu."))))
for k, v in t[:25]: print("%-40s %8.2f ms" % (k, 1e3 * v))
PY
  head -30 "$OUT/mast3r_profile.log" | tee -a "$OUT/session.log"
fi
want scan && bench scan bench/bench_gpu_scan.py
if want train; then
  if [ -d "$ANCHORS/data" ]; then
    SPLATCORE_GPU_DATA="$ANCHORS/data" bench train bench/bench_gpu_train.py
    SPLATCORE_GPU_DATA="$ANCHORS/data" bench step-host bench/bench_gpu_step_host.py
    if [ -f "$ANCHORS/gsplat_train.py" ]; then
      for scene in "$ANCHORS"/data/*.npz; do
        stamp "gsplat-train $(basename "$scene")"
        python3 "$ANCHORS/gsplat_train.py" "$scene" 7000 2>/dev/null | tail -1 | tee -a "$OUT/gsplat_train.jsonl"
      done
    fi
  else
    echo "gpu_session: no $ANCHORS/data: training benchmarks skipped"
  fi
fi
stamp done
