#include "bindings/bindings.h"

namespace sc {

void bind_linalg(nb::module_& m) {}

}  // namespace sc
