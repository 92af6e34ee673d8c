// The GPU rasterizer's per-tile compositing (3DGS, Kerbl et al. 2023, eq. 3),
// a group per tile and a thread per pixel. The group stages `batch` records
// at a time in shared memory: [mx, my, A, B, Cc, opacity_eff, f_0..f_{C-1}]
// as in kernels/composite.h, whose per-pixel arithmetic this repeats, so the
// image matches the CPU's.
//   raster_forward   front to back; stops once every pixel of the tile is done.
//   raster_backward  back to front from each pixel's last contributor, one or
//                    two pixels a thread; each SIMD group sums its pixels'
//                    terms of a record with SIMD collectives, the group adds
//                    its SIMD groups' sums in a fixed order and stores the
//                    record's gradient at its emission index (one writer: no
//                    atomics, deterministic).
// The Gaussian falloff uses sc_exp_alpha (gpu/dialect_math.h): the hardware's
// exp2 on CUDA, the CPU's exp elsewhere.
#pragma once
#include "gpu/dialect_math.h"
#include "gpu/kernels/raster_args.h"
#include "kernels/composite.h"

// Where the thread sits: its tile, its pixel in the tile, its slot in the group.
struct ScTileThread {
  unsigned int tile_x, tile_y, tx, ty, local, lane, simd, threads;
};

// Stages sorted records [begin + k0, begin + k0 + count) of the tile into `recs`
// (and, when `emit` is given, their emission indices).
template <typename T>
SC_FN void sc_raster_stage(SC_ARGS_REF(ScRasterTileArgs<T>) a, ScTileThread th, unsigned int first,
                           unsigned int count, SC_THREADGROUP T* recs, SC_THREADGROUP unsigned int* emit) {
  const int C = a.C, stride = sc_record_stride(C);
  for (unsigned int q = th.local; q < count; q += th.threads) {
    const unsigned int e = a.sorted_emit[first + q];
    const unsigned int g = a.emit_gauss[e];
    SC_THREADGROUP T* r = recs + q * stride;
    r[0] = a.mean2d[2 * g];
    r[1] = a.mean2d[2 * g + 1];
    for (int k = 0; k < 3; ++k) r[2 + k] = a.conic[3 * g + k];
    r[5] = a.opac_eff[g];
    for (int c = 0; c < C; ++c) r[6 + c] = a.feats[(sc_i64)g * C + c];
    if (emit) emit[q] = e;
  }
}

// CT: the channel count when known at compile time (3: RGB), else 0 (a.C), so
// that the common case keeps its per-channel arrays in registers.
template <typename T, int CT>
SC_GROUP_FN void sc_raster_forward_tile(SC_ARGS_REF(ScRasterTileArgs<T>) a, ScTileThread th, SC_THREADGROUP T* recs,
                                        SC_THREADGROUP unsigned int* flags) {
  const int C = CT > 0 ? CT : a.C, stride = sc_record_stride(C);
  const unsigned int ts = (unsigned int)a.tile_size;
  const unsigned int x = th.tile_x * ts + th.tx, y = th.tile_y * ts + th.ty;
  const bool inside = x < (unsigned int)a.width && y < (unsigned int)a.height;
  const unsigned int tile = th.tile_y * (unsigned int)a.tiles_x + th.tile_x;
  const unsigned int begin = a.tile_ranges[2 * tile], end = a.tile_ranges[2 * tile + 1];
  const T px = T(x) + T(0.5), py = T(y) + T(0.5);
  const unsigned int simds = (th.threads + 31u) / 32u;
  T acc[SC_MAX_CHANNELS];
  for (int c = 0; c < C; ++c) acc[c] = T(0);
  T Tr = T(1);
  bool done = !inside;
  int last = 0;
  for (unsigned int base = begin; base < end; base += (unsigned int)a.batch) {
    const unsigned int count = end - base < (unsigned int)a.batch ? end - base : (unsigned int)a.batch;
    sc_raster_stage(a, th, base, count, recs, (SC_THREADGROUP unsigned int*)0);
    const unsigned int alive = sc_simd_ballot(!done);
    if (th.lane == 0u) flags[th.simd] = alive != 0u ? 1u : 0u;
    SC_BARRIER();
    unsigned int any = 0u;
    for (unsigned int s = 0; s < simds; ++s) any |= flags[s];
    if (any == 0u) break;  // every pixel of the tile is done (uniform: all read the same flags)
    for (unsigned int k = 0; k < count && !done; ++k) {
      SC_THREADGROUP const T* r = recs + k * stride;
      const T dx = r[0] - px, dy = r[1] - py;
      const T sigma = T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
      T al = r[5] * sc_exp_alpha(-sigma);
      al = al < a.alpha_max ? al : a.alpha_max;
      if (!(sigma >= T(0) && al >= T(SC_ALPHA_THRESHOLD))) continue;
      const T next = Tr * (T(1) - al);
      if (next <= T(SC_TRANSMITTANCE_EPS)) {  // not added
        done = true;
        break;
      }
      const T w = al * Tr;
      for (int c = 0; c < C; ++c) acc[c] += r[6 + c] * w;
      Tr = next;
      last = (int)(base - begin + k + 1u);
    }
    SC_BARRIER();  // before the next batch overwrites the records
  }
  if (!inside) return;
  const sc_i64 pix = (sc_i64)y * a.width + x;
  for (int c = 0; c < C; ++c) a.image[pix * C + c] = acc[c] + Tr * a.bg[c];
  a.alpha[pix] = T(1) - Tr;
  a.trans[pix] = Tr;
  a.last[pix] = last;
}

