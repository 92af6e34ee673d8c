// The CUDA runtime: one stream per device, memory from the
// stream-ordered pool (cudaMallocAsync, kept cached: the pool's release
// threshold is unlimited), launches of the kernels nvcc compiled from
// cpp/gpu/kernels (registered by name), errors raised naming the kernel.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backends.h"
#include "core/errors.h"
#include "core/profile.h"
#include "gpu/backend_hooks.h"
#include "gpu/cuda/registrar.h"

namespace sc {

bool cuda_built() { return true; }

int cuda_device_count() {
  static const int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return c;
  }();
  return n;
}

namespace gpu {

namespace {

std::unordered_map<std::string, const void*>& registry() {
  static auto* r = new std::unordered_map<std::string, const void*>();
  return *r;
}

[[noreturn]] void raise(const std::string& what, cudaError_t e) {
  cudaGetLastError();
  throw std::runtime_error("cuda: " + what + ": " + cudaGetErrorName(e) + " (" +
                           cudaGetErrorString(e) + ")");
}

// SPLATCORE_CUDA_SYNC=1 waits after every launch, so an asynchronous fault is
// reported by the kernel that caused it (for debugging).
bool sync_every_launch() {
  static const bool on = [] {
    const char* v = std::getenv("SPLATCORE_CUDA_SYNC");
    return v && *v && *v != '0';
  }();
  return on;
}

// cuda_timeline: event pairs around each launch while on (one device's queue at a
// time: the launches of whichever runtime records them).
struct Timeline {
  std::mutex mu;
  bool on = false;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> used, spare;
  std::pair<cudaEvent_t, cudaEvent_t> take() {
    if (spare.empty()) {
      std::pair<cudaEvent_t, cudaEvent_t> p;
      cudaEventCreate(&p.first);
      cudaEventCreate(&p.second);
      return p;
    }
    auto p = spare.back();
    spare.pop_back();
    return p;
  }
};
Timeline& timeline() {
  static auto* t = new Timeline();
  return *t;
}

class CudaRuntime final : public Runtime {
 public:
  explicit CudaRuntime(int index) : index_(index) {
    use();
    cudaDeviceProp p;
    check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
    props_.name = p.name;
    props_.memory_bytes = p.totalGlobalMem;
    props_.simd_width = p.warpSize;
    props_.max_group_size = p.maxThreadsPerBlock;
    props_.max_shared_bytes = p.sharedMemPerBlock;
    props_.float64 = true;
    // A blocking stream: it is ordered with the legacy default stream, where
    // PyTorch and CuPy work by default, so tensors shared through DLPack or
    // __cuda_array_interface__ see each other's queued writes without a sync.
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault), "cudaStreamCreate");
    cudaMemPool_t pool;
    check(cudaDeviceGetDefaultMemPool(&pool, index), "cudaDeviceGetDefaultMemPool");
    uint64_t keep = UINT64_MAX;  // never give cached blocks back to the driver at a sync
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
  }
  Device device() const override { return {DeviceType::CUDA, index_}; }
  const Properties& properties() const override { return props_; }

