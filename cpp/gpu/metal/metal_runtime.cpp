// The Metal runtime (ARCHITECTURE.md, "GPU backends"): one per Metal 3 GPU.
// Memory is unified: a tensor's host pointer is its MTLBuffer's contents(),
// its GPU address the buffer's gpuAddress(), which argument structs hold.
// Launches are encoded into batched command buffers (command_stream.h) with
// the argument struct at buffer(0) and every buffer the launch names made
// resident; host reads wait for the queued work and read the memory in place.
#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "gpu/backend_hooks.h"
#include "gpu/metal/autorelease.h"
#include "gpu/metal/buffer_pool.h"
#include "gpu/metal/command_stream.h"
#include "gpu/metal/mps_gemm.h"
#include "gpu/metal/pipelines.h"

namespace sc::gpu {

namespace {

constexpr size_t kMaxSetBytes = 4096;  // setBytes' limit; larger argument structs get a buffer of their own
constexpr MTL::ResourceOptions kShared = MTL::ResourceStorageModeShared;

size_t env_size(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? size_t(std::strtoull(v, nullptr, 10)) : fallback;
}

// The GPUs that can run splatcore's kernels: argument structs hold raw GPU
// addresses (MTLBuffer.gpuAddress), which needs the Metal 3 family.
std::vector<MTL::Device*>& devices() {
  static std::vector<MTL::Device*>* list = [] {
    auto* v = new std::vector<MTL::Device*>();  // never destroyed
    metal::AutoreleaseScope pool;
    NS::Array* all = MTL::CopyAllDevices();
    for (NS::UInteger i = 0; all && i < all->count(); ++i) {
      MTL::Device* d = all->object<MTL::Device>(i);
      if (d->supportsFamily(MTL::GPUFamilyMetal3)) v->push_back(d->retain());
    }
    if (all) all->release();
    return v;
  }();
  return *list;
}

class MetalRuntime final : public Runtime {
 public:
  MetalRuntime(int index, MTL::Device* device)
      : index_(index),
        device_(device),
        queue_(device->newCommandQueue()),
        // The cache keeps at most a quarter of the working set the system recommends.
        pool_(device, size_t(device->recommendedMaxWorkingSetSize() / 4)),
        // SPLATCORE_METAL_BATCH: dispatches per command buffer (commits without waiting).
        stream_(queue_, env_size("SPLATCORE_METAL_BATCH", 256), 8),
        pipelines_(device),
        mps_(device),
        // SPLATCORE_METAL_SYNC=1 waits after every dispatch, so that a failing
        // command buffer names the one kernel that failed (for debugging).
        sync_each_(env_size("SPLATCORE_METAL_SYNC", 0) != 0) {
    if (!queue_) throw std::runtime_error("metal: cannot create a command queue on device " + std::to_string(index));
    metal::AutoreleaseScope pool;
    props_.name = device->name() ? device->name()->utf8String() : "Apple GPU";
    props_.memory_bytes = size_t(device->recommendedMaxWorkingSetSize());
    props_.simd_width = 32;  // every Apple GPU's SIMD-group width (the dialect assumes 32)
    props_.max_group_size = int(std::min<NS::UInteger>(device->maxThreadsPerThreadgroup().width, 1024));
    props_.max_shared_bytes = device->maxThreadgroupMemoryLength();
    props_.float64 = false;  // MSL has no double: Tensor::empty refuses float64 here (TypeError)
  }
  Device device() const override { return {DeviceType::Metal, index_}; }
  const Properties& properties() const override { return props_; }

