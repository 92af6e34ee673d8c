// Fallbacks for the GPU backends that this build does not include.
#include "backend/backends.h"

namespace sc {

#ifndef SPLATCORE_HAS_CUDA
bool cuda_built() { return false; }
int cuda_device_count() { return 0; }
#endif

#ifndef SPLATCORE_HAS_METAL
bool metal_built() { return false; }
int metal_device_count() { return 0; }
#endif

}  // namespace sc
