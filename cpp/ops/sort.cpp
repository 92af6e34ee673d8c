// CPU driver of the stable LSD radix sort (see ops/sort.h).
//
// Each pass over one digit:
//   1. the keys are cut into B contiguous blocks; every block counts its
//      digits (parallel_for over blocks);
//   2. an exclusive prefix over (digit, block), digit-major, gives each block
//      the first output slot of each digit: all of digit d from block 0, then
//      all of digit d from block 1, ... which is what stability needs;
//   3. every block scatters its elements in input order to those slots.
// A pass whose digit is equal for all keys is skipped (its histogram tells).
// Passes ping-pong between the output and a scratch buffer, arranged so that
// the last planned pass lands in the output; a final copy fixes up the cases
// where skipped passes or an in-place call end in the scratch buffer.
// The histogram and scatter loops of 1. and 3. are compiled once per CPU
// target (ops/sort_target.cpp); this file plans, allocates and prefix-sums.
#include "ops/sort.h"

#include "gpu/ops/gpu_ops.h"
#include "ops/ops.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/cpu_target.h"
#include "core/thread_pool.h"
#include "kernels/radix_sort.h"
#include "ops/sort_kernels.h"

namespace sc {

// The per-block loops (histogram, scatter, key transform) of the CPU target
// in use (ops/sort_kernels.h, ops/sort_target.cpp).
SC_TARGET_DISPATCH(SortTables, sort_kernels)

namespace {

constexpr int kDigitBits = 8;
constexpr int kRadix = 1 << kDigitBits;  // ops/sort_target.cpp sizes its counters for 256
constexpr int64_t kMinBlock = 1 << 15;         // fewer, larger blocks below this
constexpr int64_t kMaxBlock = int64_t(1) << 30;  // per-block counts fit in uint32
constexpr int64_t kCopyGrain = 1 << 16;

struct Blocks {
  int64_t count, size;
};

Blocks make_blocks(int64_t n) {
  int64_t nt = num_threads();
  // A few blocks per thread lets the pool balance uneven cores; more blocks
  // cost only a longer (digit, block) prefix.
  int64_t nb = std::min<int64_t>(nt > 1 ? nt * 4 : 1, std::max<int64_t>(1, n / kMinBlock));
  nb = std::max(nb, (n + kMaxBlock - 1) / kMaxBlock);
  int64_t size = (n + nb - 1) / nb;
  return {(n + size - 1) / size, size};
}

// Scratch memory for the ping-pong buffers. Large blocks are 2 MiB aligned and
// advised as transparent huge pages on Linux: first-touch page faults of a
// fresh 4 KiB-paged buffer otherwise cost about as much as a sorting pass, and
// the 256-way scatter walks the TLB less.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using ScratchPtr = std::unique_ptr<void, FreeDeleter>;

ScratchPtr alloc_scratch(size_t bytes) {
  constexpr size_t kHuge = size_t(1) << 21;
  void* p = nullptr;
  if (bytes >= kHuge) {
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    p = std::aligned_alloc(kHuge, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  } else {
    p = std::malloc(bytes ? bytes : 1);
  }
  if (!p) throw std::bad_alloc();
  return ScratchPtr(p);
}

template <class T>
void parallel_copy(const T* src, T* dst, int64_t n) {
  if (src == dst) return;
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e) {
    std::memcpy(dst + b, src + b, (size_t)(e - b) * sizeof(T));
  });
}

void parallel_iota(uint32_t* dst, int64_t n) {
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = (uint32_t)i;
  });
}

