#include "bindings/bindings.h"

namespace sc {

void bind_loss(nb::module_& m) {}

}  // namespace sc
