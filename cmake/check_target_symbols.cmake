# cmake -DNM=nm -DTARGET=avx2 -DOBJECTS="a.o;b.o" -P check_target_symbols.cmake
#
# Fails when an object compiled for one CPU target (cmake/cpu_targets.cmake)
# defines a symbol with external linkage other than its tables,
# sc::<base>_<TARGET>() (core/target_unit.h: SC_TARGET_TABLE). Such a symbol
# (an inline function, a template instance) exists in every target's copy, and
# the linker keeps one of them for all callers: possibly the AVX-512 one on a
# CPU without AVX-512.
foreach(obj ${OBJECTS})
  execute_process(COMMAND ${NM} -P --defined-only ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_target_symbols: ${NM} failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line ${lines})
    # "name type [value size]"; lower-case types are local, except u (GNU unique global)
    if(NOT line MATCHES "^([^ ]+) ([A-Za-z])")
      continue()
    endif()
    set(sym ${CMAKE_MATCH_1})
    set(type ${CMAKE_MATCH_2})
    if(type MATCHES "^[a-tv-z]$")
      continue()
    endif()
    # sc::<name>_<TARGET>() (Itanium mangling; Mach-O adds a leading underscore)
    if(sym MATCHES "^_?_ZN2sc[0-9]+[A-Za-z0-9_]*_${TARGET}Ev$")
      continue()
    endif()
    message(FATAL_ERROR "check_target_symbols: ${obj} (CPU target ${TARGET}) exports ${sym} (${type}); "
                        "a per-target source may export only its SC_TARGET_TABLE functions "
                        "(see cpp/core/target_unit.h)")
  endforeach()
endforeach()
