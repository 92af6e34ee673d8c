// Whether operations record history for backward (thread-local, like no_grad).
#pragma once

namespace sc {

bool grad_enabled();
void set_grad_enabled(bool enabled);

struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev); }
};

}  // namespace sc
