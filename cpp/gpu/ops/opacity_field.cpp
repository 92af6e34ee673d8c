// Host side of the GPU opacity field (gpu/kernels/opacity_field.h).
#include <algorithm>

#include "gpu/kernels/opacity_field_args.h"
#include "gpu/ops/mesh_fields.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

namespace {

// A copy of v[0..n) on `d` (at least one element).
template <typename V>
Tensor upload(const V* v, size_t n, DType dt, Device d) {
  Tensor t = Tensor::empty({std::max<int64_t>(1, (int64_t)n)}, dt);
  std::copy(v, v + n, t.data<V>());
  return t.to_device(d);
}
template <typename V>
Tensor upload(const std::vector<V>& v, DType dt, Device d) {
  return upload(v.data(), v.size(), dt, d);
}

}  // namespace

void opacity_field(const mesh::VoxelGrid& g, const mesh::GaussianBins& bins, const float* colors, int64_t n,
                   const Tensor& field, const Tensor& color) {
  static_assert(SC_OPACITY_BLOCK == mesh::kOpacityBlock, "one block size");
  const Device d = field.device();
  Runtime& rt = runtime(d);
  Tensor rec = upload(bins.rec, DType::Float32, d), box = upload(bins.box, DType::Int32, d);
  Tensor start = upload(bins.start, DType::Int64, d), list = upload(bins.list, DType::Int32, d);
  Tensor cols;
  if (colors) cols = upload(colors, (size_t)(3 * n), DType::Float32, d);
  ScOpacityFieldArgs a{};
  a.rec = gpu_ptr<const float>(rec);
  a.box = gpu_ptr<const int>(box);
  a.start = gpu_ptr<const long long>(start);
  a.list = gpu_ptr<const int>(list);
  a.colors = gpu_ptr_or_null<const float>(cols);
  a.field = gpu_ptr<float>(field);
  a.color = gpu_ptr_or_null<float>(color);
  int64_t blocks = 1;
  for (int k = 0; k < 3; ++k) {
    a.dims[k] = g.dims[k];
    a.blocks[k] = bins.blocks[k];
    a.origin[k] = g.origin[k];
    blocks *= bins.blocks[k];
  }
  a.voxel = g.voxel;
  LaunchDims dims;
  dims.grid.x = (uint32_t)blocks;
  dims.group.x = SC_OPACITY_BLOCK * SC_OPACITY_BLOCK * SC_OPACITY_BLOCK;
  launch(rt, kernel("opacity_field_eval"), dims, a,
         {buffer_of(rec), buffer_of(box), buffer_of(start), buffer_of(list), buffer_of(cols), buffer_of(field),
          buffer_of(color)});
}

}  // namespace sc::gpu
