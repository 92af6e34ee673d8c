#include "bindings/bindings.h"

namespace sc {

void bind_sort(nb::module_& m) {}

}  // namespace sc
