// The rasterizer on a GPU device: state on the device, one autograd node.
#include "splat/rasterize_gpu.h"

#include <algorithm>
#include <memory>

#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "gpu/ops/raster.h"
#include "ops/ops.h"
#include "splat/raster_setup.h"

namespace sc::raster {

namespace {

constexpr double kAlphaMax = 0.99;  // as the CPU rasterizer (splat/rasterize.cpp)

template <typename T>
RasterizeResult rasterize_on_device(const Tensor& means, const Tensor& quats, const Tensor& scales,
                                    const Tensor& opacities, const Tensor& colors, const Tensor& colors_rest,
                                    const Tensor& viewmat, const Tensor& K, const Tensor& background,
                                    const RasterizeOptions& opt, bool raw) {
  const Device dev = means.device();
  const DType dt = dtype_of<T>::value;
  const int64_t n = means.shape()[0], H = opt.height, W = opt.width;
  Setup<T> setup = make_setup<T>(viewmat, K, background, colors, colors_rest, opt);
  auto S = std::make_shared<gpu::RasterDeviceState<T>>();
  gpu::RasterConfig& c = S->cfg;
  c.C = (int)setup.C;
  c.ncol = (int)setup.ncol;
  c.sh_degree = opt.sh_degree ? (int)*opt.sh_degree : -1;
  c.sh_k = (int)setup.sh_k;
  c.col_row = (int)(colors.numel() / std::max<int64_t>(n, 1));
  c.split = colors_rest.defined();
  c.has_depth = has_depth(opt.mode);
  c.antialiased = opt.antialiased;
  c.raw = raw;
  c.width = (int)W;
  c.height = (int)H;
  c.tile_size = (int)opt.tile_size;
  c.alpha_max = kAlphaMax;
  S->cam = setup.cam;
  std::copy(setup.Vinv, setup.Vinv + 16, S->Vinv);
  std::copy(setup.bg.begin(), setup.bg.end(), S->bg);
  S->n = n;
  S->means = means.detach().contiguous();
  S->quats = quats.detach().contiguous();
  S->scales = scales.detach().contiguous();
  S->opacities = opacities.detach().contiguous();
  S->colors = colors.detach().contiguous();
  if (colors_rest.defined()) S->colors_rest = colors_rest.detach().contiguous();
  Tensor image = Tensor::empty({H, W, setup.C}, dt, dev);
  Tensor alpha = Tensor::empty({H, W, 1}, dt, dev);
  gpu::raster_forward(*S, image, alpha);

  RasterizeResult res;
  res.n_isects = S->n_isects;
  res.radii = S->radii;
  res.depths = S->depth;
  res.means2d = S->mean2d.clone();  // a leaf of its own: .grad = dL/d(2D mean)
  res.means2d_absgrad = Tensor::zeros({n, 2}, dt, dev);
  if (grad_enabled()) {
    res.means2d.set_requires_grad(true);
    res.means2d_absgrad.set_requires_grad(true);
  }
  // the viewmat's and the background's gradients only where they are wanted (a
  // training step's camera and background take none: no (N, 16) rows, no sums)
  const bool bg_grad = background.defined() && setup.ncol > 0 && background.requires_grad();
  const bool view_grad = viewmat.requires_grad();
  const int64_t ncol = setup.ncol;
  const Device view_dev = viewmat.device(), bg_dev = background.defined() ? background.device() : Device{};
  std::vector<Tensor> outs{image, alpha};
  record_op("rasterize",
            {means, quats, scales, opacities, colors, colors_rest, viewmat, background, res.means2d,
             res.means2d_absgrad},
            outs, [S, bg_grad, view_grad, ncol, view_dev, bg_dev](const std::vector<Tensor>& g) -> std::vector<Tensor> {
              gpu::RasterGradients v = gpu::raster_backward(*S, g[0], g[1], view_grad);
              Tensor v_view;
              if (view_grad) v_view = sum(v.view_rows, {0}).reshape({4, 4}).to_device(view_dev);
              Tensor v_bg;  // d image / d bg = T_final on the colour channels
              if (bg_grad) v_bg = sum(S->trans * g[0].slice(-1, 0, ncol), {0, 1}).to_device(bg_dev);
              return {v.means, v.quats, v.scales, v.opacities, v.colors, v.colors_rest, v_view,
                      v_bg, v.mean2d, v.absgrad};
            });
  res.image = with_expected_depth(outs[0], outs[1], setup.C, opt.mode);
  res.alpha = outs[1];
  return res;
}

}  // namespace

RasterizeResult rasterize_gpu(const Tensor& means, const Tensor& quats, const Tensor& scales,
                              const Tensor& opacities, const Tensor& colors, const Tensor& colors_rest,
                              const Tensor& viewmat, const Tensor& K, const Tensor& background,
                              const RasterizeOptions& opt, bool raw) {
  if (means.dtype() == DType::Float32)
    return rasterize_on_device<float>(means, quats, scales, opacities, colors, colors_rest, viewmat, K,
                                      background, opt, raw);
  return rasterize_on_device<double>(means, quats, scales, opacities, colors, colors_rest, viewmat, K,
                                     background, opt, raw);
}

}  // namespace sc::raster
