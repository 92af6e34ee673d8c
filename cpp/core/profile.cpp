#include "core/profile.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>

namespace sc {

namespace {
std::mutex g_mu;
std::map<std::string, double>& totals() {
  static auto* m = new std::map<std::string, double>();
  return *m;
}

// SPLATCORE_PROFILE, read once: unset/empty/"0" off, "cpu" process CPU time, else wall time.
enum class Mode { Off, Wall, Cpu };
Mode mode() {
  static const Mode m = [] {
    const char* e = std::getenv("SPLATCORE_PROFILE");
    if (!e || !*e || std::string(e) == "0") return Mode::Off;
    return std::string(e) == "cpu" ? Mode::Cpu : Mode::Wall;
  }();
  return m;
}
}  // namespace

bool stage_timing_enabled() { return mode() != Mode::Off; }

double stage_clock() {
#if defined(CLOCK_PROCESS_CPUTIME_ID)
  if (mode() == Mode::Cpu) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
  }
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void add_stage_time(const char* name, double seconds) {
  std::lock_guard<std::mutex> lock(g_mu);
  totals()[name] += seconds;
}

std::vector<std::pair<std::string, double>> stage_times(bool reset) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<std::pair<std::string, double>> out(totals().begin(), totals().end());
  if (reset) totals().clear();
  return out;
}

}  // namespace sc
