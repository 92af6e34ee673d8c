// Optimizers over parameter groups (Adam, AdamW, SGD) with fused per-tensor
// updates, and the row surgery 3DGS densification needs to carry optimizer
// state across pruning, cloning and splitting.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {
namespace gpu {
struct AdamJob;
}  // namespace gpu

// Optimizer state of one parameter. Tensors are undefined until the first
// step that sees a gradient; they have the parameter's shape and dtype.
struct ParamState {
  int64_t step = 0;        // number of updates applied (Adam bias correction)
  Tensor exp_avg;          // Adam first moment
  Tensor exp_avg_sq;       // Adam second moment
  Tensor momentum_buffer;  // SGD momentum
};

enum class OptimKind { Adam, AdamW, SGD };
const char* optim_kind_name(OptimKind k);
OptimKind optim_kind_from_name(const std::string& name);  // ValueError when unknown

// One parameter group: leaf tensors and hyper-parameters. Every optimizer reads
// only its own hyper-parameters (Adam/AdamW: lr, betas, eps, weight_decay;
// SGD: lr, momentum, dampening, nesterov, weight_decay).
struct ParamGroup {
  OptimKind kind = OptimKind::Adam;  // set by Optimizer::add_param_group
  std::string name;
  std::vector<Tensor> params;
  std::vector<ParamState> state;  // parallel to params
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
};

// Hyper-parameter checks; each throws ValueError naming the argument and value.
void check_lr(double lr);
void check_group_hyper(OptimKind kind, const ParamGroup& g);

class Optimizer {
 public:
  explicit Optimizer(OptimKind kind) : kind_(kind) {}

  OptimKind kind() const { return kind_; }
  const char* name() const { return optim_kind_name(kind_); }

  // Validates the hyper-parameters and the tensors (float32/float64, contiguous,
  // leaf, requires_grad, not already held by this optimizer).
  std::shared_ptr<ParamGroup> add_param_group(ParamGroup g);
  const std::vector<std::shared_ptr<ParamGroup>>& groups() const { return groups_; }
  std::shared_ptr<ParamGroup> group(int64_t index) const;
  std::shared_ptr<ParamGroup> group(const std::string& name) const;

  // One fused update pass per parameter that has a gradient.
  void step();
  // Sets every parameter's gradient to undefined (None).
  void zero_grad();

  // Row surgery. `neu` takes `old`'s place in its group; row r of every state
  // tensor of `neu` is row source_rows[r] of `old`'s state, or zeros where
  // source_rows[r] == -1. The step count is kept.
  void replace_param(const Tensor& old, const Tensor& neu, const Tensor& source_rows);
  // Keeps the rows of `old` where keep_mask (bool, length N) is true.
  void prune_rows(const Tensor& old, const Tensor& neu, const Tensor& keep_mask);
  // `neu` = old rows followed by new rows; the new rows get zero state.
  void append_rows(const Tensor& old, const Tensor& neu);

  // Checkpointing: state of parameter `index` of group `group_index`.
  const ParamState& state(int64_t group_index, int64_t index) const;
  // Replaces that state with copies of the given tensors (undefined = none);
  // validates shapes against the parameter.
  void set_state(int64_t group_index, int64_t index, int64_t step, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, const Tensor& momentum_buffer);

 private:
  void check_new_param(const Tensor& p, const char* argname, const Tensor* replacing) const;
  void find(const Tensor& p, const char* argname, int64_t& gi, int64_t& pi) const;
  // CPU tensors are updated here; Adam on GPU tensors is queued in gpu_jobs,
  // which step() launches together (gpu::adam_steps).
  void update(const ParamGroup& g, const Tensor& p, const Tensor& grad, ParamState& s,
              std::vector<gpu::AdamJob>& gpu_jobs);
  void step_tensors(std::vector<gpu::AdamJob>& gpu_jobs);  // step()'s loop over the parameters

  OptimKind kind_;
  std::vector<std::shared_ptr<ParamGroup>> groups_;
};

// ---- learning-rate schedules -------------------------------------------------

// The 3DGS schedule (Kerbl et al. 2023, `get_expon_lr_func`): log-linear
// interpolation from lr_init to lr_final over max_steps, optionally damped by a
// sine-shaped warm-up over the first lr_delay_steps (ARCHITECTURE.md).
double exponential_decay(int64_t step, double lr_init, double lr_final, int64_t max_steps,
                         int64_t lr_delay_steps = 0, double lr_delay_mult = 1.0);

// Linear warm-up from 0 to lr_max over warmup_steps, then half a cosine from
// lr_max down to lr_min at max_steps (constant lr_min afterwards).
double cosine(int64_t step, double lr_max, double lr_min, int64_t max_steps,
              int64_t warmup_steps = 0);

// Sets a group's lr from a schedule each step. Construction sets lr = f(last_step);
// step() advances the counter (or jumps to the given step) and sets lr = f(step).
class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  double step();
  double step_to(int64_t step);
  int64_t last_step() const { return step_; }
  double lr() const { return group_->lr; }
  virtual double value(int64_t step) const = 0;

 protected:
  LRSchedule(std::shared_ptr<ParamGroup> group, int64_t last_step)
      : group_(std::move(group)), step_(last_step) {}
  void apply();
  std::shared_ptr<ParamGroup> group_;
  int64_t step_;
};

class ExponentialDecaySchedule : public LRSchedule {
 public:
  ExponentialDecaySchedule(std::shared_ptr<ParamGroup> group, double lr_init, double lr_final,
                           int64_t max_steps, int64_t lr_delay_steps = 0,
                           double lr_delay_mult = 1.0, int64_t last_step = 0);
  double value(int64_t step) const override;
  double lr_init, lr_final, lr_delay_mult;
  int64_t max_steps, lr_delay_steps;
};

class CosineSchedule : public LRSchedule {
 public:
  CosineSchedule(std::shared_ptr<ParamGroup> group, double lr_max, double lr_min,
                 int64_t max_steps, int64_t warmup_steps = 0, int64_t last_step = 0);
  double value(int64_t step) const override;
  double lr_max, lr_min;
  int64_t max_steps, warmup_steps;
};

}  // namespace sc
