// Optimizer bookkeeping: parameter groups, validation, row surgery, state I/O.
// The per-element updates are in optim/step.cpp (bodies in kernels/optim.h).
#include "optim/optimizer.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/thread_pool.h"
#include "core/writable.h"
#include "ops/ops.h"

namespace sc {

const char* optim_kind_name(OptimKind k) {
  switch (k) {
    case OptimKind::Adam: return "Adam";
    case OptimKind::AdamW: return "AdamW";
    case OptimKind::SGD: return "SGD";
  }
  return "Optimizer";
}

OptimKind optim_kind_from_name(const std::string& n) {
  if (n == "Adam") return OptimKind::Adam;
  if (n == "AdamW") return OptimKind::AdamW;
  if (n == "SGD") return OptimKind::SGD;
  throw ValueError("kind: expected 'Adam', 'AdamW' or 'SGD', got '" + n + "'");
}

static std::string num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

void check_lr(double lr) {
  if (!(std::isfinite(lr) && lr >= 0.0))
    throw ValueError("lr: expected a finite learning rate >= 0, got " + num(lr));
}

void check_group_hyper(OptimKind kind, const ParamGroup& g) {
  check_lr(g.lr);
  if (!(std::isfinite(g.weight_decay) && g.weight_decay >= 0.0))
    throw ValueError("weight_decay: expected a finite value >= 0, got " + num(g.weight_decay));
  if (kind == OptimKind::SGD) {
    if (!(std::isfinite(g.momentum) && g.momentum >= 0.0))
      throw ValueError("momentum: expected a finite value >= 0, got " + num(g.momentum));
    if (!(g.dampening >= 0.0 && g.dampening <= 1.0))
      throw ValueError("dampening: expected a value in [0, 1], got " + num(g.dampening));
    if (g.nesterov && (g.momentum <= 0.0 || g.dampening != 0.0))
      throw ValueError("nesterov: requires momentum > 0 and dampening == 0, got momentum=" +
                       num(g.momentum) + ", dampening=" + num(g.dampening));
  } else {
    if (!(g.beta1 >= 0.0 && g.beta1 < 1.0))
      throw ValueError("betas[0]: expected a value in [0, 1), got " + num(g.beta1));
    if (!(g.beta2 >= 0.0 && g.beta2 < 1.0))
      throw ValueError("betas[1]: expected a value in [0, 1), got " + num(g.beta2));
    if (!(std::isfinite(g.eps) && g.eps > 0.0))
      throw ValueError("eps: expected a finite value > 0, got " + num(g.eps));
  }
}

static std::string group_label(const ParamGroup& g, int64_t gi) {
  return g.name.empty() ? "group " + std::to_string(gi) : "group '" + g.name + "'";
}

// ---- groups ---------------------------------------------------------------------

void Optimizer::check_new_param(const Tensor& p, const char* argname, const Tensor* replacing) const {
  std::string a = std::string(name()) + ": " + argname;
  if (!p.defined()) throw ValueError(a + ": expected a Tensor, got None");
  if (p.dtype() != DType::Float32 && p.dtype() != DType::Float64)
    throw TypeError(a + ": expected a float32 or float64 tensor, got " + dtype_name(p.dtype()));
  if (replacing && p.dtype() != replacing->dtype())
    throw TypeError(a + ": expected dtype " + dtype_name(replacing->dtype()) +
                    " (the dtype of the parameter it replaces), got " + dtype_name(p.dtype()));
  if (p.numel() > 0 && !p.is_contiguous())
    throw ValueError(a + ": expected a contiguous tensor, got strides " + shape_str(p.strides()) +
                     " for shape " + shape_str(p.shape()) + "; call .contiguous() first");
  if (!p.is_leaf())
    throw ValueError(a + ": expected a leaf tensor (one created by the user, not the result of "
                     "an op); optimize a detached copy instead");
  if (!p.requires_grad())
    throw ValueError(a + ": expected a tensor with requires_grad=True, got requires_grad=False");
  check_writable(p, a.c_str());  // every step writes into it
  for (int64_t gi = 0; gi < (int64_t)groups_.size(); ++gi)
    for (const Tensor& q : groups_[gi]->params)
      if (q.same(p) && !(replacing && replacing->same(p)))
        throw ValueError(a + ": this tensor is already a parameter of " +
                         group_label(*groups_[gi], gi) + " of this optimizer");
}

std::shared_ptr<ParamGroup> Optimizer::add_param_group(ParamGroup g) {
  check_group_hyper(kind_, g);
  if (!g.name.empty())
    for (auto& q : groups_)
      if (q->name == g.name)
        throw ValueError(std::string(name()) + ": a parameter group named '" + g.name +
                         "' already exists");
  for (size_t i = 0; i < g.params.size(); ++i) {
    std::string arg = "params[" + std::to_string(i) + "]";
    check_new_param(g.params[i], arg.c_str(), nullptr);
    for (size_t j = 0; j < i; ++j)
      if (g.params[j].same(g.params[i]))
        throw ValueError(std::string(name()) + ": " + arg + ": the same tensor appears twice " +
                         "in the group (also params[" + std::to_string(j) + "])");
  }
  g.kind = kind_;
  g.state.assign(g.params.size(), ParamState{});
  groups_.push_back(std::make_shared<ParamGroup>(std::move(g)));
  return groups_.back();
}

std::shared_ptr<ParamGroup> Optimizer::group(int64_t index) const {
  int64_t n = (int64_t)groups_.size();
  if (index < -n || index >= n)
    throw IndexError(std::string(name()) + ": group index " + std::to_string(index) +
                     " out of range for " + std::to_string(n) + " parameter groups");
  return groups_[index < 0 ? index + n : index];
}

std::shared_ptr<ParamGroup> Optimizer::group(const std::string& gname) const {
  std::string names;
  for (auto& g : groups_) {
    if (g->name == gname) return g;
    names += (names.empty() ? "'" : ", '") + g->name + "'";
  }
  throw ValueError(std::string(name()) + ": no parameter group named '" + gname +
                   "'; the groups are [" + names + "]");
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (Tensor& p : g->params) p.set_grad(Tensor());
}

void Optimizer::find(const Tensor& p, const char* argname, int64_t& gi, int64_t& pi) const {
  if (!p.defined())
    throw ValueError(std::string(name()) + ": " + argname + ": expected a Tensor, got None");
  for (gi = 0; gi < (int64_t)groups_.size(); ++gi)
    for (pi = 0; pi < (int64_t)groups_[gi]->params.size(); ++pi)
      if (groups_[gi]->params[pi].same(p)) return;
  throw ValueError(std::string(name()) + ": " + argname + ": the tensor (shape " +
                   shape_str(p.shape()) + ") is not a parameter of this optimizer");
}

// ---- row surgery ----------------------------------------------------------------

// out row r = src row rows[r], or zeros where rows[r] < 0.
static Tensor gather_rows(const Tensor& src, const Shape& out_shape, const int64_t* rows) {
  Tensor out = Tensor::empty(out_shape, src.dtype());
  int64_t m = out_shape[0];
  size_t row_bytes = (size_t)(numel_of(out_shape) / (m > 0 ? m : 1)) * itemsize(src.dtype());
  if (m == 0 || row_bytes == 0) return out;
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(out.raw());
  parallel_for(m, 256, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (rows[r] >= 0) std::memcpy(d + r * row_bytes, s + rows[r] * row_bytes, row_bytes);
      else std::memset(d + r * row_bytes, 0, row_bytes);
    }
  });
  return out;
}

