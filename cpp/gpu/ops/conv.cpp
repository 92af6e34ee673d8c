// Host side of im2col / col2im (gpu/kernels/conv.h) and bilinear resampling (gpu/kernels/resample.h).
#include <string>

#include "gpu/kernels/conv_args.h"
#include "gpu/kernels/resample_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

static void run(const char* which, const Tensor& image, const Tensor& cols, const ConvShape& s, int64_t n,
                bool rows_grid = false) {
  Runtime& rt = runtime(image.device());
  const int64_t P = s.Ho * s.Wo, rows = s.C * s.kh * s.kw;  // G K = C kh kw
  const bool small = rows_grid && rows <= 65535 && cols.numel() < (int64_t(1) << 31) &&
                     image.numel() < (int64_t(1) << 31);
  SC_DISPATCH_FLOAT(image.dtype(), "GPU conv", {
    using T = scalar_t;
    ScIm2colArgs<T> a;
    a.image = gpu_ptr<T>(image);
    a.cols = gpu_ptr<T>(cols);
    a.C = s.C, a.H = s.H, a.W = s.W, a.G = s.G, a.kh = s.kh, a.kw = s.kw, a.Ho = s.Ho, a.Wo = s.Wo;
    a.sh = s.sh, a.sw = s.sw, a.ph = s.ph, a.pw = s.pw, a.dh = s.dh, a.dw = s.dw;
    a.oh0 = s.oh0;
    a.small = small;
    a.relu_in = s.relu_in;
    LaunchDims d = groups_for(small ? (P + 3) / 4 : n);  // 4: SC_IM2COL_PIXELS of gpu/kernels/conv.h
    if (small) d.grid.y = (uint32_t)rows;
    launch(rt, typed_kernel(which, image.dtype()), d, a,
           {image.storage().get(), cols.storage().get()});
  });
}

void im2col(const Tensor& image, const Tensor& cols, const ConvShape& s) {
  run("im2col", image, cols, s, cols.numel(), true);
}

void col2im(const Tensor& cols, const Tensor& image, const ConvShape& s) {
  run("col2im", image, cols, s, image.numel());
}

void bilinear(bool backward, const Tensor& src, const Tensor& dst, int64_t planes, int64_t H, int64_t W,
              int64_t Ho, int64_t Wo, bool align_corners) {
  if (planes * Ho * Wo == 0) return;
  Runtime& rt = runtime(src.device());
  SC_DISPATCH_FLOAT(src.dtype(), "GPU upsample_bilinear", {
    using T = scalar_t;
    ScBilinearArgs<T> a;
    a.src = gpu_ptr<T>(src);
    a.dst = gpu_ptr<T>(dst);
    a.planes = planes;
    a.H = (int)H, a.W = (int)W, a.Ho = (int)Ho, a.Wo = (int)Wo, a.align_corners = align_corners;
    launch(rt, typed_kernel(backward ? "bilinear_backward" : "bilinear_forward", src.dtype()),
           groups_for(planes * Ho * Wo), a, {src.storage().get(), dst.storage().get()});
  });
}

}  // namespace sc::gpu
