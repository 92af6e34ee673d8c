// Autograd graph: every differentiable result points (grad_fn) at the Node that
// made it; a Node's edges point at the Nodes that made its inputs.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {

struct Node;

struct Edge {
  std::shared_ptr<Node> fn;  // null: this input needs no gradient
  uint32_t input_nr = 0;     // which output of fn the input was
};

struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;  // where the zeros of a missing gradient are made
};

struct Node {
  std::vector<Edge> next_edges;      // one per input of the op
  std::vector<OutputMeta> outputs;   // one per output of the op
  // Frees the graph below this node with a loop, not recursion, so long
  // chains (an RNN unrolled 100k steps) cannot overflow the stack.
  virtual ~Node();
  // grads: one per output, already defined (zeros filled in by the engine).
  // Returns one gradient per input; an undefined Tensor means "none".
  virtual std::vector<Tensor> apply(const std::vector<Tensor>& grads) = 0;
  virtual std::string name() const = 0;
};

// Sink for a leaf tensor that requires grad: adds into leaf.grad.
struct AccumulateGrad : Node {
  std::shared_ptr<TensorImpl> leaf;
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> l) : leaf(std::move(l)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
};

using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

// A node whose backward is a C++ callable: how every op, built-in or fused,
// registers its gradient. See autograd/function.h.
struct FunctionNode : Node {
  std::string op_name;
  BackwardFn backward;
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override { return backward(grads); }
  std::string name() const override { return op_name; }
};

// Runs backward from `roots` with the given output gradients.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots);

}  // namespace sc
