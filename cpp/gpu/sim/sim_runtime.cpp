// The simulator's runtime: "device" memory is host memory known to an
// allocation table (so every DevPtr subscript is bounds-checked, with red zones
// between allocations and fresh memory poisoned to NaN bytes), launches run at
// once, group by group over the CPU thread pool.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "gpu/runtime.h"
#include "gpu/sim/scheduler.h"
#include "gpu/sim/sim_runtime.h"

namespace sc::sim {

namespace {

constexpr size_t kRedZone = 256;

struct AllocationTable {
  std::shared_mutex mu;
  std::map<uintptr_t, size_t> live;  // base -> bytes
  std::atomic<uint64_t> epoch{1};
};
AllocationTable& table() {
  static AllocationTable* t = new AllocationTable();  // never destroyed: frees may run at exit
  return *t;
}

struct Range {
  uintptr_t lo = 0, hi = 0;
  uint64_t epoch = 0;
};
thread_local Range t_last;

std::unordered_map<std::string, KernelFn>& registry() {
  static auto* r = new std::unordered_map<std::string, KernelFn>();
  return *r;
}

// Kernels registered twice: a kernel file included by another kernel unit
// defines its kernels in both (nvcc's link refuses that; here it would pass).
std::vector<std::string>& duplicated() {
  static auto* d = new std::vector<std::string>();
  return *d;
}

}  // namespace

KernelRegistrar::KernelRegistrar(const char* name, KernelFn fn) {
  if (!registry().emplace(name, fn).second) duplicated().push_back(name);
}

KernelFn find_kernel(const char* name) {
  if (!duplicated().empty())
    throw std::runtime_error("sim: kernel '" + duplicated().front() +
                             "' is defined by two kernel units (one kernel file includes another): "
                             "every kernel must be defined once");
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second;
}

// The live allocation holding [a, a + bytes), or false.
static bool find_live(uintptr_t a, size_t bytes, Range& r) {
  AllocationTable& t = table();
  std::shared_lock<std::shared_mutex> lock(t.mu);
  auto it = t.live.upper_bound(a);
  if (it == t.live.begin()) return false;
  --it;
  if (a < it->first || a + bytes > it->first + it->second) return false;
  r.lo = it->first;
  r.hi = it->first + it->second;
  return true;
}

void check_access(const void* p, size_t bytes) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint64_t e = table().epoch.load(std::memory_order_acquire);
  if (t_last.epoch == e && a >= t_last.lo && a + bytes <= t_last.hi) return;
  Range r;
  if (find_live(a, bytes, r)) {
    r.epoch = e;
    t_last = r;
    return;
  }
  fail(("out-of-bounds device memory access: " + std::to_string(bytes) + " bytes at " +
        std::to_string(a) + " lie outside every live buffer").c_str());
}

class SimRuntime final : public gpu::Runtime {
 public:
  SimRuntime() {
    props_.name = "splatcore GPU simulator (kernels on the CPU)";
    props_.memory_bytes = 0;
    props_.simd_width = 32;
    props_.max_group_size = (int)kMaxGroupThreads;
    props_.max_shared_bytes = kMaxSharedBytes;
    props_.float64 = true;
  }
  Device device() const override { return {DeviceType::Sim, 0}; }
  const gpu::Properties& properties() const override { return props_; }

  gpu::Allocation allocate(size_t bytes) override {
    size_t body = (bytes + 63) / 64 * 64;
    char* raw = static_cast<char*>(std::aligned_alloc(64, body + 2 * kRedZone));
    if (!raw) throw std::bad_alloc();
    std::memset(raw, 0xFF, body + 2 * kRedZone);  // uninitialised floats read as NaN
    char* p = raw + kRedZone;
    {
      std::unique_lock<std::shared_mutex> lock(table().mu);
      table().live[reinterpret_cast<uintptr_t>(p)] = bytes;
    }
    gpu::Allocation a;
    a.host = p;
    a.gpu = p;
    a.bytes = bytes;
    a.handle = raw;
    return a;
  }
  void free(const gpu::Allocation& a) override {
    {
      std::unique_lock<std::shared_mutex> lock(table().mu);
      table().live.erase(reinterpret_cast<uintptr_t>(a.gpu));
      table().epoch.fetch_add(1, std::memory_order_acq_rel);
    }
    std::free(a.handle);
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    checked(dst, bytes, "copy to the device");
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    checked(src, bytes, "copy from the device");
    std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    checked(dst, bytes, "device copy (destination)");
    checked(src, bytes, "device copy (source)");
    std::memmove(dst, src, bytes);
  }
  void fill_bytes(void* dst, uint8_t value, size_t bytes) override {
    checked(dst, bytes, "fill");
    std::memset(dst, value, bytes);
  }

  void launch(const gpu::Kernel& k, const gpu::LaunchDims& d, const void* args, size_t,
              std::initializer_list<const Storage*>) override {
    auto fn = reinterpret_cast<KernelFn>(const_cast<void*>(k.cached[(int)DeviceType::Sim]));
    if (!fn) {
      fn = find_kernel(k.name());
      if (!fn) throw std::runtime_error(std::string("sim: no kernel named '") + k.name() + "'");
      k.cached[(int)DeviceType::Sim] = reinterpret_cast<const void*>(fn);
    }
    uint64_t threads = d.group.count();
    if (threads == 0 || d.grid.count() == 0)
      throw ValueError(std::string("sim kernel '") + k.name() + "': empty launch");
    if (threads > kMaxGroupThreads)
      throw ValueError(std::string("sim kernel '") + k.name() + "': " + std::to_string(threads) +
                       " threads per group, over Metal's limit of 1024");
    if (d.dynamic_shared_bytes > kMaxSharedBytes)
      throw ValueError(std::string("sim kernel '") + k.name() + "': " +
                       std::to_string(d.dynamic_shared_bytes) +
                       " bytes of dynamic shared memory, over Metal's limit of 32768");
    GroupLaunch L{k.name(), fn, args, {d.group.x, d.group.y, d.group.z},
                  {d.grid.x, d.grid.y, d.grid.z}, d.dynamic_shared_bytes};
    const uint64_t gx = d.grid.x, gy = d.grid.y, groups = d.grid.count();
    parallel_for_each((int64_t)groups, [&](int64_t i) {
      uint32_t gid[3] = {uint32_t(i % gx), uint32_t((i / gx) % gy), uint32_t(i / (gx * gy))};
      run_group(L, gid);
    });
  }
  void synchronize() override {}

 private:
  void checked(const void* p, size_t bytes, const char* what) {
    Range r;
    if (bytes == 0 || find_live(reinterpret_cast<uintptr_t>(p), bytes, r)) return;
    throw std::runtime_error(std::string("sim: ") + what + " of " + std::to_string(bytes) +
                             " bytes outside every live buffer");
  }
  gpu::Properties props_;
};

gpu::Runtime& runtime() {
  static SimRuntime* rt = new SimRuntime();  // never destroyed: frees may run at exit
  return *rt;
}

}  // namespace sc::sim
