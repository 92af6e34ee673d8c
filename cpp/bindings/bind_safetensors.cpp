#include "bindings/bindings.h"

namespace sc {

void bind_safetensors(nb::module_& m) {}

}  // namespace sc
