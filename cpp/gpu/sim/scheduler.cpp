#include "gpu/sim/scheduler.h"

#include <sys/mman.h>

#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/sim/fiber.h"

namespace sc::sim {

namespace {

enum class State : uint8_t { Runnable, AtBarrier, AtCollective, AtRelease, Done };

struct SimThread {
  ThreadCtx ctx;
  FiberContext fiber;
  State state = State::Runnable;
  Collective kind = Collective::Sum;
};

constexpr size_t kStackBytes = size_t(256) << 10;
constexpr size_t kGuardBytes = size_t(4) << 10;

// Fiber stacks of this host thread, kept for the next group: reserved with
// mmap (pages are committed on first touch) with a guard page below each.
struct StackPool {
  std::vector<char*> stacks;
  char* get(size_t i) {
    while (stacks.size() <= i) {
      void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw std::runtime_error("sim: cannot reserve fiber stacks");
      mprotect(p, kGuardBytes, PROT_NONE);
      stacks.push_back(static_cast<char*>(p) + kGuardBytes);
    }
    return stacks[i];
  }
  ~StackPool() {
    for (char* s : stacks) munmap(s - kGuardBytes, kStackBytes + kGuardBytes);
  }
};

thread_local StackPool t_stacks;
thread_local ThreadCtx* t_cur = nullptr;

}  // namespace

struct Group {
  const GroupLaunch* launch;
  uint32_t n = 0;
  std::vector<SimThread> threads;
  FiberContext scheduler;
  std::vector<uint8_t> shared;   // static part, then the dynamic part
  size_t static_limit = 0;
  size_t shared_high = 0;        // bytes poisoned so far
  std::vector<uint64_t> slots;   // SIMD exchange, 32 per SIMD group
  std::exception_ptr error;
  uint32_t failed_thread = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(std::string("sim kernel '") + launch->kernel + "': " + what);
  }
  SimThread& self() { return threads[t_cur->local]; }
  // Suspends the running thread in `s` until the scheduler releases it.
  void wait(State s) {
    SimThread& t = self();
    t.state = s;
    fiber_switch(t.fiber, scheduler);
  }
};

ThreadCtx& cur() { return *t_cur; }

[[noreturn]] void fail(const char* what) {
  if (!t_cur) throw std::runtime_error(std::string("sim: ") + what);
  t_cur->group->fail(what);
}

void barrier() { t_cur->group->wait(State::AtBarrier); }

void* shared_alloc(size_t bytes, size_t align) {
  Group& g = *t_cur->group;
  size_t off = (t_cur->shared_cursor + align - 1) / align * align;
  if (off + bytes > g.static_limit)
    g.fail("shared memory over the limit: " + std::to_string(off + bytes) + " bytes of static "
           "shared arrays with " + std::to_string(g.launch->dynamic_shared_bytes) +
           " dynamic bytes (at most " + std::to_string(kMaxSharedBytes) + " per group)");
  t_cur->shared_cursor = off + bytes;
  if (off + bytes > g.shared_high) {  // poison: uninitialised shared floats read as NaN
    std::memset(g.shared.data() + g.shared_high, 0xFF, off + bytes - g.shared_high);
    g.shared_high = off + bytes;
  }
  return g.shared.data() + off;
}

void* dynamic_shared() {
  Group& g = *t_cur->group;
  return g.shared.data() + g.static_limit;
}

const uint64_t* exchange(const void* value, size_t bytes, Collective kind, uint32_t* lanes) {
  Group& g = *t_cur->group;
  uint32_t simd = t_cur->local / 32u, lane = t_cur->local % 32u;
  uint64_t v = 0;
  std::memcpy(&v, value, bytes);
  g.slots[simd * 32u + lane] = v;
  g.self().kind = kind;
  g.wait(State::AtCollective);
  uint32_t first = simd * 32u;
  *lanes = g.n - first < 32u ? g.n - first : 32u;
  return &g.slots[first];
}

void release_exchange() { t_cur->group->wait(State::AtRelease); }

static void thread_entry(void* p) {
  Group& g = *static_cast<Group*>(p);
  SimThread& t = g.self();
  try {
    g.launch->fn(g.launch->args);
  } catch (...) {
    if (!g.error) {
      g.error = std::current_exception();
      g.failed_thread = t.ctx.local;
    }
  }
  t.state = State::Done;
  fiber_switch(t.fiber, g.scheduler);
  __builtin_trap();  // a finished fiber is never resumed
}

