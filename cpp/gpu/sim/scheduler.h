// Runs one group of a simulated kernel launch: every thread of the group is a
// fiber on the calling host thread, resumed in turn until each has finished.
// A thread that reaches a barrier or a SIMD collective waits there until every
// thread of its group (SIMD group) has reached the same point; when that can no
// longer happen (some exited, or wait somewhere else) the launch fails, naming
// the kernel. Stricter than a GPU: Metal's limits of 1024 threads and 32 KB of
// shared memory per group hold on every backend's behalf.
#pragma once
#include <cstddef>
#include <cstdint>

#include "gpu/sim/sim_thread.h"

namespace sc::sim {

constexpr uint32_t kMaxGroupThreads = 1024;
constexpr size_t kMaxSharedBytes = 32768;

struct GroupLaunch {
  const char* kernel;
  KernelFn fn;
  const void* args;
  uint32_t gsize[3];
  uint32_t ngroups[3];
  uint32_t dynamic_shared_bytes;
};

// Runs group `gid` of the launch; throws std::runtime_error naming the kernel.
void run_group(const GroupLaunch& launch, const uint32_t gid[3]);

}  // namespace sc::sim
