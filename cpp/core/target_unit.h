// Included first by every source compiled once per CPU target
// (SPLATCORE_PER_TARGET_SOURCES in CMakeLists.txt, cmake/cpu_targets.cmake).
// CMake defines
//   SC_TARGET_NAME  the target's name (portable, sse2, avx2, avx512, neon)
//   SC_ROWS_BYTES   its SIMD register width for the explicit rows, 0 for portable
// and compiles the file with that target's flags only and -ffp-contract=off, so
// every target rounds as the portable one does.
//
// Such a file must define nothing with external linkage except its tables
// (SC_TARGET_TABLE): the same inline function compiled for AVX-512 in one copy
// and for the baseline in another would otherwise be merged by the linker into
// one, possibly one this CPU cannot run. Kernel bodies (kernels/*.h) get
// internal linkage here (SC_FN is `static inline` when SC_TARGET_NAME is
// defined, kernels/compat.h); standard containers and the thread pool stay in
// the callers. cmake/check_target_symbols.cmake fails the build when an object
// of these files exports anything else.
#pragma once

#if !defined(SC_TARGET_NAME) || !defined(SC_ROWS_BYTES)
#error "per-target sources are compiled by CMake once per CPU target with SC_TARGET_NAME and SC_ROWS_BYTES"
#endif

#define SC_TARGET_CAT2(a, b) a##b
#define SC_TARGET_CAT(a, b) SC_TARGET_CAT2(a, b)
// SC_TARGET_TABLE(ssim_kernels) is ssim_kernels_avx2 in the avx2 copy.
#define SC_TARGET_TABLE(base) SC_TARGET_CAT(base##_, SC_TARGET_NAME)
// The target's name as a string literal ("avx2"), for tables that say which
// copy they are (the tests check that forcing a target reaches its copy).
#define SC_TARGET_STR2(x) #x
#define SC_TARGET_STR(x) SC_TARGET_STR2(x)
#define SC_TARGET_STRING SC_TARGET_STR(SC_TARGET_NAME)
