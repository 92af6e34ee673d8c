// Host side of the GPU radix sort and the uint32 exclusive scan (gpu/kernels/sort.h).
#include <utility>

#include "gpu/kernels/sort_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/runtime.h"

namespace sc::gpu {

namespace {

LaunchDims tiles(int64_t n, int64_t tile = SC_SORT_TILE) {
  LaunchDims d;
  d.group.x = SC_SORT_GROUP;
  d.grid.x = (uint32_t)((n + tile - 1) / tile);
  if (d.grid.x == 0) d.grid.x = 1;
  return d;
}

}  // namespace

void exclusive_scan_u32(const Tensor& data) {
  const int64_t n = data.numel();
  if (n == 0) return;
  Runtime& rt = runtime(data.device());
  LaunchDims d = tiles(n);
  Tensor sums = Tensor::empty({(int64_t)d.grid.x}, DType::UInt32, data.device());
  ScScanU32Args a;
  a.data = gpu_ptr<unsigned int>(data);
  a.sums = gpu_ptr<unsigned int>(sums);
  a.n = (unsigned int)n;
  launch(rt, kernel("scan_u32_tiles"), d, a, {data.storage().get(), sums.storage().get()});
  if (d.grid.x == 1) return;
  exclusive_scan_u32(sums);  // reduce-then-scan: the tiles' totals, then their offsets added back
  launch(rt, kernel("scan_u32_add"), d, a, {data.storage().get(), sums.storage().get()});
}

void radix_sort_pairs(const Tensor& keys_out, const Tensor& values_out, const Tensor& keys_in,
                      const Tensor& values_in, int begin_bit, int end_bit) {
  const int64_t n = keys_in.numel();
  if (n == 0) return;
  if (n > int64_t(UINT32_MAX))
    throw ValueError("radix_sort_pairs: at most 2^32 - 1 pairs on a GPU device, got " + std::to_string(n));
  Runtime& rt = runtime(keys_in.device());
  const Device dev = keys_in.device();
  if (begin_bit >= end_bit) {  // no key bits: the stable order is the input order
    copy(keys_out, keys_in);
    copy(values_out, values_in);
    return;
  }
  LaunchDims d = tiles(n, SC_SORT_SCATTER_TILE);
  Tensor counts = Tensor::empty({(int64_t)SC_SORT_DIGITS * d.grid.x}, DType::UInt32, dev);
  // Ping-pong: the last pass lands in keys_out / values_out.
  const int passes = (end_bit - begin_bit + SC_SORT_DIGIT_BITS - 1) / SC_SORT_DIGIT_BITS;
  Tensor ka = Tensor::empty({n}, DType::UInt32, dev), va = Tensor::empty({n}, DType::UInt32, dev);
  Tensor src_k = keys_in, src_v = values_in;
  for (int p = 0; p < passes; ++p) {
    const int shift = begin_bit + SC_SORT_DIGIT_BITS * p;
    const int bits = end_bit - shift < SC_SORT_DIGIT_BITS ? end_bit - shift : SC_SORT_DIGIT_BITS;
    const bool last = p == passes - 1;
    // Alternate so that the final pass writes the outputs.
    const bool to_out = ((passes - 1 - p) % 2) == 0;
    Tensor dst_k = to_out ? keys_out : ka, dst_v = to_out ? values_out : va;
    ScRadixArgs a;
    a.keys_in = gpu_ptr<const unsigned int>(src_k);
    a.values_in = gpu_ptr<const unsigned int>(src_v);
    a.keys_out = gpu_ptr<unsigned int>(dst_k);
    a.values_out = gpu_ptr<unsigned int>(dst_v);
    a.counts = gpu_ptr<unsigned int>(counts);
    a.n = (unsigned int)n;
    a.shift = (unsigned int)shift;
    a.mask = (1u << bits) - 1u;
    launch(rt, kernel("radix_count"), d, a, {src_k.storage().get(), counts.storage().get()});
    exclusive_scan_u32(counts);
    launch(rt, kernel("radix_scatter"), d, a,
           {src_k.storage().get(), src_v.storage().get(), dst_k.storage().get(), dst_v.storage().get(),
            counts.storage().get()});
    src_k = dst_k;
    src_v = dst_v;
    (void)last;
  }
}

}  // namespace sc::gpu
