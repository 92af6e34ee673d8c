#include "splat/knn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/convert.h"
#include "core/thread_pool.h"

namespace sc {

Tensor knn_mean_distance(const Tensor& points, int64_t k) {
  if (points.ndim() != 2 || points.shape()[1] != 3)
    throw ValueError("knn_mean_distance: points must have shape (N, 3), got " + shape_str(points.shape()));
  if (k < 1) throw ValueError("knn_mean_distance: k must be >= 1, got " + std::to_string(k));
  int64_t n = points.shape()[0];
  Tensor pd = points.detach().to(DType::Float64).contiguous();
  const double* p = pd.data<double>();
  for (int64_t i = 0; i < 3 * n; ++i)
    if (!std::isfinite(p[i])) throw ValueError("knn_mean_distance: points contain NaN or infinite values");
  Tensor out = Tensor::zeros({n}, DType::Float64);
  double* o = out.data<double>();
  int64_t kk = std::min<int64_t>(k, n - 1);
  if (n == 0 || kk == 0) return out.to(is_floating(points.dtype()) ? points.dtype() : DType::Float32);

  // Grid with about 2 points per cell.
  double lo[3], hi[3];
  for (int d = 0; d < 3; ++d) {
    lo[d] = hi[d] = p[d];
    for (int64_t i = 0; i < n; ++i) {
      lo[d] = std::min(lo[d], p[3 * i + d]);
      hi[d] = std::max(hi[d], p[3 * i + d]);
    }
  }
  double extent = std::max({hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1e-12});
  double cell = extent / std::max(1.0, std::cbrt((double)n / 2.0));
  int64_t dims[3];
  for (int d = 0; d < 3; ++d) dims[d] = std::min<int64_t>(1024, (int64_t)((hi[d] - lo[d]) / cell) + 1);
  auto cell_of = [&](const double* q, int d) {
    return std::min<int64_t>(dims[d] - 1, std::max<int64_t>(0, (int64_t)((q[d] - lo[d]) / cell)));
  };
  int64_t ncell = dims[0] * dims[1] * dims[2];
  std::vector<int64_t> start(ncell + 1, 0), idx(n);
  std::vector<int64_t> cid(n);
  for (int64_t i = 0; i < n; ++i) {
    cid[i] = (cell_of(p + 3 * i, 2) * dims[1] + cell_of(p + 3 * i, 1)) * dims[0] + cell_of(p + 3 * i, 0);
    start[cid[i] + 1]++;
  }
  for (int64_t c = 0; c < ncell; ++c) start[c + 1] += start[c];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) idx[fill[cid[i]]++] = i;
  }
  parallel_for(n, 256, [&](int64_t b, int64_t e) {
    std::vector<double> best;  // max-heap of the k smallest squared distances
    for (int64_t i = b; i < e; ++i) {
      const double* q = p + 3 * i;
      int64_t c[3] = {cell_of(q, 0), cell_of(q, 1), cell_of(q, 2)};
      best.clear();
      for (int64_t r = 0;; ++r) {
        // visit the shell of cells at Chebyshev distance r
        for (int64_t z = c[2] - r; z <= c[2] + r; ++z) {
          if (z < 0 || z >= dims[2]) continue;
          for (int64_t y = c[1] - r; y <= c[1] + r; ++y) {
            if (y < 0 || y >= dims[1]) continue;
            for (int64_t x = c[0] - r; x <= c[0] + r; ++x) {
              if (x < 0 || x >= dims[0]) continue;
              if (std::max({std::llabs(x - c[0]), std::llabs(y - c[1]), std::llabs(z - c[2])}) != r) continue;
              int64_t cc = (z * dims[1] + y) * dims[0] + x;
              for (int64_t s = start[cc]; s < start[cc + 1]; ++s) {
                int64_t j = idx[s];
                if (j == i) continue;
                double dx = p[3 * j] - q[0], dy = p[3 * j + 1] - q[1], dz = p[3 * j + 2] - q[2];
                double d2 = dx * dx + dy * dy + dz * dz;
                if ((int64_t)best.size() < kk) {
                  best.push_back(d2);
                  std::push_heap(best.begin(), best.end());
                } else if (d2 < best.front()) {
                  std::pop_heap(best.begin(), best.end());
                  best.back() = d2;
                  std::push_heap(best.begin(), best.end());
                }
              }
            }
          }
        }
        // every unvisited point is at least r * cell away
        bool grid_done = r > std::max({dims[0], dims[1], dims[2]});
        if (grid_done || ((int64_t)best.size() == kk && best.front() <= (r * cell) * (r * cell))) break;
      }
      double s = 0;
      for (double d2 : best) s += std::sqrt(d2);
      o[i] = s / (double)best.size();
    }
  });
  return out.to(is_floating(points.dtype()) ? points.dtype() : DType::Float32);
}

}  // namespace sc