  Allocation allocate(size_t bytes) override {
    use();
    void* p = nullptr;
    cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, stream_);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw std::bad_alloc();
    }
    check(e, "cudaMallocAsync of " + std::to_string(bytes) + " bytes");
    Allocation a;
    a.gpu = p;
    a.bytes = bytes;
    return a;
  }
  void free(const Allocation& a) override {
    // Stream-ordered: kernels queued before still see the block. Errors at
    // interpreter exit (driver already shut down) are ignored.
    if (cudaFreeAsync(a.gpu, stream_) != cudaSuccess) cudaGetLastError();
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    use();
    // From pageable memory the call returns once the source has been staged.
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy to the device");
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    use();
    // Into pageable memory the copy itself waits for the queue: all of it is waiting.
    const auto t0 = std::chrono::steady_clock::now();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy from the device");
    wait_for_queue(t0);
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    use();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "device copy");
  }
  void fill_bytes(void* dst, uint8_t value, size_t bytes) override {
    use();
    check(cudaMemsetAsync(dst, value, bytes, stream_), "cudaMemsetAsync");
  }
  void launch(const Kernel& k, const LaunchDims& d, const void* args, size_t,
              std::initializer_list<const Storage*>) override {
    const void* fn = k.cached[(int)DeviceType::CUDA];
    if (!fn) {
      auto it = registry().find(k.name());
      if (it == registry().end())
        throw std::runtime_error(std::string("cuda: no kernel named '") + k.name() + "'");
      fn = it->second;
      k.cached[(int)DeviceType::CUDA] = fn;
    }
    use();
    // SPLATCORE_PROFILE: each kernel's time, alone on the GPU, as stage "gpu.<kernel>"
    const bool timed = stage_timing_enabled();
    double t0 = 0;
    if (timed) {
      synchronize();
      t0 = stage_clock();
    }
    void* params[1] = {const_cast<void*>(args)};
    Timeline& tl = timeline();
    std::pair<cudaEvent_t, cudaEvent_t> ev{nullptr, nullptr};
    if (tl.on) {
      std::lock_guard<std::mutex> lock(tl.mu);
      ev = tl.take();
      cudaEventRecord(ev.first, stream_);
    }
    cudaError_t e = cudaLaunchKernel(fn, dim3(d.grid.x, d.grid.y, d.grid.z),
                                     dim3(d.group.x, d.group.y, d.group.z), params,
                                     d.dynamic_shared_bytes, stream_);
    if (ev.first) {
      std::lock_guard<std::mutex> lock(tl.mu);
      cudaEventRecord(ev.second, stream_);
      tl.used.push_back(ev);
    }
    if (e != cudaSuccess) raise(std::string("kernel '") + k.name() + "' failed to launch", e);
    last_kernel_ = k.name();
    if (sync_every_launch() || timed) {
      e = cudaStreamSynchronize(stream_);
      if (e != cudaSuccess) raise(std::string("kernel '") + k.name() + "' failed", e);
    }
    if (timed) add_stage_time((std::string("gpu.") + k.name()).c_str(), stage_clock() - t0);
  }
  void synchronize() override {
    use();
    wait_for_queue(std::chrono::steady_clock::now());
  }
  uintptr_t queue_handle() const override { return reinterpret_cast<uintptr_t>(stream_); }

 private:
  // Waits for the queue; the wall time since t0 counts as the host's waiting
  // (wait_seconds: a wall clock, also under SPLATCORE_PROFILE=cpu).
  void wait_for_queue(std::chrono::steady_clock::time_point t0) {
    cudaError_t e = cudaStreamSynchronize(stream_);
    note_wait(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (e != cudaSuccess)
      raise(std::string("queued work failed (the last kernel launched was '") + last_kernel_ +
            "'; SPLATCORE_CUDA_SYNC=1 names the failing one)", e);
  }
  void use() {
    int cur = -1;
    cudaGetDevice(&cur);
    if (cur != index_) check(cudaSetDevice(index_), "cudaSetDevice");
  }
  void check(cudaError_t e, const std::string& what) {
    if (e != cudaSuccess) raise(what, e);
  }
  int index_;
  Properties props_;
  cudaStream_t stream_ = nullptr;
  const char* last_kernel_ = "(none)";
};

}  // namespace

CudaKernelRegistrar::CudaKernelRegistrar(const char* name, const void* fn) { registry()[name] = fn; }

int cuda_runtime_count() { return cuda_device_count(); }

TimelineStats cuda_timeline(bool on) {
  Timeline& tl = timeline();
  std::lock_guard<std::mutex> lock(tl.mu);
  TimelineStats s;
  if (!tl.used.empty()) {
    cudaEventSynchronize(tl.used.back().second);
    float ms = 0;
    for (auto& p : tl.used) {
      if (cudaEventElapsedTime(&ms, p.first, p.second) == cudaSuccess) s.busy_seconds += 1e-3 * ms;
    }
    if (cudaEventElapsedTime(&ms, tl.used.front().first, tl.used.back().second) == cudaSuccess)
      s.span_seconds = 1e-3 * ms;
    s.launches = (int64_t)tl.used.size();
    tl.spare.insert(tl.spare.end(), tl.used.begin(), tl.used.end());
    tl.used.clear();
  }
  cudaGetLastError();
  tl.on = on;
  return s;
}

Runtime& cuda_runtime(int index) {
  static std::mutex mu;
  static auto* runtimes = new std::vector<std::unique_ptr<CudaRuntime>>();  // never destroyed
  std::lock_guard<std::mutex> lock(mu);
  if ((int)runtimes->size() <= index) runtimes->resize(index + 1);
  auto& rt = (*runtimes)[index];
  if (!rt) rt = std::make_unique<CudaRuntime>(index);
  return *rt;
}

}  // namespace gpu
}  // namespace sc
