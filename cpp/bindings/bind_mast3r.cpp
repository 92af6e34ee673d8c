#include "bindings/bindings.h"

namespace sc {

void bind_mast3r(nb::module_& m) {}

}  // namespace sc
