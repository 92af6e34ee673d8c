// splatcore._core.rasterize: the differentiable Gaussian rasterizer.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bindings/bindings.h"
#include "splat/binning.h"
#include "splat/densify_stats.h"
#include "splat/knn.h"
#include "splat/rasterize.h"

namespace sc {

namespace {

RasterizeOptions raster_options(int64_t width, int64_t height, std::optional<int64_t> sh_degree,
                                double near_plane, double far_plane, bool antialiased, int64_t tile_size) {
  RasterizeOptions o;
  o.width = width;
  o.height = height;
  o.sh_degree = sh_degree;
  o.near_plane = near_plane;
  o.far_plane = far_plane;
  o.antialiased = antialiased;
  o.tile_size = tile_size;
  return o;
}

// (image, alpha, info) as splatcore.splat.rasterize documents them.
nb::tuple render_tuple(const RasterizeResult& r, int64_t width, int64_t height, int64_t tile_size) {
  nb::dict info;
  info["radii"] = r.radii;
  info["means2d"] = r.means2d;
  info["means2d_absgrad"] = r.means2d_absgrad;
  info["depths"] = r.depths;
  info["n_isects"] = r.n_isects;
  info["width"] = width;
  info["height"] = height;
  info["tile_size"] = tile_size;
  return nb::make_tuple(r.image, r.alpha, info);
}

// A 1-D NumPy array owning v's storage.
template <typename V>
nb::object numpy_of(std::vector<V>&& v) {
  auto* p = new std::vector<V>(std::move(v));
  nb::capsule owner(p, [](void* q) noexcept { delete static_cast<std::vector<V>*>(q); });
  size_t shape[1] = {p->size()};
  return nb::cast(nb::ndarray<nb::numpy, V, nb::ndim<1>>(p->data(), 1, shape, owner));
}

// _bin_tiles: the CPU tile binning (splat/binning.h) on projected Gaussians
// given directly (tests of its per-target loops).
template <typename T>
void def_bin_tiles(nb::module_& m) {
  using A = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
  m.def(
      "_bin_tiles",
      [](A means2d, A conics, A r2, A depths, nb::ndarray<const int32_t, nb::c_contig, nb::device::cpu> radii,
         int64_t width, int64_t height, int64_t tile_size) {
        const int64_t n = (int64_t)r2.size();
        if ((int64_t)means2d.size() != 2 * n || (int64_t)conics.size() != 3 * n ||
            (int64_t)depths.size() != n || (int64_t)radii.size() != 2 * n || width < 1 || height < 1 ||
            tile_size < 1)
          throw ValueError("_bin_tiles: means2d (N,2), conics (N,3), r2 (N), depths (N), radii (N,2), "
                           "positive sizes");
        TileBins b;
        {
          nb::gil_scoped_release nogil;
          b = bin_tiles<T>(means2d.data(), conics.data(), r2.data(), depths.data(), radii.data(), n, width,
                           height, tile_size);
        }
        return nb::make_tuple(numpy_of(std::move(b.emit_offset)), numpy_of(std::move(b.sorted_gauss)),
                              numpy_of(std::move(b.sorted_emit)), numpy_of(std::move(b.tile_start)));
      },
      nb::arg("means2d"), nb::arg("conics"), nb::arg("r2"), nb::arg("depths"), nb::arg("radii"),
      nb::arg("width"), nb::arg("height"), nb::arg("tile_size") = 16,
      "CPU tile binning of projected Gaussians (float32 or float64): (emit_offset (N+1,) int64, "
      "sorted_gauss (M,) uint32, sorted_emit (M,) uint32, tile_start (tiles+1,) int64), the "
      "intersections sorted by (tile, depth).");
}

}  // namespace

void bind_splat(nb::module_& m) {
  def_bin_tiles<float>(m);
  def_bin_tiles<double>(m);
  m.def(
      "rasterize",
      [](nb::handle means, nb::handle quats, nb::handle scales, nb::handle opacities,
         nb::handle colors, nb::handle viewmat, nb::handle K, int64_t width, int64_t height,
         std::optional<int64_t> sh_degree, nb::handle background, double near_plane,
         double far_plane, const std::string& render_mode, bool antialiased, int64_t tile_size) {
        Tensor tm = to_tensor(means, nullptr, "means");
        auto arg = [&](nb::handle h, const char* name) { return to_tensor(h, &tm, name); };
        RasterizeOptions o =
            raster_options(width, height, sh_degree, near_plane, far_plane, antialiased, tile_size);
        o.mode = parse_render_mode(render_mode);
        Tensor tq = arg(quats, "quats"), ts = arg(scales, "scales"), to = arg(opacities, "opacities"),
               tc = arg(colors, "colors_or_sh"), tv = arg(viewmat, "viewmat"), tk = arg(K, "K");
        Tensor tb = background.is_none() ? Tensor() : arg(background, "background");
        RasterizeResult r;
        {
          nb::gil_scoped_release nogil;
          r = rasterize(tm, tq, ts, to, tc, tv, tk, tb, o);
        }
        return render_tuple(r, width, height, tile_size);
      },
      nb::arg("means"), nb::arg("quats"), nb::arg("scales"), nb::arg("opacities"),
      nb::arg("colors_or_sh"), nb::arg("viewmat"), nb::arg("K"), nb::arg("width"),
      nb::arg("height"), nb::arg("sh_degree") = nb::none(), nb::arg("background") = nb::none(),
      nb::arg("near") = 0.01, nb::arg("far") = 1e10, nb::arg("render_mode") = "RGB",
      nb::arg("antialiased") = false, nb::arg("tile_size") = 16);
  m.def(
      "rasterize_params",
      [](nb::handle means, nb::handle quats, nb::handle log_scales, nb::handle logit_opacities,
         nb::handle sh0, nb::handle shN, nb::handle viewmat, nb::handle K, int64_t width, int64_t height,
         int64_t sh_degree, nb::handle background, double near_plane, double far_plane,
         bool antialiased, int64_t tile_size) {
        Tensor tm = to_tensor(means, nullptr, "means");
        auto arg = [&](nb::handle h, const char* name) { return to_tensor(h, &tm, name); };
        RasterizeOptions o =
            raster_options(width, height, sh_degree, near_plane, far_plane, antialiased, tile_size);
        Tensor tq = arg(quats, "quats"), ts = arg(log_scales, "scales"),
               to = arg(logit_opacities, "opacities"), t0 = arg(sh0, "sh0"), tn = arg(shN, "shN"),
               tv = arg(viewmat, "viewmat"), tk = arg(K, "K");
        Tensor tb = background.is_none() ? Tensor() : arg(background, "background");
        RasterizeResult r;
        {
          nb::gil_scoped_release nogil;
          r = rasterize_params(tm, tq, ts, to, t0, tn, tv, tk, tb, o);
        }
        return render_tuple(r, width, height, tile_size);
      },
      nb::arg("means"), nb::arg("quats"), nb::arg("scales"), nb::arg("opacities"), nb::arg("sh0"),
      nb::arg("shN"), nb::arg("viewmat"), nb::arg("K"), nb::arg("width"), nb::arg("height"),
      nb::arg("sh_degree"), nb::arg("background") = nb::none(), nb::arg("near") = 0.01,
      nb::arg("far") = 1e10, nb::arg("antialiased") = false, nb::arg("tile_size") = 16,
      "rasterize from training parameters: log-scales, opacity logits, SH as sh0 (N,1,3) + shN "
      "(N,K-1,3); same outputs as rasterize on exp / sigmoid / concat of them.");
  m.def(
      "splat_project",
      [](nb::handle means, nb::handle quats, nb::handle scales, nb::handle opacities,
         nb::handle viewmat, nb::handle K, int64_t width, int64_t height, double near_plane,
         double far_plane, bool antialiased) {
        Tensor tm = to_tensor(means, nullptr, "means");
        RasterizeOptions o =
            raster_options(width, height, std::nullopt, near_plane, far_plane, antialiased, 16);
        ProjectionResult r = project_gaussians(tm, to_tensor(quats, &tm, "quats"), to_tensor(scales, &tm, "scales"),
                                               to_tensor(opacities, &tm, "opacities"),
                                               to_tensor(viewmat, &tm, "viewmat"), to_tensor(K, &tm, "K"), o);
        nb::dict d;
        d["means2d"] = r.means2d;
        d["conics"] = r.conics;
        d["depths"] = r.depths;
        d["compensations"] = r.compensations;
        d["radii"] = r.radii;
        return d;
      },
      nb::arg("means"), nb::arg("quats"), nb::arg("scales"), nb::arg("opacities"),
      nb::arg("viewmat"), nb::arg("K"), nb::arg("width"), nb::arg("height"),
      nb::arg("near") = 0.01, nb::arg("far") = 1e10, nb::arg("antialiased") = false);
  m.def("splat_sh_colors", [](int64_t degree, nb::handle dirs, nb::handle coeffs) {
    Tensor td = to_tensor(dirs, nullptr, "dirs");
    return sh_colors(degree, td, to_tensor(coeffs, &td, "coeffs"));
  }, nb::arg("degree"), nb::arg("dirs"), nb::arg("coeffs"));
  m.def(
      "accumulate_grad2d",
      [](nb::handle grad2d, nb::handle radii, double scale_x, double scale_y, nb::handle grad_sum,
         nb::handle count) {
        Tensor s = to_tensor(grad_sum, nullptr, "grad_sum"), c = to_tensor(count, nullptr, "count");
        accumulate_grad2d(to_tensor(grad2d, nullptr, "grad2d"), to_tensor(radii, nullptr, "radii"),
                          scale_x, scale_y, s, c);
      },
      nb::arg("grad2d"), nb::arg("radii"), nb::arg("scale_x"), nb::arg("scale_y"), nb::arg("grad_sum"),
      nb::arg("count"),
      "Densification statistics, in place: grad_sum[i] += |grad2d[i] * (scale_x, scale_y)| and "
      "count[i] += 1 for every Gaussian with non-zero radii.");
  m.def("knn_mean_distance", [](nb::handle points, int64_t k) {
    return knn_mean_distance(to_tensor(points, nullptr, "points"), k);
  }, nb::arg("points"), nb::arg("k") = 3,
     "Mean distance of each point (N,3) to its k nearest neighbours (exact, grid search).");
}

}  // namespace sc
