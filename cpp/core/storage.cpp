#include "core/storage.h"

#if !defined(_WIN32)
#include <unistd.h>
#endif

#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/errors.h"
#include "gpu/runtime.h"

namespace sc {

std::string Device::str() const {
  switch (type) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda:" + std::to_string(index);
    case DeviceType::Metal: return "metal:" + std::to_string(index);
    case DeviceType::Sim: return "sim:" + std::to_string(index);
  }
  return "?";
}

Device Device::parse(const std::string& s) {
  auto colon = s.find(':');
  std::string kind = s.substr(0, colon);
  int index = 0;
  if (colon != std::string::npos) {
    try {
      index = std::stoi(s.substr(colon + 1));
    } catch (...) {
      throw ValueError("device: expected 'cpu', 'cuda[:N]', 'metal' or 'sim', got '" + s + "'");
    }
  }
  if (kind == "cpu") return {DeviceType::CPU, 0};
  if (kind == "cuda") return {DeviceType::CUDA, index};
  if (kind == "metal" || kind == "mps") return {DeviceType::Metal, index};
  if (kind == "sim") return {DeviceType::Sim, index};
  throw ValueError("device: expected 'cpu', 'cuda[:N]', 'metal' or 'sim', got '" + s + "'");
}

static Device g_default_device;
Device default_device() { return g_default_device; }
void set_default_device(Device d) { g_default_device = d; }

// Total physical memory (0 = unknown: no limit).
static size_t physical_memory_bytes() {
  static const size_t total = [] {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) return (size_t)pages * (size_t)page;
#endif
    return SIZE_MAX;
  }();
  return total;
}

namespace {

// Large blocks are recycled instead of returned to the OS: a fresh mmap'd block
// costs a kernel page clear on first touch (a training step allocates and
// frees the same ~100 MB of gradients, features and scratch every iteration,
// and the clears were a sixth of a step). Blocks are matched best-fit within
// 25% of the request; the cache holds at most 4 GB or 1/8 of RAM (SPLATCORE_BLOCK_CACHE_MB
// overrides) and gives the largest blocks back first when over it. At 335k Gaussians a step
// frees more than 512 MB of blocks, and a smaller cap made it page-fault 5% of the step.
class BlockCache {
 public:
  static BlockCache& get() {
    static BlockCache* c = new BlockCache();  // never destroyed: frees may run at exit
    return *c;
  }
  // A cached block of at least `bytes` (and at most 1.25x), or null.
  void* take(size_t bytes, size_t* got) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    void* p = it->second;
    *got = it->first;
    cached_ -= it->first;
    free_.erase(it);
    return p;
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.emplace(bytes, p);
    cached_ += bytes;
    while (cached_ > limit() && !free_.empty()) {
      auto last = std::prev(free_.end());
      cached_ -= last->first;
      std::free(last->second);
      free_.erase(last);
    }
  }

 private:
  static size_t limit() {
    static const size_t l = [] {
      if (const char* env = std::getenv("SPLATCORE_BLOCK_CACHE_MB")) return size_t(std::atoll(env)) << 20;
      return std::min<size_t>(size_t(4) << 30, physical_memory_bytes() / 8);
    }();
    return l;
  }
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

}  // namespace

static std::shared_ptr<Storage> allocate_gpu(size_t nbytes, Device device) {
  gpu::Runtime& rt = gpu::runtime(device);  // ValueError when not available
  gpu::Allocation a = rt.allocate(nbytes);
  auto s = std::make_shared<Storage>();
  s->data = a.host;
  s->gpu_data = a.gpu;
  s->nbytes = nbytes;
  s->device = device;
  s->allocated = true;
  gpu::note_memory(device, (int64_t)nbytes);
  s->owner = std::shared_ptr<void>(a.gpu, [&rt, a, device, nbytes](void*) {
    gpu::note_memory(device, -(int64_t)nbytes);
    rt.free(a);
  });
  return s;
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device.type != DeviceType::CPU) return allocate_gpu(nbytes, device);
  auto s = std::make_shared<Storage>();
  // Large blocks: 2 MiB aligned and marked for transparent huge pages (as NumPy
  // does), so first touch costs one fault per 2 MiB instead of per 4 KiB; that
  // alone made fresh 64 MB outputs ~4x slower than NumPy's.
  const size_t huge = size_t(2) << 20;
  const bool big = nbytes >= (size_t(1) << 20);
  size_t align = big ? huge : 64;
  if (nbytes > SIZE_MAX - huge) throw std::bad_alloc();
  // More than the machine's RAM can never be used: refuse it here (MemoryError)
  // rather than let an overcommitting kernel hand it out and OOM-kill us later.
  if (nbytes > physical_memory_bytes()) throw std::bad_alloc();
  size_t bytes = (nbytes + align - 1) / align * align;
  if (bytes == 0) bytes = 64;
  void* p = nullptr;
  if (big) p = BlockCache::get().take(bytes, &bytes);
  if (!p) {
    p = std::aligned_alloc(align, bytes);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (big) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  }
  s->data = p;
  s->nbytes = nbytes;
  s->device = device;
  s->allocated = true;
  if (big)
    s->owner = std::shared_ptr<void>(p, [bytes](void* q) { BlockCache::get().give(q, bytes); });
  else
    s->owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::shared_ptr<void> owner,
                                       Device device) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->gpu_data = device.type == DeviceType::CPU ? nullptr : data;
  s->nbytes = nbytes;
  s->device = device;
  s->owner = std::move(owner);
  return s;
}

}  // namespace sc
