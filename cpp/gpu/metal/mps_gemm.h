// GEMM through Metal Performance Shaders (MPSMatrixMultiplication), encoded
// into the runtime's open command buffer like any other dispatch. Apple ships
// no C++ interface to MPS, so mps_gemm.cpp sends the Objective-C messages
// itself through metal-cpp's NS::Object::sendMessage, from a table of the MPS
// methods it uses, each with the C types Apple's documentation gives (checked
// on Linux by tools/check_metal_host.py: arity and argument types).
//
// The runtime (metal_runtime.cpp) decides what MPS gets: float32 and float16
// operands whose layout mps_layout() accepts; everything else (bfloat16, a
// layout MPS cannot describe, a device MPS does not support) falls back to
// the tiled kernel, as on a backend without a vendor GEMM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace MTL {
class Buffer;
class CommandBuffer;
class Device;
}  // namespace MTL

namespace sc::metal {

// MPSDataType values (MPSCoreTypes.h): MPSDataTypeFloatBit (0x10000000) | bits.
enum class MpsType : uint32_t { Float16 = 0x10000000u | 16u, Float32 = 0x10000000u | 32u };

// One GEMM operand as MPS describes it: `batch` matrices of `rows` x `cols`
// elements as stored (row-major, rows `row_bytes` apart, matrices
// `matrix_bytes` apart), from byte `offset` of `buffer`. `transposed`: the
// operand is the transpose of the stored matrix (MPS's transposeLeft/Right).
struct MpsMatrix {
  MTL::Buffer* buffer = nullptr;
  size_t offset = 0;
  size_t rows = 0, cols = 0, row_bytes = 0, matrix_bytes = 0;
  bool transposed = false;
};

// Describes a (nb, R, C) operand with element strides `strides` (elements of
// `elem` bytes) for MPS: row-major rows (stride[2] == 1), or, when
// `allow_transpose`, the transpose of a row-major matrix (stride[1] == 1).
// MPS's rules (MPSMatrixDescriptor): rowBytes a multiple of the element size
// and at least a row; matrixBytes a multiple of rowBytes and at least
// rows * rowBytes. False where the layout breaks them (a broadcast batch
// stride of 0, rows overlapping): the caller then uses the tiled kernel.
// Fills everything but buffer and offset.
bool mps_layout(int64_t nb, int64_t rows, int64_t cols, const int64_t strides[3], size_t elem,
                bool allow_transpose, MpsMatrix* out);

class MpsGemm {
 public:
  explicit MpsGemm(MTL::Device* device) : device_(device) {}
  ~MpsGemm();
  MpsGemm(const MpsGemm&) = delete;
  MpsGemm& operator=(const MpsGemm&) = delete;

  // MPS is loaded and supports this device (decided once).
  bool available();
  // What is used, or why MPS is not ("MPSMatrixMultiplication (MetalPerformanceShaders)").
  std::string info();

  // Encodes c[i] = op(a[i]) @ op(b[i]) for i < nb into `cb` (no encoder of
  // the caller may be open on it): op(a) is M x K, op(b) K x N, c M x N. The
  // caller holds the runtime's lock and an autorelease pool. False when MPS
  // refuses (nothing is encoded then).
  bool encode(MTL::CommandBuffer* cb, MpsType type, const MpsMatrix& a, const MpsMatrix& b,
              const MpsMatrix& c, size_t M, size_t N, size_t K, size_t nb);

 private:
  void* kernel(bool ta, bool tb, size_t M, size_t N, size_t K);  // cached MPSMatrixMultiplication

  MTL::Device* device_;
  int state_ = 0;  // 0 not looked at yet, 1 available, -1 not
  std::string why_not_;
  const void* descriptor_class_ = nullptr;
  const void* matrix_class_ = nullptr;
  const void* multiplication_class_ = nullptr;
  std::map<std::tuple<bool, bool, size_t, size_t, size_t>, void*> kernels_;
};

}  // namespace sc::metal
