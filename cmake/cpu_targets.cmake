# Run-time CPU dispatch (cpp/core/cpu_target.h): the hot loops of
# SPLATCORE_PER_TARGET_SOURCES (CMakeLists.txt: compositing rows, per-Gaussian
# projection / SH / backward, SSIM rows, optimizer updates, radix sort passes,
# marching-cubes plane loops, tile binning) are compiled once
# per CPU target of the architecture, each with that target's flags only (never
# -march=native), and the best one the CPU supports is picked at run time. Only
# these small files are compiled several times, so the build stays about as
# long as before.
#
# splatcore_cpu_target(NAME BYTES FLAGS...): BYTES is the SIMD register width
# the rows use (0: the portable auto-vectorised kernels).
include(CheckCXXCompilerFlag)
set(SPLATCORE_CPU_TARGETS "")
function(splatcore_cpu_target name bytes)
  set(flags ${ARGN})
  if(flags)
    string(REPLACE ";" " " _joined "${flags}")
    string(MAKE_C_IDENTIFIER "SPLATCORE_FLAGS_${name}" _var)
    set(CMAKE_REQUIRED_QUIET ON)
    check_cxx_compiler_flag("${_joined}" ${_var})
    if(NOT ${_var})
      message(STATUS "splatcore: compiler lacks ${_joined}: no ${name} target")
      return()
    endif()
  endif()
  set(lib _core_target_${name})
  set(_srcs)
  foreach(f ${SPLATCORE_PER_TARGET_SOURCES})
    list(APPEND _srcs ${CMAKE_CURRENT_SOURCE_DIR}/${f})
  endforeach()
  add_library(${lib} OBJECT ${_srcs})
  target_include_directories(${lib} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cpp)
  target_compile_definitions(${lib} PRIVATE SC_TARGET_NAME=${name} SC_ROWS_BYTES=${bytes})
  set_target_properties(${lib} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # -ffp-contract=off: no fused multiply-adds, so every target rounds as the
    # portable kernels do and all of them give the same bits (tests check it).
    target_compile_options(${lib} PRIVATE -fno-math-errno -ffp-contract=off
                           $<$<CONFIG:Release>:-O3> ${flags})
  endif()
  target_sources(_core PRIVATE $<TARGET_OBJECTS:${lib}>)
  # These objects may export only their tables (core/target_unit.h says why);
  # checked on Linux (GNU nm, ELF), where it has been tested.
  if(CMAKE_NM AND CMAKE_SYSTEM_NAME STREQUAL "Linux")
    add_custom_command(TARGET _core POST_BUILD
      COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DTARGET=${name} "-DOBJECTS=$<TARGET_OBJECTS:${lib}>"
              -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/check_target_symbols.cmake
      VERBATIM)
  endif()
  if(NOT name STREQUAL "portable")
    string(TOUPPER ${name} _up)
    target_compile_definitions(_core PRIVATE SPLATCORE_TARGET_${_up})
  endif()
  set(SPLATCORE_CPU_TARGETS ${SPLATCORE_CPU_TARGETS} ${name} PARENT_SCOPE)
endfunction()

# The binning's batched ellipse-tile test (splat/binning_target.cpp) is a loop
# of comparisons and selects; GCC vectorises it only when it may evaluate
# both sides of a select, i.e. when comparisons are not taken to trap
# (-fno-trapping-math: floating-point exceptions are never looked at here; it
# changes no result, unlike -ffast-math, and the tests check the bits).
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/cpp/splat/binning_target.cpp PROPERTIES
                              COMPILE_OPTIONS -fno-trapping-math)
endif()

splatcore_cpu_target(portable 0)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT CMAKE_OSX_ARCHITECTURES MATCHES "arm64")
    splatcore_cpu_target(sse2 16)
    splatcore_cpu_target(avx2 32 -mavx2 -mfma)
    splatcore_cpu_target(avx512 64 -mavx2 -mfma -mavx512f -mavx512dq -mavx512bw -mavx512vl)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$" OR CMAKE_OSX_ARCHITECTURES STREQUAL "arm64")
    splatcore_cpu_target(neon 16)
  endif()
endif()
message(STATUS "splatcore: CPU targets ${SPLATCORE_CPU_TARGETS}")
