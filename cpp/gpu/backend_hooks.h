// The runtimes of the optional GPU backends. Builds without a backend link the
// fallbacks of cpp/backend/cpu/backends_cpu.cpp (count 0, never called).
#pragma once
#include "backend/backends.h"
#include "gpu/runtime.h"

namespace sc::gpu {
int cuda_runtime_count();
Runtime& cuda_runtime(int index);
int metal_runtime_count();
Runtime& metal_runtime(int index);
}  // namespace sc::gpu
