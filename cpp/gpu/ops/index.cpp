// Host side of the indexing GPU kernels, and the per-device error word that
// an out-of-bounds index sets (raised at the next host read: checking on the
// spot would wait for the device).
#include <map>
#include <mutex>
#include <string>

#include "gpu/kernels/index_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

namespace {

struct ErrorWord {
  Tensor word;           // one uint32 on the device
  bool armed = false;    // an index kernel ran since the last check
};

std::mutex g_error_mu;
std::map<std::pair<int, int>, ErrorWord>& error_words() {
  static auto* m = new std::map<std::pair<int, int>, ErrorWord>();  // never destroyed
  return *m;
}

ErrorWord& error_word(Device d) {
  std::lock_guard<std::mutex> lock(g_error_mu);
  ErrorWord& w = error_words()[{(int)d.type, d.index}];
  if (!w.word.defined()) w.word = Tensor::zeros({1}, DType::UInt32, d);
  w.armed = true;
  return w;
}

// dst / src addressed through their strides over the iteration shape `it`,
// the indexed axis through the index (of `axis_size` entries along it).
template <typename T>
void launch_index(const char* name, const Tensor& dst, const Tensor& src, const Tensor& index, int64_t axis,
                  const Shape& it, bool along_only, int64_t axis_size) {
  if ((int)it.size() > SC_INDEX_MAX_DIMS)
    throw ValueError("GPU indexing: at most " + std::to_string(SC_INDEX_MAX_DIMS) + " dimensions, got " +
                     std::to_string(it.size()));
  ErrorWord& w = error_word(dst.device());
  ScIndexArgs<T> a;
  a.dst = gpu_ptr<T>(dst);
  a.src = gpu_ptr<const T>(src);
  a.index = gpu_ptr<const long long>(index);
  a.error = gpu_ptr<unsigned int>(w.word);
  a.n = numel_of(it);
  a.axis_size = axis_size;
  a.ndim = (int)it.size();
  a.axis = (int)axis;
  Shape istr = contiguous_strides(it);
  for (int d = 0; d < a.ndim; ++d) {
    a.shape[d] = it[d];
    a.dst_strides[d] = dst.strides()[d];
    a.src_strides[d] = src.strides()[d];
    a.index_strides[d] = along_only ? (d == axis ? 1 : 0) : istr[d];
  }
  launch(runtime(dst.device()), kernel(name), groups_for(a.n), a,
         {dst.storage().get(), src.storage().get(), index.storage().get(), w.word.storage().get()});
}

}  // namespace

void check_device_errors(Device d) {
  Tensor word;
  {
    std::lock_guard<std::mutex> lock(g_error_mu);
    auto it = error_words().find({(int)d.type, d.index});
    if (it == error_words().end() || !it->second.armed) return;
    it->second.armed = false;
    word = it->second.word;
  }
  uint32_t v = 0;
  runtime(d).copy_to_host(&v, gpu_address(word), sizeof(v));
  if (v) {
    runtime(d).fill_bytes(gpu_address(word), 0, sizeof(v));
    throw IndexError("a GPU indexing op on " + d.str() + " (index_select, gather or scatter_add) "
                     "met an index out of bounds; its output holds 0 there");
  }
}

void gather(const Tensor& out, const Tensor& src, const Tensor& index, int64_t axis, const Shape& it,
            bool along_only) {
  if (numel_of(it) == 0) return;
  const int64_t n = src.shape()[axis];
  switch (itemsize(out.dtype())) {
    case 1: launch_index<unsigned char>("index_gather_b1", out, src, index, axis, it, along_only, n); break;
    case 2: launch_index<unsigned short>("index_gather_b2", out, src, index, axis, it, along_only, n); break;
    case 4: launch_index<unsigned int>("index_gather_b4", out, src, index, axis, it, along_only, n); break;
    default: launch_index<unsigned long long>("index_gather_b8", out, src, index, axis, it, along_only, n); break;
  }
}

void scatter_add(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t axis, const Shape& it,
                 bool along_only) {
  if (numel_of(it) == 0) return;
  const int64_t n = dst.shape()[axis];
  switch (dst.dtype()) {
    case DType::Float32: launch_index<float>("index_scatter_add_f32", dst, src, index, axis, it, along_only, n); break;
    case DType::Int32: launch_index<int>("index_scatter_add_i32", dst, src, index, axis, it, along_only, n); break;
    case DType::UInt32:
      launch_index<unsigned int>("index_scatter_add_u32", dst, src, index, axis, it, along_only, n);
      break;
    case DType::Float64:
      if (!runtime(dst.device()).properties().float64)
        throw TypeError("scatter_add: " + dst.device().str() + " has no float64");
      launch_index<double>("index_scatter_add_f64", dst, src, index, axis, it, along_only, n);
      break;
    default:
      throw TypeError(std::string("scatter_add on a GPU device takes float32, float64, int32 or uint32, got ") +
                      dtype_name(dst.dtype()));
  }
}

void cumsum(const Tensor& out, const Tensor& src, int64_t outer, int64_t len, int64_t inner, bool reverse) {
  if (outer * len * inner == 0) return;
  Runtime& rt = runtime(out.device());
  auto run = [&](auto tag, const char* name) {
    using T = decltype(tag);
    ScScanArgs<T> a;
    a.src = gpu_ptr<const T>(src);
    a.out = gpu_ptr<T>(out);
    a.outer = outer;
    a.len = len;
    a.inner = inner;
    a.reverse = reverse;
    launch(rt, kernel(name), groups_for(outer * inner), a, {src.storage().get(), out.storage().get()});
  };
  switch (out.dtype()) {
    case DType::Float32: run(0.0f, "scan_cumsum_f32"); break;
    case DType::Float64: run(0.0, "scan_cumsum_f64"); break;
    case DType::Int64: run(0ll, "scan_cumsum_i64"); break;
    default: throw TypeError(std::string("cumsum on a GPU device: unsupported dtype ") + dtype_name(out.dtype()));
  }
}

}  // namespace sc::gpu