static const char* state_name(State s) {
  switch (s) {
    case State::AtBarrier: return "a group barrier";
    case State::AtCollective: return "a SIMD collective";
    case State::AtRelease: return "the end of a SIMD collective";
    case State::Done: return "the end of the kernel";
    default: return "running";
  }
}

// Releases the waiting threads when a whole group (barrier) or a whole SIMD
// group (collective) waits at the same point; raises when the wait can never end.
static void release(Group& g) {
  uint32_t done = 0, at_barrier = 0;
  for (auto& t : g.threads) {
    done += t.state == State::Done;
    at_barrier += t.state == State::AtBarrier;
  }
  if (done == g.n) return;
  if (at_barrier == g.n) {
    for (auto& t : g.threads) t.state = State::Runnable;
    return;
  }
  bool released = false;
  for (uint32_t first = 0; first < g.n; first += 32) {
    uint32_t last = first + 32 < g.n ? first + 32 : g.n;
    State s = g.threads[first].state;
    if (s != State::AtCollective && s != State::AtRelease) continue;
    bool same = true;
    for (uint32_t i = first; i < last; ++i)
      same &= g.threads[i].state == s && g.threads[i].kind == g.threads[first].kind;
    if (!same) continue;
    for (uint32_t i = first; i < last; ++i) g.threads[i].state = State::Runnable;
    released = true;
  }
  if (released) return;
  // Nothing can run: find a SIMD group or the group whose threads disagree.
  for (uint32_t first = 0; first < g.n; first += 32) {
    uint32_t last = first + 32 < g.n ? first + 32 : g.n;
    for (uint32_t i = first; i < last; ++i) {
      if (g.threads[i].state == g.threads[first].state &&
          g.threads[i].kind == g.threads[first].kind)
        continue;
      if (g.threads[first].state == State::AtCollective || g.threads[i].state == State::AtCollective)
        g.fail("a SIMD collective is not reached by every thread of SIMD group " +
               std::to_string(first / 32) + ": thread " + std::to_string(first) + " waits at " +
               state_name(g.threads[first].state) + ", thread " + std::to_string(i) + " at " +
               state_name(g.threads[i].state));
    }
  }
  for (uint32_t i = 0; i < g.n; ++i)
    if (g.threads[i].state != State::AtBarrier)
      g.fail("a barrier is not reached by every thread of the group: " +
             std::to_string(at_barrier) + " of " + std::to_string(g.n) +
             " threads wait at it, thread " + std::to_string(i) + " is at " +
             state_name(g.threads[i].state));
  g.fail("deadlock");
}

void run_group(const GroupLaunch& launch, const uint32_t gid[3]) {
  thread_local Group g;  // reused: its vectors keep their capacity between groups
  g.launch = &launch;
  g.n = launch.gsize[0] * launch.gsize[1] * launch.gsize[2];
  g.threads.resize(g.n);
  g.error = nullptr;
  g.static_limit = kMaxSharedBytes - launch.dynamic_shared_bytes;
  g.shared.resize(kMaxSharedBytes);
  g.shared_high = 0;
  std::memset(g.shared.data() + g.static_limit, 0xFF, launch.dynamic_shared_bytes);
  g.slots.assign((g.n + 31) / 32 * 32, 0);
  for (uint32_t i = 0; i < g.n; ++i) {
    SimThread& t = g.threads[i];
    ThreadCtx& c = t.ctx;
    c.local = i;
    c.tid[0] = i % launch.gsize[0];
    c.tid[1] = (i / launch.gsize[0]) % launch.gsize[1];
    c.tid[2] = i / (launch.gsize[0] * launch.gsize[1]);
    for (int k = 0; k < 3; ++k) {
      c.gid[k] = gid[k];
      c.gsize[k] = launch.gsize[k];
      c.ngroups[k] = launch.ngroups[k];
    }
    c.shared_cursor = 0;
    c.group = &g;
    t.state = State::Runnable;
    fiber_make(t.fiber, t_stacks.get(i), kStackBytes, &thread_entry, &g);
  }
  ThreadCtx* saved = t_cur;
  try {
    for (;;) {
      bool ran = false;
      for (uint32_t i = 0; i < g.n; ++i) {
        SimThread& t = g.threads[i];
        if (t.state != State::Runnable) continue;
        t_cur = &t.ctx;
        fiber_switch(g.scheduler, t.fiber);
        ran = true;
        if (g.error) std::rethrow_exception(g.error);
      }
      bool all_done = true;
      for (auto& t : g.threads) all_done &= t.state == State::Done;
      if (all_done) break;
      release(g);
      (void)ran;
    }
  } catch (...) {
    t_cur = saved;
    throw;
  }
  t_cur = saved;
}

}  // namespace sc::sim
