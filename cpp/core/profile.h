// Opt-in wall-clock timing of named stages (SPLATCORE_PROFILE=1): a scope
// timer that adds its duration to a per-name total, read (and reset) from
// Python with splatcore._core._stage_times(). Off, a timer costs one branch.
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace sc {

bool stage_timing_enabled();
void add_stage_time(const char* name, double seconds);
std::vector<std::pair<std::string, double>> stage_times(bool reset);

// Seconds on the clock stages are timed with: wall time, or the process's CPU
// time with SPLATCORE_PROFILE=cpu (steadier on a busy machine).
double stage_clock();

class StageTimer {
 public:
  explicit StageTimer(const char* name) : name_(name), on_(stage_timing_enabled()) {
    if (on_) t0_ = stage_clock();
  }
  ~StageTimer() {
    if (on_) add_stage_time(name_, stage_clock() - t0_);
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  const char* name_;
  bool on_;
  double t0_ = 0;
};

}  // namespace sc

#define SC_STAGE_CAT2(a, b) a##b
#define SC_STAGE_CAT(a, b) SC_STAGE_CAT2(a, b)
#define SC_STAGE(name) ::sc::StageTimer SC_STAGE_CAT(sc_stage_timer_, __LINE__)(name)