  Allocation allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    MTL::Buffer* b = pool_.take(bytes);
    if (!b) {  // out of memory: let queued work finish, give every cached buffer back, try once more
      metal::AutoreleaseScope pool;
      stream_.wait();
      pool_.trim();
      b = pool_.take(bytes);
      if (!b) throw std::bad_alloc();
    }
    Allocation a;
    a.host = b->contents();
    a.gpu = reinterpret_cast<void*>(b->gpuAddress());
    a.bytes = bytes;
    a.handle = b;
    return a;
  }
  void free(const Allocation& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    pool_.give(static_cast<MTL::Buffer*>(a.handle), stream_.open_seq());
  }

  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    metal::BufferRef d = locate(dst, bytes, "copy to the device");
    if (stream_.idle()) {  // no queued work can touch the buffer: write it in place
      std::memcpy(static_cast<char*>(d.buffer->contents()) + d.offset, src, bytes);
      return;
    }
    // Queued work may still read the old bytes: stage them and copy in queue order.
    MTL::Buffer* staging = device_->newBuffer(src, bytes, kShared);
    if (!staging) throw std::bad_alloc();
    stream_.keep(staging);
    stream_.blit("copy to the device")->copyFromBuffer(staging, 0, d.buffer, d.offset, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    metal::BufferRef s = locate(src, bytes, "copy from the device");
    stream_.wait();  // unified memory: once the work is done the bytes are readable in place
    pool_.release_retired(stream_.completed_seq());
    std::memcpy(dst, static_cast<const char*>(s.buffer->contents()) + s.offset, bytes);
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    metal::BufferRef d = locate(dst, bytes, "device copy (destination)");
    metal::BufferRef s = locate(src, bytes, "device copy (source)");
    MTL::BlitCommandEncoder* blit = stream_.blit("device copy");
    const bool overlap = d.buffer == s.buffer && d.offset < s.offset + bytes && s.offset < d.offset + bytes;
    if (!overlap) {
      blit->copyFromBuffer(s.buffer, s.offset, d.buffer, d.offset, bytes);
      return;
    }
    // A blit copy between overlapping ranges is undefined: go through a temporary.
    MTL::Buffer* tmp = device_->newBuffer(bytes, kShared);
    if (!tmp) throw std::bad_alloc();
    stream_.keep(tmp);
    blit->copyFromBuffer(s.buffer, s.offset, tmp, 0, bytes);
    blit->copyFromBuffer(tmp, 0, d.buffer, d.offset, bytes);
  }
  void fill_bytes(void* dst, uint8_t value, size_t bytes) override {
    if (!bytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    metal::BufferRef d = locate(dst, bytes, "fill");
    stream_.blit("fill")->fillBuffer(d.buffer, NS::Range::Make(d.offset, bytes), value);
  }

  void launch(const Kernel& k, const LaunchDims& dims, const void* args, size_t args_bytes,
              std::initializer_list<const Storage*> buffers) override {
    const uint64_t threads = dims.group.count();
    if (threads == 0 || dims.grid.count() == 0)
      throw ValueError(std::string("metal kernel '") + k.name() + "': empty launch");
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    const metal::Pipeline& p = pipelines_.get(k);
    if (threads > p.max_threads)
      throw ValueError(std::string("metal kernel '") + k.name() + "': " + std::to_string(threads) +
                       " threads per group, over its pipeline's maximum of " + std::to_string(p.max_threads));
    // The kernel's [[threadgroup(0)]] argument needs a length: at least 16 bytes, a multiple of 16.
    const size_t shared = std::max<size_t>(16, (size_t(dims.dynamic_shared_bytes) + 15) / 16 * 16);
    if (p.static_shared + shared > props_.max_shared_bytes)
      throw ValueError(std::string("metal kernel '") + k.name() + "': " + std::to_string(p.static_shared) +
                       " bytes of static and " + std::to_string(shared) +
                       " of dynamic threadgroup memory, over the device's " +
                       std::to_string(props_.max_shared_bytes));
    // Resolve every buffer before encoding, so that an error leaves nothing half-encoded.
    resident_.clear();
    for (const Storage* s : buffers) {
      if (!s) continue;
      metal::BufferRef r = pool_.find(s->gpu_data);
      if (!r.buffer)
        throw ValueError(std::string("metal kernel '") + k.name() + "': a buffer argument (on " + s->device.str() +
                         ") is not memory of " + device().str());
      resident_.push_back(r.buffer);  // an MTL::Resource
    }
    MTL::ComputeCommandEncoder* enc = stream_.compute(k.name());
    enc->setComputePipelineState(p.state);
    static const unsigned char kNoArgs[16] = {};
    if (args_bytes == 0) {
      enc->setBytes(kNoArgs, sizeof kNoArgs, 0);
    } else if (args_bytes <= kMaxSetBytes) {
      enc->setBytes(args, args_bytes, 0);  // copied at encoding: the caller's struct may go away
    } else {
      MTL::Buffer* b = device_->newBuffer(args, args_bytes, kShared);
      if (!b) throw std::bad_alloc();
      stream_.keep(b);
      enc->setBuffer(b, 0, 0);
    }
    // Argument structs reach their buffers through GPU addresses: Metal sees
    // no binding, so each buffer is made resident (and hazard-tracked) here.
    if (!resident_.empty())
      enc->useResources(resident_.data(), resident_.size(),
                        MTL::ResourceUsageRead | MTL::ResourceUsageWrite);
    enc->setThreadgroupMemoryLength(shared, 0);
    enc->dispatchThreadgroups(MTL::Size(dims.grid.x, dims.grid.y, dims.grid.z),
                              MTL::Size(dims.group.x, dims.group.y, dims.group.z));
    stream_.dispatched();
    if (sync_each_) stream_.wait();
  }
  void synchronize() override {
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    stream_.wait();
    pool_.release_retired(stream_.completed_seq());
  }
  uintptr_t queue_handle() const override { return reinterpret_cast<uintptr_t>(queue_); }

  // c[i] = a[i] @ b[i] for (nb, M, K) x (nb, K, N) through MPS, encoded into
  // the open command buffer in queue order with the launches around it. False
  // (nothing encoded) where MPS cannot serve: a dtype other than float32 /
  // float16 (Metal has no float64; MPS's GEMM takes no bfloat16), a layout
  // MPSMatrixDescriptor cannot describe, MPS missing or off
  // (SPLATCORE_METAL_MPS=0); the caller then runs the tiled kernel.
  bool gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N, int64_t K) {
    metal::MpsType type;
    switch (c.dtype()) {
      case DType::Float32: type = metal::MpsType::Float32; break;
      case DType::Float16: type = metal::MpsType::Float16; break;
      default: return false;
    }
    if (a.dtype() != c.dtype() || b.dtype() != c.dtype()) return false;
    if (a.ndim() != 3 || b.ndim() != 3 || c.ndim() != 3) return false;
    if (const char* v = std::getenv("SPLATCORE_METAL_MPS"); v && std::strcmp(v, "0") == 0) return false;
    const size_t elem = itemsize(c.dtype());
    metal::MpsMatrix ma, mb, mc;
    if (!metal::mps_layout(nb, M, K, a.strides().data(), elem, true, &ma) ||
        !metal::mps_layout(nb, K, N, b.strides().data(), elem, true, &mb) ||
        !metal::mps_layout(nb, M, N, c.strides().data(), elem, false, &mc))
      return false;
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    if (!mps_.available()) return false;
    // Each operand's buffer and offset; the whole batch must lie inside it.
    struct Operand {
      const Tensor* t;
      metal::MpsMatrix* m;
    } ops[3] = {{&a, &ma}, {&b, &mb}, {&c, &mc}};
    for (Operand& o : ops) {
      metal::BufferRef r = pool_.find(gpu_address(*o.t));
      if (!r.buffer || r.offset % elem != 0) return false;
      const size_t extent = size_t(nb - 1) * o.m->matrix_bytes + (o.m->rows - 1) * o.m->row_bytes + o.m->cols * elem;
      if (r.offset + extent > r.buffer->length()) return false;
      o.m->buffer = r.buffer;
      o.m->offset = r.offset;
    }
    MTL::CommandBuffer* cb = stream_.command_buffer("MPSMatrixMultiplication");
    if (!mps_.encode(cb, type, ma, mb, mc, size_t(M), size_t(N), size_t(K), size_t(nb))) return false;
    stream_.dispatched();
    if (sync_each_) stream_.wait();
    return true;
  }
  std::string gemm_info() {
    std::lock_guard<std::mutex> lock(mu_);
    metal::AutoreleaseScope pool;
    return mps_.info();
  }

