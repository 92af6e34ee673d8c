// Host side of the GPU marching cubes (gpu/kernels/marching_cubes.h): classify,
// scan, one host read (totals and status), vertices, faces.
#include "gpu/ops/marching_cubes.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "gpu/kernels/marching_cubes_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "kernels/marching_cubes_tables.h"
#include "mesh/marching_cubes.h"

namespace sc::gpu {

namespace {


void need(bool ok, const std::string& msg) {
  if (!ok) throw ValueError(msg);
}

// The volume (float32, 3-D, on a GPU), the mask and colours beside it (same
// device, matching shapes), all made contiguous.
void check_tensors(const Tensor& volume, Tensor& mask, Tensor& colors) {
  need(volume.defined(), "marching_cubes: volume is required");
  if (volume.dtype() != DType::Float32)
    throw TypeError(std::string("marching_cubes: a GPU volume must be float32, got ") +
                    dtype_name(volume.dtype()));
  need(volume.ndim() == 3, "marching_cubes: volume must be a 3-D array, got shape " + shape_str(volume.shape()));
  need(volume.device().is_gpu(), "marching_cubes: the GPU path needs a volume on a GPU device");
  const Device dev = volume.device();
  if (mask.defined()) {
    need(mask.device() == dev, "marching_cubes: mask is on " + mask.device().str() + ", the volume on " +
                                   dev.str() + "; put both on one device");
    if (mask.dtype() != DType::UInt8 && mask.dtype() != DType::Bool)
      throw TypeError(std::string("marching_cubes: a GPU mask must be bool or uint8, got ") +
                      dtype_name(mask.dtype()));
    need(mask.shape() == volume.shape(), "marching_cubes: mask must have the volume's shape " +
                                             shape_str(volume.shape()) + ", got " + shape_str(mask.shape()));
    mask = mask.contiguous();
  }
  if (colors.defined()) {
    need(colors.device() == dev, "marching_cubes: colors are on " + colors.device().str() +
                                     ", the volume on " + dev.str() + "; put both on one device");
    if (colors.dtype() != DType::Float32)
      throw TypeError(std::string("marching_cubes: GPU colors must be float32, got ") +
                      dtype_name(colors.dtype()));
    need(colors.ndim() == 4 && colors.size(0) == volume.size(0) && colors.size(1) == volume.size(1) &&
             colors.size(2) == volume.size(2),
         "marching_cubes: colors must have shape volume.shape + (C,), got " + shape_str(colors.shape()));
    colors = colors.contiguous();
  }
}

ScMcArgs base_args(const ScMcGrid& g, const Tensor& vol, const Tensor& mask, const Tensor& colors,
                   const Tensor& status) {
  ScMcArgs a{};
  a.grid = g;
  a.volume = gpu_ptr_or_null<const float>(vol);
  a.mask = gpu_ptr_or_null<const unsigned char>(mask);
  a.colors = gpu_ptr_or_null<const float>(colors);
  a.status = gpu_ptr_or_null<unsigned int>(status);
  return a;
}

}  // namespace

McRange marching_cubes_range(const Tensor& volume_in, const Tensor& mask_in) {
  Tensor mask = mask_in, colors;
  check_tensors(volume_in, mask, colors);
  const Tensor vol = volume_in.contiguous();
  const Device dev = vol.device();
  Runtime& rt = runtime(dev);
  McRange out;
  const int64_t n = vol.numel();
  if (n == 0) return out;
  ScMcGrid g{};
  for (int a = 0; a < 3; ++a) g.n[a] = g.N[a] = vol.size(a);
  g.has_mask = mask.defined() ? 1 : 0;
  Tensor status = Tensor::empty({SC_MC_STATUS_WORDS}, DType::UInt32, dev);
  uint32_t init[SC_MC_STATUS_WORDS] = {0};
  init[SC_MC_STATUS_MIN] = 0xFFFFFFFFu;
  rt.copy_from_host(gpu_address(status), init, sizeof(init));
  ScMcArgs a = base_args(g, vol, mask, colors, status);
  LaunchDims d = groups_for(n, SC_MC_GROUP);
  d.grid.x = std::min<uint32_t>(d.grid.x, 4096u);  // grid-stride: few groups, few atomics
  launch(rt, kernel("mc_range"), d, a, {buffer_of(vol), buffer_of(mask), buffer_of(status)});
  uint32_t s[SC_MC_STATUS_WORDS];
  rt.copy_to_host(s, gpu_address(status), sizeof(s));
  out.any_finite = s[SC_MC_STATUS_VALID] != 0;
  out.non_finite = s[SC_MC_STATUS_BAD];
  auto value = [](uint32_t k) {
    const uint32_t b = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  if (out.any_finite) {
    out.min = value(s[SC_MC_STATUS_MIN]);
    out.max = value(s[SC_MC_STATUS_MAX]);
  }
  return out;
}

McDeviceMesh marching_cubes(const McDeviceInput& in) {
  Tensor mask = in.mask, colors = in.colors;
  check_tensors(in.volume, mask, colors);
  const Tensor vol = in.volume.contiguous();
  const Device dev = vol.device();
  Runtime& rt = runtime(dev);

  // The CPU's checks of dims, level, sign, spacing and origin (pointers are only tested for null).
  mesh::McInput mi;
  mi.volume = static_cast<const float*>(gpu_address(vol));
  for (int a = 0; a < 3; ++a) {
    mi.dims[a] = vol.size(a);
    mi.spacing[a] = in.spacing[a];
    mi.origin[a] = in.origin[a];
  }
  mi.level = in.level;
  mi.sign = in.sign;
  mi.pad = in.pad;
  mi.mask = mask.defined() ? static_cast<const uint8_t*>(gpu_address(mask)) : nullptr;
  mi.colors = colors.defined() ? static_cast<const float*>(gpu_address(colors)) : nullptr;
  mi.channels = colors.defined() ? colors.size(3) : 0;
  mesh::mc_check_input(mi);
  const ScMcGrid g = mesh::mc_grid(mi);
  const int64_t N0 = g.N[0], N1 = g.N[1], N2 = g.N[2];
  const int64_t plane = N1 * N2, sites = N0 * plane;
  const int64_t cells = (N0 - 1) * (N1 - 1) * (N2 - 1);
  need(plane <= (int64_t)UINT32_MAX - SC_MC_GROUP,
       "marching_cubes: a GPU volume's planes (axes 1 and 2) may hold at most 2^32 - 256 points, got " +
           std::to_string(plane));
  const int64_t tpp = (plane + SC_MC_GROUP - 1) / SC_MC_GROUP, tiles = N0 * tpp;
  need(2 * tiles + 1 <= (int64_t)UINT32_MAX && tiles <= (int64_t)INT32_MAX,
       "marching_cubes: the volume is too large for the GPU path (" + std::to_string(sites) + " points)");
  // Totals past 2^31 - 1 raise; past 2^32 the u32 scans wrap, so grids that could get there
  // also sum the exact totals in 64 bits (two words, atomics once per tile with a crossing).
  const bool check_totals = in.force_check_totals || 3 * sites + cells > (int64_t)INT32_MAX ||
                            12 * cells > (int64_t)INT32_MAX;

  Tensor table = Tensor::empty({SC_MC_TABLE_WORDS}, DType::Int32, dev);
  rt.copy_from_host(gpu_address(table), sc_mc_table, sizeof(sc_mc_table));
  Tensor site = Tensor::empty({sites}, DType::UInt8, dev);
  Tensor vcount = Tensor::empty({2 * tiles + 1}, DType::UInt32, dev);
  Tensor tcount = Tensor::empty({tiles + 1}, DType::UInt32, dev);
  Tensor status = Tensor::zeros({SC_MC_STATUS_WORDS}, DType::UInt32, dev);

  ScMcArgs a = base_args(g, vol, mask, colors, status);
  a.table = gpu_ptr<const sc_i32>(table);
  a.site = gpu_ptr<unsigned char>(site);
  a.vcount = gpu_ptr<unsigned int>(vcount);
  a.tcount = gpu_ptr<unsigned int>(tcount);
  a.plane = (unsigned int)plane;
  a.tiles_per_plane = (unsigned int)tpp;
  a.tiles = (unsigned int)tiles;
  a.with_normals = in.normals ? 1 : 0;
  a.check_totals = check_totals ? 1 : 0;
  LaunchDims d;
  d.group.x = SC_MC_GROUP;
  d.grid.x = (uint32_t)tiles;
  launch(rt, kernel("mc_classify"), d, a,
         {buffer_of(vol), buffer_of(mask), buffer_of(table), buffer_of(site), buffer_of(vcount), buffer_of(tcount), buffer_of(status)});
  exclusive_scan_u32(vcount);
  exclusive_scan_u32(tcount);

  // The one host read: the status words and the scanned totals.
  uint32_t s[SC_MC_STATUS_WORDS], nv32, nt32;
  rt.copy_to_host(&nv32, gpu_ptr<unsigned int>(vcount) + 2 * tiles, sizeof(uint32_t));
  rt.copy_to_host(&nt32, gpu_ptr<unsigned int>(tcount) + tiles, sizeof(uint32_t));
  rt.copy_to_host(s, gpu_address(status), sizeof(s));
  if (s[SC_MC_STATUS_BAD])
    throw ValueError("marching_cubes: volume has " + std::to_string(s[SC_MC_STATUS_BAD]) +
                     " NaN or infinite values" + (mask.defined() ? " inside the mask" : "") +
                     "; mask them out (mask=...) or replace them before meshing");
  int64_t nv = nv32, nt = nt32;
  if (check_totals) {
    nv = (int64_t)s[SC_MC_STATUS_VERTS_LO] | ((int64_t)s[SC_MC_STATUS_VERTS_HI] << 32);
    nt = (int64_t)s[SC_MC_STATUS_TRIS_LO] | ((int64_t)s[SC_MC_STATUS_TRIS_HI] << 32);
    if ((uint32_t)nv != nv32 || (uint32_t)nt != nt32)
      throw std::runtime_error("marching_cubes: the GPU's scanned and summed totals disagree (" +
                         std::to_string(nv32) + " / " + std::to_string(nv) + " vertices, " +
                         std::to_string(nt32) + " / " + std::to_string(nt) + " triangles)");
  }
  if (nv > INT32_MAX || nt > INT32_MAX)
    throw ValueError("marching_cubes: the mesh would have " + std::to_string(nv) + " vertices and " +
                     std::to_string(nt) + " triangles, over the int32 index limit; use a coarser grid");

  McDeviceMesh out;
  out.vertices = Tensor::empty({nv, 3}, DType::Float32, dev);
  out.faces = Tensor::empty({nt, 3}, DType::Int32, dev);
  if (in.normals) out.normals = Tensor::empty({nv, 3}, DType::Float32, dev);
  if (colors.defined()) out.colors = Tensor::empty({nv, colors.size(3)}, DType::Float32, dev);
  if (nv == 0) return out;  // no crossing: no vertices and no faces
  Tensor vfirst = Tensor::empty({sites}, DType::UInt32, dev);
  a.vfirst = gpu_ptr<unsigned int>(vfirst);
  a.verts = gpu_ptr<float>(out.vertices);
  a.normals = gpu_ptr_or_null<float>(out.normals);
  a.out_colors = gpu_ptr_or_null<float>(out.colors);
  a.faces = nt ? gpu_ptr<int>(out.faces) : nullptr;
  launch(rt, kernel("mc_vertices"), d, a,
         {buffer_of(vol), buffer_of(mask), buffer_of(colors), buffer_of(table), buffer_of(site), buffer_of(vcount), buffer_of(vfirst), buffer_of(out.vertices),
          buffer_of(out.normals), buffer_of(out.colors)});
  if (nt)
    launch(rt, kernel("mc_faces"), d, a,
           {buffer_of(vol), buffer_of(mask), buffer_of(table), buffer_of(site), buffer_of(vcount), buffer_of(tcount), buffer_of(vfirst), buffer_of(out.faces)});
  return out;
}

}  // namespace sc::gpu
