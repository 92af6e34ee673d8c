// A block of memory shared by a tensor and its views. It either owns its bytes
// (aligned allocation, or an allocation of a GPU runtime) or keeps an external
// owner alive (a NumPy array, a DLPack capsule, a memory-mapped file) for
// zero-copy sharing.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

#include "core/device.h"

namespace sc {

struct Storage {
  void* data = nullptr;      // where the CPU may read it (null on discrete GPU memory)
  void* gpu_data = nullptr;  // the address GPU kernels use (GPU devices only)
  size_t nbytes = 0;
  Device device;
  std::shared_ptr<void> owner;  // frees or releases the memory
  bool readonly = false;        // wraps memory its owner marked read-only (writes raise)
  bool allocated = false;       // our own allocation (not wrapping someone else's memory)

  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = {});
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, std::shared_ptr<void> owner,
                                       Device device = {});
};

}  // namespace sc
