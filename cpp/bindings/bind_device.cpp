// Devices from Python: the default device, synchronisation, and what each GPU
// device is (the simulator in every build, CUDA and Metal where built).
#include <nanobind/stl/string.h>

#include "bindings/bindings.h"
#include "gpu/backend_hooks.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/raster.h"
#include "gpu/runtime.h"
#include "gpu/vendor_gemm.h"

namespace sc {

Device device_arg(nb::handle h, const char* argname) {
  if (h.is_none()) return default_device();
  if (!nb::isinstance<nb::str>(h))
    throw TypeError(std::string(argname) + ": expected a device name such as 'cpu', 'cuda', "
                    "'cuda:1' or 'sim', got " + nb::cast<std::string>(nb::repr(h.type())));
  Device d = Device::parse(nb::cast<std::string>(h));
  if (d.type != DeviceType::CPU) gpu::runtime(d);  // ValueError when it is not available
  return d;
}

static nb::dict properties_dict(Device d) {
  const gpu::Properties& p = gpu::runtime(d).properties();
  nb::dict r;
  r["device"] = d.str();
  r["name"] = p.name;
  r["memory_bytes"] = p.memory_bytes;
  r["simd_width"] = p.simd_width;
  r["max_group_size"] = p.max_group_size;
  r["max_shared_bytes"] = p.max_shared_bytes;
  r["float64"] = p.float64;
  return r;
}

void bind_device(nb::module_& m) {
  m.def("set_default_device", [](nb::handle d) { set_default_device(device_arg(d)); }, nb::arg("device"),
        "The device of tensors made by the factories (tensor, zeros, ...) when none is named.");
  m.def("get_default_device", [] { return default_device().str(); });
  m.def("synchronize", [](nb::handle d) {
          if (d.is_none()) {
            for (DeviceType t : {DeviceType::Sim, DeviceType::CUDA, DeviceType::Metal})
              for (int i = 0; i < gpu::device_count(t); ++i) {
                gpu::runtime(Device{t, i}).synchronize();
                gpu::check_device_errors(Device{t, i});
              }
            return;
          }
          Device dev = device_arg(d);
          if (dev.is_gpu()) {
            gpu::runtime(dev).synchronize();
            gpu::check_device_errors(dev);
          }
        }, nb::arg("device") = nb::none(),
        "Wait for the work queued on a device (every GPU device when none is named).");
  m.def("device_properties", [](nb::handle d) { return properties_dict(device_arg(d)); }, nb::arg("device"),
        "name, memory_bytes, simd_width, max_group_size, max_shared_bytes, float64 of a GPU device.");
  m.def("device_memory", [](nb::handle d, bool reset_peak) {
          Device dev = device_arg(d);
          if (!dev.is_gpu()) throw ValueError("device_memory: expected a GPU device, got " + dev.str());
          gpu::runtime(dev);  // ValueError when it does not exist
          gpu::MemoryStats m = gpu::memory_stats(dev);
          if (reset_peak) gpu::reset_peak_memory(dev);
          nb::dict r;
          r["in_use_bytes"] = m.in_use;
          r["peak_bytes"] = m.peak;
          return r;
        }, nb::arg("device"), nb::arg("reset_peak") = false,
        "Bytes of tensor storage on a GPU device now and at most since the last reset "
        "(reset_peak=True starts a new peak after reading this one).");
  m.def("device_count", [](const std::string& kind) {
          Device d = Device::parse(kind);
          return d.type == DeviceType::CPU ? 1 : gpu::device_count(d.type);
        }, nb::arg("kind"), "How many devices of a kind ('cpu', 'cuda', 'metal', 'sim') this build sees.");
  m.def("set_matmul_precision", &gpu::set_matmul_precision, nb::arg("precision"),
        "'highest' (IEEE float32 GEMMs, the default), 'high' (TF32 tensor cores on CUDA) or 'medium' "
        "(bfloat16 tensor cores on CUDA, float32 accumulation), as torch.set_float32_matmul_precision.");
  m.def("get_matmul_precision", &gpu::matmul_precision);
  m.def("_gpu_launch_count", &gpu::launch_count, nb::arg("reset") = false,
        "Kernel launches queued so far on every GPU device (reset: then start again from 0).");
  m.def("_gpu_wait_seconds", &gpu::wait_seconds, nb::arg("reset") = false,
        "Seconds the host has waited for CUDA queues so far (reset: then start again from 0).");
  m.def("_gpu_timeline", [](bool on) {
          const gpu::TimelineStats t = gpu::cuda_timeline(on);
          nb::dict d;
          d["busy_seconds"] = t.busy_seconds;
          d["span_seconds"] = t.span_seconds;
          d["launches"] = t.launches;
          return d;
        }, nb::arg("on"),
        "CUDA kernel timeline (diagnostic): turns event brackets around every kernel launch on or off and "
        "returns, for the launches since the last call, the kernels' busy seconds and the queue's span.");
  m.def("_gpu_raster_backward_pixels", &gpu::set_raster_backward_pixels, nb::arg("pixels"),
        "Pixels a thread of the GPU rasterizer's backward tile kernel takes: 0 automatic, or 1, 2 "
        "(where the tile size allows); returns the previous setting. For tests and measurement.");
  m.def("_gpu_gemm_library", &gpu::vendor_gemm_info, "The vendor GEMM library, or why there is none.");
}

}  // namespace sc
