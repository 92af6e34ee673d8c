// Where a tensor's memory lives: the CPU, a GPU of a backend that was built
// (CUDA, Metal), or the GPU simulator ("sim": GPU kernels run on the CPU).
#pragma once
#include <cstdint>
#include <string>

namespace sc {

enum class DeviceType : uint8_t { CPU, CUDA, Metal, Sim };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  bool is_gpu() const { return type != DeviceType::CPU; }  // sim counts: it runs GPU kernels
  std::string str() const;
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1", "metal", "sim"
};

// The device of tensors made by the Python factories when none is named.
Device default_device();
void set_default_device(Device d);

}  // namespace sc
