// Kernels that exercise the dialect itself (barriers, shared memory, SIMD
// collectives, atomics) and kernels that break its rules on purpose (the
// simulator must catch them). Run by tests/test_gpu_dialect.py on every GPU device.
#pragma once
#include "gpu/dialect_math.h"
#include "gpu/dialect_mma.h"
#include "gpu/kernels/selftest_args.h"

// Reverses each group's slice through shared memory: correct only if the
// barrier orders every write before every read.
SC_KERNEL(selftest_barrier, ScSelfTestArgs) {
  SC_SHARED(float, buf, 256);
  const sc_i64 base = (sc_i64)SC_GID_X * 256;
  buf[SC_TID_X] = args.fin[base + SC_TID_X];
  SC_BARRIER();
  args.fout[base + SC_TID_X] = buf[255 - SC_TID_X];
}

// Every collective on each thread's value: 6 floats and one ballot per thread.
SC_KERNEL(selftest_simd, ScSelfTestArgs) {
  const sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  const float x = args.fin[i];
  args.fout[i * 6 + 0] = sc_simd_sum(x);
  args.fout[i * 6 + 1] = sc_simd_max(x);
  args.fout[i * 6 + 2] = sc_simd_min(x);
  args.fout[i * 6 + 3] = sc_simd_prefix_inclusive_sum(x);
  args.fout[i * 6 + 4] = sc_simd_prefix_exclusive_sum(x);
  args.fout[i * 6 + 5] = sc_simd_shuffle(x, (SC_LANE + 5u) % 32u);
  args.uout[i] = sc_simd_ballot(x > 0.0f);
}

// Device atomics (float add, uint add / min / max / compare-and-swap) and a
// shared-memory counter per group.
SC_KERNEL(selftest_atomics, ScSelfTestArgs) {
  SC_SHARED(unsigned int, count, 1);
  const sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (SC_TID_X == 0) count[0] = 0u;
  SC_BARRIER();
  const float x = args.fin[i];
  const unsigned int u = (unsigned int)(x * 1000.0f + 5000.0f);
  sc_atomic_add(&args.fout[0], x);
  sc_atomic_add(&args.uout[0], 1u);
  sc_atomic_min(&args.uout[1], u);
  sc_atomic_max(&args.uout[2], u);
  unsigned int old = args.uout[3];  // increment through compare-and-swap
  for (;;) {
    unsigned int seen = sc_atomic_cas(&args.uout[3], old, old + 2u);
    if (seen == old) break;
    old = seen;
  }
  sc_atomic_add(&count[0], 1u);
  SC_BARRIER();
  if (SC_TID_X == 0) sc_atomic_add(&args.uout[4], count[0]);
}

// sc_exp_alpha of each input (gpu/dialect_math.h).
SC_KERNEL(selftest_exp_alpha, ScSelfTestArgs) {
  const sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (i < args.n) args.fout[i] = sc_exp_alpha(args.fin[i]);
}

// The TF32 matrix multiply-accumulate (gpu/dialect_mma.h), one per SIMD group:
// fin holds, per group, A (16 x 8), B (8 x 8) and C (16 x 8) row-major; fout
// gets D = C + tf32(A) tf32(B) row-major.
SC_KERNEL(selftest_mma, ScSelfTestArgs) {
  const sc_i64 in = (sc_i64)SC_GID_X * 320, out = (sc_i64)SC_GID_X * 128;
  const unsigned int g = SC_LANE >> 2, t = SC_LANE & 3u;
  float a[4], b[2], d[4];
  for (unsigned int i = 0; i < 4u; ++i) {
    const unsigned int row = g + 8u * (i & 1u), col = t + 4u * (i >> 1);
    a[i] = sc_tf32_round(args.fin[in + row * 8u + col]);
    d[i] = args.fin[in + 192 + (g + 8u * (i >> 1)) * 8u + 2u * t + (i & 1u)];
  }
  for (unsigned int i = 0; i < 2u; ++i) b[i] = sc_tf32_round(args.fin[in + 128 + (t + 4u * i) * 8u + g]);
  sc_mma_tf32_16x8x8(d, a, b, SC_LANE);
  for (unsigned int i = 0; i < 4u; ++i) args.fout[out + (g + 8u * (i >> 1)) * 8u + 2u * t + (i & 1u)] = d[i];
}

// Rule breakers.
SC_KERNEL(selftest_out_of_bounds, ScSelfTestArgs) {
  args.fout[SC_TID_X] = args.fin[args.n + SC_TID_X];  // reads past the end of fin
}
SC_KERNEL(selftest_wild_read, ScSelfTestArgs) {
  args.fout[SC_TID_X] = args.fin[args.n * 1000000000 + SC_TID_X];  // far outside any allocation
}
SC_KERNEL(selftest_divergent_barrier, ScSelfTestArgs) {
  if (SC_TID_X < 16) SC_BARRIER();  // half the group never arrives
  args.fout[SC_TID_X] = 1.0f;
}
SC_KERNEL(selftest_divergent_collective, ScSelfTestArgs) {
  float x = args.fin[SC_TID_X];
  if (SC_LANE < 16) x = sc_simd_sum(x);  // half the SIMD group never arrives
  args.fout[SC_TID_X] = x;
}
#if !defined(__METAL_VERSION__)
SC_KERNEL(selftest_shared_overflow, ScSelfTestArgs) {
  SC_SHARED(float, big, 9000);  // 36000 bytes: over Metal's 32 KB
  big[SC_TID_X] = 1.0f;
  SC_BARRIER();
  args.fout[SC_TID_X] = big[0];
}
#endif