// Adds one record's per-pixel gradient terms l[0..gs) over the SIMD group into
// out[0..gs): a reduce-scatter on full SIMD groups, separate sums otherwise.
template <int N, typename T>
SC_GROUP_FN void sc_raster_simd_grads(SC_THREAD T* l, int gs, ScTileThread th, bool full_simd,
                                      SC_THREADGROUP T* out) {
  if (full_simd) {
    for (int s = gs; s < N; ++s) l[s] = T(0);
    const T v = sc_simd_reduce_scatter<N>(l, th.lane);
    const unsigned int idx = sc_reduce_scatter_index<N>(th.lane);
    if ((N == 32 || (th.lane & 1u) == 0u) && idx < (unsigned int)gs) out[idx] = v;
  } else {
    for (int s = 0; s < gs; ++s) {
      const T v = sc_simd_sum(l[s]);
      if (th.lane == 0u) out[s] = v;
    }
  }
}

// sums: (simds, batch, grad stride) partial sums of the SIMD groups.
// P: pixels per thread, rows P ty .. P ty + P - 1 of the tile (a group of
// tile_size x tile_size / P threads). A thread adds its pixels' terms of a record
// before the SIMD-group reduction, so P > 1 divides the shuffles and the group's
// partial sums per pixel by P (the reduction, not the arithmetic, bounds this loop).
template <typename T, int CT, int P>
SC_GROUP_FN void sc_raster_backward_tile(SC_ARGS_REF(ScRasterTileArgs<T>) a, ScTileThread th, SC_THREADGROUP T* recs,
                                         SC_THREADGROUP T* sums, SC_THREADGROUP unsigned int* emit,
                                         SC_THREADGROUP unsigned int* flags) {
  const int C = CT > 0 ? CT : a.C, stride = sc_record_stride(C), gs = sc_grad_stride(C);
  const unsigned int ts = (unsigned int)a.tile_size, B = (unsigned int)a.batch;
  const unsigned int tile = th.tile_y * (unsigned int)a.tiles_x + th.tile_x;
  const unsigned int begin = a.tile_ranges[2 * tile];
  const unsigned int simds = (th.threads + 31u) / 32u;
  const bool full_simd = th.threads % 32u == 0u;  // every SIMD group has 32 lanes
  const unsigned int x = th.tile_x * ts + th.tx;
  const T px = T(x) + T(0.5);
  T py[P], Tf[P], va_out[P], Tr[P], lastf[P];
  T vo[P][SC_MAX_CHANNELS], behind[P][SC_MAX_CHANNELS];  // output gradients; features behind + T_final bg
  int thread_last = 0;
  for (int p = 0; p < P; ++p) {
    const unsigned int y = th.tile_y * ts + th.ty * (unsigned int)P + (unsigned int)p;
    const bool inside = x < (unsigned int)a.width && y < (unsigned int)a.height;
    const sc_i64 pix = (sc_i64)y * a.width + x;
    py[p] = T(y) + T(0.5);
    Tf[p] = inside ? a.trans[pix] : T(1);
    const int last = inside ? a.last[pix] : 0;
    thread_last = last > thread_last ? last : thread_last;
    lastf[p] = T(last);
    va_out[p] = inside ? a.v_alpha[pix] : T(0);
    for (int c = 0; c < C; ++c) {
      vo[p][c] = inside ? a.v_image[pix * C + c] : T(0);
      behind[p][c] = inside ? Tf[p] * a.bg[c] : T(0);
    }
    Tr[p] = Tf[p];
  }
  // the SIMD group's and the group's furthest last contributor
  const unsigned int simd_last = (unsigned int)sc_simd_max(thread_last);
  if (th.lane == 0u) flags[th.simd] = simd_last;
  SC_BARRIER();
  unsigned int kmax = 0u;
  for (unsigned int s = 0; s < simds; ++s) kmax = flags[s] > kmax ? flags[s] : kmax;
  for (unsigned int nb = (kmax + B - 1u) / B; nb > 0u; --nb) {
    const unsigned int k0 = (nb - 1u) * B;
    const unsigned int count = kmax - k0 < B ? kmax - k0 : B;
    sc_raster_stage(a, th, begin + k0, count, recs, emit);
    SC_BARRIER();
    for (unsigned int kk = count; kk > 0u; --kk) {
      const unsigned int k = kk - 1u;
      SC_THREADGROUP T* out = sums + (th.simd * B + k) * gs;
      if (k0 + k >= simd_last) {  // behind every pixel of this SIMD group: a zero partial
        if (th.lane < (unsigned int)gs) out[th.lane] = T(0);  // gs <= 24 lanes
        continue;
      }
      SC_THREADGROUP const T* r = recs + k * stride;
      // the record's gradient slots (composite.h): mean, conic, opacity, features, |mean|,
      // summed over the thread's pixels
      T l[32];
      for (int s = 0; s < gs; ++s) l[s] = T(0);
      bool any = false;
      for (int p = 0; p < P; ++p) {
        const T dx = r[0] - px, dy = r[1] - py[p];
        const T sigma = T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
        const T G = sc_exp_alpha(-sigma);
        const T a_raw = r[5] * G;
        const T al = a_raw < a.alpha_max ? a_raw : a.alpha_max;
        const bool active = T(k0 + k) < lastf[p] && sigma >= T(0) && al >= T(SC_ALPHA_THRESHOLD);
        if (!active) continue;
        any = true;
        const T inv = T(1) / (T(1) - al);
        const T t_k = Tr[p] * inv;  // transmittance in front of record k
        Tr[p] = t_k;
        const T w = al * t_k;
        T v_a = va_out[p] * Tf[p] * inv;  // d alpha_out / d alpha_k = T_final / (1 - alpha_k)
        for (int c = 0; c < C; ++c) {
          // d out_c / d alpha_k = f_kc T_k - behind_c / (1 - alpha_k)
          const T f = r[6 + c];
          l[6 + c] += w * vo[p][c];
          v_a += vo[p][c] * (f * t_k - behind[p][c] * inv);
          behind[p][c] += f * w;
        }
        const T va = a_raw < a.alpha_max ? v_a : T(0);  // alpha = opacity G unless clamped
        const T v_sigma = -va * r[5] * G;
        const T gx = (r[2] * dx + r[3] * dy) * v_sigma, gy = (r[3] * dx + r[4] * dy) * v_sigma;
        l[0] += gx;
        l[1] += gy;
        l[2] += T(0.5) * dx * dx * v_sigma;
        l[3] += dx * dy * v_sigma;
        l[4] += T(0.5) * dy * dy * v_sigma;
        l[5] += va * G;
        l[6 + C] += fabs(gx);
        l[7 + C] += fabs(gy);
      }
      if (sc_simd_ballot(any) == 0u) {  // no pixel of this SIMD group: a zero partial
        if (th.lane < (unsigned int)gs) out[th.lane] = T(0);
        continue;
      }
      if (gs <= 16)
        sc_raster_simd_grads<16>(l, gs, th, full_simd, out);
      else
        sc_raster_simd_grads<32>(l, gs, th, full_simd, out);
    }
    SC_BARRIER();
    // the group's sum of each record's SIMD-group partials, in SIMD-group order
    for (unsigned int q = th.local; q < count * (unsigned int)gs; q += th.threads) {
      const unsigned int k = q / (unsigned int)gs, s = q % (unsigned int)gs;
      T total = T(0);
      for (unsigned int g = 0; g < simds; ++g) total += sums[(g * B + k) * gs + s];
      a.isect_grad[(sc_i64)emit[k] * gs + s] = total;
    }
    SC_BARRIER();  // before the next batch overwrites records and sums
  }
  // records behind every pixel's last contributor: a zero gradient
  const unsigned int behind_count = a.tile_ranges[2 * tile + 1] - begin - kmax;
  for (unsigned int q = th.local; q < behind_count * (unsigned int)gs; q += th.threads)
    a.isect_grad[(sc_i64)a.sorted_emit[begin + kmax + q / (unsigned int)gs] * gs + q % (unsigned int)gs] = T(0);
}

