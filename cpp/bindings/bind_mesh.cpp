// Bindings for marching cubes and the mesh fields (private: wrapped by
// splatcore.mesh, which converts and validates the arguments first).
//
//   _marching_cubes(volume, level, sign, spacing, origin, mask, colors, pad, normals)
//       -> (verts (V,3) f32, faces (F,3) i32, normals (V,3) f32 | None, colors (V,C) f32 | None)
//   _marching_cubes_device(volume, level, sign, spacing, origin, mask, colors, pad, normals)
//       the same on a GPU device (Tensors there; the results come back as NumPy arrays,
//       or with to_host=False as Tensors on the device)
//   _marching_cubes_device_range(volume, mask) -> (any finite, non-finite count, min, max)
//   _mesh_components(faces, num_vertices) -> (labels (V,) i32, count)
//   _tsdf_integrate(tsdf, weight, color, cweight, depth, rgb, viewmat, K, origin, voxel,
//                   trunc, near, max_weight, carve)         (in place)
//   _opacity_field(means, quats, scales, opacities, colors, dims, origin, voxel,
//                  min_scale, max_sigma) -> (field, color | None, pairs)
//   _fill_enclosed(field, level, sign, fill_value) -> count  (in place)
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <array>
#include <optional>
#include <string>

#include "bindings/bindings.h"
#include "gpu/ops/mesh_fields.h"
#include "gpu/ops/marching_cubes.h"
#include "mesh/fields.h"
#include "mesh/marching_cubes.h"

