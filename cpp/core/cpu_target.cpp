#include "core/cpu_target.h"

#include <atomic>
#include <cstdlib>

#include "core/errors.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SC_X86_CPUID 1
#else
#define SC_X86_CPUID 0
#endif
#if SC_X86_CPUID
#include <cpuid.h>
#endif

namespace sc {

namespace {

#if SC_X86_CPUID
// The x86 features the targets need, read from CPUID and XGETBV here, not with
// __builtin_cpu_supports: that reads the compiler runtime's __cpu_model, which
// Zig's compiler-rt (tools/zig_wheel_manylinux_2_28.sh) defines but never fills
// (every feature read false there). A feature counts only when the OS saves its
// registers (XCR0), as libgcc's __builtin_cpu_supports checks.
struct X86Features {
  bool sse2 = false, avx2 = false, fma = false;
  bool avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false;
};

X86Features read_x86_features() {
  X86Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.sse2 = d & (1u << 26);
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((unsigned long long)hi << 32) | lo;
  }
  const bool os_ymm = avx && (xcr0 & 0x6) == 0x6;          // XMM and YMM state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;     // opmask, ZMM_Hi256, Hi16_ZMM
  f.fma = os_ymm && fma;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = os_ymm && (b & (1u << 5));
  f.avx512f = os_zmm && (b & (1u << 16));
  f.avx512dq = os_zmm && (b & (1u << 17));
  f.avx512bw = os_zmm && (b & (1u << 30));
  f.avx512vl = os_zmm && (b & (1u << 31));
  return f;
}

const X86Features& x86_features() {
  static const X86Features f = read_x86_features();
  return f;
}
#endif

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
#if SC_X86_CPUID
    // The features tested are exactly those CMake enables for each target.
    case CpuTarget::sse2: return x86_features().sse2;
    case CpuTarget::avx2: return x86_features().avx2 && x86_features().fma;
    case CpuTarget::avx512: {
      const X86Features& f = x86_features();
      return f.avx2 && f.fma && f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl;
    }
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
