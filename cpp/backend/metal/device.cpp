// Metal backend: what a Metal build reports; the devices and their runtimes
// are cpp/gpu/metal's (Metal 3 GPUs only).
#include "backend/backends.h"
#include "gpu/backend_hooks.h"

namespace sc {

bool metal_built() { return true; }
int metal_device_count() { return gpu::metal_runtime_count(); }

}  // namespace sc
