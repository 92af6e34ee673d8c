// Which CPU target's code runs the hot loops that are compiled more than once
// (the compositing rows, splat/rows_target.cpp). The best target this CPU
// supports is chosen on first use; SPLATCORE_CPU_TARGET=<name> forces one.
#pragma once
#include <string>
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

}  // namespace sc
