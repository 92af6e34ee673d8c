// The one check every C++ path runs before writing into a tensor it did not
// allocate itself: memory imported read-only (a read-only NumPy array, `bytes`
// through np.frombuffer, np.memmap(mode="r")) must never be written through.
#pragma once
#include "core/tensor.h"

namespace sc {

// ValueError "<what>: cannot write into a read-only tensor ..." when t wraps
// memory its owner marked read-only; a no-op for an undefined tensor.
void check_writable(const Tensor& t, const char* what);

}  // namespace sc
