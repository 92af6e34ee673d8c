// Nearest-neighbour distances for initialising Gaussian scales.
#pragma once
#include "core/tensor.h"

namespace sc {

// For each of the N points (N,3), the mean Euclidean distance to its k nearest
// other points (uniform grid search, exact). Returns (N,) in the input dtype.
Tensor knn_mean_distance(const Tensor& points, int64_t k);

}  // namespace sc