template <class K>
void sort_impl(const K* kin, const uint32_t* vin, K* kout, uint32_t* vout, K* ktmp,
               uint32_t* vtmp, int64_t n, int begin_bit, int end_bit) {
  const bool values = vout != nullptr;
  const int passes = sc_radix_num_passes(begin_bit, end_bit, kDigitBits);

  // Current source of the pairs; vin == nullptr with values wanted: 0..n-1.
  const K* sk = kin;
  const uint32_t* sv = vin;
  bool iota = values && vin == nullptr;

  ScratchPtr scratch;  // allocated here when the caller gave none; lives until the final copy
  if (n > 1 && passes > 0) {
    const size_t kbytes = ktmp ? 0 : (size_t)n * sizeof(K);
    const size_t vbytes = values && !vtmp ? (size_t)n * sizeof(uint32_t) : 0;
    if (kbytes + vbytes) {
      scratch = alloc_scratch(kbytes + vbytes);
      char* base = static_cast<char*>(scratch.get());
      if (kbytes) ktmp = reinterpret_cast<K*>(base);
      if (vbytes) vtmp = reinterpret_cast<uint32_t*>(base + kbytes);
    }
    const Blocks blk = make_blocks(n);
    const SortKernels<K>& kern = sort_kernels_of<K>();
    std::vector<int64_t> hist((size_t)(blk.count * kRadix));

    for (int pass = 0; pass < passes; ++pass) {
      const sc_u32 shift = (sc_u32)sc_radix_pass_shift(begin_bit, end_bit, kDigitBits, pass);
      const sc_u32 mask = sc_radix_pass_mask(begin_bit, end_bit, kDigitBits, pass);
      const int64_t radix = (int64_t)mask + 1;

      parallel_for(blk.count, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t j = b0; j < b1; ++j)
          kern.histogram(sk, j * blk.size, std::min(n, (j + 1) * blk.size), shift, mask,
                         &hist[(size_t)(j * kRadix)]);
      });

      // Skip the pass when every key has the digit of the first key.
      const sc_u32 d0 = sc_radix_digit(sk[0], shift, mask);
      int64_t same = 0;
      for (int64_t j = 0; j < blk.count; ++j) same += hist[(size_t)(j * kRadix + d0)];
      if (same == n) continue;

      int64_t run = 0;  // exclusive prefix, digit-major then block
      for (int64_t d = 0; d < radix; ++d)
        for (int64_t j = 0; j < blk.count; ++j) {
          int64_t& h = hist[(size_t)(j * kRadix + d)];
          int64_t c = h;
          h = run;
          run += c;
        }

      // Destination: never the buffer being read; otherwise the one that
      // makes the last planned pass write the output.
      const bool src_is_out = sk == kout || (values && sv == vout);
      const bool src_is_tmp = sk == ktmp;
      const bool to_out = src_is_out ? false : src_is_tmp ? true : (passes - pass) % 2 == 1;
      K* dk = to_out ? kout : ktmp;
      uint32_t* dv = to_out ? vout : vtmp;

      parallel_for(blk.count, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t j = b0; j < b1; ++j) {
          const int64_t b = j * blk.size, e = std::min(n, (j + 1) * blk.size);
          const int64_t* offs = &hist[(size_t)(j * kRadix)];
          const auto scatter = !values ? kern.scatter_keys : iota ? kern.scatter_iota : kern.scatter_values;
          scatter(sk, sv, dk, dv, b, e, shift, mask, offs);
        }
      });
      sk = dk;
      sv = dv;
      iota = false;
    }
  }

  parallel_copy(sk, kout, n);
  if (values) {
    if (iota)
      parallel_iota(vout, n);
    else
      parallel_copy(sv, vout, n);
  }
}

}  // namespace

void check_radix_sort_args(int64_t n_keys, int key_bits, int64_t n_values, int64_t begin_bit,
                           int64_t end_bit) {
  if (n_keys < 0)
    throw ValueError("radix_sort_pairs: n must be >= 0, got " + std::to_string(n_keys));
  if (n_values >= 0 && n_values != n_keys)
    throw ValueError("radix_sort_pairs: values must have the length of keys (" +
                     std::to_string(n_keys) + "), got length " + std::to_string(n_values));
  if (begin_bit < 0 || begin_bit > key_bits)
    throw ValueError("radix_sort_pairs: begin_bit must be in [0, " + std::to_string(key_bits) +
                     "] for " + std::to_string(key_bits) + "-bit keys, got " +
                     std::to_string(begin_bit));
  if (end_bit < begin_bit || end_bit > key_bits)
    throw ValueError("radix_sort_pairs: end_bit must be in [begin_bit, " +
                     std::to_string(key_bits) + "] = [" + std::to_string(begin_bit) + ", " +
                     std::to_string(key_bits) + "], got " + std::to_string(end_bit));
}

static void check_iota(int64_t n) {
  if (n > (int64_t(1) << 32))
    throw ValueError("radix_sort_pairs: without values the result holds uint32 indices, so n "
                     "must be <= 2**32, got " + std::to_string(n));
}

void radix_sort_pairs_copy(const uint32_t* keys_in, const uint32_t* values_in,
                           uint32_t* keys_out, uint32_t* values_out, int64_t n, int begin_bit,
                           int end_bit, uint32_t* keys_tmp, uint32_t* values_tmp) {
  check_radix_sort_args(n, 32, -1, begin_bit, end_bit);
  if (values_out && !values_in) check_iota(n);
  sort_impl<uint32_t>(keys_in, values_in, keys_out, values_out, keys_tmp, values_tmp, n,
                      begin_bit, end_bit);
}

void radix_sort_pairs_copy(const uint64_t* keys_in, const uint32_t* values_in,
                           uint64_t* keys_out, uint32_t* values_out, int64_t n, int begin_bit,
                           int end_bit, uint64_t* keys_tmp, uint32_t* values_tmp) {
  check_radix_sort_args(n, 64, -1, begin_bit, end_bit);
  if (values_out && !values_in) check_iota(n);
  sort_impl<uint64_t>(keys_in, values_in, keys_out, values_out, keys_tmp, values_tmp, n,
                      begin_bit, end_bit);
}

