#include "bindings/bindings.h"

namespace sc {

void bind_optim(nb::module_& m) {}

}  // namespace sc
