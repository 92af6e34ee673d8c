// What a simulated GPU thread sees (the simulator's side of gpu/dialect.h):
// its indices, the group's shared memory, barriers and SIMD-group collectives
// (which suspend the thread's fiber until its whole group or SIMD group has
// arrived), and bounds-checked device pointers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sc::sim {

struct Group;  // sim/scheduler.h

struct ThreadCtx {
  uint32_t tid[3], gid[3], gsize[3], ngroups[3];
  uint32_t local;       // linear index in the group
  size_t shared_cursor; // this thread's next SC_SHARED offset (all threads allocate alike)
  Group* group;
};

ThreadCtx& cur();

void barrier();
void* shared_alloc(size_t bytes, size_t align);
void* dynamic_shared();

enum class Collective : uint8_t { Sum, Max, Min, InclusiveSum, ExclusiveSum, Shuffle, Ballot };

// Deposits this lane's value (up to 8 bytes) and suspends until every lane of
// the SIMD group has done the same collective; returns the group's slots
// (valid until release_exchange()) and their count.
const uint64_t* exchange(const void* value, size_t bytes, Collective kind, uint32_t* lanes);
void release_exchange();
[[noreturn]] void fail(const char* what);  // raises RuntimeError naming the kernel

template <typename T>
T slot_value(const uint64_t* slots, uint32_t i) {
  T v;
  std::memcpy(&v, &slots[i], sizeof(T));
  return v;
}

template <typename T>
T simd_reduce(T x, Collective kind) {
  static_assert(sizeof(T) <= 8, "collectives take scalars");
  uint32_t n;
  const uint64_t* s = exchange(&x, sizeof(T), kind, &n);
  T r = slot_value<T>(s, 0);
  for (uint32_t i = 1; i < n; ++i) {
    T v = slot_value<T>(s, i);
    if (kind == Collective::Sum) r = T(r + v);
    else if (kind == Collective::Max) r = v > r ? v : r;
    else r = v < r ? v : r;
  }
  release_exchange();
  return r;
}

template <typename T>
T simd_scan(T x, Collective kind) {
  uint32_t n;
  const uint64_t* s = exchange(&x, sizeof(T), kind, &n);
  uint32_t lane = cur().local % 32u;
  T r = T(0);
  for (uint32_t i = 0; i < lane; ++i) r = T(r + slot_value<T>(s, i));
  if (kind == Collective::InclusiveSum) r = T(r + x);
  release_exchange();
  return r;
}

template <typename T>
T simd_shuffle(T x, uint32_t src) {
  uint32_t n;
  const uint64_t* s = exchange(&x, sizeof(T), Collective::Shuffle, &n);
  if (src >= n) fail("simd_shuffle reads a lane that does not exist in this SIMD group");
  T r = slot_value<T>(s, src);
  release_exchange();
  return r;
}

inline uint32_t simd_ballot(bool p) {
  uint32_t n;
  uint8_t v = p ? 1 : 0;
  const uint64_t* s = exchange(&v, 1, Collective::Ballot, &n);
  uint32_t bits = 0;
  for (uint32_t i = 0; i < n; ++i)
    if (slot_value<uint8_t>(s, i)) bits |= 1u << i;
  release_exchange();
  return bits;
}

// A SIMD-group barrier: a collective every lane of the group must reach (a
// ballot whose answer is dropped), so a lane that skips it is reported as for
// any collective. Fibers switch only at barriers and collectives, so memory is
// already consistent across it.
inline void simd_barrier() { (void)simd_ballot(true); }

// Raises unless [p, p + bytes) lies inside one live simulator allocation.
void check_access(const void* p, size_t bytes);

// A device buffer pointer in an argument struct: the layout of a plain pointer
// (host code fills it with gpu_ptr<T>()), every subscript bounds-checked.
template <typename T>
struct DevPtr {
  T* addr;
  DevPtr() = default;
  DevPtr(T* q) : addr(q) {}  // NOLINT: implicit, like a pointer
  template <typename I, typename = std::enable_if_t<std::is_integral_v<I>>>
  T& operator[](I i) const {
    check_access(addr + i, sizeof(T));
    return addr[i];
  }
  T& operator*() const {
    check_access(addr, sizeof(T));
    return *addr;
  }
  template <typename I, typename = std::enable_if_t<std::is_integral_v<I>>>
  DevPtr operator+(I i) const { return DevPtr(addr + i); }
  operator T*() const { return addr; }  // for per-element bodies taking plain pointers (unchecked)
};

using KernelFn = void (*)(const void* args);
struct KernelRegistrar {
  KernelRegistrar(const char* name, KernelFn fn);
};
KernelFn find_kernel(const char* name);  // null when unknown

}  // namespace sc::sim
