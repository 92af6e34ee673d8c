// Marching cubes on a GPU device (gpu/kernels/marching_cubes.h): the CPU's
// mesh (mesh/marching_cubes.h), vertex for vertex and face for face.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sc::gpu {

struct McDeviceInput {
  Tensor volume;   // float32 (X, Y, Z) on a GPU device
  Tensor mask;     // optional: uint8 or bool (X, Y, Z), same device
  Tensor colors;   // optional: float32 (X, Y, Z, C), same device
  float level = 0.0f, sign = 1.0f;
  float spacing[3] = {1.0f, 1.0f, 1.0f};
  float origin[3] = {0.0f, 0.0f, 0.0f};
  bool pad = false;
  bool normals = true;
  bool force_check_totals = false;  // tests: count the exact 64-bit totals even on small grids
};

struct McDeviceMesh {
  Tensor vertices;  // (V, 3) float32, on the volume's device
  Tensor faces;     // (F, 3) int32
  Tensor normals;   // (V, 3) float32 or undefined
  Tensor colors;    // (V, C) float32 or undefined
};

// Validates as the CPU does (ValueError naming the argument; NaN / inf values
// inside the mask raise with their count, as on the CPU). Reads the vertex and
// triangle totals and the status words from the device once, to size the outputs.
McDeviceMesh marching_cubes(const McDeviceInput& in);

// The default level's inputs: (any finite valid value, count of non-finite
// valid values, smallest and largest finite valid value). One host read.
struct McRange {
  bool any_finite = false;
  int64_t non_finite = 0;
  float min = 0.0f, max = 0.0f;
};
McRange marching_cubes_range(const Tensor& volume, const Tensor& mask);

}  // namespace sc::gpu
