// Where a tensor's memory lives. Only "cpu" holds data today; "cuda" and
// "metal" are slots that their backends fill.
#pragma once
#include <string>

namespace sc {

enum class DeviceType : uint8_t { CPU, CUDA, Metal };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1", "metal"
};

}  // namespace sc
