// Global alignment of pairwise pointmaps (DUSt3R's dense point-cloud
// optimisation): the fused loss + gradient pass and the O(pixels) helpers the
// Python driver (python/splatcore/align/) needs for initialisation and for the
// dense output. Per-pixel math: kernels/align.h.
//
// AlignProblem packs the pairwise predictions once (sub-sampled by `stride`
// per axis, weights = conf transform) and then evaluates
//   L = sum_e [ sum_{p in view1} w |X_i(p) - Z_e(y)| / A1 + sum_{p in view2} w |X_j(p) - Z_e(y)| / A2 ]
// (A1, A2: the number of view-1 / view-2 pixels over all edges, as DUSt3R's
// total_area_i / total_area_j) together with its gradient w.r.t. all the
// parameters in one multithreaded pass, registered with the autograd through
// record_op so that loss.backward() fills the parameters' .grad.
//
// Parameters (all contiguous, the problem's dtype):
//   log_depth (P,)   log-depth of every sampled pixel, images one after another
//   quat (n,4)       camera-to-world rotation of each image, w x y z (any norm)
//   trans (n,3)      camera-to-world translation through signed_expm1
//   log_focal (n,)   f = exp(log_focal / focal_break), clamped to [fmin, fmax]
//   pw_quat (E,4), pw_trans (E,3) (signed_expm1), pw_log_scale (E,)
//   s_e = base_scale * exp(pw_log_scale_e - mean(pw_log_scale))  (norm_pw_scale)
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {

namespace gpu {
struct AlignTables;
}

struct AlignImageSpec {
  int64_t H = 0, W = 0;          // full resolution of the pointmaps
  double cx = 0.0, cy = 0.0;     // principal point (pixel centres at u + 0.5)
  double fmin = 0.0, fmax = 0.0;  // focal clamp
};

struct AlignOptions {
  int64_t stride = 1;           // pixel sub-sampling per axis for the optimisation
  int conf_mode = 0;            // 0 log, 1 sqrt, 2 m1, 3 id (kernels/align.h)
  double base_scale = 0.5;      // DUSt3R's base_scale for norm_pw_scale
  double focal_break = 20.0;    // DUSt3R's focal_break
};

int align_conf_mode(const std::string& name);  // ValueError for unknown names

class AlignProblem {
 public:
  // views: for edge e, view1 = (pts (H_i,W_i,3), conf (H_i,W_i)) of image i and
  // view2 = (pts (H_j,W_j,3), conf (H_j,W_j)) of image j, both in camera i's frame.
  AlignProblem(DType dtype, std::vector<AlignImageSpec> images,
               std::vector<std::pair<int64_t, int64_t>> edges, const std::vector<Tensor>& pts1,
               const std::vector<Tensor>& conf1, const std::vector<Tensor>& pts2,
               const std::vector<Tensor>& conf2, AlignOptions opt);

  int64_t n_images() const { return (int64_t)images_.size(); }
  int64_t n_edges() const { return (int64_t)edges_.size(); }
  int64_t n_pixels() const { return n_pixels_; }
  DType dtype() const { return dtype_; }
  const AlignOptions& options() const { return opt_; }
  int64_t sample_offset() const { return (opt_.stride - 1) / 2; }
  // Sampled grid of image k: rows v = off + stride * a (a < h), columns likewise.
  std::pair<int64_t, int64_t> grid(int64_t k) const { return {gh_[k], gw_[k]}; }
  int64_t pixel_offset(int64_t k) const { return px_off_[k]; }
  double area1() const { return area1_; }
  double area2() const { return area2_; }

  // The loss (0-d tensor); differentiable w.r.t. every parameter that requires grad.
  // Parameters on a GPU device: computed there (gpu/kernels/align.h), the loss
  // and the gradients on that device, nothing read back.
  Tensor loss(const Tensor& log_depth, const Tensor& quat, const Tensor& trans,
              const Tensor& log_focal, const Tensor& pw_quat, const Tensor& pw_trans,
              const Tensor& pw_log_scale) const;

  // Per edge and view (E, 2, 4) float64: sum w|r|, sum w, sum |r| over w > 0, count w > 0.
  Tensor residual_stats(const Tensor& log_depth, const Tensor& quat, const Tensor& trans,
                        const Tensor& log_focal, const Tensor& pw_quat, const Tensor& pw_trans,
                        const Tensor& pw_log_scale) const;

 private:
  struct Inc {
    int64_t edge;
    int slot;          // 0: the image is view 1 of the edge, 1: view 2
    int64_t data_off;  // element offset of its packed (y0, y1, y2, w) values
  };
  struct Item {
    int64_t image, row0, row1, acc_off;
  };

  template <typename T>
  void pack(const std::vector<Tensor>& pts1, const std::vector<Tensor>& conf1,
            const std::vector<Tensor>& pts2, const std::vector<Tensor>& conf2);
  void check_params(const Tensor* p) const;
  template <typename T>
  double run(const Tensor* p, bool need_grad, std::vector<Tensor>* grads, double* stats) const;
  Tensor loss_on_device(const Tensor* p, bool need_grad, std::vector<Tensor>* grads) const;
  std::shared_ptr<const gpu::AlignTables> device_tables(Device d) const;

  DType dtype_;
  AlignOptions opt_;
  std::vector<AlignImageSpec> images_;
  std::vector<std::pair<int64_t, int64_t>> edges_;
  std::vector<int64_t> gh_, gw_, px_off_;
  int64_t n_pixels_ = 0;
  double area1_ = 0.0, area2_ = 0.0;
  std::vector<std::vector<Inc>> inc_;  // per image
  std::vector<Item> items_;
  int64_t acc_size_ = 0;
  std::vector<float> data_f_;
  std::vector<double> data_d_;
  mutable std::mutex device_mu_;  // the problem uploaded once per device
  mutable std::map<std::string, std::shared_ptr<const gpu::AlignTables>> device_tables_;
};

// Weighted first and second moments for a similarity fit dst ~ s R src + t:
// returns [sum w, mean_src(3), mean_dst(3), cov(9) = sum w (dst - md)(src - ms)^T,
// var_src = sum w |src - ms|^2] as 17 doubles. Points with a non-finite
// coordinate or weight <= 0 are skipped. src, dst: (N, 3); w: (N,) or undefined.
std::vector<double> align_weighted_moments(const Tensor& src, const Tensor& dst, const Tensor& w);

// DUSt3R's estimate_focal_knowing_depth in 'weiszfeld' mode: the focal f that
// minimises sum w |(u + 0.5 - cx, v + 0.5 - cy) - f (x/z, y/z)| over the pixels of
// an (H, W, 3) camera-frame pointmap, started from the least-squares value and
// refined by `iters` reweighting steps; clamped to [fmin, fmax]. Points with
// z <= 0, non-finite values or weight <= 0 are skipped; returns NaN when none is left.
double align_estimate_focal(const Tensor& pts, const Tensor& weights, double cx, double cy,
                            int iters, double fmin, double fmax);

// Dense depth of one image at full resolution once poses are known: for each pixel
// the minimiser over d of sum_q w_q |R (d ray) + T - (A_q y_q + b_q)| (kernels/align.h
// sc_align_depth_irls_term, `iters` steps in float32), started from init (H, W). pts[q]: (H, W, 3), conf[q]: (H, W),
// A: (Q, 3, 3), b: (Q, 3). Pixels without weight keep init. Returns (H, W) float32
// depth and (H, W) float32 total weight.
std::pair<Tensor, Tensor> align_dense_depth(const std::vector<Tensor>& pts,
                                            const std::vector<Tensor>& conf, const Tensor& A,
                                            const Tensor& b, const Tensor& R, const Tensor& Tw,
                                            double f, double cx, double cy, const Tensor& init,
                                            int iters, int conf_mode);

}  // namespace sc
