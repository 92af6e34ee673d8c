#include "core/thread_pool.h"

#include "core/errors.h"

#if defined(__linux__)
#include <sched.h>
#endif

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace sc {

// The most threads the pool takes: a few per CPU is plenty of oversubscription;
// far more only exhausts the system (100000 threads hung the first op).
int max_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return std::max(64, 4 * (int)(hc ? hc : 1));
}

namespace {

thread_local bool t_in_parallel = false;

// One parallel region. Workers hold it by shared_ptr, so a worker that wakes
// late, or is still looping after the region ended, only ever touches its own
// (finished) job: the counters of the next region are separate objects.
struct Job {
  const std::function<void(int64_t)>* fn = nullptr;  // valid while chunks remain
  int64_t nchunks = 0;
  std::atomic<int64_t> next{0}, done{0};
  std::mutex m;
  std::condition_variable done_cv;
  std::exception_ptr error;

  // Runs chunks until none are left (called by the caller and every worker).
  void work() {
    bool prev = t_in_parallel;
    t_in_parallel = true;
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= nchunks) break;
      try {
        (*fn)(c);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m);
        if (!error) error = std::current_exception();
      }
      if (done.fetch_add(1) + 1 == nchunks) {
        std::lock_guard<std::mutex> lk(m);
        done_cv.notify_all();
      }
    }
    t_in_parallel = prev;
  }
};

class ThreadPool {
 public:
  explicit ThreadPool(int n) { start(n); }
  ~ThreadPool() { stop(); }

  int size() const { return nthreads_; }

  // On failure (the system refuses more threads) the pool keeps the threads it
  // could start, stays usable, and the error is rethrown.
  void resize(int n) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // not while a region runs
    stop();
    start(n);
  }

  void run(int64_t nchunks, const std::function<void(int64_t)>& chunk_fn) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // one parallel region at a time
    auto job = std::make_shared<Job>();
    job->fn = &chunk_fn;
    job->nchunks = nchunks;
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = job;
      ++generation_;
    }
    cv_.notify_all();
    job->work();
    {
      std::unique_lock<std::mutex> lk(job->m);
      job->done_cv.wait(lk, [&] { return job->done.load() == job->nchunks; });
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      if (job_ == job) job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void start(int n) {
    if (n < 1) n = 1;
    stopping_ = false;
    nthreads_ = 1;
    for (int i = 0; i < n - 1; ++i) {
      workers_.emplace_back([this] { worker_loop(); });  // may throw std::system_error
      nthreads_ = (int)workers_.size() + 1;  // only threads that exist count
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stopping_ || (generation_ != seen && job_ != nullptr); });
        if (stopping_) return;
        seen = generation_;
        job = job_;
      }
      job->work();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    nthreads_ = 1;
  }

  std::vector<std::thread> workers_;
  int nthreads_ = 1;
  std::mutex m_, run_mutex_;
  std::condition_variable cv_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int cpu_count() {
#if defined(__linux__)
  // the CPUs this process may run on (taskset, container cpusets), not the machine's
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? (int)hc : 1;
}

// SPLATCORE_NUM_THREADS when it is a positive count (clamped to max_threads(),
// with a warning), else the CPUs we may use. Nothing can raise here: this runs
// inside the first op that needs the pool.
int default_threads() {
  const char* e = std::getenv("SPLATCORE_NUM_THREADS");
  if (!e || !*e) return cpu_count();
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(e, &end, 10);
  if (errno != 0 || end == e || *end != '\0' || v < 1) {
    std::fprintf(stderr, "splatcore: warning: SPLATCORE_NUM_THREADS=%s is not a positive thread "
                 "count; using %d threads\n", e, cpu_count());
    return cpu_count();
  }
  if (v > max_threads()) {
    std::fprintf(stderr, "splatcore: warning: SPLATCORE_NUM_THREADS=%s exceeds the limit of %d "
                 "threads; using %d\n", e, max_threads(), max_threads());
    return max_threads();
  }
  return (int)v;
}

// The pool is leaked (no join at interpreter exit). After fork() the child
// has none of the parent's worker threads (and possibly a locked mutex), so
// it drops the old pool and makes a fresh one on first use.
std::atomic<ThreadPool*> g_pool{nullptr};
std::mutex g_pool_mutex;
int g_child_threads = 0;  // thread count the parent had, for the child's new pool

void after_fork_in_child() {
  ThreadPool* p = g_pool.load();
  g_child_threads = p ? p->size() : 0;
  g_pool.store(nullptr);  // leak: its threads do not exist here
  new (&g_pool_mutex) std::mutex();
  t_in_parallel = false;
}

ThreadPool& pool() {
  ThreadPool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lk(g_pool_mutex);
  p = g_pool.load();
  if (!p) {
    static bool registered = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();
    (void)registered;
    p = new ThreadPool(g_child_threads > 0 ? g_child_threads : default_threads());
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n > max_threads())
    throw ValueError("set_num_threads: n = " + std::to_string(n) + " exceeds the limit of " +
                     std::to_string(max_threads()) + " threads (4 per CPU, at least 64)");
  try {
    pool().resize(n > 0 ? n : default_threads());
  } catch (const std::system_error& e) {
    throw std::runtime_error("set_num_threads: the system refused to start " + std::to_string(n) +
                             " threads (" + e.what() + "); the pool keeps " +
                             std::to_string(pool().size()));
  }
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain || t_in_parallel) {
    fn(0, n);
    return;
  }
  int nt = num_threads();
  if (nt <= 1) {
    fn(0, n);
    return;
  }
  // A few chunks per thread for load balance, each at least `grain` long.
  int64_t nchunks = std::min<int64_t>((n + grain - 1) / grain, (int64_t)nt * 4);
  int64_t chunk = (n + nchunks - 1) / nchunks;
  nchunks = (n + chunk - 1) / chunk;
  pool().run(nchunks, [&](int64_t c) {
    int64_t b = c * chunk, e = std::min(n, b + chunk);
    fn(b, e);
  });
}

void parallel_for_each(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (n == 1 || t_in_parallel || num_threads() <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pool().run(n, fn);
}

}  // namespace sc
