// BLAS loading (dlopen on first use) and the portable blocked GEMM fallback.
#include "ops/blas.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "ops/linalg.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#if defined(SPLATCORE_ACCELERATE)
#include <Accelerate/Accelerate.h>
#endif

namespace sc {
namespace {

// CBLAS enum values (the C enums are int-sized in every ABI we target).
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

using sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                          int, float, float*, int);
using dgemm_fn = void (*)(int, int, int, int, int, int, double, const double*, int,
                          const double*, int, double, double*, int);
using set_threads_fn = void (*)(int);
using get_config_fn = char* (*)();

struct Backend {
  sgemm_fn sgemm = nullptr;  // null: blocked fallback
  dgemm_fn dgemm = nullptr;
  set_threads_fn set_threads = nullptr;
  std::atomic<int> threads_set{-1};
  std::string name = "blocked fallback";
};

std::mutex g_mu;
std::string g_path;                       // from set_blas_library_path
std::atomic<Backend*> g_current{nullptr};  // leaked on purpose: gemm may hold a pointer

#if defined(SPLATCORE_ACCELERATE)
#define SC_ACC_TRANS(t) ((t) == kTrans ? CblasTrans : CblasNoTrans)
void acc_sgemm(int, int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, SC_ACC_TRANS(ta), SC_ACC_TRANS(tb), M, N, K, alpha, A, lda, B, ldb, beta,
              C, ldc);
}
void acc_dgemm(int, int ta, int tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, SC_ACC_TRANS(ta), SC_ACC_TRANS(tb), M, N, K, alpha, A, lda, B, ldb, beta,
              C, ldc);
}
#endif

void* open_lib(const std::string& path) {
#if defined(_WIN32)
  return (void*)LoadLibraryA(path.c_str());
#else
  return dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
}

void* find_sym(void* lib, const char* name) {
#if defined(_WIN32)
  return (void*)GetProcAddress((HMODULE)lib, name);
#else
  return dlsym(lib, name);
#endif
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

// A 2x3 @ 3x2 product through the candidate, against the answer: guards against
// a library with another integer width (ILP64) or a broken build.
bool sane(sgemm_fn s, dgemm_fn d) {
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  const float want[4] = {58, 64, 139, 154};
  float c[4] = {0, 0, 0, 0};
  s(kRowMajor, kNoTrans, kNoTrans, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2);
  const double ad[6] = {1, 2, 3, 4, 5, 6};
  double cd[4] = {0, 0, 0, 0};
  // transposed B: B^T stored 2x3
  const double bt[6] = {7, 9, 11, 8, 10, 12};
  d(kRowMajor, kNoTrans, kTrans, 2, 2, 3, 1.0, ad, 3, bt, 3, 0.0, cd, 2);
  for (int i = 0; i < 4; ++i)
    if (c[i] != want[i] || cd[i] != (double)want[i]) return false;
  return true;
}

// Tries one library file: symbols prefixed "scipy_" (the scipy-openblas wheels) or plain.
bool try_library(Backend* be, const std::string& path, const char* tag) {
  void* lib = open_lib(path);
  if (!lib) return false;
  for (const char* prefix : {"scipy_", ""}) {
    std::string p(prefix);
    auto s = (sgemm_fn)find_sym(lib, (p + "cblas_sgemm").c_str());
    auto d = (dgemm_fn)find_sym(lib, (p + "cblas_dgemm").c_str());
    if (!s || !d) continue;
    auto cfg = (get_config_fn)find_sym(lib, (p + "openblas_get_config").c_str());
    std::string config = cfg ? trim(cfg()) : std::string();
    if (config.find("USE64BITINT") != std::string::npos) continue;  // 64-bit ints: wrong ABI
    if (!sane(s, d)) continue;
    be->sgemm = s;
    be->dgemm = d;
    be->set_threads = (set_threads_fn)find_sym(lib, (p + "openblas_set_num_threads").c_str());
    std::string base = path.substr(path.find_last_of("/\\") + 1);
    std::string what = p == "scipy_" ? std::string("scipy-openblas32") : base;
    if (tag) what = tag;
    be->name = (config.empty() ? std::string("CBLAS") : config) + " (" + what + ")";
    return true;  // the library stays loaded for the life of the process
  }
#if !defined(_WIN32)
  dlclose(lib);
#endif
  return false;
}

Backend* load_locked() {
  Backend* cur = g_current.load(std::memory_order_acquire);
  if (cur) return cur;
  Backend* be = new Backend();
  bool force_fallback = g_path == "none" || g_path == "fallback";
  bool found = false;
#if defined(SPLATCORE_ACCELERATE)
  if (!force_fallback) {
    be->sgemm = &acc_sgemm;
    be->dgemm = &acc_dgemm;
    be->name = "Accelerate";
    found = true;
  }
#endif
  if (!found && !force_fallback && !g_path.empty()) found = try_library(be, g_path, nullptr);
  if (!found && !force_fallback) {
#if defined(__APPLE__)
    const char* sys[] = {"libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                         "/usr/local/opt/openblas/lib/libopenblas.dylib"};
#elif defined(_WIN32)
    const char* sys[] = {"libopenblas.dll", "openblas.dll"};
#else
    const char* sys[] = {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"};
#endif
    for (const char* s : sys)
      if ((found = try_library(be, s, nullptr))) break;
  }
  if (!found) {
    be->sgemm = nullptr;
    be->dgemm = nullptr;
    be->set_threads = nullptr;
    be->name = "blocked fallback";
  }
  g_current.store(be, std::memory_order_release);
  return be;
}

Backend* backend() {
  Backend* b = g_current.load(std::memory_order_acquire);
  if (b) return b;
  std::lock_guard<std::mutex> lk(g_mu);
  return load_locked();
}

std::atomic<int> g_serial_scopes{0};  // live SerialBlasScope objects

// Keep the BLAS thread count equal to the pool's (1 while a SerialBlasScope
// lives), unless the user pinned it.
void sync_threads(Backend* be) {
  if (!be->set_threads) return;
  static const char* pinned = std::getenv("OPENBLAS_NUM_THREADS");
  int nt = 1;
  if (g_serial_scopes.load(std::memory_order_relaxed) == 0) {
    if (pinned) {
      nt = std::atoi(pinned);
      if (nt < 1) return;  // the library's own reading of the variable stands
    } else {
      nt = num_threads();
    }
  }
  if (be->threads_set.load(std::memory_order_relaxed) != nt) {
    be->set_threads(nt);
    be->threads_set.store(nt, std::memory_order_relaxed);
  }
}

// ---- portable blocked GEMM -------------------------------------------------------
//
// Goto-style: C is computed in blocks of MC rows x NR-column panels; A is packed
// into MR-row slivers (k-major), B into NR-column slivers, so the micro-kernel
// streams both from contiguous memory and keeps an MR x NR accumulator in
// registers. With GCC/Clang the accumulator is written with vector extensions
// (a plain loop nest gets vectorised along k with shuffles, ~20x slower);
// otherwise scalar loops sized for 16 SSE registers.
#if defined(__GNUC__) || defined(__clang__)
#define SC_GEMM_VECTOR 1
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;  // SSE2, NEON
#endif
template <typename T> struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int L = kVecBytes / (int)sizeof(T);
};
template <typename T> struct Tile {
  static constexpr int NV = 2, MR = 6, NR = NV * Vec<T>::L, KC = 256, MC = 96;
  static constexpr int NC = 4096 / (int)sizeof(T) * 2;
};

// out (MR x NR, row-major) = sum_k a[k*MR + i] * b[k*NR + j]
template <typename T, int MR, int NR>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict out) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::L, NV = NR / L;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + k * NR + v * L, sizeof(V));
    for (int i = 0; i < MR; ++i) {
      const V ai = V{} + a[k * MR + i];  // broadcast
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) std::memcpy(out + i * NR + v * L, &acc[i][v], sizeof(V));
}
#else
template <typename T> struct Tile {
  static constexpr int MR = 4, NR = 8, KC = 256, MC = 64, NC = 2048;
};
template <typename T, int MR, int NR>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict out) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < MR; ++i) {
      const T ai = a[k * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[k * NR + j];
    }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) out[i * NR + j] = acc[i][j];
}
#endif

