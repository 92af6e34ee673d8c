// Build facts for splatcore.info(): build type, backends, BLAS.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "backend/backends.h"
#include "bindings/bindings.h"
#include "core/profile.h"
#include "ops/linalg.h"

namespace sc {

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
  m.def("_stage_times", &stage_times, nb::arg("reset") = true,
        "Seconds per named stage since the last reset (SPLATCORE_PROFILE=1 turns timing on).");
}

}  // namespace sc
