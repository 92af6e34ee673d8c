// Bindings for global alignment of pairwise pointmaps.
#include "bindings/bindings.h"

namespace sc {

void bind_align(nb::module_& m) { (void)m; }

}  // namespace sc