template <typename T>
void blocked_gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR, KC = Tile<T>::KC, MC = Tile<T>::MC,
                NC = Tile<T>::NC;
  auto a_at = [&](int64_t i, int64_t k) { return tA ? A[k * lda + i] : A[i * lda + k]; };
  auto b_at = [&](int64_t k, int64_t j) { return tB ? B[j * ldb + k] : B[k * ldb + j]; };
  std::vector<T> bpack((size_t)KC * (size_t)(((std::min<int64_t>(N, NC) + NR - 1) / NR) * NR));

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, N - jc);
    const int64_t npanels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, K - pc);
      const bool first = pc == 0;
      // Pack B[pc:pc+kc, jc:jc+nc] as npanels slivers of kc x NR (zero padded).
      parallel_for(npanels, 4, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          T* dst = bpack.data() + p * kc * NR;
          const int64_t j0 = jc + p * NR, jn = std::min<int64_t>(NR, jc + nc - j0);
          for (int64_t k = 0; k < kc; ++k)
            for (int64_t j = 0; j < NR; ++j) dst[k * NR + j] = j < jn ? b_at(pc + k, j0 + j) : T(0);
        }
      });
      const int64_t nic = (M + MC - 1) / MC;
      // Tasks: (row block, B panel); consecutive tasks share a row block so
      // each worker re-packs A only when its row block changes.
      parallel_for(nic * npanels, std::max<int64_t>(1, npanels / 4), [&](int64_t t0, int64_t t1) {
        thread_local std::vector<T> apack;
        apack.resize((size_t)MC * KC);
        int64_t packed_ic = -1;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t ic = t / npanels, p = t % npanels;
          const int64_t i0 = ic * MC, mc = std::min<int64_t>(MC, M - i0);
          if (ic != packed_ic) {
            for (int64_t s = 0; s < (mc + MR - 1) / MR; ++s) {
              T* dst = apack.data() + s * kc * MR;
              for (int64_t k = 0; k < kc; ++k)
                for (int64_t i = 0; i < MR; ++i) {
                  int64_t r = s * MR + i;
                  dst[k * MR + i] = r < mc ? a_at(i0 + r, pc + k) : T(0);
                }
            }
            packed_ic = ic;
          }
          const int64_t j0 = jc + p * NR, nr = std::min<int64_t>(NR, jc + nc - j0);
          const T* bp = bpack.data() + p * kc * NR;
          for (int64_t s = 0; s < (mc + MR - 1) / MR; ++s) {
            T acc[MR * NR];
            micro_kernel<T, MR, NR>(kc, apack.data() + s * kc * MR, bp, acc);
            const int64_t mr = std::min<int64_t>(MR, mc - s * MR);
            for (int64_t i = 0; i < mr; ++i) {
              T* c = C + (i0 + s * MR + i) * ldc + j0;
              const T* r = acc + i * NR;
              if (first && beta == T(0)) {
                for (int64_t j = 0; j < nr; ++j) c[j] = alpha * r[j];
              } else if (first && beta != T(1)) {
                for (int64_t j = 0; j < nr; ++j) c[j] = beta * c[j] + alpha * r[j];
              } else {
                for (int64_t j = 0; j < nr; ++j) c[j] += alpha * r[j];
              }
            }
          }
        }
      });
    }
  }
}

