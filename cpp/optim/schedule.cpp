// Learning-rate schedules and the objects that apply them to a parameter group.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "optim/optimizer.h"

namespace sc {

static constexpr double kPi = 3.14159265358979323846;

static std::string num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

static void check_exponential(double lr_init, double lr_final, int64_t max_steps,
                              int64_t lr_delay_steps, double lr_delay_mult) {
  const char* f = "exponential_decay: ";
  if (!(std::isfinite(lr_init) && lr_init >= 0.0))
    throw ValueError(std::string(f) + "lr_init: expected a finite value >= 0, got " + num(lr_init));
  if (!(std::isfinite(lr_final) && lr_final >= 0.0))
    throw ValueError(std::string(f) + "lr_final: expected a finite value >= 0, got " + num(lr_final));
  if ((lr_init == 0.0) != (lr_final == 0.0))
    throw ValueError(std::string(f) + "lr_init and lr_final: expected both > 0 (log-linear "
                     "interpolation) or both 0, got lr_init=" + num(lr_init) +
                     ", lr_final=" + num(lr_final));
  if (max_steps <= 0)
    throw ValueError(std::string(f) + "max_steps: expected a count > 0, got " +
                     std::to_string(max_steps));
  if (lr_delay_steps < 0)
    throw ValueError(std::string(f) + "lr_delay_steps: expected a count >= 0, got " +
                     std::to_string(lr_delay_steps));
  if (!(std::isfinite(lr_delay_mult) && lr_delay_mult >= 0.0))
    throw ValueError(std::string(f) + "lr_delay_mult: expected a finite value >= 0, got " +
                     num(lr_delay_mult));
}

double exponential_decay(int64_t step, double lr_init, double lr_final, int64_t max_steps,
                         int64_t lr_delay_steps, double lr_delay_mult) {
  check_exponential(lr_init, lr_final, max_steps, lr_delay_steps, lr_delay_mult);
  if (step < 0 || (lr_init == 0.0 && lr_final == 0.0)) return 0.0;
  double delay_rate = 1.0;
  if (lr_delay_steps > 0) {
    // Reverse-cosine warm-up: starts at lr_delay_mult, reaches 1 at lr_delay_steps.
    double u = std::clamp((double)step / (double)lr_delay_steps, 0.0, 1.0);
    delay_rate = lr_delay_mult + (1.0 - lr_delay_mult) * std::sin(0.5 * kPi * u);
  }
  double t = std::clamp((double)step / (double)max_steps, 0.0, 1.0);
  double log_lerp = std::exp(std::log(lr_init) * (1.0 - t) + std::log(lr_final) * t);
  return delay_rate * log_lerp;
}

static void check_cosine(double lr_max, double lr_min, int64_t max_steps, int64_t warmup_steps) {
  const char* f = "cosine: ";
  if (!(std::isfinite(lr_max) && lr_max >= 0.0))
    throw ValueError(std::string(f) + "lr_max: expected a finite value >= 0, got " + num(lr_max));
  if (!(std::isfinite(lr_min) && lr_min >= 0.0))
    throw ValueError(std::string(f) + "lr_min: expected a finite value >= 0, got " + num(lr_min));
  if (max_steps <= 0)
    throw ValueError(std::string(f) + "max_steps: expected a count > 0, got " +
                     std::to_string(max_steps));
  if (warmup_steps < 0 || warmup_steps > max_steps)
    throw ValueError(std::string(f) + "warmup_steps: expected a count in [0, max_steps=" +
                     std::to_string(max_steps) + "], got " + std::to_string(warmup_steps));
}

double cosine(int64_t step, double lr_max, double lr_min, int64_t max_steps, int64_t warmup_steps) {
  check_cosine(lr_max, lr_min, max_steps, warmup_steps);
  if (step < 0) step = 0;
  if (step < warmup_steps) return lr_max * (double)step / (double)warmup_steps;
  if (step >= max_steps) return lr_min;
  double progress = (double)(step - warmup_steps) / (double)(max_steps - warmup_steps);
  return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(kPi * progress));
}

// ---- schedule objects ------------------------------------------------------------

void LRSchedule::apply() {
  double lr = value(step_);
  check_lr(lr);
  group_->lr = lr;
}

double LRSchedule::step() {
  ++step_;
  apply();
  return group_->lr;
}

double LRSchedule::step_to(int64_t step) {
  step_ = step;
  apply();
  return group_->lr;
}

ExponentialDecaySchedule::ExponentialDecaySchedule(std::shared_ptr<ParamGroup> group,
                                                   double lr_init_, double lr_final_,
                                                   int64_t max_steps_, int64_t lr_delay_steps_,
                                                   double lr_delay_mult_, int64_t last_step)
    : LRSchedule(std::move(group), last_step), lr_init(lr_init_), lr_final(lr_final_),
      lr_delay_mult(lr_delay_mult_), max_steps(max_steps_), lr_delay_steps(lr_delay_steps_) {
  check_exponential(lr_init, lr_final, max_steps, lr_delay_steps, lr_delay_mult);
  apply();
}

double ExponentialDecaySchedule::value(int64_t step) const {
  return exponential_decay(step, lr_init, lr_final, max_steps, lr_delay_steps, lr_delay_mult);
}

CosineSchedule::CosineSchedule(std::shared_ptr<ParamGroup> group, double lr_max_, double lr_min_,
                               int64_t max_steps_, int64_t warmup_steps_, int64_t last_step)
    : LRSchedule(std::move(group), last_step), lr_max(lr_max_), lr_min(lr_min_),
      max_steps(max_steps_), warmup_steps(warmup_steps_) {
  check_cosine(lr_max, lr_min, max_steps, warmup_steps);
  apply();
}

double CosineSchedule::value(int64_t step) const {
  return cosine(step, lr_max, lr_min, max_steps, warmup_steps);
}

}  // namespace sc
