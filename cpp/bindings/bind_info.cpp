// Build facts for splatcore.info(): build type, backends, BLAS.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "backend/backends.h"
#include "bindings/bindings.h"
#include "core/cpu_target.h"
#include "core/profile.h"
#include "mesh/mc_kernels.h"
#include "ops/linalg.h"
#include "ops/sort_kernels.h"
#include "optim/optim_kernels.h"
#include "splat/binning_kernels.h"

namespace sc {

namespace {

// [(name, compiled, supported)] for every CPU target, worst first.
std::vector<std::tuple<std::string, bool, bool>> cpu_targets_table() {
  std::vector<std::tuple<std::string, bool, bool>> out;
  for (int i = 0; i < (int)CpuTarget::count; ++i) {
    CpuTarget t = (CpuTarget)i;
    out.emplace_back(cpu_target_name(t), cpu_target_compiled(t), cpu_target_supported(t));
  }
  return out;
}

}  // namespace

void bind_info(nb::module_& m) {
#ifdef SPLATCORE_BUILD_TYPE
  m.attr("build_type") = SPLATCORE_BUILD_TYPE;
#else
  m.attr("build_type") = "unknown";
#endif
  m.def("cuda_built", &cuda_built);
  m.def("metal_built", &metal_built);
  m.def("cuda_device_count", &cuda_device_count);
  m.def("metal_device_count", &metal_device_count);
  m.def("blas_name", &blas_name);
  m.def("set_blas_library_path", &set_blas_library_path, nb::arg("path"));
  // Decided at import, so that a bad SPLATCORE_CPU_TARGET fails there.
  cpu_target();
  m.def("cpu_target", [] { return std::string(cpu_target_name(cpu_target())); },
        "The CPU target running the multi-target kernels (SPLATCORE_CPU_TARGET forces one).");
  m.def("cpu_targets", &cpu_targets_table,
        "[(name, compiled in, supported by this CPU)] for every CPU target, worst first.");
  m.def("_set_cpu_target", [](const std::string& name) { set_cpu_target(parse_cpu_target(name)); },
        nb::arg("name"), "Switch the CPU target at run time (tests and benchmarks).");
  m.def("_kernel_targets",
        [] {
          return std::vector<std::pair<std::string, std::string>>{
              {"optim", optim_kernels().target}, {"sort", sort_kernels().target},
              {"marching_cubes", mc_kernels().target}, {"binning", binning_kernels().target}};
        },
        "[(kernel table, CPU target of the copy it dispatches to now)] (tests of the dispatch).");
  m.def("_stage_times", &stage_times, nb::arg("reset") = true,
        "Seconds per named stage since the last reset (SPLATCORE_PROFILE=1 turns timing on).");
}

}  // namespace sc
