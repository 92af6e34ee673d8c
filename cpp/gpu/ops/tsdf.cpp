// Host side of the GPU TSDF fusion (gpu/kernels/tsdf.h).
#include "gpu/kernels/tsdf_args.h"
#include "gpu/ops/mesh_fields.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

void tsdf_integrate(const TsdfView& view, const Tensor& tsdf, const Tensor& weight, const Tensor& color,
                    const Tensor& cweight, const Tensor& depth, const Tensor& rgb) {
  Runtime& rt = runtime(tsdf.device());
  ScTsdfArgs a{};
  a.tsdf = gpu_ptr<float>(tsdf);
  a.weight = gpu_ptr<float>(weight);
  a.color = gpu_ptr_or_null<float>(color);
  a.cweight = gpu_ptr_or_null<float>(cweight);
  a.depth = gpu_ptr<const float>(depth);
  a.rgb = gpu_ptr_or_null<const float>(rgb);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) a.cam.P[r * 4 + c] = view.viewmat[r * 4 + c];
  a.cam.fx = view.K[0];
  a.cam.fy = view.K[4];
  a.cam.cx = view.K[2];
  a.cam.cy = view.K[5];
  a.cam.width = (int)depth.shape()[1];
  a.cam.height = (int)depth.shape()[0];
  int64_t count = 1;
  for (int k = 0; k < 3; ++k) {
    a.dims[k] = tsdf.shape()[k];
    a.origin[k] = view.origin[k];
    count *= tsdf.shape()[k];
  }
  a.voxel = view.voxel, a.trunc = view.trunc, a.near_plane = view.near_plane, a.max_weight = view.max_weight;
  a.carve = view.carve;
  launch(rt, kernel("tsdf_integrate"), grid_stride_groups(count), a,
         {buffer_of(tsdf), buffer_of(weight), buffer_of(color), buffer_of(cweight), buffer_of(depth), buffer_of(rgb)});
}

}  // namespace sc::gpu
