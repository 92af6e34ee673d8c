// Which CPU target's code runs the hot loops that are compiled more than once
// (the sources listed in SPLATCORE_PER_TARGET_SOURCES, CMakeLists.txt: the
// compositing rows, the per-Gaussian projection / SH / backward, the SSIM
// rows, the optimizer updates, the radix sort's histograms and scatters, the
// marching-cubes plane loops, the tile binning). The best target this CPU
// supports is chosen on first use; SPLATCORE_CPU_TARGET=<name> forces one.
#pragma once
#include <string>
#include <type_traits>
#include <vector>

namespace sc {

// In order of preference within an architecture (the best supported wins).
enum class CpuTarget : int { portable = 0, sse2, avx2, avx512, neon, count };

const char* cpu_target_name(CpuTarget t);
// Throws ValueError on an unknown name.
CpuTarget parse_cpu_target(const std::string& name);
// Compiled into this binary (CMake defines SPLATCORE_TARGET_<NAME>).
bool cpu_target_compiled(CpuTarget t);
// This CPU (and OS) can run the target's instructions.
bool cpu_target_supported(CpuTarget t);
// Compiled and supported, worst first.
std::vector<CpuTarget> cpu_targets_usable();
CpuTarget best_cpu_target();

// The target in use: SPLATCORE_CPU_TARGET on first call (ValueError when it is
// unknown, not compiled in or not supported here), else the best one.
CpuTarget cpu_target();
int cpu_target_index();  // cpu_target() as an int: cheap, for the dispatch tables
// Switch target at run time (tests); same checks as the environment variable.
void set_cpu_target(CpuTarget t);

// The float or double member of a per-target table ({f32, f64}).
template <typename T, typename Tables>
const auto& by_dtype(const Tables& t) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double");
  if constexpr (std::is_same_v<T, float>)
    return t.f32;
  else
    return t.f64;
}

}  // namespace sc

// Per-target kernel tables. A source compiled once per CPU target defines
// `const Table& sc::base_<target>()` (core/target_unit.h: SC_TARGET_TABLE(base));
// SC_TARGET_DISPATCH(Table, base), used once inside namespace sc in the main
// build, declares those of every target and defines `const Table& base()`:
// the table of the target in use (cpu_target()). Targets not compiled in stay
// null (cpu_target() never selects them).
#ifdef SPLATCORE_TARGET_SSE2
#define SC_IF_TARGET_SSE2(x) x
#else
#define SC_IF_TARGET_SSE2(x) nullptr
#endif
#ifdef SPLATCORE_TARGET_AVX2
#define SC_IF_TARGET_AVX2(x) x
#else
#define SC_IF_TARGET_AVX2(x) nullptr
#endif
#ifdef SPLATCORE_TARGET_AVX512
#define SC_IF_TARGET_AVX512(x) x
#else
#define SC_IF_TARGET_AVX512(x) nullptr
#endif
#ifdef SPLATCORE_TARGET_NEON
#define SC_IF_TARGET_NEON(x) x
#else
#define SC_IF_TARGET_NEON(x) nullptr
#endif
#define SC_TARGET_DISPATCH(Table, base)                                                      \
  const Table& base##_portable();                                                            \
  const Table& base##_sse2();                                                                \
  const Table& base##_avx2();                                                                \
  const Table& base##_avx512();                                                              \
  const Table& base##_neon();                                                                \
  const Table& base() {                                                                      \
    /* in the order of CpuTarget */                                                          \
    static const Table* const by_target[(int)::sc::CpuTarget::count] = {                     \
        &base##_portable(), SC_IF_TARGET_SSE2(&base##_sse2()), SC_IF_TARGET_AVX2(&base##_avx2()), \
        SC_IF_TARGET_AVX512(&base##_avx512()), SC_IF_TARGET_NEON(&base##_neon())};           \
    return *by_target[::sc::cpu_target_index()];                                              \
  }
