// Finds the runtime of a device: the simulator in every build, CUDA and Metal
// where their backends were built.
#include "gpu/runtime.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "core/errors.h"
#include "core/tensor.h"
#include "gpu/backend_hooks.h"
#include "gpu/sim/sim_runtime.h"

namespace sc::gpu {

static std::atomic<uint64_t> g_launches{0};
void count_launch() { g_launches.fetch_add(1, std::memory_order_relaxed); }
uint64_t launch_count(bool reset) { return reset ? g_launches.exchange(0) : g_launches.load(); }
static std::atomic<uint64_t> g_wait_ns{0};
void note_wait(double seconds) { g_wait_ns.fetch_add((uint64_t)(seconds * 1e9), std::memory_order_relaxed); }
double wait_seconds(bool reset) { return 1e-9 * (double)(reset ? g_wait_ns.exchange(0) : g_wait_ns.load()); }

int device_count(DeviceType t) {
  switch (t) {
    case DeviceType::Sim: return 1;
    case DeviceType::CUDA: return cuda_runtime_count();
    case DeviceType::Metal: return metal_runtime_count();
    default: return 0;
  }
}

bool device_available(Device d) {
  return d.type != DeviceType::CPU && d.index >= 0 && d.index < device_count(d.type);
}

Runtime& runtime(Device d) {
  if (d.type == DeviceType::CPU) throw ValueError("device: the CPU has no GPU runtime");
  if (!device_available(d)) {
    int n = device_count(d.type);
    std::string why = n == 0 ? (d.type == DeviceType::CUDA ? std::string(cuda_built() ? "no CUDA device is visible"
                                                                         : "this build has no CUDA backend")
                                                           : std::string(metal_built() ? "no Metal device is visible"
                                                                          : "this build has no Metal backend"))
                             : "only " + std::to_string(n) + " device(s) exist";
    throw ValueError("device: " + d.str() + " is not available (" + why + ")");
  }
  switch (d.type) {
    case DeviceType::Sim: return sim::runtime();
    case DeviceType::CUDA: return cuda_runtime(d.index);
    default: return metal_runtime(d.index);
  }
}

namespace {
struct MemoryCounters {
  std::mutex mu;
  std::map<std::pair<int, int>, MemoryStats> per_device;
};
MemoryCounters& memory_counters() {
  static auto* c = new MemoryCounters();
  return *c;
}
}  // namespace

void note_memory(Device d, int64_t delta_bytes) {
  MemoryCounters& c = memory_counters();
  std::lock_guard<std::mutex> lock(c.mu);
  MemoryStats& m = c.per_device[{(int)d.type, d.index}];
  m.in_use += delta_bytes;
  if (m.in_use > m.peak) m.peak = m.in_use;
}

MemoryStats memory_stats(Device d) {
  MemoryCounters& c = memory_counters();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.per_device.find({(int)d.type, d.index});
  return it == c.per_device.end() ? MemoryStats{} : it->second;
}

void reset_peak_memory(Device d) {
  MemoryCounters& c = memory_counters();
  std::lock_guard<std::mutex> lock(c.mu);
  MemoryStats& m = c.per_device[{(int)d.type, d.index}];
  m.peak = m.in_use;
}

const Kernel& kernel(const std::string& name) {
  static std::mutex mu;
  static auto* table = new std::map<std::string, std::unique_ptr<Kernel>>();  // never destroyed
  std::lock_guard<std::mutex> lock(mu);
  auto it = table->find(name);
  if (it == table->end())
    it = table->emplace(name, nullptr).first, it->second = std::make_unique<Kernel>(it->first.c_str());
  return *it->second;
}

void* gpu_address(const Tensor& t) {
  const auto& s = t.storage();
  return static_cast<char*>(s->gpu_data) + t.offset() * (int64_t)itemsize(t.dtype());
}

}  // namespace sc::gpu
