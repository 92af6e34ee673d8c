// Indexing, joining and scanning ops (ops/index.cpp, ops/join.cpp).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace sc {

// out[..., i, ...] = x[..., index[i], ...] along `axis`; index int32/int64 1-D.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// torch.gather semantics: out[i][j] = x[index[i][j]][j] for axis 0, etc.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// Returns a copy of x with src added at index along axis (torch.scatter_add).
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src);
// x[mask] for a bool mask broadcastable to x -> 1-D (mask of x's full shape) or
// rows (mask over leading axes).
Tensor masked_select(const Tensor& x, const Tensor& mask);
// Indices (int64, shape (n,)) where a 1-D bool tensor is true.
Tensor nonzero_1d(const Tensor& mask);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t axis = 0);
Tensor cumsum(const Tensor& x, int64_t axis);
// `part` placed at the origin of zeros of `shape` (each of its dims <= shape's),
// on part's device: scatter_add's gradient for a src larger than the index.
Tensor embed_in_zeros(const Tensor& part, const Shape& shape);

}  // namespace sc
