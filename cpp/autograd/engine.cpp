#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "autograd/function.h"
#include "ops/ops.h"

namespace sc {

// Nodes whose last owner is being destroyed somewhere up the stack: deeper
// destructors hand their children to the outermost one instead of recursing.
static thread_local std::vector<std::shared_ptr<Node>>* t_pending_nodes = nullptr;

Node::~Node() {
  std::vector<std::shared_ptr<Node>> local;
  bool outermost = t_pending_nodes == nullptr;
  if (outermost) t_pending_nodes = &local;
  for (auto& e : next_edges)
    if (e.fn) t_pending_nodes->push_back(std::move(e.fn));
  next_edges.clear();
  if (!outermost) return;
  while (!local.empty()) {
    std::shared_ptr<Node> n = std::move(local.back());
    local.pop_back();
    n.reset();  // may push n's children onto `local`
  }
  t_pending_nodes = nullptr;
}

static thread_local bool g_grad_enabled = true;
bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool e) { g_grad_enabled = e; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  for (auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

static Edge edge_for(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (t.impl()->grad_fn) return {t.impl()->grad_fn, t.impl()->output_nr};
  return {std::make_shared<AccumulateGrad>(t.impl_ptr()), 0};
}

void record_op(const std::string& name, const std::vector<Tensor>& inputs,
               std::vector<Tensor>& outputs, BackwardFn backward) {
  if (!grad_enabled() || !any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>();
  node->op_name = name;
  node->backward = std::move(backward);
  for (auto& t : inputs) node->next_edges.push_back(edge_for(t));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    Tensor& o = outputs[i];
    node->outputs.push_back({o.shape(), o.dtype(), o.device()});
    if (!is_floating(o.dtype())) continue;  // integer outputs carry no gradient
    o.impl()->grad_fn = node;
    o.impl()->output_nr = i;
    o.impl()->requires_grad = true;
  }
}

Tensor record_op1(const std::string& name, const std::vector<Tensor>& inputs, Tensor output,
                  BackwardFn backward) {
  std::vector<Tensor> outs{output};
  record_op(name, inputs, outs, std::move(backward));
  return outs[0];
}

// True when nothing but this call and the engine's slot can reach g's memory: a
// contiguous tensor spanning all of a storage we allocated, whose TensorImpl is
// held only by `grads` and the local copy. Such a gradient becomes .grad as is;
// any other is copied, since it may alias a tensor someone else still sees.
static bool stealable(const Tensor& g) {
  const auto& impl = g.impl_ptr();
  const auto& st = impl->storage;
  return impl.use_count() <= 2 && st && st.use_count() == 1 && st->allocated && !st->readonly &&
         !impl->grad_fn && !impl->requires_grad && g.offset() == 0 && g.is_contiguous() &&
         (size_t)g.numel() * itemsize(g.dtype()) == st->nbytes;
}

std::vector<Tensor> AccumulateGrad::apply(const std::vector<Tensor>& grads) {
  Tensor g = grads.empty() ? Tensor() : grads[0];
  if (!g.defined()) return {};
  if (g.dtype() != leaf->dtype) g = g.to(leaf->dtype);
  if (g.shape() != leaf->shape)
    throw ValueError("backward: gradient of shape " + shape_str(g.shape()) +
                     " for a leaf of shape " + shape_str(leaf->shape));
  if (leaf->grad) {
    Tensor old(leaf->grad);
    if (old.shape() != leaf->shape)
      throw ValueError("backward: the leaf's existing .grad has shape " + shape_str(old.shape()) +
                       ", expected " + shape_str(leaf->shape));
    Tensor sum = add(old, g);
    leaf->grad = (sum.dtype() == leaf->dtype ? sum : sum.to(leaf->dtype)).impl_ptr();
  } else {
    // Own the memory: the incoming gradient may alias another tensor's.
    leaf->grad = stealable(g) ? g.impl_ptr() : g.clone().impl_ptr();
  }
  return {};
}

// Adds g into the gradient buffer of output `slot` of fn, cast to that output's
// dtype; a gradient of the wrong shape is a bug in some op's backward and is
// reported instead of being read out of bounds.
static void accumulate(const Node& fn, std::vector<Tensor>& slot_list, uint32_t slot, Tensor g) {
  if (slot < fn.outputs.size()) {
    const OutputMeta& m = fn.outputs[slot];
    if (g.dtype() != m.dtype) g = g.to(m.dtype);
    if (g.shape() != m.shape)
      throw std::logic_error("backward: gradient of shape " + shape_str(g.shape()) +
                             " for an output of " + fn.name() + " of shape " + shape_str(m.shape));
  }
  Tensor& s = slot_list[slot];
  s = s.defined() ? add(s, g) : g;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots) {
  NoGradGuard no_grad;
  // Count, for every node reachable from the roots, how many edges point at it.
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::vector<std::shared_ptr<Node>> stack, ready;
  std::unordered_set<Node*> seen;
  for (size_t i = 0; i < roots.size(); ++i) {
    Edge e = edge_for(roots[i]);
    if (!e.fn) continue;
    if (seen.insert(e.fn.get()).second) stack.push_back(e.fn);
    auto& buf = buffers[e.fn.get()];
    buf.resize(std::max<size_t>(buf.size(), e.fn->outputs.size() ? e.fn->outputs.size() : 1));
    accumulate(*e.fn, buf, e.input_nr, grad_roots[i]);
  }
  std::vector<std::shared_ptr<Node>> roots_fn = stack;
  while (!stack.empty()) {
    auto n = stack.back();
    stack.pop_back();
    for (auto& e : n->next_edges) {
      if (!e.fn) continue;
      deps[e.fn.get()]++;
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn);
    }
  }
  for (auto& r : roots_fn)
    if (deps[r.get()] == 0) ready.push_back(r);

  while (!ready.empty()) {
    auto n = ready.back();
    ready.pop_back();
    auto& buf = buffers[n.get()];
    size_t nout = std::max<size_t>(n->outputs.size(), 1);
    buf.resize(nout);
    for (size_t i = 0; i < n->outputs.size(); ++i)
      if (!buf[i].defined()) buf[i] = Tensor::zeros(n->outputs[i].shape, n->outputs[i].dtype, n->outputs[i].device);
    std::vector<Tensor> grads_in = n->apply(buf);
    buffers.erase(n.get());
    if (!n->next_edges.empty() && grads_in.size() != n->next_edges.size())
      throw std::logic_error("backward of " + n->name() + " returned " +
                             std::to_string(grads_in.size()) + " gradients for " +
                             std::to_string(n->next_edges.size()) + " inputs");
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      auto& e = n->next_edges[i];
      if (!e.fn) continue;
      if (grads_in[i].defined()) {
        auto& b = buffers[e.fn.get()];
        b.resize(std::max<size_t>(e.fn->outputs.size(), 1));
        accumulate(*e.fn, b, e.input_nr, grads_in[i]);
      }
      if (--deps[e.fn.get()] == 0) ready.push_back(e.fn);
    }
  }
}

void Tensor::backward(const Tensor& grad_output) const {
  if (!requires_grad())
    throw ValueError("backward: this tensor does not require grad and has no grad_fn");
  Tensor g = grad_output;
  if (!g.defined()) {
    if (numel() != 1)
      throw ValueError("backward: grad can be implied only for a one-element output, got shape " +
                       shape_str(shape()));
    g = Tensor::ones(shape(), dtype(), device());
  } else if (g.shape() != shape()) {
    throw ValueError("backward: grad of shape " + shape_str(g.shape()) +
                     " does not match the output's shape " + shape_str(shape()));
  } else if (g.dtype() != dtype()) {
    NoGradGuard no_grad;
    g = g.to(dtype());
  }
  run_backward({*this}, {g});
}

}  // namespace sc
