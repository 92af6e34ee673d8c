// Compute pipelines of one Metal device, built once per kernel from the
// precompiled splatcore.metallib (no shader is compiled at run time) and cached.
#pragma once
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace MTL {
class ComputePipelineState;
class Device;
class Library;
}  // namespace MTL

namespace sc::gpu {
class Kernel;
}

namespace sc::metal {

struct Pipeline {
  MTL::ComputePipelineState* state = nullptr;
  size_t max_threads = 0;    // maxTotalThreadsPerThreadgroup of this pipeline
  size_t static_shared = 0;  // threadgroup memory the kernel declares itself
};

// Where splatcore.metallib is: $SPLATCORE_METALLIB when set, else beside the
// _core module (found through dladdr).
std::string metallib_path();

class PipelineCache {
 public:
  explicit PipelineCache(MTL::Device* device) : device_(device) {}
  // Raises std::runtime_error naming the kernel (or the metallib) when it cannot be built.
  const Pipeline& get(const gpu::Kernel& kernel);

 private:
  MTL::Library* library();

  MTL::Device* device_;
  MTL::Library* library_ = nullptr;
  std::mutex mu_;
  std::unordered_map<const gpu::Kernel*, Pipeline> cache_;  // one Kernel object per name
};

}  // namespace sc::metal
