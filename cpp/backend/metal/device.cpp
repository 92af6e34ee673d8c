// Metal backend: device discovery through metal-cpp arrives with the first
// Metal kernels; until then a Metal build reports the backend but no device.
#include "backend/backends.h"

namespace sc {

bool metal_built() { return true; }
int metal_device_count() { return 0; }

}  // namespace sc
