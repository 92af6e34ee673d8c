// TSDF fusion of one depth view on the GPU: a thread per voxel over the CPU's
// per-voxel body (kernels/marching_cubes_fields.h, sc_tsdf_voxel).
#pragma once
#include "gpu/kernels/tsdf_args.h"

SC_KERNEL(tsdf_integrate, ScTsdfArgs) {
  const sc_i64 count = args.dims[0] * args.dims[1] * args.dims[2];
  for (sc_i64 v = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; v < count; v += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X) {
    const sc_i64 k = v % args.dims[2], j = (v / args.dims[2]) % args.dims[1], i = v / (args.dims[1] * args.dims[2]);
    const float x = args.origin[0] + args.voxel * (float)i;
    const float y = args.origin[1] + args.voxel * (float)j;
    const float z = args.origin[2] + args.voxel * (float)k;
    SC_DEVICE const float* rgb = 0;
    SC_DEVICE float* color = 0;
    SC_DEVICE float* cweight = 0;
    if (args.color && args.cweight && args.rgb) {
      rgb = args.rgb;
      color = args.color + 3 * v;
      cweight = args.cweight + v;
    }
    SC_DEVICE float* tsdf = args.tsdf + v;
    SC_DEVICE float* weight = args.weight + v;
    sc_tsdf_voxel(x, y, z, args.cam, args.depth, rgb, args.trunc, args.near_plane, args.max_weight, args.carve,
                  tsdf, weight, color, cweight);
  }
}
