// Bit check of two CPU targets' per-Gaussian stages (splat/gaussians_target.cpp:
// projection, SH features, the per-Gaussian backward) and SSIM rows
// (splat/ssim_target.cpp) outside Python, for targets this machine cannot run
// natively (NEON, cross-compiled and run under qemu;
// tests/test_cpu_targets.py::test_neon_targets_bits_under_qemu): random
// Gaussians, cameras, per-intersection gradients and image rows through both
// targets, every output compared bit for bit. Exit status 1 on any difference.
// With --digest SEED the inputs come from SEED and a digest (FNV-1a) of the
// second target's outputs is printed, so that builds for two architectures
// (x86-64 natively, AArch64 under qemu) can be compared with each other.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bits_check.h"
#include "kernels/composite.h"
#include "splat/gaussians_kernels.h"
#include "splat/ssim_kernels.h"

namespace sc {
const GaussianTables& gaussian_kernels_portable();
const SsimTables& ssim_kernels_portable();
#ifdef __aarch64__
const GaussianTables& gaussian_kernels_neon();
const SsimTables& ssim_kernels_neon();
#else
const GaussianTables& gaussian_kernels_sse2();
const SsimTables& ssim_kernels_sse2();
#endif
}  // namespace sc
using namespace sc;

template <typename T>
struct Run {  // one target's outputs
  std::vector<T> mean2d, conic, opac_eff, r2, depths, feats, vm, vq, vs, vo, vc, vcr, v2, va, vp;
  std::vector<int32_t> radii;
  bool ok_p = false, ok_f = false;
};

