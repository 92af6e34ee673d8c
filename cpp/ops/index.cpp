// Indexing along one axis: index_select, gather, scatter_add, masked_select,
// nonzero_1d, with their backward.
//
// All three indexed ops share one loop. The iteration shape `it` (the index's
// shape, or the output's for index_select) is split at `axis` into
// (outer, K, inner); every operand is addressed through per-part offset tables
// built from its own strides, so inputs of any layout are read in place.
//   gather : dst[o, j, i]      = src[o, idx(o,j,i), i]
//   scatter: dst[o, idx(o,j,i), i] += src[o, j, i]
// Work is split over (o, block of i); the K loop stays inside a task, so two
// tasks never write the same dst element (no races with repeated indices).
#include <algorithm>
#include <cstring>
#include <memory>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "ops/index_gpu.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

// Validated, non-negative indices, shared with the backward closures.
using IndexVec = std::shared_ptr<const std::vector<int64_t>>;

// Copies `index` (any integer dtype, any layout) into int64, wrapping negative
// values and checking every value against `n` before anything is indexed.
IndexVec read_index(const Tensor& index, int64_t n, int64_t axis, const char* op) {
  DType dt = index.dtype();
  if (dt == DType::Bool || is_floating(dt))
    throw TypeError(std::string(op) + ": index must be an integer tensor (int32 or int64), got " +
                    dtype_name(dt) + (dt == DType::Bool ? " (use masked_select for bool masks)" : ""));
  Tensor ic = index.detach().contiguous();
  const int64_t m = ic.numel();
  auto out = std::make_shared<std::vector<int64_t>>(m);
  int64_t* dst = out->data();
  auto fail = [&](int64_t v) {
    throw IndexError(std::string(op) + ": index " + std::to_string(v) + " is out of bounds for axis " +
                     std::to_string(axis) + " with size " + std::to_string(n));
  };
  SC_DISPATCH_NUMERIC(dt, op, {
    if constexpr (std::is_integral_v<scalar_t>) {
      const scalar_t* src = ic.data<scalar_t>();
      parallel_for(m, 1 << 16, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          int64_t v = (int64_t)src[k];
          if (v < -n || v >= n) fail(v);
          dst[k] = v < 0 ? v + n : v;
        }
      });
    }
  });
  return out;
}

// Offsets (in elements) of every multi-index over dims [d0, d1) of `it`, in
// row-major order, for a tensor with `strides`.
std::vector<int64_t> part_offsets(const Shape& it, const Shape& strides, int64_t d0, int64_t d1) {
  int64_t n = 1;
  for (int64_t d = d0; d < d1; ++d) n *= it[d];
  std::vector<int64_t> off((size_t)std::max<int64_t>(n, 0));
  if (n <= 0) return off;
  std::vector<int64_t> ctr(d1 - d0, 0);
  int64_t cur = 0;
  for (int64_t k = 0; k < n; ++k) {
    off[k] = cur;
    // increment the multi-index, innermost first
    for (int64_t d = d1 - 1; d >= d0; --d) {
      int64_t& c = ctr[d - d0];
      if (++c < it[d]) {
        cur += strides[d];
        break;
      }
      cur -= (c - 1) * strides[d];
      c = 0;
    }
  }
  return off;
}

struct AxisLoop {
  int64_t outer = 1, K = 0, inner = 1;
  std::vector<int64_t> dst_o, dst_i, src_o, src_i;
  int64_t dst_sa = 0, src_sa = 0;   // strides along the axis
  int64_t n_target = 0;             // size of the indexed axis (scatter: dst's)
  bool contig_inner = false;        // dst_i[i] == src_i[i] == i
  const int64_t* idx = nullptr;
  int64_t idx_so = 0, idx_sj = 0, idx_si = 0;  // index strides over (o, j, i)
};

