// Testing hooks: _core._gpu_selftest runs one of the dialect's self-test kernels
// (gpu/kernels/selftest.h) on a GPU device, for tests/test_gpu_dialect.py;
// _core._exclusive_scan_u32 exposes the GPU scan under the radix sort.
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include "bindings/bindings.h"
#include "gpu/kernels/selftest_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/runtime.h"

namespace sc {

void bind_gpu_selftest(nb::module_& m) {
  m.def("_gpu_selftest", [](const std::string& name, nb::handle device, const Tensor& fin_host,
                            int64_t fout_len, int64_t uout_len, int64_t groups, int64_t group_size,
                            int64_t dynamic_shared) {
          Device d = device_arg(device);
          if (!d.is_gpu()) throw ValueError("_gpu_selftest: expected a GPU device, got " + d.str());
          if (groups <= 0 || group_size <= 0 || groups > (1 << 20) || group_size > (1 << 16))
            throw ValueError("_gpu_selftest: groups and group_size out of range");
          Tensor fin = fin_host.to(DType::Float32).contiguous().to_device(d);
          Tensor fout = Tensor::zeros({fout_len}, DType::Float32, d);
          Tensor uout = Tensor::zeros({uout_len}, DType::UInt32, d);
          if (uout_len > 1) {  // the min slot starts high
            Tensor hi = Tensor::full({1}, 4294967295.0, DType::UInt32);
            uout.slice(0, 1, 2).copy_from(hi);
          }
          ScSelfTestArgs a;
          a.fout = gpu::gpu_ptr<float>(fout);
          a.uout = gpu::gpu_ptr<unsigned int>(uout);
          a.fin = gpu::gpu_ptr<const float>(fin);
          a.n = fin.numel();
          gpu::LaunchDims dims;
          dims.grid.x = (uint32_t)groups;
          dims.group.x = (uint32_t)group_size;
          dims.dynamic_shared_bytes = (uint32_t)dynamic_shared;
          gpu::Runtime& rt = gpu::runtime(d);
          gpu::launch(rt, gpu::kernel(name), dims, a,
                      {fin.storage().get(), fout.storage().get(), uout.storage().get()});
          rt.synchronize();
          return std::make_tuple(fout.to_device(Device{}), uout.to_device(Device{}));
        }, nb::arg("name"), nb::arg("device"), nb::arg("fin"), nb::arg("fout_len"), nb::arg("uout_len"),
        nb::arg("groups"), nb::arg("group_size"), nb::arg("dynamic_shared") = 0);
  m.def("_exclusive_scan_u32", [](const Tensor& t) {
          if (!t.device().is_gpu() || t.dtype() != DType::UInt32 || !t.is_contiguous())
            throw ValueError("_exclusive_scan_u32: expected a contiguous uint32 tensor on a GPU device");
          gpu::exclusive_scan_u32(t);
        }, nb::arg("data"), "In place: the exclusive prefix sum the GPU radix sort uses (for tests).");
}

}  // namespace sc
