// The simulator's gpu::Runtime (device "sim", present in every build).
#pragma once
#include "gpu/runtime.h"

namespace sc::sim {
gpu::Runtime& runtime();
}