 private:
  metal::BufferRef locate(const void* gpu_address, size_t bytes, const char* what) {
    metal::BufferRef r = pool_.find(gpu_address);
    if (!r.buffer || r.offset + bytes > r.buffer->length())
      throw std::runtime_error(std::string("metal: ") + what + " of " + std::to_string(bytes) + " bytes at " +
                               std::to_string(reinterpret_cast<uintptr_t>(gpu_address)) +
                               " outside every live buffer of " + device().str());
    return r;
  }

  int index_;
  MTL::Device* device_;
  MTL::CommandQueue* queue_;
  metal::BufferPool pool_;
  metal::CommandStream stream_;
  metal::PipelineCache pipelines_;
  metal::MpsGemm mps_;
  bool sync_each_;
  Properties props_;
  std::mutex mu_;
  std::vector<const MTL::Resource*> resident_;  // scratch of launch()
};

}  // namespace

int metal_runtime_count() { return int(devices().size()); }

bool metal_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N, int64_t K) {
  return static_cast<MetalRuntime&>(metal_runtime(c.device().index)).gemm(c, a, b, nb, M, N, K);
}

std::string metal_gemm_info() {
  if (metal_runtime_count() == 0) return "MPS: no Metal 3 device";
  return "MPS: " + static_cast<MetalRuntime&>(metal_runtime(0)).gemm_info();
}

Runtime& metal_runtime(int index) {
  static std::mutex mu;
  static auto* runtimes = new std::vector<std::unique_ptr<MetalRuntime>>();  // never destroyed
  std::lock_guard<std::mutex> lock(mu);
  if (index < 0 || index >= metal_runtime_count())
    throw ValueError("metal_runtime: no Metal device " + std::to_string(index));
  if ((int)runtimes->size() <= index) runtimes->resize(index + 1);
  auto& rt = (*runtimes)[index];
  if (!rt) rt = std::make_unique<MetalRuntime>(index, devices()[index]);
  return *rt;
}

}  // namespace sc::gpu
