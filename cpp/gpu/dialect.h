// The GPU kernel dialect: a kernel is written once in it and compiled three
// ways (ARCHITECTURE.md, "GPU backends", principle 1):
//   - by nvcc (__CUDACC__): __global__ functions taking the argument struct by value;
//   - by Apple's metal compiler (__METAL_VERSION__): kernel functions binding it
//     as `constant Args&` at buffer(0), with the buffers' GPU addresses inside;
//   - by the host compiler for the simulator (cpp/gpu/sim): a plain function run
//     by every thread of a group as a fiber, so barriers, shared memory and SIMD
//     collectives behave as on a GPU, with bounds-checked buffer pointers.
//
// What a kernel file may use, beyond the per-element subset of kernels/compat.h:
//   SC_KERNEL(name, Args) { ... args.field ... }   one entry point
//   SC_PTR(T)                 a device buffer pointer field of an argument struct
//   SC_PTR_CAST(T, p)         the same buffer seen as T (still bounds-checked on sim)
//   SC_ARGS_REF(T)            how helpers take (part of) the argument struct
//   SC_TID_X/Y/Z, SC_GID_X/Y/Z, SC_GSIZE_X/Y/Z, SC_NGROUPS_X/Y/Z
//                             thread in group, group in grid, group size, groups
//   SC_LOCAL_ID, SC_LANE, SC_SIMD_ID   linear thread in group, lane, SIMD group
//   SC_SHARED(T, name, N)     a shared (threadgroup) array of N elements
//   SC_DYNAMIC_SHARED(T, name)  the launch's dynamic shared bytes as T[]
//   SC_BARRIER()              group barrier (device and shared memory)
//   SC_SIMD_BARRIER()         SIMD-group barrier (shared memory): the lanes' shared
//                             writes before it are seen by the group's lanes after it
//   SC_GROUP_FN               a helper that uses barriers or collectives (device-only on CUDA)
//   sc_simd_sum/max/min, sc_simd_prefix_inclusive_sum/exclusive_sum,
//   sc_simd_shuffle(x, lane), sc_simd_ballot(pred)   collectives, width 32
//   sc_popcount(uint)
//   sc_exp2_approx(float)     the hardware's 2^x (~2 ulp) where SC_GPU_HAS_EXP2_APPROX is 1 (CUDA)
//   sc_simd_reduce_scatter<N>(v, lane)  N values summed over the SIMD group, one per lane
//   sc_atomic_add_wide(lo, hi, v)  a 64-bit counter in two 32-bit words
//   sc_atomic_add (float, uint, int; double where SC_GPU_HAS_FLOAT64), sc_atomic_min / sc_atomic_max (uint),
//   sc_atomic_cas (uint) on device and shared memory
// Built-in indices exist only in kernel bodies (MSL passes them as parameters):
// helpers take what they need as arguments (tools/check_kernels.py checks it).
#pragma once
#include "kernels/compat.h"

#define SC_SIMD_WIDTH 32

// ============================================================================
#if defined(__METAL_VERSION__)
// ============================================================================
#define SC_GPU_HAS_FLOAT64 0
typedef long sc_i64;
typedef ulong sc_u64;
#define SC_PTR(T) device T*
#define SC_PTR_CAST(T, p) ((device T*)(p))
#define SC_ARGS_REF(T) constant T&
#define SC_KERNEL(name, Args)                                                      \
  kernel void name(constant Args& args [[buffer(0)]],                              \
                   threadgroup uchar* sc_dynamic_shared [[threadgroup(0)]],        \
                   uint3 sc_tid [[thread_position_in_threadgroup]],                \
                   uint3 sc_gid [[threadgroup_position_in_grid]],                  \
                   uint3 sc_gsize [[threads_per_threadgroup]],                     \
                   uint3 sc_ngroups [[threadgroups_per_grid]],                     \
                   uint sc_local [[thread_index_in_threadgroup]],                  \
                   uint sc_lane [[thread_index_in_simdgroup]],                     \
                   uint sc_simd [[simdgroup_index_in_threadgroup]])
