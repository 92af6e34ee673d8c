// CUDA backend: device discovery. Kernels arrive with the rasterizer.
#include <cuda_runtime.h>

#include "backend/backends.h"

namespace sc {

bool cuda_built() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

}  // namespace sc
