#include "gpu/metal/buffer_pool.h"

#include <Metal/Metal.hpp>

namespace sc::metal {

BufferPool::BufferPool(MTL::Device* device, size_t cache_limit) : device_(device), limit_(cache_limit) {}

size_t BufferPool::bucket(size_t bytes) {
  // Powers of two up to 1 MiB (at least one 256-byte line), then quarter
  // steps between powers of two: at most 25% more than asked for.
  size_t b = 256;
  while (b < bytes && b < (size_t(1) << 20)) b <<= 1;
  if (b >= bytes) return b;
  size_t pow = size_t(1) << 20;
  while (pow * 2 < bytes) pow <<= 1;
  size_t step = pow / 4;
  return (bytes + step - 1) / step * step;
}

MTL::Buffer* BufferPool::take(size_t bytes) {
  const size_t size = bucket(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  MTL::Buffer* buf = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    buf = it->second.back();
    it->second.pop_back();
    cached_bytes_ -= size;
  } else {
    const MTL::ResourceOptions shared = MTL::ResourceStorageModeShared | MTL::ResourceHazardTrackingModeTracked;
    buf = device_->newBuffer(size, shared);
    if (!buf) return nullptr;
  }
  live_[buf->gpuAddress()] = buf;
  return buf;
}

void BufferPool::give(MTL::Buffer* buffer, uint64_t queued_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(buffer->gpuAddress());
  const size_t size = buffer->length();
  if (cached_bytes_ + size > limit_) {
    retired_.emplace_back(queued_seq, buffer);
    return;
  }
  free_[size].push_back(buffer);
  cached_bytes_ += size;
}

void BufferPool::release_retired(uint64_t completed_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t kept = 0;
  for (auto& r : retired_) {
    if (r.first <= completed_seq)
      r.second->release();
    else
      retired_[kept++] = r;
  }
  retired_.resize(kept);
}

BufferRef BufferPool::find(const void* gpu_address) const {
  const uint64_t a = reinterpret_cast<uint64_t>(gpu_address);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.upper_bound(a);
  if (it == live_.begin()) return {};
  --it;
  if (a - it->first >= it->second->length()) return {};
  return {it->second, size_t(a - it->first)};
}

void BufferPool::trim() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& entry : free_)
    for (MTL::Buffer* b : entry.second) b->release();
  free_.clear();
  cached_bytes_ = 0;
  for (auto& r : retired_) r.second->release();
  retired_.clear();
}

}  // namespace sc::metal
