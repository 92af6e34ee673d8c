#include "bindings/bindings.h"

namespace sc {

void bind_index(nb::module_& m) {}

}  // namespace sc