template <typename T>
int check(const GaussianKernels<T>* K0, const GaussianKernels<T>* K1, const char* name, int trials,
          unsigned seed, uint64_t* digest) {
  std::mt19937 rng(digest ? seed : std::random_device{}());  // fresh inputs each run, unless digesting
  std::uniform_real_distribution<double> U(0, 1);
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    const int n = 1 + (int)(U(rng) * 300), sh_degree = (int)(U(rng) * 4) % 4, sh_k = (sh_degree + 1) * (sh_degree + 1);
    GaussianArgs<T> a;
    a.n = n, a.width = 64 + (int)(U(rng) * 200), a.height = 48 + (int)(U(rng) * 150);
    // a camera looking down +z from a random small offset
    for (int k = 0; k < 9; ++k) a.cam.R[k] = T(k % 4 == 0 ? 1 : 0);
    for (int k = 0; k < 3; ++k) a.cam.t[k] = T((U(rng) - 0.5) * 0.2);
    a.cam.fx = T(a.width * (0.8 + 0.4 * U(rng))), a.cam.fy = T(a.cam.fx * (0.9 + 0.2 * U(rng)));
    a.cam.cx = T(a.width / 2.0), a.cam.cy = T(a.height / 2.0);
    a.cam.width = (int)a.width, a.cam.height = (int)a.height;
    a.cam.near_plane = T(0.01), a.cam.far_plane = T(1e10), a.cam.eps2d = T(0.3);
    std::vector<T> campos = {-a.cam.t[0], -a.cam.t[1], -a.cam.t[2], T(1)}, Vinv(16, T(0));
    for (int k = 0; k < 4; ++k) Vinv[k * 5] = T(1);
    for (int k = 0; k < 3; ++k) Vinv[4 * k + 3] = campos[k];
    a.campos = campos.data(), a.Vinv = Vinv.data();
    a.antialiased = U(rng) < 0.5, a.raw = U(rng) < 0.5;
    std::vector<T> mean(3 * n), quat(4 * n), scale(3 * n), opac(n), colors(3 * sh_k * n);
    for (int i = 0; i < n; ++i) {
      const double z = U(rng) < 0.05 ? -1 : 0.5 + 6 * U(rng);  // a few behind the camera
      mean[3 * i] = T((U(rng) - 0.5) * 1.4 * z), mean[3 * i + 1] = T((U(rng) - 0.5) * 1.1 * z), mean[3 * i + 2] = T(z);
      for (int k = 0; k < 4; ++k) quat[4 * i + k] = T(U(rng) * 2 - 1);
      for (int k = 0; k < 3; ++k) scale[3 * i + k] = T(a.raw ? std::exp(-5 + 4 * U(rng)) : 0.01 + 0.2 * U(rng));
      opac[i] = T(0.02 + 0.96 * U(rng));
    }
    for (auto& c : colors) c = T(U(rng) - 0.5);
    a.mean = mean.data(), a.quat = quat.data(), a.scale = scale.data(), a.opac = opac.data();
    a.depth = U(rng) < 0.3;
    a.ncol = 3, a.C = 3 + a.depth, a.sh_k = sh_k, a.sh_degree = sh_degree, a.split = 0;
    a.col_row = 3 * sh_k, a.col_used = 3 * sh_k, a.colors = colors.data();
    const int gstride = sc_grad_stride((int)a.C);
    Run<T> r[2];
    const GaussianKernels<T>* Ks[2] = {K0, K1};
    GaussianArgs<T> b[2] = {a, a};
    for (int k = 0; k < 2; ++k) {
      Run<T>& o = r[k];
      o.mean2d.assign(2 * n, T(-7)), o.conic.assign(3 * n, T(-7)), o.opac_eff.assign(n, T(-7));
      o.r2.assign(n, T(-7)), o.depths.assign(n, T(-7)), o.radii.assign(2 * n, 0), o.feats.assign(a.C * n, T(-7));
      b[k].mean2d = o.mean2d.data(), b[k].conic = o.conic.data(), b[k].opac_eff = o.opac_eff.data();
      b[k].r2 = o.r2.data(), b[k].depths = o.depths.data(), b[k].radii = o.radii.data(), b[k].feats = o.feats.data();
      o.ok_p = Ks[k]->project(b[k], 0, n);
      o.ok_f = Ks[k]->features(b[k], 0, n);
    }
    // per-intersection gradients: 0 to 3 per Gaussian the projection kept, as binning emits
    std::vector<int64_t> emit(n + 1, 0);
    for (int i = 0; i < n; ++i)
      emit[i + 1] = emit[i] + (r[0].radii[2 * i] > 0 ? (int)(U(rng) * 4) : 0);
    std::vector<T> ig(emit[n] * gstride);
    for (auto& v : ig) v = T(U(rng) * 2 - 1);
    const int64_t block = 64, blocks = (n + block - 1) / block;
    for (int k = 0; k < 2; ++k) {
      Run<T>& o = r[k];
      o.vm.assign(3 * n, T(-7)), o.vq.assign(4 * n, T(-7)), o.vs.assign(3 * n, T(-7)), o.vo.assign(n, T(-7));
      o.vc.assign(3 * sh_k * n, T(-7)), o.v2.assign(2 * n, T(-7)), o.va.assign(2 * n, T(-7));
      o.vp.assign(16 * blocks, T(0));
      GaussianGradArgs<T> g;
      g.isect_grad = ig.data(), g.emit_offset = emit.data(), g.gstride = gstride, g.block = block;
      g.means = o.vm.data(), g.quats = o.vq.data(), g.scales = o.vs.data(), g.opacities = o.vo.data();
      g.colors = o.vc.data(), g.colors_rest = nullptr, g.means2d = o.v2.data(), g.absgrad = o.va.data();
      g.view_partial = o.vp.data();
      Ks[k]->backward(b[k], g, 0, blocks);
    }
    const Run<T>&x = r[0], &y = r[1];
    if (digest) {
      for (const auto* v : {&y.mean2d, &y.conic, &y.opac_eff, &y.r2, &y.depths, &y.feats, &y.vm, &y.vq, &y.vs, &y.vo,
                            &y.vc, &y.v2, &y.va, &y.vp})
        fnv(*digest, *v);
      fnv(*digest, y.radii);
    }
    const bool ok = x.ok_p == y.ok_p && x.ok_f == y.ok_f && same(x.mean2d, y.mean2d) && same(x.conic, y.conic) &&
                    same(x.opac_eff, y.opac_eff) && same(x.r2, y.r2) && same(x.depths, y.depths) &&
                    x.radii == y.radii && same(x.feats, y.feats) && same(x.vm, y.vm) && same(x.vq, y.vq) &&
                    same(x.vs, y.vs) && same(x.vo, y.vo) && same(x.vc, y.vc) && same(x.v2, y.v2) &&
                    same(x.va, y.va) && same(x.vp, y.vp);
    if (!ok && bad++ < 5)
      std::printf("trial %d: %s differs from portable (n=%d sh_degree=%d antialiased=%d raw=%d depth=%d)\n", t,
                  name, n, sh_degree, a.antialiased, a.raw, a.depth);
  }
  return bad;
}

