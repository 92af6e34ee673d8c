#include "gpu/metal/mps_gemm.h"

#include <dlfcn.h>
#include <objc/message.h>
#include <objc/runtime.h>

#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>
#include <type_traits>

namespace sc::metal {

namespace {

// ---- the MPS methods used, typed as Apple's MPS documentation declares them ----
//
// Each entry names the Objective-C selector and the C signature of the method
// (self and _cmd left out). NSUInteger is NS::UInteger, BOOL is bool (arm64),
// double is double, MPSDataType is uint32_t, objects are pointers. A call
// converts every argument to the declared type with brace initialisation, so a
// narrower integer, a wrong object type or a missing argument does not compile,
// and each selector's colons are checked against its signature's arity.

// Opaque types for the MPS objects (distinct, so one cannot be passed for another).
struct MPSMatrixDescriptor;
struct MPSMatrix;
struct MPSMatrixMultiplication;

constexpr size_t colons(const char* s) {
  size_t n = 0;
  for (; *s; ++s) n += *s == ':';
  return n;
}

template <typename Sig>
struct Signature;
template <typename R, typename... A>
struct Signature<R(A...)> {
  static constexpr size_t arity = sizeof...(A);
  using Ret = R;
  // Only void and object results: objc_msgSend itself serves them on every
  // ABI (no objc_msgSend_stret / _fpret variants needed).
  static_assert(std::is_void<R>::value || std::is_pointer<R>::value, "MPS methods here return void or an object");
  template <typename... G>
  static R send(const void* receiver, SEL sel, G... given) {
    static_assert(sizeof...(G) == sizeof...(A), "Objective-C message: wrong number of arguments for its method");
    using Fn = R (*)(const void*, SEL, A...);  // objc_msgSend called as the method's own C function type
    return reinterpret_cast<Fn>(&objc_msgSend)(receiver, sel, A{given}...);
  }
};

#define SC_OBJC_METHOD(Ident, selector, ...)                                                   \
  struct Ident {                                                                               \
    using Sig = Signature<__VA_ARGS__>;                                                        \
    static_assert(colons(selector) == Sig::arity,                                              \
                  "method " #Ident ": selector '" selector "' and its signature differ in arity"); \
    static SEL sel() {                                                                         \
      static const SEL s = sel_registerName(selector);                                         \
      return s;                                                                                \
    }                                                                                          \
  }

// NSObject
SC_OBJC_METHOD(Alloc, "alloc", void*());
SC_OBJC_METHOD(Release, "release", void());
// MPSMatrixDescriptor (macOS 10.13): a class method, autoreleased result.
SC_OBJC_METHOD(DescriptorWithRows, "matrixDescriptorWithRows:columns:matrices:rowBytes:matrixBytes:dataType:",
               MPSMatrixDescriptor*(NS::UInteger, NS::UInteger, NS::UInteger, NS::UInteger, NS::UInteger, uint32_t));
// MPSMatrix (initWithBuffer:offset:descriptor: since macOS 10.15).
SC_OBJC_METHOD(MatrixInit, "initWithBuffer:offset:descriptor:",
               MPSMatrix*(MTL::Buffer*, NS::UInteger, MPSMatrixDescriptor*));
// MPSMatrixMultiplication (macOS 10.13): C = alpha op(A) op(B) + beta C.
SC_OBJC_METHOD(MultiplicationInit,
               "initWithDevice:transposeLeft:transposeRight:resultRows:resultColumns:interiorColumns:alpha:beta:",
               MPSMatrixMultiplication*(MTL::Device*, bool, bool, NS::UInteger, NS::UInteger, NS::UInteger, double,
                                        double));
SC_OBJC_METHOD(SetBatchStart, "setBatchStart:", void(NS::UInteger));
SC_OBJC_METHOD(SetBatchSize, "setBatchSize:", void(NS::UInteger));
SC_OBJC_METHOD(Encode, "encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:",
               void(MTL::CommandBuffer*, MPSMatrix*, MPSMatrix*, MPSMatrix*));

#undef SC_OBJC_METHOD

template <typename Method, typename... G>
typename Method::Sig::Ret send(const void* receiver, G... given) {
  return Method::Sig::send(receiver, Method::sel(), given...);
}

// MPSSupportsMTLDevice (MPSCore), looked up at run time: BOOL (id<MTLDevice>).
using SupportsFn = bool (*)(const MTL::Device*);

constexpr const char* kFramework = "/System/Library/Frameworks/MetalPerformanceShaders.framework/MetalPerformanceShaders";
constexpr size_t kKernelsKept = 64;  // cached MPSMatrixMultiplication objects (one per shape and transposes)

}  // namespace

bool mps_layout(int64_t nb, int64_t rows, int64_t cols, const int64_t strides[3], size_t elem,
                bool allow_transpose, MpsMatrix* out) {
  if (nb < 1 || rows < 1 || cols < 1 || elem == 0) return false;
  for (int d = 0; d < 3; ++d)
    if (strides[d] < 0) return false;
  MpsMatrix m;
  // Row-major: element (r, c) at r * strides[1] + c.
  if (strides[2] == 1 || cols == 1) {
    const int64_t rs = rows == 1 ? cols : strides[1];
    if (rs >= cols) {
      m.rows = size_t(rows), m.cols = size_t(cols), m.row_bytes = size_t(rs) * elem;
      m.transposed = false;
    }
  }
  // Else the transpose of a row-major (cols x rows) matrix: (r, c) at c * strides[2] + r.
  if (m.row_bytes == 0 && allow_transpose && (strides[1] == 1 || rows == 1)) {
    const int64_t rs = cols == 1 ? rows : strides[2];
    if (rs >= rows) {
      m.rows = size_t(cols), m.cols = size_t(rows), m.row_bytes = size_t(rs) * elem;
      m.transposed = true;
    }
  }
  if (m.row_bytes == 0) return false;
  const size_t span = m.rows * m.row_bytes;  // rows * rowBytes: a matrix's extent for MPS
  if (nb == 1) {
    m.matrix_bytes = span;
  } else {
    m.matrix_bytes = size_t(strides[0]) * elem;
    if (m.matrix_bytes < span || m.matrix_bytes % m.row_bytes != 0) return false;
  }
  *out = m;
  return true;
}

MpsGemm::~MpsGemm() {
  for (auto& k : kernels_) send<Release>(k.second);
}

bool MpsGemm::available() {
  if (state_ != 0) return state_ > 0;
  state_ = -1;
  descriptor_class_ = objc_lookUpClass("MPSMatrixDescriptor");
  if (!descriptor_class_) {  // the framework is linked, but load it if the linker dropped it
    if (!dlopen(kFramework, RTLD_NOW | RTLD_GLOBAL)) {
      why_not_ = "MetalPerformanceShaders cannot be loaded";
      return false;
    }
    descriptor_class_ = objc_lookUpClass("MPSMatrixDescriptor");
  }
  matrix_class_ = objc_lookUpClass("MPSMatrix");
  multiplication_class_ = objc_lookUpClass("MPSMatrixMultiplication");
  if (!descriptor_class_ || !matrix_class_ || !multiplication_class_) {
    why_not_ = "MetalPerformanceShaders has no MPSMatrixDescriptor / MPSMatrix / MPSMatrixMultiplication";
    return false;
  }
  if (auto supports = reinterpret_cast<SupportsFn>(dlsym(RTLD_DEFAULT, "MPSSupportsMTLDevice"))) {
    if (!supports(device_)) {
      why_not_ = "MetalPerformanceShaders does not support this device";
      return false;
    }
  }
  state_ = 1;
  return true;
}

std::string MpsGemm::info() {
  if (available()) return "MPSMatrixMultiplication (MetalPerformanceShaders)";
  return "none (" + why_not_ + ")";
}

void* MpsGemm::kernel(bool ta, bool tb, size_t M, size_t N, size_t K) {
  const auto key = std::make_tuple(ta, tb, M, N, K);
  auto it = kernels_.find(key);
  if (it != kernels_.end()) return it->second;
  if (kernels_.size() >= kKernelsKept) {  // many shapes: start over rather than grow without bound
    for (auto& k : kernels_) send<Release>(k.second);
    kernels_.clear();
  }
  auto* raw = static_cast<MPSMatrixMultiplication*>(send<Alloc>(multiplication_class_));
  MPSMatrixMultiplication* k = raw ? send<MultiplicationInit>(raw, device_, ta, tb, NS::UInteger(M), NS::UInteger(N),
                                                             NS::UInteger(K), 1.0, 0.0)
                                   : nullptr;
  if (!k) return nullptr;  // init released the object it failed on
  kernels_.emplace(key, k);
  return k;
}

bool MpsGemm::encode(MTL::CommandBuffer* cb, MpsType type, const MpsMatrix& a, const MpsMatrix& b,
                     const MpsMatrix& c, size_t M, size_t N, size_t K, size_t nb) {
  if (!available() || !cb || c.transposed) return false;
  auto* k = static_cast<MPSMatrixMultiplication*>(kernel(a.transposed, b.transposed, M, N, K));
  if (!k) return false;
  const uint32_t dtype = static_cast<uint32_t>(type);
  MPSMatrix* m[3] = {nullptr, nullptr, nullptr};
  const MpsMatrix* ops[3] = {&a, &b, &c};
  bool ok = true;
  for (int i = 0; i < 3 && ok; ++i) {
    const MpsMatrix& o = *ops[i];
    MPSMatrixDescriptor* d =
        send<DescriptorWithRows>(descriptor_class_, NS::UInteger(o.rows), NS::UInteger(o.cols), NS::UInteger(nb),
                                 NS::UInteger(o.row_bytes), NS::UInteger(o.matrix_bytes), dtype);
    auto* raw = d ? static_cast<MPSMatrix*>(send<Alloc>(matrix_class_)) : nullptr;
    m[i] = raw ? send<MatrixInit>(raw, o.buffer, NS::UInteger(o.offset), d) : nullptr;
    ok = m[i] != nullptr;
  }
  if (ok) {
    send<SetBatchStart>(k, NS::UInteger(0));
    send<SetBatchSize>(k, NS::UInteger(nb));
    send<Encode>(k, cb, m[0], m[1], m[2]);
  }
  // The command buffer keeps what it needs of the encoded work (the buffers it
  // retains); the MPSMatrix wrappers can go now.
  for (MPSMatrix* x : m)
    if (x) send<Release>(x);
  return ok;
}

}  // namespace sc::metal
