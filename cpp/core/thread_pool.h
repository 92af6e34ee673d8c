// One process-wide pool of worker threads; every parallel loop on the CPU goes
// through parallel_for so work never oversubscribes the cores.
#pragma once
#include <cstdint>
#include <functional>

namespace sc {

int num_threads();
// n <= 0: SPLATCORE_NUM_THREADS, else the CPUs this process may use. ValueError
// above max_threads() (4 per CPU, at least 64; the variable is clamped to it
// with a warning instead); the pool stays usable when the system refuses threads.
void set_num_threads(int n);
int max_threads();

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks hold at
// least `grain` items. Runs inline when n is small or when called from inside
// another parallel_for. Exceptions from fn are rethrown on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(i) for every i in [0, n), each item its own task taken from a
// shared counter: for few items of very uneven cost (image tiles), where
// parallel_for's few fixed chunks per thread would leave threads idle.
void parallel_for_each(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace sc