// The same on a GPU device, with `rows` there: index_select of the valid rows,
// zeros where rows < 0 (row values are checked by the gather kernel).
static Tensor gather_rows_gpu(const Tensor& src, const Tensor& rows) {
  Tensor zero = Tensor::scalar(0, DType::Int64);
  Tensor safe = where(compare(CompareOp::Lt, rows, zero), zero, rows);
  Tensor out = index_select(src.detach(), 0, safe);
  Shape mask_shape(out.ndim(), 1);
  mask_shape[0] = rows.numel();
  Tensor keep = compare(CompareOp::Ge, rows, zero).reshape(mask_shape);
  return where(keep, out, Tensor::scalar(0.0, out.dtype()));
}

void Optimizer::replace_param(const Tensor& old, const Tensor& neu, const Tensor& source_rows) {
  std::string op = std::string(name()) + ".replace_param: ";
  int64_t gi, pi;
  find(old, "old", gi, pi);
  check_new_param(neu, "new", &old);
  if (old.ndim() == 0 || neu.ndim() == 0)
    throw ValueError(op + "row surgery needs tensors with at least one axis, got old shape " +
                     shape_str(old.shape()) + " and new shape " + shape_str(neu.shape()));
  Shape old_row(old.shape().begin() + 1, old.shape().end());
  Shape new_row(neu.shape().begin() + 1, neu.shape().end());
  if (old_row != new_row)
    throw ValueError(op + "rows of new must have the shape of rows of old: old shape " +
                     shape_str(old.shape()) + " has rows " + shape_str(old_row) +
                     ", new shape " + shape_str(neu.shape()) + " has rows " + shape_str(new_row));
  if (!source_rows.defined())
    throw ValueError(op + "source_rows: expected an int64 tensor, got None");
  if (source_rows.dtype() != DType::Int64 && source_rows.dtype() != DType::Int32)
    throw TypeError(op + "source_rows: expected an int64 (or int32) tensor, got " +
                    dtype_name(source_rows.dtype()));
  int64_t n = old.shape()[0], m = neu.shape()[0];
  if (source_rows.ndim() != 1 || source_rows.shape()[0] != m)
    throw ValueError(op + "source_rows: expected shape (" + std::to_string(m) +
                     ",) (one entry per row of new), got " + shape_str(source_rows.shape()));
  if (neu.device() != old.device())
    throw ValueError(op + "new is on " + neu.device().str() + ", old on " + old.device().str());
  Tensor rows = source_rows.detach().to(DType::Int64).contiguous();
  // Rows on the host are checked here; rows on a GPU device by the gather
  // kernel (values < -1 are sent out of range so that it reports them).
  if (!rows.device().is_gpu()) {
    const int64_t* r = rows.data<int64_t>();
    for (int64_t i = 0; i < m; ++i)
      if (r[i] < -1 || r[i] >= n)
        throw IndexError(op + "source_rows[" + std::to_string(i) + "] = " + std::to_string(r[i]) +
                         " is out of range: expected -1 (fresh state) or a row of old in [0, " +
                         std::to_string(n) + ")");
  } else {
    rows = where(compare(CompareOp::Lt, rows, Tensor::scalar(-1, DType::Int64)), Tensor::scalar(n, DType::Int64), rows);
  }
  ParamGroup& g = *groups_[gi];
  ParamState& s = g.state[pi];
  ParamState ns;
  ns.step = s.step;
  if (neu.device().is_gpu()) {
    Tensor rd = rows.to_device(neu.device());
    if (s.exp_avg.defined()) ns.exp_avg = gather_rows_gpu(s.exp_avg, rd);
    if (s.exp_avg_sq.defined()) ns.exp_avg_sq = gather_rows_gpu(s.exp_avg_sq, rd);
    if (s.momentum_buffer.defined()) ns.momentum_buffer = gather_rows_gpu(s.momentum_buffer, rd);
    g.params[pi] = neu;
    s = std::move(ns);
    return;
  }
  const int64_t* r = rows.data<int64_t>();
  if (s.exp_avg.defined()) ns.exp_avg = gather_rows(s.exp_avg, neu.shape(), r);
  if (s.exp_avg_sq.defined()) ns.exp_avg_sq = gather_rows(s.exp_avg_sq, neu.shape(), r);
  if (s.momentum_buffer.defined())
    ns.momentum_buffer = gather_rows(s.momentum_buffer, neu.shape(), r);
  g.params[pi] = neu;
  s = std::move(ns);
}