// The SSIM row loops on random rows (11-tap window, some rows of the column
// blur outside the image).
template <typename T>
int check_ssim(const SsimKernels<T>* K0, const SsimKernels<T>* K1, const char* name, int trials, unsigned seed,
               uint64_t* digest) {
  std::mt19937 rng(digest ? seed + 1 : std::random_device{}());
  std::uniform_real_distribution<double> U(0, 1);
  int bad = 0;
  std::vector<T> w(11);
  for (int k = 0; k < 11; ++k) w[k] = T(std::exp(-(k - 5) * (k - 5) / 4.5));
  for (int t = 0; t < trials; ++t) {
    const int64_t C = 1 + (int64_t)(U(rng) * 3), n = C * (1 + (int64_t)(U(rng) * 90));
    std::vector<std::vector<T>> in(16, std::vector<T>(n));
    for (auto& r : in)
      for (auto& v : r) v = T(U(rng));
    const T* rows[11];
    for (int k = 0; k < 11; ++k) rows[k] = U(rng) < 0.2 ? nullptr : in[k].data();
    std::vector<T> o[2][12];
    double s[2][2];
    const SsimKernels<T>* Ks[2] = {K0, K1};
    for (int k = 0; k < 2; ++k) {
      for (auto& v : o[k]) v.assign(n, T(-7));
      Ks[k]->blur_row(in[11].data(), o[k][0].data(), n, C, w.data());
      Ks[k]->blur_col(rows, n, o[k][1].data(), w.data());
      Ks[k]->products(in[12].data(), in[13].data(), o[k][2].data(), o[k][3].data(), o[k][4].data(), n);
      s[k][0] = Ks[k]->pixels(in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data(), n, nullptr,
                              nullptr, nullptr, nullptr);
      s[k][1] = Ks[k]->pixels(in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data(), n,
                              o[k][5].data(), o[k][6].data(), o[k][7].data(), o[k][8].data());
      Ks[k]->grad(in[12].data(), in[13].data(), in[5].data(), in[6].data(), in[7].data(), T(0.37), o[k][9].data(), n);
    }
    bool ok = !std::memcmp(s[0], s[1], sizeof(s[0]));
    for (int j = 0; j < 12; ++j) ok = ok && same(o[0][j], o[1][j]);
    if (digest) {
      for (int j = 0; j < 12; ++j) fnv(*digest, o[1][j]);
      fnv(*digest, std::vector<double>(s[1], s[1] + 2));
    }
    if (!ok && bad++ < 5) std::printf("ssim trial %d: %s differs from portable (n=%lld C=%lld)\n", t, name,
                                      (long long)n, (long long)C);
  }
  return bad;
}

int main(int argc, char** argv) {
  uint64_t digest = 14695981039346656037ull;
  const bool digesting = argc == 3 && std::strcmp(argv[1], "--digest") == 0;
  const unsigned seed = digesting ? (unsigned)std::strtoul(argv[2], nullptr, 10) : 0u;
#ifdef __aarch64__
  const GaussianTables &p = gaussian_kernels_portable(), &o = gaussian_kernels_neon();
  const SsimTables &sp = ssim_kernels_portable(), &so = ssim_kernels_neon();
  const char* name = "neon";
#else
  const GaussianTables &p = gaussian_kernels_portable(), &o = gaussian_kernels_sse2();
  const SsimTables &sp = ssim_kernels_portable(), &so = ssim_kernels_sse2();
  const char* name = "sse2";
#endif
  uint64_t* d = digesting ? &digest : nullptr;
  const int bad = check<float>(&p.f32, &o.f32, name, 400, seed, d) + check<double>(&p.f64, &o.f64, name, 200, seed, d) +
                  check_ssim<float>(&sp.f32, &so.f32, name, 300, seed, d) +
                  check_ssim<double>(&sp.f64, &so.f64, name, 100, seed, d);
  if (digesting) std::printf("digest %016llx\n", (unsigned long long)digest);
  std::printf("%s: %d mismatching trials of 1000 (Gaussians 400 float32 + 200 float64, SSIM rows 300 + 100)\n",
              name, bad);
  return bad != 0;
}