#define SC_RASTER_TILE_THREAD                                                                      \
  ScTileThread th;                                                                                 \
  th.tile_x = SC_GID_X;                                                                            \
  th.tile_y = SC_GID_Y;                                                                            \
  th.tx = SC_TID_X;                                                                                \
  th.ty = SC_TID_Y;                                                                                \
  th.local = SC_LOCAL_ID;                                                                          \
  th.lane = SC_LANE;                                                                               \
  th.simd = SC_SIMD_ID;                                                                            \
  th.threads = SC_GSIZE_X * SC_GSIZE_Y;

// Shared memory: flags (32 words, static), then the dynamic part: records
// (batch x stride), and for the backward the SIMD-group sums (simds x batch x
// grad stride) and the emission indices (batch).
#define SC_RASTER_BACKWARD_KERNEL(NAME, SUF, T, CT, P)                                            \
  SC_KERNEL(raster_backward##NAME##_##SUF, ScRasterTileArgs<T>) {                                \
    SC_SHARED(unsigned int, flags, 32);                                                          \
    SC_DYNAMIC_SHARED(T, recs);                                                                  \
    SC_RASTER_TILE_THREAD                                                                        \
    const unsigned int simds = (th.threads + 31u) / 32u;                                         \
    SC_THREADGROUP T* sums = recs + args.batch * sc_record_stride(args.C);                       \
    SC_THREADGROUP unsigned int* emit =                                                          \
        (SC_THREADGROUP unsigned int*)(sums + simds * args.batch * sc_grad_stride(args.C));       \
    sc_raster_backward_tile<T, CT, P>(args, th, recs, sums, emit, flags);                        \
  }
