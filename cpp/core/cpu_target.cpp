#include "core/cpu_target.h"

#include <atomic>
#include <cstdlib>

#include "core/errors.h"

namespace sc {

namespace {

const char* const kNames[] = {"portable", "sse2", "avx2", "avx512", "neon"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == (int)CpuTarget::count, "one name per target");

// -1 until the first cpu_target() call decides.
std::atomic<int> g_target{-1};

std::string usable_list() {
  std::string s;
  for (CpuTarget t : cpu_targets_usable()) s += (s.empty() ? "" : ", ") + std::string(cpu_target_name(t));
  return s;
}

void check_usable(CpuTarget t, const char* origin) {
  std::string why;
  if (!cpu_target_compiled(t))
    why = "is not compiled into this build";
  else if (!cpu_target_supported(t))
    why = "is not supported by this CPU";
  if (!why.empty())
    throw ValueError(std::string(origin) + ": CPU target '" + cpu_target_name(t) + "' " + why +
                     " (usable here: " + usable_list() + ")");
}

}  // namespace

const char* cpu_target_name(CpuTarget t) {
  int i = (int)t;
  return i >= 0 && i < (int)CpuTarget::count ? kNames[i] : "unknown";
}

CpuTarget parse_cpu_target(const std::string& name) {
  for (int i = 0; i < (int)CpuTarget::count; ++i)
    if (name == kNames[i]) return (CpuTarget)i;
  std::string all;
  for (const char* n : kNames) all += (all.empty() ? "" : ", ") + std::string(n);
  throw ValueError("unknown CPU target '" + name + "' (targets: " + all + ")");
}

bool cpu_target_compiled(CpuTarget t) {
  switch (t) {
    case CpuTarget::portable: return true;
#ifdef SPLATCORE_TARGET_SSE2
    case CpuTarget::sse2: return true;
#endif
#ifdef SPLATCORE_TARGET_AVX2
    case CpuTarget::avx2: return true;
#endif
#ifdef SPLATCORE_TARGET_AVX512
    case CpuTarget::avx512: return true;
#endif
#ifdef SPLATCORE_TARGET_NEON
    case CpuTarget::neon: return true;
#endif
    default: return false;
  }
}

bool cpu_target_supported(CpuTarget t) {
  switch (t) {
    case CpuTarget::portable: return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
    // The features tested are exactly those CMake enables for each target.
    case CpuTarget::sse2: return __builtin_cpu_supports("sse2");
    case CpuTarget::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuTarget::avx512:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
    case CpuTarget::neon: return true;  // part of the AArch64 baseline
#endif
    default: return false;
  }
}

std::vector<CpuTarget> cpu_targets_usable() {
  std::vector<CpuTarget> out;
  for (int i = 0; i < (int)CpuTarget::count; ++i)
    if (cpu_target_compiled((CpuTarget)i) && cpu_target_supported((CpuTarget)i)) out.push_back((CpuTarget)i);
  return out;
}

CpuTarget best_cpu_target() { return cpu_targets_usable().back(); }

int cpu_target_index() {
  int t = g_target.load(std::memory_order_relaxed);
  if (t >= 0) return t;
  CpuTarget chosen = best_cpu_target();
  if (const char* e = std::getenv("SPLATCORE_CPU_TARGET"); e && *e) {
    chosen = parse_cpu_target(e);
    check_usable(chosen, "SPLATCORE_CPU_TARGET");
  }
  g_target.store((int)chosen, std::memory_order_relaxed);
  return (int)chosen;
}

CpuTarget cpu_target() { return (CpuTarget)cpu_target_index(); }

void set_cpu_target(CpuTarget t) {
  check_usable(t, "set_cpu_target");
  g_target.store((int)t, std::memory_order_relaxed);
}

}  // namespace sc