void radix_sort_pairs(uint32_t* keys, uint32_t* values, int64_t n, int begin_bit, int end_bit,
                      uint32_t* keys_tmp, uint32_t* values_tmp) {
  radix_sort_pairs_copy(keys, values, keys, values, n, begin_bit, end_bit, keys_tmp, values_tmp);
}

void radix_sort_pairs(uint64_t* keys, uint32_t* values, int64_t n, int begin_bit, int end_bit,
                      uint64_t* keys_tmp, uint32_t* values_tmp) {
  radix_sort_pairs_copy(keys, values, keys, values, n, begin_bit, end_bit, keys_tmp, values_tmp);
}

static void check_1d(const Tensor& t, const char* name, Device device) {
  if (t.ndim() != 1)
    throw ValueError(std::string("radix_sort_pairs: ") + name + " must be 1-D, got shape " +
                     shape_str(t.shape()));
  if (t.device() != device)
    throw ValueError(std::string("radix_sort_pairs: ") + name + " is on " + t.device().str() +
                     ", keys on " + device.str());
}

// A fresh 1-D uint32 tensor in alloc_scratch memory (huge pages for large n).
// TODO(core): drop once Storage::allocate advises huge pages itself.
static Tensor empty_u32_huge(int64_t n) {
  const size_t bytes = (size_t)n * sizeof(uint32_t);
  ScratchPtr mem = alloc_scratch(bytes);
  void* p = mem.get();
  std::shared_ptr<void> owner(mem.release(), FreeDeleter());
  return Tensor::from_storage(Storage::wrap(p, bytes, owner), {n}, {1}, 0, DType::UInt32);
}

std::pair<Tensor, Tensor> radix_sort_pairs(const Tensor& keys, const Tensor& values,
                                           int64_t begin_bit, int64_t end_bit) {
  if (!keys.defined()) throw ValueError("radix_sort_pairs: keys is an undefined tensor");
  if (keys.dtype() != DType::UInt32)
    throw TypeError(std::string("radix_sort_pairs: keys must be uint32 (64-bit keys go through "
                                "the raw-buffer overload), got ") + dtype_name(keys.dtype()));
  check_1d(keys, "keys", keys.device());
  if (values.defined()) {
    if (values.dtype() != DType::UInt32)
      throw TypeError(std::string("radix_sort_pairs: values must be uint32, got ") +
                      dtype_name(values.dtype()));
    check_1d(values, "values", keys.device());
  }
  const int64_t n = keys.numel();
  if (end_bit < 0) end_bit = 32;
  check_radix_sort_args(n, 32, values.defined() ? values.numel() : -1, begin_bit, end_bit);
  if (keys.device().is_gpu()) {
    const Device dev = keys.device();
    Tensor vin = values.defined() ? values.contiguous() : arange(0, (double)n, 1, DType::UInt32).to_device(dev);
    Tensor ko = Tensor::empty({n}, DType::UInt32, dev), vo = Tensor::empty({n}, DType::UInt32, dev);
    gpu::radix_sort_pairs(ko, vo, keys.contiguous(), vin, (int)begin_bit, (int)end_bit);
    return {ko, vo};
  }
  Tensor kc = keys.contiguous();
  Tensor vc = values.defined() ? values.contiguous() : Tensor();
  Tensor ko = empty_u32_huge(n), vo = empty_u32_huge(n);
  radix_sort_pairs_copy(kc.data<uint32_t>(), vc.defined() ? vc.data<uint32_t>() : nullptr,
                        ko.data<uint32_t>(), vo.data<uint32_t>(), n, (int)begin_bit,
                        (int)end_bit);
  return {ko, vo};
}

void float_to_sortable_u32(const float* in, uint32_t* out, int64_t n) {
  const auto to_sortable = sort_kernels().to_sortable;
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e) { to_sortable(in, out, b, e); });
}

Tensor float_to_sortable_u32(const Tensor& x) {
  if (!x.defined()) throw ValueError("float_to_sortable_u32: x is an undefined tensor");
  if (x.dtype() != DType::Float32)
    throw TypeError(std::string("float_to_sortable_u32: x must be float32, got ") +
                    dtype_name(x.dtype()));
  if (x.device().type != DeviceType::CPU)
    throw ValueError("float_to_sortable_u32: x must be on the CPU, got " + x.device().str());
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), DType::UInt32);
  float_to_sortable_u32(xc.data<float>(), out.data<uint32_t>(), x.numel());
  return out;
}

}  // namespace sc