namespace sc {
namespace {

using namespace nb::literals;

template <typename T, typename... Extra>
using CArr = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;

// A new C-contiguous NumPy array and its data pointer.
template <typename T>
nb::object new_array(std::initializer_list<int64_t> shape, const char* dtype, T** data) {
  nb::module_ np = nb::module_::import_("numpy");
  nb::list s;
  for (int64_t x : shape) s.append(x);
  nb::object a = np.attr("empty")(nb::tuple(s), "dtype"_a = dtype);
  *data = static_cast<T*>(nb::cast<CArr<T>>(a).data());
  return a;
}

void need(bool ok, const std::string& msg) {
  if (!ok) throw ValueError(msg);
}

nb::tuple marching_cubes(CArr<const float, nb::ndim<3>> volume, float level, float sign,
                         std::array<float, 3> spacing, std::array<float, 3> origin,
                         std::optional<CArr<const uint8_t, nb::ndim<3>>> mask,
                         std::optional<CArr<const float, nb::ndim<4>>> colors, bool pad,
                         bool with_normals) {
  mesh::McInput in;
  in.volume = volume.data();
  for (int a = 0; a < 3; ++a) {
    in.dims[a] = (int64_t)volume.shape(a);
    in.spacing[a] = spacing[(size_t)a];
    in.origin[a] = origin[(size_t)a];
  }
  in.level = level;
  in.sign = sign;
  in.pad = pad;
  if (mask) {
    for (int a = 0; a < 3; ++a)
      need((int64_t)mask->shape(a) == in.dims[a], "marching_cubes: mask must have the volume's shape");
    in.mask = mask->data();
  }
  if (colors) {
    for (int a = 0; a < 3; ++a)
      need((int64_t)colors->shape(a) == in.dims[a],
           "marching_cubes: colors must have shape volume.shape + (C,)");
    in.colors = colors->data();
    in.channels = (int64_t)colors->shape(3);
  }
  mesh::McPlan plan;
  {
    nb::gil_scoped_release nogil;
    plan = mesh::mc_plan(in);
  }
  float *v = nullptr, *nrm = nullptr, *col = nullptr;
  int32_t* f = nullptr;
  nb::object verts = new_array<float>({plan.num_vertices, 3}, "float32", &v);
  nb::object faces = new_array<int32_t>({plan.num_triangles, 3}, "int32", &f);
  nb::object normals = nb::none(), cols = nb::none();
  if (with_normals) normals = new_array<float>({plan.num_vertices, 3}, "float32", &nrm);
  if (colors) cols = new_array<float>({plan.num_vertices, in.channels}, "float32", &col);
  {
    nb::gil_scoped_release nogil;
    mesh::mc_emit(in, plan, v, nrm, col, f);
  }
  return nb::make_tuple(verts, faces, normals, cols);
}

// Marching cubes of a volume on a GPU device; the mesh is copied to NumPy
// arrays (the Mesh the Python API returns holds host arrays).
nb::tuple marching_cubes_device(const Tensor& volume, float level, float sign,
                                std::array<float, 3> spacing, std::array<float, 3> origin,
                                std::optional<Tensor> mask, std::optional<Tensor> colors, bool pad,
                                bool with_normals, bool to_host, bool check_totals) {
  gpu::McDeviceInput in;
  in.volume = volume;
  if (mask) in.mask = *mask;
  if (colors) in.colors = *colors;
  in.level = level;
  in.sign = sign;
  for (int a = 0; a < 3; ++a) {
    in.spacing[a] = spacing[(size_t)a];
    in.origin[a] = origin[(size_t)a];
  }
  in.pad = pad;
  in.normals = with_normals;
  in.force_check_totals = check_totals;
  gpu::McDeviceMesh m;
  {
    nb::gil_scoped_release nogil;
    m = gpu::marching_cubes(in);
  }
  auto host = [to_host](const Tensor& t) -> nb::object {
    if (!t.defined()) return nb::none();
    return to_host ? to_numpy(t) : nb::cast(t);
  };
  return nb::make_tuple(host(m.vertices), host(m.faces), host(m.normals), host(m.colors));
}

nb::tuple marching_cubes_device_range(const Tensor& volume, std::optional<Tensor> mask) {
  gpu::McRange r;
  {
    nb::gil_scoped_release nogil;
    r = gpu::marching_cubes_range(volume, mask ? *mask : Tensor());
  }
  return nb::make_tuple(r.any_finite, r.non_finite, r.min, r.max);
}

nb::tuple components(CArr<const int32_t, nb::ndim<2>> faces, int64_t num_vertices) {
  need(faces.shape(1) == 3, "mesh_components: faces must have shape (F, 3)");
  need(num_vertices >= 0 && num_vertices <= INT32_MAX, "mesh_components: bad num_vertices");
  int32_t* labels = nullptr;
  nb::object out = new_array<int32_t>({num_vertices}, "int32", &labels);
  int64_t count;
  {
    nb::gil_scoped_release nogil;
    count = mesh::mesh_components(faces.data(), (int64_t)faces.shape(0), num_vertices, labels);
  }
  return nb::make_tuple(out, count);
}

void tsdf_integrate(CArr<float, nb::ndim<3>> tsdf, CArr<float, nb::ndim<3>> weight,
                    std::optional<CArr<float, nb::ndim<4>>> color,
                    std::optional<CArr<float, nb::ndim<3>>> cweight,
                    CArr<const float, nb::ndim<2>> depth,
                    std::optional<CArr<const float, nb::ndim<3>>> rgb,
                    CArr<const float, nb::shape<4, 4>> viewmat, CArr<const float, nb::shape<3, 3>> K,
                    std::array<float, 3> origin, float voxel, float trunc, float near_plane,
                    float max_weight, bool carve) {
  mesh::VoxelGrid g;
  for (int a = 0; a < 3; ++a) {
    g.dims[a] = (int64_t)tsdf.shape(a);
    g.origin[a] = origin[(size_t)a];
    need((int64_t)weight.shape(a) == g.dims[a], "tsdf_integrate: weight must match tsdf");
  }
  g.voxel = voxel;
  need(voxel > 0.0f, "tsdf_integrate: voxel must be positive");
  const bool with_color = color.has_value();
  need(with_color == cweight.has_value(), "tsdf_integrate: color and cweight come together");
  if (with_color) {
    for (int a = 0; a < 3; ++a)
      need((int64_t)color->shape(a) == g.dims[a] && (int64_t)cweight->shape(a) == g.dims[a],
           "tsdf_integrate: color / cweight must match tsdf");
    need(color->shape(3) == 3, "tsdf_integrate: color must have 3 channels");
  }
  const int64_t H = (int64_t)depth.shape(0), W = (int64_t)depth.shape(1);
  if (rgb)
    need((int64_t)rgb->shape(0) == H && (int64_t)rgb->shape(1) == W && rgb->shape(2) == 3,
         "tsdf_integrate: rgb must have shape (H, W, 3) like depth");
  float* c = with_color ? color->data() : nullptr;
  float* cw = with_color ? cweight->data() : nullptr;
  const float* im = rgb ? rgb->data() : nullptr;
  nb::gil_scoped_release nogil;
  mesh::tsdf_integrate(g, tsdf.data(), weight.data(), c, cw, depth.data(), im, W, H, viewmat.data(),
                       K.data(), trunc, near_plane, max_weight, carve);
}

// TSDF fusion of one view on a GPU device: grids and images are float32
// contiguous Tensors on one device; the camera comes as host arrays.
void tsdf_integrate_device(const Tensor& tsdf, const Tensor& weight, std::optional<Tensor> color,
                           std::optional<Tensor> cweight, const Tensor& depth, std::optional<Tensor> rgb,
                           CArr<const float, nb::shape<4, 4>> viewmat, CArr<const float, nb::shape<3, 3>> K,
                           std::array<float, 3> origin, float voxel, float trunc, float near_plane,
                           float max_weight, bool carve) {
  const Device dev = tsdf.device();
  need(dev.is_gpu(), "tsdf_integrate_device: tsdf must be on a GPU device, got " + dev.str());
  auto check = [&](const Tensor& t, const Shape& shape, const char* name) {
    need(t.device() == dev, std::string("tsdf_integrate_device: ") + name + " is on " + t.device().str() +
                                " but tsdf is on " + dev.str());
    need(t.dtype() == DType::Float32 && t.is_contiguous(),
         std::string("tsdf_integrate_device: ") + name + " must be a contiguous float32 Tensor");
    need(t.shape() == shape, std::string("tsdf_integrate_device: ") + name + " must have shape " +
                                 shape_str(shape) + ", got " + shape_str(t.shape()));
  };
  need(tsdf.ndim() == 3, "tsdf_integrate_device: tsdf must be 3-D, got " + shape_str(tsdf.shape()));
  const Shape grid = tsdf.shape();
  check(tsdf, grid, "tsdf");
  check(weight, grid, "weight");
  need(color.has_value() == cweight.has_value(), "tsdf_integrate_device: color and cweight come together");
  if (color) {
    check(*color, {grid[0], grid[1], grid[2], 3}, "color");
    check(*cweight, grid, "cweight");
  }
  need(depth.ndim() == 2, "tsdf_integrate_device: depth must be (H, W), got " + shape_str(depth.shape()));
  check(depth, depth.shape(), "depth");
  if (rgb) check(*rgb, {depth.shape()[0], depth.shape()[1], 3}, "rgb");
  need(voxel > 0.0f, "tsdf_integrate_device: voxel must be positive");
  need(trunc > 0.0f, "tsdf_integrate_device: trunc must be positive");
  gpu::TsdfView v;
  std::copy(viewmat.data(), viewmat.data() + 16, v.viewmat);
  std::copy(K.data(), K.data() + 9, v.K);
  for (int a = 0; a < 3; ++a) v.origin[a] = origin[(size_t)a];
  v.voxel = voxel, v.trunc = trunc, v.near_plane = near_plane, v.max_weight = max_weight, v.carve = carve;
  gpu::tsdf_integrate(v, tsdf, weight, color ? *color : Tensor(), cweight ? *cweight : Tensor(), depth,
                      rgb ? *rgb : Tensor());
}

using GaussArr2 = CArr<const float, nb::ndim<2>>;

// The checks of both opacity-field entry points; returns the grid.
mesh::VoxelGrid opacity_grid(const GaussArr2& means, const GaussArr2& quats, const GaussArr2& scales,
                             const CArr<const float, nb::ndim<1>>& opacities, const std::optional<GaussArr2>& colors,
                             std::array<int64_t, 3> dims, std::array<float, 3> origin, float voxel) {
  const int64_t n = (int64_t)means.shape(0);
  need(means.shape(1) == 3 && quats.shape(1) == 4 && scales.shape(1) == 3 &&
           (int64_t)quats.shape(0) == n && (int64_t)scales.shape(0) == n &&
           (int64_t)opacities.shape(0) == n,
       "opacity_field: expected means (N,3), quats (N,4), scales (N,3), opacities (N,)");
  if (colors)
    need((int64_t)colors->shape(0) == n && colors->shape(1) == 3,
         "opacity_field: colors must have shape (N, 3)");
  need(voxel > 0.0f, "opacity_field: voxel must be positive");
  mesh::VoxelGrid g;
  for (int a = 0; a < 3; ++a) {
    need(dims[(size_t)a] >= 1, "opacity_field: dims must be positive");
    g.dims[a] = dims[(size_t)a];
    g.origin[a] = origin[(size_t)a];
  }
  g.voxel = voxel;
  return g;
}

// The field on a GPU device: the Gaussians binned here, evaluated there.
nb::tuple opacity_field_device(GaussArr2 means, GaussArr2 quats, GaussArr2 scales,
                               CArr<const float, nb::ndim<1>> opacities, std::optional<GaussArr2> colors,
                               std::array<int64_t, 3> dims, std::array<float, 3> origin, float voxel,
                               float min_scale, float max_sigma, const std::string& device) {
  const mesh::VoxelGrid g = opacity_grid(means, quats, scales, opacities, colors, dims, origin, voxel);
  const Device d = Device::parse(device);
  need(d.is_gpu(), "opacity_field_device: device must be a GPU device, got " + device);
  const int64_t n = (int64_t)means.shape(0);
  Tensor field = Tensor::empty({g.dims[0], g.dims[1], g.dims[2]}, DType::Float32, d);
  Tensor col;
  if (colors) col = Tensor::empty({g.dims[0], g.dims[1], g.dims[2], 3}, DType::Float32, d);
  int64_t pairs;
  {
    nb::gil_scoped_release nogil;
    const mesh::GaussianBins bins = mesh::bin_gaussians(g, means.data(), quats.data(), scales.data(),
                                                        opacities.data(), n, min_scale, max_sigma);
    gpu::opacity_field(g, bins, colors ? colors->data() : nullptr, n, field, col);
    pairs = bins.pairs();
  }
  return nb::make_tuple(field, colors ? nb::cast(col) : nb::none(), pairs);
}

nb::tuple opacity_field(GaussArr2 means, GaussArr2 quats, GaussArr2 scales,
                        CArr<const float, nb::ndim<1>> opacities, std::optional<GaussArr2> colors,
                        std::array<int64_t, 3> dims, std::array<float, 3> origin, float voxel,
                        float min_scale, float max_sigma) {
  const int64_t n = (int64_t)means.shape(0);
  const mesh::VoxelGrid g = opacity_grid(means, quats, scales, opacities, colors, dims, origin, voxel);
  float *field = nullptr, *col = nullptr;
  nb::object f = new_array<float>({g.dims[0], g.dims[1], g.dims[2]}, "float32", &field);
  nb::object c = nb::none();
  if (colors) c = new_array<float>({g.dims[0], g.dims[1], g.dims[2], 3}, "float32", &col);
  int64_t pairs;
  {
    nb::gil_scoped_release nogil;
    pairs = mesh::opacity_field(g, means.data(), quats.data(), scales.data(), opacities.data(),
                                colors ? colors->data() : nullptr, n, min_scale, max_sigma, field,
                                col);
  }
  return nb::make_tuple(f, c, pairs);
}

int64_t fill_enclosed(CArr<float, nb::ndim<3>> field, float level, float sign, float fill_value) {
  const int64_t dims[3] = {(int64_t)field.shape(0), (int64_t)field.shape(1), (int64_t)field.shape(2)};
  nb::gil_scoped_release nogil;
  return mesh::fill_enclosed(dims, field.data(), level, sign, fill_value);
}

}  // namespace

void bind_mesh(nb::module_& m) {
  m.def("_marching_cubes", &marching_cubes, "volume"_a, "level"_a, "sign"_a, "spacing"_a,
        "origin"_a, "mask"_a.none(), "colors"_a.none(), "pad"_a, "normals"_a,
        "Marching cubes on a float32 C-contiguous volume (see splatcore.mesh.marching_cubes).");
  m.def("_marching_cubes_device", &marching_cubes_device, "volume"_a, "level"_a, "sign"_a,
        "spacing"_a, "origin"_a, "mask"_a.none(), "colors"_a.none(), "pad"_a, "normals"_a,
        "to_host"_a = true, "check_totals"_a = false,
        "Marching cubes of a float32 volume Tensor on a GPU device (the CPU's mesh exactly); "
        "NumPy arrays, or with to_host=False Tensors left on the device.");
  m.def("_marching_cubes_device_range", &marching_cubes_device_range, "volume"_a, "mask"_a.none(),
        "(any finite, non-finite count, min, max) of a GPU volume's valid values.");
  m.def("_mesh_components", &components, "faces"_a, "num_vertices"_a,
        "Connected components of a mesh: (labels per vertex, count).");
  m.def("_opacity_field_device", &opacity_field_device, "means"_a, "quats"_a, "scales"_a, "opacities"_a,
        "colors"_a.none(), "dims"_a, "origin"_a, "voxel"_a, "min_scale"_a, "max_sigma"_a, "device"_a,
        "_opacity_field on a GPU device: (field, color or None) as Tensors there, and the pair count.");
  m.def("_tsdf_integrate_device", &tsdf_integrate_device, "tsdf"_a, "weight"_a, "color"_a.none(), "cweight"_a.none(),
        "depth"_a, "rgb"_a.none(), "viewmat"_a, "K"_a, "origin"_a, "voxel"_a, "trunc"_a, "near"_a,
        "max_weight"_a, "carve"_a, "One view of TSDF fusion on a GPU device (Tensors), as _tsdf_integrate.");
  m.def("_tsdf_integrate", &tsdf_integrate, "tsdf"_a, "weight"_a, "color"_a.none(),
        "cweight"_a.none(), "depth"_a, "rgb"_a.none(), "viewmat"_a, "K"_a, "origin"_a, "voxel"_a,
        "trunc"_a, "near"_a, "max_weight"_a, "carve"_a, "One view of TSDF fusion, in place.");
  m.def("_opacity_field", &opacity_field, "means"_a, "quats"_a, "scales"_a, "opacities"_a,
        "colors"_a.none(), "dims"_a, "origin"_a, "voxel"_a, "min_scale"_a, "max_sigma"_a,
        "Sum of opacity-weighted Gaussians on a voxel grid: (field, color | None, pairs).");
  m.def("_fill_enclosed", &fill_enclosed, "field"_a, "level"_a, "sign"_a, "fill_value"_a,
        "Sets enclosed outside voids of a field to fill_value, in place; returns their count.");
}

}  // namespace sc