void Optimizer::prune_rows(const Tensor& old, const Tensor& neu, const Tensor& keep_mask) {
  std::string op = std::string(name()) + ".prune_rows: ";
  int64_t gi, pi;
  find(old, "param", gi, pi);
  if (old.ndim() == 0)
    throw ValueError(op + "param: row surgery needs a tensor with at least one axis, got shape ()");
  if (!keep_mask.defined() || keep_mask.dtype() != DType::Bool)
    throw TypeError(op + "keep_mask: expected a bool tensor, got " +
                    (keep_mask.defined() ? dtype_name(keep_mask.dtype()) : "None"));
  int64_t n = old.shape()[0];
  if (keep_mask.ndim() != 1 || keep_mask.shape()[0] != n)
    throw ValueError(op + "keep_mask: expected shape (" + std::to_string(n) +
                     ",) (one entry per row of param), got " + shape_str(keep_mask.shape()));
  if (keep_mask.device().is_gpu()) {  // the kept count depends on the mask: read it on the host
    prune_rows(old, neu, keep_mask.detach().to_device(Device{}));
    return;
  }
  Tensor mask = keep_mask.contiguous();
  const uint8_t* k = mask.data<uint8_t>();
  Tensor rows = Tensor::empty({n}, DType::Int64);
  int64_t* r = rows.data<int64_t>();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i)
    if (k[i]) r[kept++] = i;
  if (neu.defined() && (neu.ndim() == 0 || neu.shape()[0] != kept))
    throw ValueError(op + "new_param: expected " + std::to_string(kept) +
                     " rows (the number of true entries of keep_mask), got shape " +
                     shape_str(neu.shape()));
  replace_param(old, neu, rows.slice(0, 0, kept));
}

