// CUB's radix sort (the CUDA toolkit's CCCL headers) on the CUDA queue: the
// CUDA path of gpu::sort_pairs, which the rasterizer's two sorts take, because
// on the H100 it beat our own sort at every size measured (bench_gpu_ops.py:
// ours 0.91x / 0.72x / 0.75x its speed at 1M / 10M / 100M pairs). Both sorts
// are stable LSD radix sorts, so they give the same order.
#include <cub/device/device_radix_sort.cuh>

#include <stdexcept>
#include <string>

#include "gpu/backend_hooks.h"
#include "gpu/ops/gpu_ops.h"

namespace sc::gpu {

bool cub_sort_pairs(const Tensor& keys_out, const Tensor& values_out, const Tensor& keys_in,
                    const Tensor& values_in, int begin_bit, int end_bit) {
  if (keys_in.device().type != DeviceType::CUDA) return false;
  const int64_t n = keys_in.numel();
  Runtime& rt = runtime(keys_in.device());
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(rt.queue_handle());
  const auto* ki = gpu_ptr<const unsigned int>(keys_in);
  const auto* vi = gpu_ptr<const unsigned int>(values_in);
  auto* ko = gpu_ptr<unsigned int>(keys_out);
  auto* vo = gpu_ptr<unsigned int>(values_out);
  size_t temp_bytes = 0;
  cudaError_t e = cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ki, ko, vi, vo, n, begin_bit, end_bit, stream);
  if (e != cudaSuccess) throw std::runtime_error(std::string("cuda: CUB radix sort: ") + cudaGetErrorString(e));
  // scratch from the device's allocator: freed after the call, reused only by
  // work queued later on the same in-order queue
  Tensor temp = Tensor::empty({(int64_t)std::max<size_t>(temp_bytes, 1)}, DType::UInt8, keys_in.device());
  e = cub::DeviceRadixSort::SortPairs(gpu_address(temp), temp_bytes, ki, ko, vi, vo, n, begin_bit, end_bit,
                                      stream);
  if (e != cudaSuccess) throw std::runtime_error(std::string("cuda: CUB radix sort: ") + cudaGetErrorString(e));
  return true;
}

}  // namespace sc::gpu