// C = beta * C for the K == 0 / alpha == 0 cases.
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

// Leading dimensions are irrelevant for a stored matrix of one row; give them
// the value BLAS insists on, then check the rest.
void fix_ld(int64_t rows, int64_t cols, int64_t& ld, const char* which) {
  if (rows <= 1) ld = std::max<int64_t>(ld, std::max<int64_t>(cols, 1));
  if (ld < std::max<int64_t>(cols, 1))
    throw ValueError(std::string("gemm: leading dimension ") + which + " = " + std::to_string(ld) +
                     " is smaller than the row length " + std::to_string(cols));
}

template <typename T, typename Fn>
void gemm_impl(Fn blas_fn, bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha,
               const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
               bool force_fallback, bool serial = false) {
  if (M < 0 || N < 0 || K < 0) throw ValueError("gemm: negative dimension");
  if (M == 0 || N == 0) return;
  fix_ld(M, N, ldc, "ldc");
  if (K == 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  fix_ld(tA ? K : M, tA ? M : K, lda, "lda");
  fix_ld(tB ? N : K, tB ? K : N, ldb, "ldb");
  const int64_t lim = INT_MAX;
  bool fits = M <= lim && N <= lim && K <= lim && lda <= lim && ldb <= lim && ldc <= lim;
  if (!force_fallback && fits) {
    Backend* be = backend();
    auto fn = blas_fn(be);
    if (fn) {
      if (!serial) sync_threads(be);  // serial: the SerialBlasScope set one thread
      fn(kRowMajor, tA ? kTrans : kNoTrans, tB ? kTrans : kNoTrans, (int)M, (int)N, (int)K, alpha,
         A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
      return;
    }
  }
  blocked_gemm<T>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_impl<float>([](Backend* b) { return b->sgemm; }, transA, transB, M, N, K, alpha, A, lda, B,
                   ldb, beta, C, ldc, false);
}
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc) {
  gemm_impl<double>([](Backend* b) { return b->dgemm; }, transA, transB, M, N, K, alpha, A, lda,
                    B, ldb, beta, C, ldc, false);
}
void gemm_fallback(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc) {
  gemm_impl<float>([](Backend* b) { return b->sgemm; }, transA, transB, M, N, K, alpha, A, lda, B,
                   ldb, beta, C, ldc, true);
}
void gemm_fallback(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                   double* C, int64_t ldc) {
  gemm_impl<double>([](Backend* b) { return b->dgemm; }, transA, transB, M, N, K, alpha, A, lda,
                    B, ldb, beta, C, ldc, true);
}

bool blas_available() { return backend()->sgemm != nullptr; }

SerialBlasScope::SerialBlasScope() {
  g_serial_scopes.fetch_add(1);
  sync_threads(backend());
}

SerialBlasScope::~SerialBlasScope() { g_serial_scopes.fetch_sub(1); }

void gemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  if (g_serial_scopes.load(std::memory_order_relaxed) == 0)
    throw std::runtime_error("gemm_serial: called without a SerialBlasScope (the BLAS may be multithreaded)");
  gemm_impl<float>([](Backend* b) { return b->sgemm; }, transA, transB, M, N, K, alpha, A, lda, B,
                   ldb, beta, C, ldc, false, true);
}

std::string blas_name() { return backend()->name; }

// Takes effect at the next gemm: the previous choice is dropped (its library
// stays loaded). "none" or "fallback" selects the blocked GEMM.
void set_blas_library_path(const std::string& path) {
  std::lock_guard<std::mutex> lk(g_mu);
  g_path = path;
  g_current.store(nullptr, std::memory_order_release);
}

}  // namespace sc