// `along_only`: a 1-D index of length K applied to every (o, i) (index_select);
// otherwise a contiguous index of shape `it`.
AxisLoop make_loop(const Tensor& dst, const Tensor& src, int64_t axis, const Shape& it,
                   const std::vector<int64_t>& idx, bool along_only) {
  AxisLoop L;
  const int64_t nd = (int64_t)it.size();
  for (int64_t d = 0; d < axis; ++d) L.outer *= it[d];
  L.K = it[axis];
  for (int64_t d = axis + 1; d < nd; ++d) L.inner *= it[d];
  L.dst_o = part_offsets(it, dst.strides(), 0, axis);
  L.src_o = part_offsets(it, src.strides(), 0, axis);
  L.dst_i = part_offsets(it, dst.strides(), axis + 1, nd);
  L.src_i = part_offsets(it, src.strides(), axis + 1, nd);
  L.dst_sa = dst.strides()[axis];
  L.n_target = dst.shape()[axis];
  L.src_sa = src.strides()[axis];
  L.contig_inner = true;
  for (int64_t i = 0; i < L.inner; ++i)
    if (L.dst_i[i] != i || L.src_i[i] != i) {
      L.contig_inner = false;
      break;
    }
  L.idx = idx.data();
  if (along_only) {
    L.idx_sj = 1;
  } else {
    L.idx_si = 1;
    L.idx_sj = L.inner;
    L.idx_so = L.K * L.inner;
  }
  return L;
}

template <bool kScatter, typename T>
void axis_kernel(T* dst, const T* src, const AxisLoop& L) {
  const int64_t CH = 1024;
  const int64_t inner = L.inner, K = L.K;
  if (L.outer == 0 || K == 0 || inner == 0) return;
  const int64_t nch = (inner + CH - 1) / CH;
  const int64_t w = std::min(inner, CH);
  // Few (o, i-block) tasks and a long axis: split each task S ways. Gather
  // splits the j range (each j writes its own dst slot); scatter splits the
  // target range [0, n_target) and every part scans all j, applying only the
  // updates that land in its range, so no two tasks touch one dst element.
  const int64_t base = L.outer * nch, want = 4 * (int64_t)num_threads();
  int64_t S = 1;
  if (base < want && K * w >= 16384) {
    S = (want + base - 1) / base;
    if (kScatter) S = std::min<int64_t>({S, (int64_t)num_threads(), L.n_target});
    else S = std::min<int64_t>(S, (K + 255) / 256);
    S = std::max<int64_t>(S, 1);
  }
  const int64_t jb = kScatter ? K : (K + S - 1) / S;  // j block (gather)
  const int64_t per_task = (kScatter ? K : jb) * w;
  parallel_for(base * S, std::max<int64_t>(1, 32768 / std::max<int64_t>(per_task, 1)),
               [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t p = t % S, c = (t / S) % nch, o = t / (S * nch);
      const int64_t i0 = c * CH, i1 = std::min(inner, i0 + CH);
      const int64_t j0 = kScatter ? 0 : std::min(K, p * jb), j1 = kScatter ? K : std::min(K, j0 + jb);
      // scatter: target range of this part
      const int64_t lo = kScatter ? L.n_target * p / S : 0;
      const int64_t hi = kScatter ? L.n_target * (p + 1) / S : 0;
      T* d0 = dst + L.dst_o[o];
      const T* s0 = src + L.src_o[o];
      const int64_t* ix = L.idx + o * L.idx_so;
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t* ixj = ix + j * L.idx_sj;
        if (L.idx_si == 0) {
          // one index for the whole inner block
          const int64_t x = ixj[0];
          if (kScatter && S > 1 && (x < lo || x >= hi)) continue;
          T* d = d0 + (kScatter ? x : j) * L.dst_sa;
          const T* s = s0 + (kScatter ? j : x) * L.src_sa;
          if (L.contig_inner) {
            for (int64_t i = i0; i < i1; ++i) {
              if constexpr (kScatter) d[i] += s[i]; else d[i] = s[i];
            }
          } else {
            for (int64_t i = i0; i < i1; ++i) {
              if constexpr (kScatter) d[L.dst_i[i]] += s[L.src_i[i]];
              else d[L.dst_i[i]] = s[L.src_i[i]];
            }
          }
        } else {
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t x = ixj[i];
            if constexpr (kScatter) {
              if (S > 1 && (x < lo || x >= hi)) continue;
              d0[x * L.dst_sa + L.dst_i[i]] += s0[j * L.src_sa + L.src_i[i]];
            } else {
              d0[j * L.dst_sa + L.dst_i[i]] = s0[x * L.src_sa + L.src_i[i]];
            }
          }
        }
      }
    }
  });
}

