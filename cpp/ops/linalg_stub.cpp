// TEMPORARY: placeholders until ops/matmul.cpp and ops/conv.cpp land. Delete this file then.
#include "ops/ops.h"

namespace sc {
Tensor matmul(const Tensor&, const Tensor&) { throw std::runtime_error("matmul: not implemented yet"); }
std::string blas_name() { return "none"; }
void set_blas_library_path(const std::string&) {}
}  // namespace sc
