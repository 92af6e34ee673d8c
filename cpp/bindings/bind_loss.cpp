// splatcore._core.ssim, l1_loss, psnr, gs_loss (wrapped by splatcore.loss).
#include "bindings/bindings.h"
#include "splat/ssim.h"

namespace sc {

namespace {

// Both images as Tensors (NumPy arrays import zero-copy); the second converts
// alongside the first so a Python scalar would take its dtype.
std::pair<Tensor, Tensor> image_pair(nb::handle a, nb::handle b, const char* na, const char* nb_) {
  Tensor ta = to_tensor(a, nullptr, na);
  Tensor tb = to_tensor(b, &ta, nb_);
  return {ta, tb};
}

}  // namespace

void bind_loss(nb::module_& m) {
  m.def(
      "ssim",
      [](nb::handle img1, nb::handle img2) {
        auto [a, b] = image_pair(img1, img2, "img1", "img2");
        Tensor out;
        {
          nb::gil_scoped_release nogil;
          out = ssim(a, b);
        }
        return out;
      },
      nb::arg("img1"), nb::arg("img2"),
      "Mean SSIM of two (H, W, C) or (B, H, W, C) float images (3DGS: 11x11 Gaussian window, "
      "sigma 1.5, zero padding); a differentiable 0-d Tensor.");
  m.def(
      "l1_loss",
      [](nb::handle img1, nb::handle img2) {
        auto [a, b] = image_pair(img1, img2, "img1", "img2");
        return l1_loss(a, b);
      },
      nb::arg("img1"), nb::arg("img2"), "Mean absolute error (differentiable 0-d Tensor).");
  m.def(
      "psnr",
      [](nb::handle img1, nb::handle img2) {
        auto [a, b] = image_pair(img1, img2, "img1", "img2");
        return psnr(a, b);
      },
      nb::arg("img1"), nb::arg("img2"),
      "-10 log10(MSE) for images in [0, 1] (forward only): 0-d for (H, W, C), (B,) for "
      "(B, H, W, C).");
  m.def(
      "gs_loss",
      [](nb::handle render, nb::handle target, double lambda_ssim) {
        auto [a, b] = image_pair(render, target, "render", "target");
        Tensor out;
        {
          nb::gil_scoped_release nogil;
          out = gs_loss(a, b, lambda_ssim);
        }
        return out;
      },
      nb::arg("render"), nb::arg("target"), nb::arg("lambda_ssim") = 0.2,
      "(1 - lambda) L1 + lambda (1 - SSIM), the 3DGS training loss (differentiable 0-d Tensor).");
}

}  // namespace sc
