// Registering a differentiable op, built-in or fused, with a hand-written backward.
//
//   std::vector<Tensor> my_fused_op(const Tensor& a, const Tensor& b) {
//     Tensor out = ...;          // compute the forward with raw loops/kernels
//     Tensor saved = ...;        // anything backward needs, captured by value
//     std::vector<Tensor> outs{out};
//     record_op("my_fused_op", {a, b}, outs,
//               [a, b, saved](const std::vector<Tensor>& g) -> std::vector<Tensor> {
//                 return {grad_wrt_a(g[0], ...), grad_wrt_b(g[0], ...)};
//               });
//     return outs;
//   }
//
// - record_op does nothing when grad mode is off or no input requires grad.
// - The backward gets one gradient per output (zeros where an output got none)
//   and returns one per input (an undefined Tensor for "no gradient"); it runs
//   with grad mode off, and returned gradients must have the input's shape.
// - Capture what backward needs by value. Capturing an *output* would make a
//   reference cycle (output -> node -> output): save its detach() instead.
// - Several outputs are fine (e.g. image and alpha of the rasterizer).
#pragma once
#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace sc {

bool any_requires_grad(const std::vector<Tensor>& inputs);

void record_op(const std::string& name, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, BackwardFn backward);

// Convenience for the common single-output case; returns `output`.
Tensor record_op1(const std::string& name, const std::vector<Tensor>& inputs, Tensor output,
                  BackwardFn backward);

}  // namespace sc
