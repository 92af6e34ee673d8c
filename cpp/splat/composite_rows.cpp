#include "splat/composite_rows.h"

namespace sc {

namespace {

// Indexed by CpuTarget; targets not compiled in stay empty (cpu_target()
// never selects them).
struct Registry {
  RowTables by_target[(int)CpuTarget::count] = {};
  Registry() {
    by_target[(int)CpuTarget::portable] = rows_portable();
#ifdef SPLATCORE_TARGET_SSE2
    by_target[(int)CpuTarget::sse2] = rows_sse2();
#endif
#ifdef SPLATCORE_TARGET_AVX2
    by_target[(int)CpuTarget::avx2] = rows_avx2();
#endif
#ifdef SPLATCORE_TARGET_AVX512
    by_target[(int)CpuTarget::avx512] = rows_avx512();
#endif
#ifdef SPLATCORE_TARGET_NEON
    by_target[(int)CpuTarget::neon] = rows_neon();
#endif
  }
};

const RowTables& tables() {
  static const Registry r;
  return r.by_target[cpu_target_index()];
}

}  // namespace

template <>
const RowKernels<float>& row_kernels<float>() {
  return *tables().f32;
}
template <>
const RowKernels<double>& row_kernels<double>() {
  return *tables().f64;
}

}  // namespace sc
