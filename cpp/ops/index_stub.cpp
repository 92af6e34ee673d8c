// TEMPORARY: placeholders until ops/index.cpp lands. Delete this file then.
#include "ops/ops.h"

namespace sc {
Tensor index_select(const Tensor&, int64_t, const Tensor&) { throw std::runtime_error("index_select: not implemented yet"); }
Tensor masked_select(const Tensor&, const Tensor&) { throw std::runtime_error("masked_select: not implemented yet"); }
}  // namespace sc