void Optimizer::append_rows(const Tensor& old, const Tensor& neu) {
  std::string op = std::string(name()) + ".append_rows: ";
  int64_t gi, pi;
  find(old, "param", gi, pi);
  if (old.ndim() == 0)
    throw ValueError(op + "param: row surgery needs a tensor with at least one axis, got shape ()");
  int64_t n = old.shape()[0];
  if (neu.defined() && (neu.ndim() == 0 || neu.shape()[0] < n))
    throw ValueError(op + "new_param: expected at least " + std::to_string(n) +
                     " rows (the rows of param followed by the appended ones), got shape " +
                     shape_str(neu.shape()));
  int64_t m = neu.defined() ? neu.shape()[0] : 0;
  Tensor rows = Tensor::empty({m}, DType::Int64);
  int64_t* r = rows.data<int64_t>();
  for (int64_t i = 0; i < m; ++i) r[i] = i < n ? i : -1;
  replace_param(old, neu, rows);
}

// ---- state I/O ------------------------------------------------------------------

const ParamState& Optimizer::state(int64_t group_index, int64_t index) const {
  auto g = group(group_index);
  int64_t n = (int64_t)g->params.size();
  if (index < 0 || index >= n)
    throw IndexError(std::string(name()) + ": parameter index " + std::to_string(index) +
                     " out of range for a group of " + std::to_string(n) + " parameters");
  return g->state[index];
}

void Optimizer::set_state(int64_t group_index, int64_t index, int64_t step, const Tensor& exp_avg,
                          const Tensor& exp_avg_sq, const Tensor& momentum_buffer) {
  auto g = group(group_index);
  state(group_index, index);  // validates both indices
  const Tensor& p = g->params[index];
  std::string where = std::string(name()) + ".load_state_dict: " + group_label(*g, group_index) +
                      ", parameter " + std::to_string(index) + ": ";
  if (step < 0)
    throw ValueError(where + "step: expected a count >= 0, got " + std::to_string(step));
  if (kind_ != OptimKind::SGD && exp_avg.defined() != exp_avg_sq.defined())
    throw ValueError(where + "expected both exp_avg and exp_avg_sq, or neither");
  auto copy = [&](const Tensor& t, const char* what) -> Tensor {
    if (!t.defined()) return Tensor();
    if (t.shape() != p.shape())
      throw ValueError(where + what + ": expected shape " + shape_str(p.shape()) +
                       " (the parameter's), got " + shape_str(t.shape()));
    if (!is_floating(t.dtype()))
      throw TypeError(where + what + ": expected a floating-point array, got " +
                      dtype_name(t.dtype()));
    Tensor out = Tensor::empty(p.shape(), p.dtype(), p.device());
    out.copy_from(t.detach().to(p.dtype()));
    return out;
  };
  ParamState s;
  s.step = step;
  s.exp_avg = copy(exp_avg, "exp_avg");
  s.exp_avg_sq = copy(exp_avg_sq, "exp_avg_sq");
  s.momentum_buffer = copy(momentum_buffer, "momentum_buffer");
  g->state[index] = std::move(s);
}

}  // namespace sc
