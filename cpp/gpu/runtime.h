// The one interface a GPU backend implements (ARCHITECTURE.md, "GPU backends"):
// device memory through a caching allocator, copies, one in-order queue per
// device, kernel launches with one argument struct, synchronisation and the
// device's properties. The host side of every GPU op is written once over it.
//
// Shaped so that Metal needs no change: memory may be unified (a buffer's host
// pointer and its GPU address differ, so an allocation reports both), argument
// structs hold GPU addresses, a launch names the buffers it touches (Metal
// makes them resident), and launches are only queued: nothing waits until
// synchronize() or a copy to the host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/device.h"

namespace sc {
struct Storage;
class Tensor;
}

namespace sc::gpu {

struct Properties {
  std::string name;
  size_t memory_bytes = 0;
  int simd_width = 32;
  int max_group_size = 1024;       // threads per group
  size_t max_shared_bytes = 32768;  // static + dynamic shared memory per group
  bool float64 = true;              // Metal: false
};

// A device allocation. `host` is where the CPU may read it (unified memory and
// the simulator; null on discrete CUDA memory); `gpu` is the address kernels use.
struct Allocation {
  void* host = nullptr;
  void* gpu = nullptr;
  size_t bytes = 0;
  void* handle = nullptr;  // backend object (an MTLBuffer on Metal)
};

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
  uint64_t count() const { return uint64_t(x) * y * z; }
};

// A kernel by name. Each backend resolves the name once (the simulator's and
// CUDA's registries, a pipeline from splatcore.metallib) and caches it here.
class Kernel {
 public:
  explicit Kernel(const char* name) : name_(name) {}
  const char* name() const { return name_; }
  mutable const void* cached[4] = {nullptr, nullptr, nullptr, nullptr};  // per DeviceType

 private:
  const char* name_;
};

struct LaunchDims {
  Dim3 grid;   // groups
  Dim3 group;  // threads per group
  uint32_t dynamic_shared_bytes = 0;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual Device device() const = 0;
  virtual const Properties& properties() const = 0;

  // Memory: a cached pool; free() may reuse the block for later work on the
  // queue, so freeing memory that queued kernels still read is safe.
  virtual Allocation allocate(size_t bytes) = 0;
  virtual void free(const Allocation& a) = 0;

  // Copies are queued in order with launches; copy_to_host waits for them.
  virtual void copy_from_host(void* dst_gpu, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src_gpu, size_t bytes) = 0;
  virtual void copy(void* dst_gpu, const void* src_gpu, size_t bytes) = 0;
  virtual void fill_bytes(void* dst_gpu, uint8_t value, size_t bytes) = 0;

  // Queues kernel(args) over dims. `args` is the kernel's argument struct
  // (plain scalars and GPU addresses); `buffers` the storages it touches.
  virtual void launch(const Kernel& kernel, const LaunchDims& dims, const void* args,
                      size_t args_bytes, std::initializer_list<const Storage*> buffers) = 0;
  virtual void synchronize() = 0;
  // The backend's queue as an integer (a cudaStream_t; 0 elsewhere), for DLPack.
  virtual uintptr_t queue_handle() const { return 0; }
};

// The runtime of a GPU device (the simulator, CUDA, Metal); ValueError when the
// backend is not built or the device does not exist.
Runtime& runtime(Device d);
bool device_available(Device d);
int device_count(DeviceType t);

// Bytes of tensor storage live on a device now, and the most since the last
// reset (counted where storages are allocated and freed, for every backend).
struct MemoryStats {
  int64_t in_use = 0, peak = 0;
};
MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);
void note_memory(Device d, int64_t delta_bytes);

// The Kernel object of a name (one per name, so each backend resolves it once).
const Kernel& kernel(const std::string& name);

// The GPU address of a tensor's first element, for argument structs.
void* gpu_address(const Tensor& t);
template <typename T>
T* gpu_ptr(const Tensor& t) {
  return static_cast<T*>(gpu_address(t));
}

// Kernel launches queued so far in this process, on every device (each costs
// host time: the per-step host overhead of GPU training is mostly their count);
// reset sets it back to 0.
uint64_t launch_count(bool reset = false);
void count_launch();
// Seconds the host has spent waiting for a device's queue (synchronize, and the
// copies to the host that wait for it), counted by the CUDA backend: with the
// wall time of a training loop it says how much of a step the host works.
double wait_seconds(bool reset = false);
void note_wait(double seconds);

// Queues kernel(args).
template <typename Args>
void launch(Runtime& rt, const Kernel& k, const LaunchDims& dims, const Args& args,
            std::initializer_list<const Storage*> buffers) {
  count_launch();
  rt.launch(k, dims, &args, sizeof(Args), buffers);
}

}  // namespace sc::gpu
