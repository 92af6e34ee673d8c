// Argument struct of the dialect's self-test kernels (gpu/kernels/selftest.h).
#pragma once
#include "gpu/dialect.h"

struct ScSelfTestArgs {
  SC_PTR(float) fout;
  SC_PTR(unsigned int) uout;
  SC_PTR(const float) fin;
  sc_i64 n;
};
