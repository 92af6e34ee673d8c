#!/usr/bin/env bash
# One full run on a CUDA machine: build, every GPU test on sim + cuda, then each
# GPU benchmark beside its anchor measured in the same run. Logs and JSON go to
# $OUT (default ./gpu_session_out). Made for the lent H200, where device time is
# scarce: one call does everything.
#
#   cp -r ../shared/gpu .anchors            # an ignored folder (carry it to the machine)
#   OUT=... bash tools/gpu_session.sh [tests|raster|train|mast3r|align|mesh|ops|all ...]
#
# Anchors, from .anchors/ (../shared/gpu): gsplat (gsplat_install.sh) for the
# rasterizer and training, PyTorch MASt3R (mast3r_torch_bench.py), torch for
# the op benches (CUB sort, cuBLAS). A missing anchor is said, and ours is still
# timed. SPLATCORE_CUDA_ARCHS (default 90) picks the architecture to build.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_session_out}"
ANCHORS="${ANCHORS:-$PWD/.anchors}"
BUILD="${SPLATCORE_BUILD_DIR:-build/h200}"
mkdir -p "$OUT"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(all)
want() { for p in "${parts[@]}"; do [ "$p" = all ] || [ "$p" = "$1" ] && return 0; done; return 1; }
stamp() { echo "== $(date +%T) $*" | tee -a "$OUT/session.log"; }

stamp build
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLATCORE_CUDA=ON \
  -DSPLATCORE_CUDA_ARCHS="${SPLATCORE_CUDA_ARCHS:-90}" -DPython_EXECUTABLE="$(command -v python3)" \
  > "$OUT/cmake.log" 2>&1 && ninja -C "$BUILD" -j"$(nproc)" > "$OUT/build.log" 2>&1 ||
  { tail -40 "$OUT/build.log"; exit 1; }
export SPLATCORE_BUILD_DIR="$BUILD" PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
bench() {  # name, then the pytest arguments
  local name="$1"; shift
  stamp "$name"
  SPLATCORE_BENCH_JSON="$OUT/$name.json" python3 -m pytest "$@" -q -s -p no:cacheprovider \
    > "$OUT/$name.log" 2>&1
  grep -E "^\[|ratio|splatcore|passed|failed|error" "$OUT/$name.log" | tail -25
}

if want tests; then
  stamp tests
  python3 -m pytest tests/test_gpu_*.py -q -p no:cacheprovider > "$OUT/tests.log" 2>&1
  tail -5 "$OUT/tests.log"
fi
if [ -f "$ANCHORS/gsplat_install.sh" ]; then
  # shellcheck disable=SC1091
  . "$ANCHORS/gsplat_install.sh" || echo "gpu_session: gsplat could not be installed: ours only"
fi
want ops && bench ops bench/bench_gpu_ops.py
want raster && bench raster bench/bench_gpu_raster.py
want mesh && bench mesh bench/bench_gpu_mesh.py
if want align && ! python3 -c "import pytest_benchmark" 2>/dev/null; then
  echo "gpu_session: bench_align.py needs pytest-benchmark, not installed here: alignment skipped"
elif want align; then
  SPLATCORE_BENCH_ALIGN_DEVICE=cuda SPLATCORE_BENCH_ALIGN_VIEWS="${ALIGN_VIEWS:-10,30}" \
    bench align bench/bench_align.py -k alignment
fi
if want mast3r; then
  if [ -f "$ANCHORS/mast3r_torch_bench.py" ]; then
    stamp mast3r-anchor
    python3 "$ANCHORS/mast3r_torch_bench.py" > "$OUT/mast3r_torch.json" 2> "$OUT/mast3r_torch.log"
    tail -3 "$OUT/mast3r_torch.json"
  fi
  bench mast3r bench/bench_gpu_mast3r.py
fi
if want train; then
  if [ -d "$ANCHORS/data" ]; then
    SPLATCORE_GPU_DATA="$ANCHORS/data" bench train bench/bench_gpu_train.py
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
