// Tensor: a strided view (shape, strides in elements, offset) over shared
// Storage, with a dtype and a device, plus the autograd fields.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/storage.h"

namespace sc {

using Shape = std::vector<int64_t>;
struct Node;  // autograd/node.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::Float32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // leaf tensors only
  std::shared_ptr<Node> grad_fn;     // set on results of differentiable ops
  uint32_t output_nr = 0;            // which output of grad_fn this is
};

int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Normalise an axis into [0, ndim); raises IndexError naming `what`.
int64_t wrap_axis(int64_t axis, int64_t ndim, const char* what = "axis");

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation --------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = {});
  static Tensor scalar(double value, DType dtype = DType::Float32);
  static Tensor from_storage(std::shared_ptr<Storage> s, const Shape& shape, const Shape& strides,
                             int64_t offset, DType dtype);

  // ---- metadata --------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t ndim() const { return (int64_t)impl_->shape.size(); }
  int64_t numel() const { return numel_of(impl_->shape); }
  int64_t size(int64_t axis) const;
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  int64_t offset() const { return impl_->offset; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // The first element, for CPU code. A tensor on a GPU device raises here: CPU
  // kernels never read device memory (gpu::gpu_ptr gives kernels' addresses).
  void* raw() const {
    if (impl_->storage->device.type != DeviceType::CPU) throw_not_on_cpu();
    return static_cast<char*>(impl_->storage->data) + impl_->offset * (int64_t)itemsize(dtype());
  }
  template <typename T> T* data() const { return reinterpret_cast<T*>(raw()); }

  // ---- conversions -------------------------------------------------------
  Tensor contiguous() const;             // self when already contiguous
  Tensor clone() const;                  // always a fresh contiguous copy (differentiable)
  Tensor to(DType dtype) const;          // cast (differentiable for float types)
  // A copy on another device (self when already there); differentiable. The
  // copy to the CPU waits for the device's queued work.
  Tensor to_device(Device device) const;
  double item() const;                   // one-element tensors
  int64_t item_int() const;              // exact for integer dtypes (truncates floats)
  // In place, broadcasting src, no autograd; safe when src overlaps *this.
  // ValueError when *this wraps read-only memory.
  void copy_from(const Tensor& src);

  // ---- views (no copy; differentiable) ---------------------------------
  Tensor reshape(Shape shape) const;     // copies only when strides forbid a view
  Tensor permute(std::vector<int64_t> dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  // start/stop count from the end when negative, except stop == -1 with a
  // negative step, which means "down to index 0 inclusive"; clamped to the axis.
  Tensor slice(int64_t axis, int64_t start, int64_t stop, int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;  // drops the axis
  Tensor expand(const Shape& shape) const;           // broadcast_to
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;

  // ---- autograd ----------------------------------------------------------
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& set_requires_grad(bool r);
  Tensor grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  Tensor detach() const;  // shares memory, no history
  void backward(const Tensor& grad_output = Tensor()) const;

  std::string repr() const;

 private:
  [[noreturn]] void throw_not_on_cpu() const;
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace sc
