#include "core/dtype.h"

#include "core/errors.h"

namespace sc {

size_t itemsize(DType dt) {
  switch (dt) {
    case DType::Bool: case DType::UInt8: return 1;
    case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int32: case DType::UInt32: case DType::Float32: return 4;
    case DType::Int64: case DType::Float64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::Bool: return "bool";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::UInt32: return "uint32";
    case DType::Int64: return "int64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  for (DType d : {DType::Bool, DType::UInt8, DType::Int32, DType::UInt32, DType::Int64,
                  DType::Float16, DType::BFloat16, DType::Float32, DType::Float64})
    if (n == dtype_name(d)) return d;
  throw TypeError("dtype: expected one of bool, uint8, int32, uint32, int64, float16, "
                  "bfloat16, float32, float64; got '" + n + "'");
}

bool is_floating(DType dt) {
  return dt == DType::Float16 || dt == DType::BFloat16 || dt == DType::Float32 ||
         dt == DType::Float64;
}
bool is_half(DType dt) { return dt == DType::Float16 || dt == DType::BFloat16; }

static int rank(DType d) {
  switch (d) {
    case DType::Bool: return 0;
    case DType::UInt8: return 1;
    case DType::Int32: return 2;
    case DType::UInt32: return 3;
    case DType::Int64: return 4;
    case DType::BFloat16: return 5;
    case DType::Float16: return 6;
    case DType::Float32: return 7;
    case DType::Float64: return 8;
  }
  return 0;
}

DType promote(DType a, DType b) {
  if (a == b) return a;
  if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
    return DType::Float32;
  if ((a == DType::Int32 && b == DType::UInt32) || (a == DType::UInt32 && b == DType::Int32))
    return DType::Int64;
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace sc
