// Bit check of two CPU targets' row kernels outside Python, for targets this
// machine cannot run natively (NEON, cross-compiled and run under qemu; see
// tests/test_cpu_targets.py::test_neon_rows_bits_under_qemu):
// random records and upstream gradients, forward + backward through both
// targets, outputs compared bit for bit. Exit status 1 on any difference.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include "splat/composite_rows.h"
using namespace sc;

template <typename T>
int check(const std::vector<RowTables>& tabs, const char* const* names, int trials) {
  std::mt19937 rng(std::random_device{}());  // fresh inputs each run
  std::uniform_real_distribution<double> U(0, 1);
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    int C = t % 3 == 0 ? 3 : 1 + (int)(U(rng) * 16);
    if (C > 16) C = 16;
    int n = 1 + (int)(U(rng) * 200), lanes = 1 + (int)(U(rng) * 16);
    if (lanes > 16) lanes = 16;
    int stride = 6 + C, gstride = 8 + C;
    T px0 = T(0.5 + 16 * (int)(U(rng) * 4)), py = T(0.5 + (int)(U(rng) * 16));
    std::vector<T> recs(n * stride);
    for (int k = 0; k < n; ++k) {
      T* r = recs.data() + k * stride;
      r[0] = T(px0 - 4 + U(rng) * 24); r[1] = T(py - 3 + U(rng) * 6);
      double s1 = 0.05 + U(rng) * 2, s2 = 0.05 + U(rng) * 2, b = (U(rng) - 0.5) * 0.9 * std::sqrt(s1 * s2);
      r[2] = T(s1); r[3] = T(b); r[4] = T(s2);
      r[5] = T(U(rng) < 0.1 ? 0.995 : 0.05 + 0.9 * U(rng));
      for (int c = 0; c < C; ++c) r[6 + c] = T(U(rng) * 2 - 0.5);
    }
    std::vector<int> idx(n);
    for (int k = 0; k < n; ++k) idx[k] = k;
    std::vector<T> vout(16 * C), valpha(16), bg(C);
    for (auto& v : vout) v = T(U(rng) * 2 - 1);
    for (auto& v : valpha) v = T(U(rng) * 2 - 1);
    for (auto& v : bg) v = T(U(rng));
    std::vector<T> acc0, tr0, g0; std::vector<int> last0;
    for (size_t i = 0; i < tabs.size(); ++i) {
      const RowKernels<T>* K;
      if constexpr (sizeof(T) == 4) K = tabs[i].f32; else K = tabs[i].f64;
      std::vector<T> acc(16 * C, T(-7)), tr(16, T(-7)), g(n * gstride, T(0));
      std::vector<int> last(16, -7);
      K->forward(px0, py, lanes, n, C, recs.data(), idx.data(), T(0.99), acc.data(), tr.data(), last.data());
      K->backward(px0, py, lanes, C, recs.data(), idx.data(), T(0.99), tr.data(), last.data(), vout.data(),
                  valpha.data(), bg.data(), g.data());
      if (i == 0) { acc0 = acc; tr0 = tr; g0 = g; last0 = last; continue; }
      bool same = !std::memcmp(acc.data(), acc0.data(), acc.size() * sizeof(T)) &&
                  !std::memcmp(tr.data(), tr0.data(), tr.size() * sizeof(T)) &&
                  !std::memcmp(g.data(), g0.data(), g.size() * sizeof(T)) && last == last0;
      if (!same && bad++ < 5) std::printf("trial %d: %s differs from %s (C=%d n=%d lanes=%d)\n", t, names[i], names[0], C, n, lanes);
    }
  }
  return bad;
}

int main() {
#ifdef __aarch64__
  std::vector<RowTables> tabs = {rows_portable(), rows_neon()};
  const char* names[] = {"portable", "neon"};
#else
  std::vector<RowTables> tabs = {rows_portable(), rows_sse2()};
  const char* names[] = {"portable", "sse2"};
#endif
  int bad = check<float>(tabs, names, 3000) + check<double>(tabs, names, 1000);
  std::printf("%s: %d mismatching trials of 4000 (float32 3000, float64 1000)\n", names[1], bad);
  return bad != 0;
}
