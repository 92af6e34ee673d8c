#!/usr/bin/env bash
# The CUDA compiler and headers inside a manylinux_2_28 container (AlmaLinux 8),
# from NVIDIA's RHEL 8 repository: cibuildwheel's before-all for Linux wheels.
# Only the toolkit pieces the build needs: nvcc, the static runtime and the
# cuBLAS headers (cuBLAS itself is loaded at run time from the nvidia-cublas
# wheel, so the library is not linked or bundled).
set -euo pipefail
CUDA_VERSION="${SPLATCORE_CUDA_VERSION:-12-8}"
case "$(uname -m)" in
  x86_64) repo_arch=x86_64 ;;
  aarch64) repo_arch=sbsa ;;
  *) echo "no CUDA toolkit for $(uname -m)" >&2; exit 1 ;;
esac
dnf install -y -q dnf-plugins-core
dnf config-manager --add-repo \
  "https://developer.download.nvidia.com/compute/cuda/repos/rhel8/${repo_arch}/cuda-rhel8.repo"
dnf install -y -q "cuda-nvcc-${CUDA_VERSION}" "cuda-cudart-devel-${CUDA_VERSION}" \
  "libcublas-devel-${CUDA_VERSION}"
ln -sfn "/usr/local/cuda-${CUDA_VERSION/-/.}" /usr/local/cuda
/usr/local/cuda/bin/nvcc --version