// dst[o, j, i] = src[o, idx, i] over iteration shape `it`; dst and src have one dtype.
void run_gather(const Tensor& dst, const Tensor& src, int64_t axis, const Shape& it,
                const std::vector<int64_t>& idx, bool along_only) {
  AxisLoop L = make_loop(dst, src, axis, it, idx, along_only);
  // Pure data movement: dispatch on the element size only.
  switch (itemsize(dst.dtype())) {
    case 1: axis_kernel<false>(dst.data<uint8_t>(), src.data<uint8_t>(), L); break;
    case 2: axis_kernel<false>(dst.data<uint16_t>(), src.data<uint16_t>(), L); break;
    case 4: axis_kernel<false>(dst.data<uint32_t>(), src.data<uint32_t>(), L); break;
    case 8: axis_kernel<false>(dst.data<uint64_t>(), src.data<uint64_t>(), L); break;
    default: throw TypeError("gather: unsupported element size");
  }
}

// dst[o, idx, i] += src[o, j, i]; dst and src share a non-half numeric dtype.
void run_scatter(const Tensor& dst, const Tensor& src, int64_t axis, const Shape& it,
                 const std::vector<int64_t>& idx, bool along_only, const char* op) {
  AxisLoop L = make_loop(dst, src, axis, it, idx, along_only);
  SC_DISPATCH_NUMERIC(dst.dtype(), op,
                      axis_kernel<true>(dst.data<scalar_t>(), src.data<scalar_t>(), L));
}

// zeros(shape) with g added at idx along axis; half types accumulate in float32.
Tensor scatter_into_zeros(const Shape& shape, int64_t axis, const Tensor& g,
                          const std::vector<int64_t>& idx, bool along_only) {
  DType dt = g.dtype();
  DType acc = is_half(dt) ? DType::Float32 : dt;
  Tensor gd = g.detach().to(acc);
  Tensor out = Tensor::zeros(shape, acc);
  run_scatter(out, gd, axis, g.shape(), idx, along_only, "scatter_add");
  return acc == dt ? out : out.to(dt);
}

void need_ndim(const Tensor& x, const char* op) {
  if (x.ndim() == 0)
    throw ValueError(std::string(op) + ": x must have at least 1 dimension, got a 0-d tensor");
}

}  // namespace

// ---- index_select ---------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  need_ndim(x, "index_select");
  axis = wrap_axis(axis, x.ndim());
  if (index.ndim() != 1)
    throw ValueError("index_select: index must be 1-D, got shape " + shape_str(index.shape()));
  if (x.device().is_gpu()) return index_select_gpu(x, axis, index);
  IndexVec idx = read_index(index, x.shape()[axis], axis, "index_select");
  Shape out_shape = x.shape();
  out_shape[axis] = index.numel();
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  run_gather(out, x.detach(), axis, out_shape, *idx, true);
  if (!is_floating(x.dtype())) return out;
  Shape in_shape = x.shape();
  return record_op1("index_select", {x}, out, [=](const Grads& g) -> Grads {
    return {scatter_into_zeros(in_shape, axis, g[0], *idx, true)};
  });
}

// ---- gather -----------------------------------------------------------------------
static void check_index_shape(const char* op, const Tensor& index, const Tensor& x, int64_t axis,
                              const char* xname, bool include_axis) {
  if (index.ndim() != x.ndim())
    throw ValueError(std::string(op) + ": index must have as many dimensions as " + xname + " (" +
                     std::to_string(x.ndim()) + "), got index shape " + shape_str(index.shape()) +
                     " and " + xname + " shape " + shape_str(x.shape()));
  for (int64_t d = 0; d < x.ndim(); ++d)
    if ((include_axis || d != axis) && index.shape()[d] > x.shape()[d])
      throw ValueError(std::string(op) + ": index shape " + shape_str(index.shape()) +
                       " exceeds " + xname + " shape " + shape_str(x.shape()) + " in dimension " +
                       std::to_string(d));
}

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  need_ndim(x, "gather");
  axis = wrap_axis(axis, x.ndim());
  check_index_shape("gather", index, x, axis, "x", false);
  if (x.device().is_gpu()) return gather_gpu(x, axis, index);
  IndexVec idx = read_index(index, x.shape()[axis], axis, "gather");
  Shape it = index.shape();
  Tensor out = Tensor::empty(it, x.dtype(), x.device());
  run_gather(out, x.detach(), axis, it, *idx, false);
  if (!is_floating(x.dtype())) return out;
  Shape in_shape = x.shape();
  return record_op1("gather", {x}, out, [=](const Grads& g) -> Grads {
    return {scatter_into_zeros(in_shape, axis, g[0], *idx, false)};
  });
}