#define SC_RASTER_FORWARD_KERNEL(NAME, SUF, T, CT)                                                \
  SC_KERNEL(raster_forward##NAME##_##SUF, ScRasterTileArgs<T>) {                                 \
    SC_SHARED(unsigned int, flags, 32);                                                          \
    SC_DYNAMIC_SHARED(T, recs);                                                                  \
    SC_RASTER_TILE_THREAD                                                                        \
    sc_raster_forward_tile<T, CT>(args, th, recs, flags);                                        \
  }
// raster_forward_f32 / raster_backward_f32 for any channel count, *_rgb_* for 3;
// raster_backward_rgb_p2_*: 2 pixels a thread (even tile sizes). On an H100 at 1M
// Gaussians 1920x1080 the backward tile kernel took 7.19 ms with 1, 6.61 with 2;
// 4 was no faster (fewer threads to hide latency: 100k at 800x600 slower).
#define SC_RASTER_TILE_KERNELS(SUF, T)                  \
  SC_RASTER_FORWARD_KERNEL(, SUF, T, 0)                 \
  SC_RASTER_FORWARD_KERNEL(_rgb, SUF, T, 3)             \
  SC_RASTER_BACKWARD_KERNEL(, SUF, T, 0, 1)             \
  SC_RASTER_BACKWARD_KERNEL(_rgb, SUF, T, 3, 1)         \
  SC_RASTER_BACKWARD_KERNEL(_rgb_p2, SUF, T, 3, 2)
SC_GPU_FOR_FLOATS(SC_RASTER_TILE_KERNELS)
