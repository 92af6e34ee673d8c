// Metal backend: the metal-cpp runtime arrives with the Metal issue; until then
// a Metal build reports the backend but no device.
#include <stdexcept>

#include "gpu/backend_hooks.h"

namespace sc {

bool metal_built() { return true; }
int metal_device_count() { return 0; }

}  // namespace sc
