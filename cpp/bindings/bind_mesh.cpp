// Bindings for marching cubes, mesh fields.
#include "bindings/bindings.h"

namespace sc {

void bind_mesh(nb::module_& m) { (void)m; }

}  // namespace sc
