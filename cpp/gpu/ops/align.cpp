// Host side of the global-alignment kernels (gpu/kernels/align.h).
#include "gpu/ops/align.h"

#include "gpu/kernels/align_args.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

namespace {

template <typename T>
Tensor run(const AlignTables& tb, const Tensor* p, const AlignScalars& s, std::vector<Tensor>* grads) {
  const Device dev = p[0].device();
  Runtime& rt = runtime(dev);
  const DType dt = dtype_of<T>::value;
  ScAlignArgs<T> a{};
  a.log_depth = gpu_ptr<const T>(p[0]);
  a.quat = gpu_ptr<const T>(p[1]);
  a.trans = gpu_ptr<const T>(p[2]);
  a.log_focal = gpu_ptr<const T>(p[3]);
  a.pw_quat = gpu_ptr<const T>(p[4]);
  a.pw_trans = gpu_ptr<const T>(p[5]);
  a.pw_log_scale = gpu_ptr<const T>(p[6]);
  a.data = gpu_ptr<const T>(tb.data);
  a.image_f = gpu_ptr<const T>(tb.image_f);
  a.image_i = gpu_ptr<const long long>(tb.image_i);
  a.inc = gpu_ptr<const long long>(tb.inc);
  a.item = gpu_ptr<const long long>(tb.item);
  a.edge_inc = gpu_ptr<const long long>(tb.edge_inc);
  Tensor cams = Tensor::empty({tb.n, SC_ALIGN_CAM}, dt, dev), edges = Tensor::empty({tb.E, SC_ALIGN_EDGE}, dt, dev);
  Tensor partials = Tensor::empty({tb.partials}, dt, dev);
  Tensor image_sums = Tensor::empty({tb.n, SC_ALIGN_IMG_ACC}, dt, dev);
  Tensor edge_sums = Tensor::empty({tb.E, SC_ALIGN_INC_ACC}, dt, dev);
  Tensor loss = Tensor::empty({1}, dt, dev);
  a.cams = gpu_ptr<T>(cams);
  a.edges = gpu_ptr<T>(edges);
  a.partials = gpu_ptr<T>(partials);
  a.image_sums = gpu_ptr<T>(image_sums);
  a.edge_sums = gpu_ptr<T>(edge_sums);
  a.loss = gpu_ptr<T>(loss);
  const bool need_grad = grads != nullptr;
  if (need_grad) {
    grads->clear();
    for (int k = 0; k < 7; ++k) grads->push_back(Tensor::empty(p[k].shape(), dt, dev));
    std::vector<Tensor>& g = *grads;
    a.g_log_depth = gpu_ptr<T>(g[0]);
    a.g_quat = gpu_ptr<T>(g[1]);
    a.g_trans = gpu_ptr<T>(g[2]);
    a.g_log_focal = gpu_ptr<T>(g[3]);
    a.g_pw_quat = gpu_ptr<T>(g[4]);
    a.g_pw_trans = gpu_ptr<T>(g[5]);
    a.g_pw_log_scale = gpu_ptr<T>(g[6]);
  }
  a.n = tb.n, a.E = tb.E, a.items = tb.items;
  a.stride = s.stride, a.offset = s.offset, a.need_grad = need_grad;
  a.inv_area1 = (T)s.inv_area1, a.inv_area2 = (T)s.inv_area2, a.base_scale = (T)s.base_scale;
  a.focal_break = (T)s.focal_break, a.eps = (T)s.eps, a.quat_eps = (T)s.quat_eps;
  LaunchDims one;
  one.group.x = SC_ALIGN_GROUP;
  launch(rt, typed_kernel("align_setup", dt), one, a,
         {buffer_of(p[1]), buffer_of(p[2]), buffer_of(p[3]), buffer_of(p[4]), buffer_of(p[5]), buffer_of(p[6]), buffer_of(tb.image_f), buffer_of(cams), buffer_of(edges)});
  LaunchDims items;
  items.group.x = SC_ALIGN_GROUP;
  items.grid.x = (uint32_t)tb.items;
  launch(rt, typed_kernel("align_pixels", dt), items, a,
         {buffer_of(p[0]), buffer_of(tb.data), buffer_of(tb.image_f), buffer_of(tb.image_i), buffer_of(tb.inc), buffer_of(tb.item), buffer_of(cams), buffer_of(edges),
          buffer_of(partials), need_grad ? buffer_of((*grads)[0]) : nullptr});
  const int64_t sums = need_grad ? 1 + tb.n * SC_ALIGN_IMG_ACC + tb.E * SC_ALIGN_INC_ACC : 1;  // 1: the loss
  launch(rt, typed_kernel("align_reduce", dt), groups_for(sums), a,
         {buffer_of(tb.image_i), buffer_of(tb.item), buffer_of(tb.edge_inc), buffer_of(partials), buffer_of(image_sums), buffer_of(edge_sums), buffer_of(loss)});
  if (need_grad) {
    const std::vector<Tensor>& g = *grads;
    launch(rt, typed_kernel("align_finish", dt), one, a,
           {buffer_of(p[1]), buffer_of(p[2]), buffer_of(p[4]), buffer_of(p[5]), buffer_of(cams), buffer_of(edges), buffer_of(image_sums), buffer_of(edge_sums), buffer_of(g[1]),
            buffer_of(g[2]), buffer_of(g[3]), buffer_of(g[4]), buffer_of(g[5]), buffer_of(g[6])});
  }
  return loss;
}

}  // namespace

Tensor align_loss(const AlignTables& t, const Tensor* params, const AlignScalars& s, std::vector<Tensor>* grads) {
  if (params[0].dtype() == DType::Float32) return run<float>(t, params, s, grads);
  return run<double>(t, params, s, grads);
}

}  // namespace sc::gpu