#define SC_TID_X sc_tid.x
#define SC_TID_Y sc_tid.y
#define SC_TID_Z sc_tid.z
#define SC_GID_X sc_gid.x
#define SC_GID_Y sc_gid.y
#define SC_GID_Z sc_gid.z
#define SC_GSIZE_X sc_gsize.x
#define SC_GSIZE_Y sc_gsize.y
#define SC_GSIZE_Z sc_gsize.z
#define SC_NGROUPS_X sc_ngroups.x
#define SC_NGROUPS_Y sc_ngroups.y
#define SC_NGROUPS_Z sc_ngroups.z
#define SC_LOCAL_ID sc_local
#define SC_LANE sc_lane
#define SC_SIMD_ID sc_simd
#define SC_SHARED(T, name, N) threadgroup T name[N]
#define SC_DYNAMIC_SHARED(T, name) threadgroup T* name = (threadgroup T*)sc_dynamic_shared
#define SC_BARRIER() threadgroup_barrier(mem_flags::mem_threadgroup | mem_flags::mem_device)
#define SC_SIMD_BARRIER() simdgroup_barrier(mem_flags::mem_threadgroup)
#define SC_GROUP_FN inline

template <typename T> inline T sc_simd_sum(T x) { return simd_sum(x); }
template <typename T> inline T sc_simd_max(T x) { return simd_max(x); }
template <typename T> inline T sc_simd_min(T x) { return simd_min(x); }
template <typename T> inline T sc_simd_prefix_inclusive_sum(T x) { return simd_prefix_inclusive_sum(x); }
template <typename T> inline T sc_simd_prefix_exclusive_sum(T x) { return simd_prefix_exclusive_sum(x); }
template <typename T> inline T sc_simd_shuffle(T x, uint lane) { return simd_shuffle(x, (ushort)lane); }
inline uint sc_simd_ballot(bool p) { return (uint)(simd_vote::vote_t)simd_ballot(p); }
inline uint sc_popcount(uint x) { return popcount(x); }

