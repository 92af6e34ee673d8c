#include "core/writable.h"

#include <string>

#include "core/errors.h"

namespace sc {

void check_writable(const Tensor& t, const char* what) {
  if (!t.defined() || !t.storage() || !t.storage()->readonly) return;
  throw ValueError(std::string(what) + ": cannot write into a read-only tensor (shape " +
                   shape_str(t.shape()) + ", " + dtype_name(t.dtype()) +
                   ", wrapping memory its owner marked read-only, e.g. a NumPy array with "
                   "writeable=False, np.frombuffer(bytes) or np.memmap(mode='r')); pass a "
                   "writable copy (np.array(a)) instead");
}

}  // namespace sc
