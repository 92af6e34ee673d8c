// Which GPU backends this build has, and how many devices each sees (MLX-style:
// a backend that was not built answers false / 0).
#pragma once

namespace sc {

bool cuda_built();
int cuda_device_count();  // 0 without a driver or a GPU
bool metal_built();
int metal_device_count();

}  // namespace sc