inline float sc_atomic_add(device float* p, float v) {
  return atomic_fetch_add_explicit((device atomic_float*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_add(device uint* p, uint v) {
  return atomic_fetch_add_explicit((device atomic_uint*)p, v, memory_order_relaxed);
}
inline int sc_atomic_add(device int* p, int v) {
  return atomic_fetch_add_explicit((device atomic_int*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_min(device uint* p, uint v) {
  return atomic_fetch_min_explicit((device atomic_uint*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_max(device uint* p, uint v) {
  return atomic_fetch_max_explicit((device atomic_uint*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_cas(device uint* p, uint expected, uint desired) {
  atomic_compare_exchange_weak_explicit((device atomic_uint*)p, &expected, desired,
                                        memory_order_relaxed, memory_order_relaxed);
  return expected;  // the old value (updated on failure)
}
inline uint sc_atomic_add(threadgroup uint* p, uint v) {
  return atomic_fetch_add_explicit((threadgroup atomic_uint*)p, v, memory_order_relaxed);
}
inline int sc_atomic_add(threadgroup int* p, int v) {
  return atomic_fetch_add_explicit((threadgroup atomic_int*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_min(threadgroup uint* p, uint v) {
  return atomic_fetch_min_explicit((threadgroup atomic_uint*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_max(threadgroup uint* p, uint v) {
  return atomic_fetch_max_explicit((threadgroup atomic_uint*)p, v, memory_order_relaxed);
}
inline uint sc_atomic_cas(threadgroup uint* p, uint expected, uint desired) {
  atomic_compare_exchange_weak_explicit((threadgroup atomic_uint*)p, &expected, desired,
                                        memory_order_relaxed, memory_order_relaxed);
  return expected;
}
// Shared-memory float add: a compare-and-swap loop on the bits (threadgroup
// atomic_float is not offered on every Apple GPU).
inline float sc_atomic_add(threadgroup float* p, float v) {
  threadgroup atomic_uint* q = (threadgroup atomic_uint*)p;
  uint old = atomic_load_explicit(q, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(q, &old, as_type<uint>(as_type<float>(old) + v),
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
  return as_type<float>(old);
}

// ============================================================================
#elif defined(__CUDACC__)
// ============================================================================
#define SC_GPU_HAS_FLOAT64 1
typedef long long sc_i64;
typedef unsigned long long sc_u64;
#define SC_PTR(T) T*
#define SC_PTR_CAST(T, p) reinterpret_cast<T*>(p)
#define SC_ARGS_REF(T) const T&
#include "gpu/cuda/registrar.h"
#define SC_KERNEL(name, Args)                                                        \
  __global__ void name(const Args args);                                            \
  static const ::sc::gpu::CudaKernelRegistrar name##_registrar(#name, (const void*)&name); \
  __global__ void name(const Args args)
#define SC_TID_X threadIdx.x
#define SC_TID_Y threadIdx.y
#define SC_TID_Z threadIdx.z
#define SC_GID_X blockIdx.x
#define SC_GID_Y blockIdx.y
#define SC_GID_Z blockIdx.z
#define SC_GSIZE_X blockDim.x
#define SC_GSIZE_Y blockDim.y
#define SC_GSIZE_Z blockDim.z
#define SC_NGROUPS_X gridDim.x
#define SC_NGROUPS_Y gridDim.y
#define SC_NGROUPS_Z gridDim.z
#define SC_LOCAL_ID (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z))
#define SC_LANE (SC_LOCAL_ID & 31u)
#define SC_SIMD_ID (SC_LOCAL_ID >> 5)
#define SC_SHARED(T, name, N) __shared__ T name[N]
#define SC_DYNAMIC_SHARED(T, name)                                \
  extern __shared__ __align__(16) unsigned char sc_dynamic_shared[]; \
  T* name = (T*)sc_dynamic_shared
#define SC_BARRIER() __syncthreads()
#define SC_SIMD_BARRIER() __syncwarp(sc_cuda_warp_mask())
#define SC_GROUP_FN __device__ inline

// The lanes that exist in this warp (the last warp of a group may be partial).
__device__ inline unsigned sc_cuda_warp_mask() {
  unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  unsigned first = SC_LOCAL_ID & ~31u;
  unsigned n = threads - first < 32u ? threads - first : 32u;
  return n == 32u ? 0xFFFFFFFFu : ((1u << n) - 1u);
}
__device__ inline unsigned sc_cuda_warp_lanes() { return __popc(sc_cuda_warp_mask()); }
// Tree reductions by shuffle-down: lane 0 gathers the whole warp, then broadcasts.
template <typename T> __device__ inline T sc_simd_sum(T x) {
  unsigned m = sc_cuda_warp_mask(), n = __popc(m), lane = SC_LANE;
  for (unsigned o = 16; o > 0; o >>= 1) {
    T y = __shfl_down_sync(m, x, o);
    if (lane + o < n) x += y;
  }
  return __shfl_sync(m, x, 0);
}
template <typename T> __device__ inline T sc_simd_max(T x) {
  unsigned m = sc_cuda_warp_mask(), n = __popc(m), lane = SC_LANE;
  for (unsigned o = 16; o > 0; o >>= 1) {
    T y = __shfl_down_sync(m, x, o);
    if (lane + o < n) x = y > x ? y : x;
  }
  return __shfl_sync(m, x, 0);
}
template <typename T> __device__ inline T sc_simd_min(T x) {
  unsigned m = sc_cuda_warp_mask(), n = __popc(m), lane = SC_LANE;
  for (unsigned o = 16; o > 0; o >>= 1) {
    T y = __shfl_down_sync(m, x, o);
    if (lane + o < n) x = y < x ? y : x;
  }
  return __shfl_sync(m, x, 0);
}
// Hillis-Steele scan over the warp.
template <typename T> __device__ inline T sc_simd_prefix_inclusive_sum(T x) {
  unsigned m = sc_cuda_warp_mask(), lane = SC_LANE;
  for (unsigned o = 1; o < 32; o <<= 1) {
    T y = __shfl_up_sync(m, x, o);
    if (lane >= o) x += y;
  }
  return x;
}
template <typename T> __device__ inline T sc_simd_prefix_exclusive_sum(T x) {
  return sc_simd_prefix_inclusive_sum(x) - x;
}
template <typename T> __device__ inline T sc_simd_shuffle(T x, unsigned lane) {
  return __shfl_sync(sc_cuda_warp_mask(), x, lane);
}
__device__ inline unsigned sc_simd_ballot(bool p) { return __ballot_sync(sc_cuda_warp_mask(), p); }
__device__ inline unsigned sc_popcount(unsigned x) { return __popc(x); }
#define SC_GPU_HAS_EXP2_APPROX 1
__host__ __device__ inline float sc_exp2_approx(float x) {
#if defined(__CUDA_ARCH__)
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return exp2f(x);
#endif
}

__device__ inline float sc_atomic_add(float* p, float v) { return atomicAdd(p, v); }
__device__ inline unsigned sc_atomic_add(unsigned* p, unsigned v) { return atomicAdd(p, v); }
__device__ inline int sc_atomic_add(int* p, int v) { return atomicAdd(p, v); }
__device__ inline unsigned sc_atomic_min(unsigned* p, unsigned v) { return atomicMin(p, v); }
__device__ inline unsigned sc_atomic_max(unsigned* p, unsigned v) { return atomicMax(p, v); }
__device__ inline unsigned sc_atomic_cas(unsigned* p, unsigned expected, unsigned desired) {
  return atomicCAS(p, expected, desired);
}
__device__ inline double sc_atomic_add(double* p, double v) { return atomicAdd(p, v); }

// ============================================================================
#elif defined(SC_KERNEL_GUARD)
// ============================================================================
// tools/check_kernels.py: every GPU kernel file compiles with no standard
// library, no exceptions and no float64 (as for Metal); builtins and
// collectives are declarations only.
#define SC_GPU_HAS_FLOAT64 0
typedef long sc_i64;
typedef unsigned long sc_u64;
#define SC_PTR(T) T*
#define SC_PTR_CAST(T, ptr) ((T*)(ptr))
#define SC_ARGS_REF(T) const T&
// Built-in indices, the dynamic shared memory and shared arrays exist only in
// kernel bodies (MSL passes them as kernel parameters and declares threadgroup
// memory at kernel scope): here they read a parameter of the kernel, so a helper
// that uses one does not compile.
struct ScGuardBuiltins {
  unsigned index[15];
  unsigned char* dynamic_shared;
};
#define SC_KERNEL(name, Args) void name(const Args& args, const ScGuardBuiltins& sc_guard_builtins)
#define SC_TID_X (sc_guard_builtins.index[0])
#define SC_TID_Y (sc_guard_builtins.index[1])
#define SC_TID_Z (sc_guard_builtins.index[2])
#define SC_GID_X (sc_guard_builtins.index[3])
#define SC_GID_Y (sc_guard_builtins.index[4])
#define SC_GID_Z (sc_guard_builtins.index[5])
#define SC_GSIZE_X (sc_guard_builtins.index[6])
#define SC_GSIZE_Y (sc_guard_builtins.index[7])
#define SC_GSIZE_Z (sc_guard_builtins.index[8])
#define SC_NGROUPS_X (sc_guard_builtins.index[9])
#define SC_NGROUPS_Y (sc_guard_builtins.index[10])
#define SC_NGROUPS_Z (sc_guard_builtins.index[11])
#define SC_LOCAL_ID (sc_guard_builtins.index[12])
#define SC_LANE (sc_guard_builtins.index[13])
#define SC_SIMD_ID (sc_guard_builtins.index[14])
#define SC_SHARED(T, name, N) T name[(N) + 0 * sizeof(sc_guard_builtins)]
#define SC_DYNAMIC_SHARED(T, name) T* name = (T*)sc_guard_builtins.dynamic_shared
void sc_guard_barrier();
#define SC_BARRIER() sc_guard_barrier()
#define SC_SIMD_BARRIER() sc_guard_barrier()
#define SC_GROUP_FN inline
template <typename T> T sc_simd_sum(T x);
template <typename T> T sc_simd_max(T x);
template <typename T> T sc_simd_min(T x);
template <typename T> T sc_simd_prefix_inclusive_sum(T x);
template <typename T> T sc_simd_prefix_exclusive_sum(T x);
template <typename T> T sc_simd_shuffle(T x, unsigned lane);
unsigned sc_simd_ballot(bool p);
unsigned sc_popcount(unsigned x);
float sc_atomic_add(float* p, float v);
unsigned sc_atomic_add(unsigned* p, unsigned v);
int sc_atomic_add(int* p, int v);
unsigned sc_atomic_min(unsigned* p, unsigned v);
unsigned sc_atomic_max(unsigned* p, unsigned v);
unsigned sc_atomic_cas(unsigned* p, unsigned expected, unsigned desired);
#ifndef INFINITY
#define INFINITY __builtin_inff()
#endif

// ============================================================================
#else  // the simulator: host C++
// ============================================================================
#include "gpu/sim/sim_thread.h"
#define SC_GPU_HAS_FLOAT64 1
typedef long long sc_i64;
typedef unsigned long long sc_u64;
#define SC_PTR(T) ::sc::sim::DevPtr<T>
#define SC_PTR_CAST(T, ptr) ::sc::sim::DevPtr<T>(reinterpret_cast<T*>((ptr).addr))
#define SC_ARGS_REF(T) const T&
#define SC_KERNEL(name, Args)                                                              \
  static void name(const Args& args);                                                     \
  static const ::sc::sim::KernelRegistrar name##_registrar(                               \
      #name, [](const void* a) { name(*static_cast<const Args*>(a)); });                  \
  static void name(const Args& args)
#define SC_TID_X (::sc::sim::cur().tid[0])
#define SC_TID_Y (::sc::sim::cur().tid[1])
#define SC_TID_Z (::sc::sim::cur().tid[2])
#define SC_GID_X (::sc::sim::cur().gid[0])
#define SC_GID_Y (::sc::sim::cur().gid[1])
#define SC_GID_Z (::sc::sim::cur().gid[2])
#define SC_GSIZE_X (::sc::sim::cur().gsize[0])
#define SC_GSIZE_Y (::sc::sim::cur().gsize[1])
#define SC_GSIZE_Z (::sc::sim::cur().gsize[2])
#define SC_NGROUPS_X (::sc::sim::cur().ngroups[0])
#define SC_NGROUPS_Y (::sc::sim::cur().ngroups[1])
#define SC_NGROUPS_Z (::sc::sim::cur().ngroups[2])
#define SC_LOCAL_ID (::sc::sim::cur().local)
#define SC_LANE (::sc::sim::cur().local % 32u)
#define SC_SIMD_ID (::sc::sim::cur().local / 32u)
#define SC_SHARED(T, name, N) \
  T* name = static_cast<T*>(::sc::sim::shared_alloc(sizeof(T) * (N), alignof(T)))
#define SC_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::sc::sim::dynamic_shared())
#define SC_BARRIER() ::sc::sim::barrier()
#define SC_SIMD_BARRIER() ::sc::sim::simd_barrier()
#define SC_GROUP_FN inline

template <typename T> inline T sc_simd_sum(T x) { return ::sc::sim::simd_reduce(x, ::sc::sim::Collective::Sum); }
template <typename T> inline T sc_simd_max(T x) { return ::sc::sim::simd_reduce(x, ::sc::sim::Collective::Max); }
template <typename T> inline T sc_simd_min(T x) { return ::sc::sim::simd_reduce(x, ::sc::sim::Collective::Min); }
template <typename T> inline T sc_simd_prefix_inclusive_sum(T x) {
  return ::sc::sim::simd_scan(x, ::sc::sim::Collective::InclusiveSum);
}
template <typename T> inline T sc_simd_prefix_exclusive_sum(T x) {
  return ::sc::sim::simd_scan(x, ::sc::sim::Collective::ExclusiveSum);
}
template <typename T> inline T sc_simd_shuffle(T x, unsigned lane) { return ::sc::sim::simd_shuffle(x, lane); }
inline unsigned sc_simd_ballot(bool p) { return ::sc::sim::simd_ballot(p); }
inline unsigned sc_popcount(unsigned x) { return (unsigned)__builtin_popcount(x); }

// Groups run on several host threads at once: device atomics are real atomics.
inline float sc_atomic_add(float* p, float v) {
  unsigned* q = reinterpret_cast<unsigned*>(p);
  unsigned old = __atomic_load_n(q, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(q, &old, SC_BITS_OF_FLOAT(SC_FLOAT_OF_BITS(old) + v), true,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return SC_FLOAT_OF_BITS(old);
}
inline double sc_atomic_add(double* p, double v) {
  unsigned long long* q = reinterpret_cast<unsigned long long*>(p);
  unsigned long long old = __atomic_load_n(q, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(q, &old, __builtin_bit_cast(unsigned long long,
                                      __builtin_bit_cast(double, old) + v), true,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return __builtin_bit_cast(double, old);
}
inline unsigned sc_atomic_add(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline int sc_atomic_add(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned sc_atomic_min(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline unsigned sc_atomic_max(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v > old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline unsigned sc_atomic_cas(unsigned* p, unsigned expected, unsigned desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
#endif

// ---- collectives built from the above, the same on every backend -----------------
// Reduce-scatter of N (16 or 32) values across the 32 lanes of a full SIMD
// group, a butterfly: at each step a lane keeps half of its values and adds its
// partner's copy of that half, so N values cost N - 1 (N = 32) or N (N = 16)
// shuffles where N separate sums would cost 5 N. Returns the group's total of
// value sc_reduce_scatter_index<N>(lane) (for N = 16 lanes 2i and 2i + 1 both
// hold value i). Overwrites v.
template <int N>
SC_FN unsigned int sc_reduce_scatter_index(unsigned int lane) { return N == 32 ? lane : (lane >> 1) & 15u; }

template <int N, typename T>
SC_GROUP_FN T sc_simd_reduce_scatter(SC_THREAD T* v, unsigned int lane) {
  int m = N;
  for (unsigned int o = 16u; o >= 1u; o >>= 1) {
    if (m == 1) {  // N = 16: the last step adds the pair's copies
      v[0] += sc_simd_shuffle(v[0], lane ^ o);
      break;
    }
    const int h = m / 2;  // not `half`: a type name in MSL
    const bool up = (lane & o) != 0u;
    for (int j = 0; j < h; ++j) {
      const T send = up ? v[j] : v[j + h];
      const T keep = up ? v[j + h] : v[j];
      v[j] = keep + sc_simd_shuffle(send, lane ^ o);
    }
    m = h;
  }
  return v[0];
}

// Adds v to a 64-bit counter kept as two 32-bit words (Metal has no 64-bit atomics).
SC_GROUP_FN void sc_atomic_add_wide(SC_DEVICE unsigned int* lo, SC_DEVICE unsigned int* hi, unsigned int v) {
  const unsigned int old = sc_atomic_add(lo, v);
  if (old + v < old) sc_atomic_add(hi, 1u);
}

// Instantiation lists for kernels templated over the element type. float64 is
// left out where the backend has none (Metal).
#if SC_GPU_HAS_FLOAT64
#define SC_GPU_FOR_FLOAT64(X) X(f64, double)
#else
#define SC_GPU_FOR_FLOAT64(X)
#endif
#define SC_GPU_FOR_FLOATS(X) X(f32, float) SC_GPU_FOR_FLOAT64(X)
#define SC_GPU_FOR_INTS(X) X(u8, unsigned char) X(i32, int) X(u32, unsigned int) X(i64, sc_i64)
#define SC_GPU_FOR_NUMERIC(X) SC_GPU_FOR_INTS(X) SC_GPU_FOR_FLOATS(X)

#ifndef SC_GPU_HAS_EXP2_APPROX
#define SC_GPU_HAS_EXP2_APPROX 0  // Metal, sim: kernels use the portable sc_exp
#endif
