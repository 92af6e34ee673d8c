// Bindings for global alignment of pairwise pointmaps (private names; the public
// face is python/splatcore/align/):
//   _align_Problem            packed pairwise pointmaps + the fused loss (autograd)
//   _align_weighted_moments   sums for a weighted similarity (Procrustes) fit
//   _align_estimate_focal     Weiszfeld focal fit of a camera-frame pointmap
//   _align_dense_depth        full-resolution robust depth of one image
#include <cstring>

#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "align/align.h"
#include "bindings/bindings.h"

namespace sc {

namespace {

std::vector<Tensor> tensor_list(nb::handle h, const char* argname) {
  if (!nb::isinstance<nb::list>(h) && !nb::isinstance<nb::tuple>(h))
    throw TypeError(std::string(argname) + ": expected a list of arrays, got " +
                    nb::cast<std::string>(nb::repr(h.type())));
  std::vector<Tensor> out;
  size_t i = 0;
  for (nb::handle x : h) {
    std::string what = std::string(argname) + "[" + std::to_string(i++) + "]";
    out.push_back(to_tensor(x, nullptr, what.c_str()));
  }
  return out;
}

std::vector<std::pair<double, double>> pair_list(nb::handle h, const char* argname) {
  std::vector<std::pair<double, double>> out;
  if (!nb::isinstance<nb::list>(h) && !nb::isinstance<nb::tuple>(h))
    throw TypeError(std::string(argname) + ": expected a list of pairs");
  size_t i = 0;
  for (nb::handle x : h) {
    nb::tuple t;
    if (nb::isinstance<nb::tuple>(x) || nb::isinstance<nb::list>(x)) t = nb::tuple(x);
    if (!t.is_valid() || t.size() != 2)
      throw ValueError(std::string(argname) + "[" + std::to_string(i) + "]: expected a pair, got " +
                       nb::cast<std::string>(nb::repr(x)));
    out.push_back({nb::cast<double>(t[0]), nb::cast<double>(t[1])});
    ++i;
  }
  return out;
}

Tensor tensor_arg(nb::handle h, const char* what) {
  if (!nb::isinstance<Tensor>(h))
    throw TypeError(std::string(what) + ": expected a splatcore Tensor, got " +
                    nb::cast<std::string>(nb::repr(h.type())));
  return nb::cast<Tensor>(h);
}

// The seven optimised parameters, as loss() and residual_stats() take them.
struct AlignParams {
  Tensor log_depth, quat, trans, log_focal, pw_quat, pw_trans, pw_log_scale;
};

AlignParams align_params(nb::handle ld, nb::handle q, nb::handle t, nb::handle lf, nb::handle pq,
                         nb::handle pt, nb::handle ps) {
  return {tensor_arg(ld, "log_depth"), tensor_arg(q, "quat"), tensor_arg(t, "trans"),
          tensor_arg(lf, "log_focal"), tensor_arg(pq, "pw_quat"), tensor_arg(pt, "pw_trans"),
          tensor_arg(ps, "pw_log_scale")};
}

Tensor opt_tensor(nb::handle h, const char* what) {
  return h.is_none() ? Tensor() : to_tensor(h, nullptr, what);
}

}  // namespace

void bind_align(nb::module_& m) {
  nb::class_<AlignProblem>(m, "_align_Problem",
                           "Packed pairwise pointmaps of a global alignment and its fused loss "
                           "(see splatcore.align).")
      .def("__init__",
           [](AlignProblem* self, nb::handle image_shapes, nb::handle principal_points,
              nb::handle focal_range, nb::handle edges, nb::handle pts1, nb::handle conf1,
              nb::handle pts2, nb::handle conf2, int64_t stride, const std::string& dtype,
              const std::string& conf_mode, double base_scale, double focal_break) {
             auto shapes = pair_list(image_shapes, "image_shapes");
             auto pp = pair_list(principal_points, "principal_points");
             auto fr = pair_list(focal_range, "focal_range");
             if (pp.size() != shapes.size() || fr.size() != shapes.size())
               throw ValueError("principal_points and focal_range: expected one entry per image (" +
                                std::to_string(shapes.size()) + ")");
             std::vector<AlignImageSpec> images(shapes.size());
             for (size_t k = 0; k < shapes.size(); ++k) {
               images[k].H = (int64_t)shapes[k].first, images[k].W = (int64_t)shapes[k].second;
               images[k].cx = pp[k].first, images[k].cy = pp[k].second;
               images[k].fmin = fr[k].first, images[k].fmax = fr[k].second;
             }
             std::vector<std::pair<int64_t, int64_t>> ed;
             for (auto& e : pair_list(edges, "pairs")) ed.push_back({(int64_t)e.first, (int64_t)e.second});
             auto p1 = tensor_list(pts1, "pts1"), c1 = tensor_list(conf1, "conf1");
             auto p2 = tensor_list(pts2, "pts2"), c2 = tensor_list(conf2, "conf2");
             AlignOptions opt;
             opt.stride = stride;
             opt.conf_mode = align_conf_mode(conf_mode);
             opt.base_scale = base_scale;
             opt.focal_break = focal_break;
             DType dt = dtype_from_name(dtype);
             nb::gil_scoped_release nogil;
             new (self) AlignProblem(dt, std::move(images), std::move(ed), p1, c1, p2, c2, opt);
           },
           nb::arg("image_shapes"), nb::arg("principal_points"), nb::arg("focal_range"),
           nb::arg("pairs"), nb::arg("pts1"), nb::arg("conf1"), nb::arg("pts2"), nb::arg("conf2"),
           nb::arg("stride") = 1, nb::arg("dtype") = "float32", nb::arg("conf_mode") = "log",
           nb::arg("base_scale") = 0.5, nb::arg("focal_break") = 20.0)
      .def_prop_ro("n_images", &AlignProblem::n_images)
      .def_prop_ro("n_edges", &AlignProblem::n_edges)
      .def_prop_ro("n_pixels", &AlignProblem::n_pixels)
      .def_prop_ro("sample_offset", &AlignProblem::sample_offset)
      .def_prop_ro("stride", [](const AlignProblem& p) { return p.options().stride; })
      .def_prop_ro("base_scale", [](const AlignProblem& p) { return p.options().base_scale; })
      .def_prop_ro("focal_break", [](const AlignProblem& p) { return p.options().focal_break; })
      .def_prop_ro("dtype", [](const AlignProblem& p) { return std::string(dtype_name(p.dtype())); })
      .def_prop_ro("areas", [](const AlignProblem& p) { return std::make_pair(p.area1(), p.area2()); })
      .def("grid", [](const AlignProblem& p, int64_t k) {
        if (k < 0 || k >= p.n_images()) throw IndexError("image index out of range");
        return p.grid(k);
      }, nb::arg("image"))
      .def("pixel_offset", [](const AlignProblem& p, int64_t k) {
        if (k < 0 || k >= p.n_images()) throw IndexError("image index out of range");
        return p.pixel_offset(k);
      }, nb::arg("image"))
      .def("loss",
           [](const AlignProblem& p, nb::handle ld, nb::handle q, nb::handle t, nb::handle lf,
              nb::handle pq, nb::handle pt, nb::handle ps) {
             AlignParams a = align_params(ld, q, t, lf, pq, pt, ps);
             nb::gil_scoped_release nogil;
             return p.loss(a.log_depth, a.quat, a.trans, a.log_focal, a.pw_quat, a.pw_trans,
                           a.pw_log_scale);
           },
           nb::arg("log_depth"), nb::arg("quat"), nb::arg("trans"), nb::arg("log_focal"),
           nb::arg("pw_quat"), nb::arg("pw_trans"), nb::arg("pw_log_scale"),
           "The alignment loss (0-d Tensor, differentiable w.r.t. all seven parameters).")
      .def("residual_stats",
           [](const AlignProblem& p, nb::handle ld, nb::handle q, nb::handle t, nb::handle lf,
              nb::handle pq, nb::handle pt, nb::handle ps) {
             AlignParams a = align_params(ld, q, t, lf, pq, pt, ps);
             Tensor out;
             {
               nb::gil_scoped_release nogil;
               out = p.residual_stats(a.log_depth, a.quat, a.trans, a.log_focal, a.pw_quat,
                                      a.pw_trans, a.pw_log_scale);
             }
             return to_numpy(out);
           },
           nb::arg("log_depth"), nb::arg("quat"), nb::arg("trans"), nb::arg("log_focal"),
           nb::arg("pw_quat"), nb::arg("pw_trans"), nb::arg("pw_log_scale"),
           "(E, 2, 4) float64 per pair and view: sum w|r|, sum w, sum |r| and count over w > 0.");

  m.def(
      "_align_weighted_moments",
      [](nb::handle src, nb::handle dst, nb::handle weights) {
        Tensor s = to_tensor(src, nullptr, "src"), d = to_tensor(dst, nullptr, "dst");
        Tensor w = opt_tensor(weights, "weights");
        std::vector<double> r;
        {
          nb::gil_scoped_release nogil;
          r = align_weighted_moments(s, d, w);
        }
        Tensor out = Tensor::empty({(int64_t)r.size()}, DType::Float64);
        std::memcpy(out.raw(), r.data(), r.size() * sizeof(double));
        return to_numpy(out);
      },
      nb::arg("src"), nb::arg("dst"), nb::arg("weights").none() = nb::none(),
      "[sum w, mean src (3), mean dst (3), sum w (dst-md)(src-ms)^T (9, row-major), "
      "sum w |src-ms|^2] in float64; non-finite points and w <= 0 are skipped.");
  m.def(
      "_align_estimate_focal",
      [](nb::handle pts, nb::handle weights, double cx, double cy, int iters, double fmin,
         double fmax) {
        Tensor p = to_tensor(pts, nullptr, "pts3d"), w = opt_tensor(weights, "weights");
        nb::gil_scoped_release nogil;
        return align_estimate_focal(p, w, cx, cy, iters, fmin, fmax);
      },
      nb::arg("pts3d"), nb::arg("weights").none() = nb::none(), nb::arg("cx"), nb::arg("cy"),
      nb::arg("iters") = 10, nb::arg("fmin") = 0.0, nb::arg("fmax") = 1e300,
      "Weiszfeld focal fit of an (H, W, 3) camera-frame pointmap (pixel centres at u + 0.5).");
  m.def(
      "_align_dense_depth",
      [](nb::handle pts, nb::handle conf, nb::handle A, nb::handle b, nb::handle R, nb::handle T,
         double focal, double cx, double cy, nb::handle init, int iters,
         const std::string& conf_mode) {
        auto P = tensor_list(pts, "pts3d"), C = tensor_list(conf, "conf");
        Tensor ta = to_tensor(A, nullptr, "A"), tb = to_tensor(b, nullptr, "b"),
               tr = to_tensor(R, nullptr, "R"), tt = to_tensor(T, nullptr, "T"),
               ti = to_tensor(init, nullptr, "init");
        const int mode = align_conf_mode(conf_mode);
        std::pair<Tensor, Tensor> r;
        {
          nb::gil_scoped_release nogil;
          r = align_dense_depth(P, C, ta, tb, tr, tt, focal, cx, cy, ti, iters, mode);
        }
        return nb::make_tuple(to_numpy(r.first), to_numpy(r.second));
      },
      nb::arg("pts3d"), nb::arg("conf"), nb::arg("A"), nb::arg("b"), nb::arg("R"), nb::arg("T"),
      nb::arg("focal"), nb::arg("cx"), nb::arg("cy"), nb::arg("init"), nb::arg("iters") = 8,
      nb::arg("conf_mode") = "log",
      "Robust full-resolution depth (H, W) of one image and its total weight, given the "
      "similarities (A, b) of its views and its camera (R, T, focal, cx, cy).");
}

}  // namespace sc