// ---- scatter_add ---------------------------------------------------------------------
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src) {
  need_ndim(x, "scatter_add");
  axis = wrap_axis(axis, x.ndim());
  check_index_shape("scatter_add", index, x, axis, "x", false);
  check_index_shape("scatter_add", index, src, axis, "src", true);
  DType dt = promote(x.dtype(), src.dtype());
  // Arithmetic types only: half in float32, bool as a count then back to bool (logical or).
  if (is_half(dt))
    return scatter_add(x.to(DType::Float32), axis, index, src.to(DType::Float32)).to(dt);
  if (dt == DType::Bool)
    return scatter_add(x.to(DType::Int64), axis, index, src.to(DType::Int64)).to(DType::Bool);
  if (x.device().is_gpu()) return scatter_add_gpu(x, axis, index, src);
  IndexVec idx = read_index(index, x.shape()[axis], axis, "scatter_add");
  Tensor xc = x.to(dt), sc = src.to(dt);
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  out.copy_from(xc.detach());
  run_scatter(out, sc.detach(), axis, index.shape(), *idx, false, "scatter_add");
  if (!is_floating(dt)) return out;
  Shape it = index.shape(), src_shape = src.shape();
  return record_op1("scatter_add", {xc, sc}, out, [=](const Grads& g) -> Grads {
    // grad_src[o, j, i] = g[o, idx, i] over the index's extent, zero elsewhere.
    Tensor gs = Tensor::empty(it, g[0].dtype());
    run_gather(gs, g[0].detach(), axis, it, *idx, false);
    return {g[0], it == src_shape ? gs : embed_in_zeros(gs, src_shape)};
  });
}

Tensor embed_in_zeros(const Tensor& part, const Shape& shape) {
  Tensor full = Tensor::zeros(shape, part.dtype(), part.device());
  Tensor view = full;
  for (int64_t d = 0; d < part.ndim(); ++d) view = view.slice(d, 0, part.shape()[d]);
  view.copy_from(part);
  return full;
}

// ---- masked_select / nonzero ------------------------------------------------------------
Tensor nonzero_1d(const Tensor& mask_in) {
  if (mask_in.ndim() != 1)
    throw ValueError("nonzero: mask must be 1-D, got shape " + shape_str(mask_in.shape()));
  if (mask_in.device().is_gpu()) return nonzero_gpu(mask_in);
  Tensor mask = mask_in.detach();
  if (mask.dtype() != DType::Bool) mask = mask.to(DType::Bool);  // nonzero values
  mask = mask.contiguous();
  const uint8_t* m = mask.data<uint8_t>();
  const int64_t n = mask.numel();
  // Two passes over fixed chunks: count per chunk, then write at prefix offsets.
  const int64_t CH = 1 << 16;
  const int64_t nch = (n + CH - 1) / CH;
  std::vector<int64_t> counts(nch + 1, 0);
  parallel_for(nch, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t cnt = 0;
      for (int64_t i = c * CH, end = std::min(n, (c + 1) * CH); i < end; ++i) cnt += m[i] != 0;
      counts[c + 1] = cnt;
    }
  });
  for (int64_t c = 0; c < nch; ++c) counts[c + 1] += counts[c];
  Tensor out = Tensor::empty({counts[nch]}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  parallel_for(nch, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t w = counts[c];
      for (int64_t i = c * CH, end = std::min(n, (c + 1) * CH); i < end; ++i)
        if (m[i]) o[w++] = i;
    }
  });
  return out;
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  if (mask.dtype() != DType::Bool)
    throw TypeError(std::string("masked_select: mask must be a bool tensor, got ") +
                    dtype_name(mask.dtype()));
  const int64_t k = mask.ndim();
  bool ok = k <= x.ndim();
  for (int64_t d = 0; ok && d < k; ++d) ok = mask.shape()[d] == x.shape()[d];
  if (!ok)
    throw IndexError("masked_select: mask shape " + shape_str(mask.shape()) +
                     " does not match the shape of x " + shape_str(x.shape()) +
                     " (expected x's full shape or its leading axes)");
  // Rows of x over the mask's axes, then an index_select (which carries the backward).
  Shape rows{mask.numel()};
  rows.insert(rows.end(), x.shape().begin() + k, x.shape().end());
  Tensor sel = index_select(x.reshape(rows), 0, nonzero_1d(mask.reshape({mask.numel()})));
  return sel;
}

}  // namespace sc
