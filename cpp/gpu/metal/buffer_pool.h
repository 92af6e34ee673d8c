// Unified memory for one Metal device: storage-mode-shared MTLBuffers (the CPU
// reads and writes the same bytes the GPU uses) from a size-bucketed cache,
// and a map from GPU address to live buffer, so that a launch can make the
// buffers its argument struct points into resident and a copy can find them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace MTL {
class Buffer;
class Device;
}  // namespace MTL

namespace sc::metal {

// A GPU address as (buffer, byte offset into it).
struct BufferRef {
  MTL::Buffer* buffer = nullptr;
  size_t offset = 0;
};

class BufferPool {
 public:
  BufferPool(MTL::Device* device, size_t cache_limit);

  // A buffer of at least `bytes`; null when the device has no memory left
  // (the runtime then waits for the queue, calls trim() and asks again).
  MTL::Buffer* take(size_t bytes);
  // Back to the cache. Reuse is safe without waiting: later work on the one
  // queue runs after the work queued so far. Over the cache limit the buffer
  // is retired instead, and released once the work queued up to
  // `queued_seq` (the command buffer open now) has completed.
  void give(MTL::Buffer* buffer, uint64_t queued_seq);
  // Releases retired buffers whose work (command buffers up to `completed_seq`) is done.
  void release_retired(uint64_t completed_seq);
  // Releases every cached and retired buffer; only when no queued work is left.
  void trim();
  // The live buffer holding a GPU address; {null, 0} when none does.
  BufferRef find(const void* gpu_address) const;

  static size_t bucket(size_t bytes);  // the size a request is rounded up to

 private:
  MTL::Device* device_;
  size_t limit_;
  size_t cached_bytes_ = 0;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<MTL::Buffer*>> free_;  // bucket size -> cached buffers
  std::map<uint64_t, MTL::Buffer*> live_;                      // gpuAddress -> buffer in use
  std::vector<std::pair<uint64_t, MTL::Buffer*>> retired_;     // (queued seq, buffer)
};

}  // namespace sc::metal
