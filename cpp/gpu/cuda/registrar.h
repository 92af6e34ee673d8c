// Registers a CUDA entry point by name (SC_KERNEL under nvcc); the runtime
// (cuda_runtime.cpp) looks kernels up by these names.
#pragma once

namespace sc::gpu {
struct CudaKernelRegistrar {
  CudaKernelRegistrar(const char* name, const void* fn);
};
}  // namespace sc::gpu
