// Bit check of two CPU targets' optimizer updates (optim/optim_target.cpp),
// radix sort passes (ops/sort_target.cpp), marching-cubes plane loops
// (mesh/mc_target.cpp) and tile binning loops (splat/binning_target.cpp;
// also against a plain loop over the shared sc_tile_reached of
// kernels/tile_binning.h, which the GPU rasterizer runs) outside Python, for targets this machine cannot run
// natively (NEON, cross-compiled and run under qemu;
// tests/test_cpu_targets_loops.py::test_neon_loops_bits_under_qemu). The
// sibling of tools/target_bits.cpp (per-Gaussian stages, SSIM rows); the same
// command line: exit status 1 on any difference between the two targets;
// with --digest SEED the inputs come from SEED and an FNV-1a digest of the
// second target's outputs is printed, so that an x86-64 and an AArch64 build
// can be compared with each other. Inputs are drawn with uniform doubles and
// arithmetic only (no libm), so both architectures draw the same ones.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bits_check.h"
#include "kernels/tile_binning.h"
#include "mesh/mc_kernels.h"
#include "ops/sort_kernels.h"
#include "optim/optim_kernels.h"
#include "splat/binning_kernels.h"

namespace sc {
const OptimTables& optim_kernels_portable();
const SortTables& sort_kernels_portable();
const mesh::McKernels& mc_kernels_portable();
const BinningTables& binning_kernels_portable();
#ifdef __aarch64__
const OptimTables& optim_kernels_neon();
const SortTables& sort_kernels_neon();
const mesh::McKernels& mc_kernels_neon();
const BinningTables& binning_kernels_neon();
#else
const OptimTables& optim_kernels_sse2();
const SortTables& sort_kernels_sse2();
const mesh::McKernels& mc_kernels_sse2();
const BinningTables& binning_kernels_sse2();
#endif
}  // namespace sc
using namespace sc;

namespace {

using Rng = std::mt19937;

double uni(Rng& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }


// Both targets' outputs of one trial: equal, and digested (the second's).
struct Outputs {
  std::vector<std::vector<unsigned char>> out[2];
  template <typename T>
  void add(int k, const std::vector<T>& v) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(v.data());
    out[k].emplace_back(p, p + v.size() * sizeof(T));
  }
  bool equal_and_digest(uint64_t* digest) const {
    if (digest)
      for (const auto& v : out[1]) fnv(*digest, v);
    if (out[0].size() != out[1].size()) return false;
    for (size_t j = 0; j < out[0].size(); ++j)
      if (!same(out[0][j], out[1][j])) return false;
    return true;
  }
};

// ---- optimizers: several steps of Adam / AdamW / SGD on random tensors -----------------
template <typename T>
int check_optim(const OptimKernels<T>* K0, const OptimKernels<T>* K1, const char* name, int trials, Rng& rng,
                uint64_t* digest) {
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    // lengths short of one register, and a few longer than several
    const int64_t n = uni(rng) < 0.8 ? 1 + (int64_t)(uni(rng) * 70) : 1 + (int64_t)(uni(rng) * 3000);
    const int kind = (int)(uni(rng) * 3) % 3;  // 0 Adam, 1 AdamW, 2 SGD
    const int steps = 1 + (int)(uni(rng) * 4);
    const T lr = T(1e-3 + 0.05 * uni(rng)), wd = T(uni(rng) < 0.5 ? 0 : 0.1 * uni(rng));
    const T beta1 = T(0.8 + 0.19 * uni(rng)), beta2 = T(0.99 + 0.0099 * uni(rng)), eps = T(1e-8 + 1e-6 * uni(rng));
    const T momentum = T(uni(rng) < 0.3 ? 0 : 0.95 * uni(rng)), dampening = T(0.2 * uni(rng));
    const int nesterov = uni(rng) < 0.5;
    std::vector<T> p0(n), gs(n * steps);
    for (auto& x : p0) x = T(uni(rng) * 4 - 2);
    for (auto& x : gs) x = T(uni(rng) < 0.05 ? 0 : uni(rng) * 2 - 1);  // some exactly zero
    // a sub-range [b, e) of the tensor, as a thread-pool chunk runs
    const int64_t b = uni(rng) < 0.5 ? 0 : (int64_t)(uni(rng) * n), e = b + (int64_t)(uni(rng) * (n - b + 1));
    Outputs o;
    const OptimKernels<T>* Ks[2] = {K0, K1};
    for (int k = 0; k < 2; ++k) {
      std::vector<T> p = p0, m(n, T(0)), v(n, T(0)), buf(n, T(-7));
      double b1t = 1, b2t = 1;
      for (int s = 0; s < steps; ++s) {
        const T* g = gs.data() + s * n;
        if (kind < 2) {
          b1t *= (double)beta1, b2t *= (double)beta2;
          // the host's per-tensor scalars, computed without libm (sqrt by Newton
          // in double: the same on both architectures)
          double q = 1 - b2t, r = q > 0.5 ? q : 0.5;
          for (int it = 0; it < 60; ++it) r = 0.5 * (r + q / r);
          Ks[k]->adam(b, e, p.data(), g, m.data(), v.data(), beta1, beta2, eps, wd, T(1 - (double)lr * (double)wd),
                      T((double)lr / (1 - b1t)), T(r), kind == 1);
        } else {
          Ks[k]->sgd(b, e, p.data(), g, momentum != T(0) ? buf.data() : nullptr, lr, momentum, dampening, wd,
                     nesterov, s > 0);
        }
      }
      o.add(k, p), o.add(k, m), o.add(k, v), o.add(k, buf);
    }
    if (!o.equal_and_digest(digest) && bad++ < 5)
      std::printf("optim trial %d: %s differs from portable (%s n=%lld [%lld, %lld) steps=%d)\n", t, name,
                  kind == 0 ? "Adam" : kind == 1 ? "AdamW" : "SGD", (long long)n, (long long)b, (long long)e,
                  steps);
  }
  return bad;
}

// ---- radix sort: histograms, the three scatters, the float key transform ------------------
template <typename K>
int check_sort(const SortKernels<K>* K0, const SortKernels<K>* K1, const char* name, int trials, Rng& rng,
               uint64_t* digest) {
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    const int64_t n = 1 + (int64_t)(uni(rng) * (uni(rng) < 0.8 ? 100 : 5000));
    const uint32_t bits = 1 + (uint32_t)(uni(rng) * 8) % 8, mask = (1u << bits) - 1;
    const uint32_t shift = (uint32_t)(uni(rng) * (8 * sizeof(K) - bits + 1));
    std::vector<K> keys(n);
    std::vector<uint32_t> vals(n);
    const K run = (K)(uni(rng) * 4294967296.0) * (K)2654435761u;
    for (int64_t i = 0; i < n; ++i) {
      K k = (K)(uni(rng) * 4294967296.0);
      if (sizeof(K) == 8) k = (k << 32) ^ (K)(uni(rng) * 4294967296.0);
      keys[i] = uni(rng) < 0.3 ? run : k;  // runs of equal keys: stability matters
      vals[i] = (uint32_t)(uni(rng) * 4294967296.0);
    }
    const int64_t b = (int64_t)(uni(rng) * n * 0.3), e = n - (int64_t)(uni(rng) * (n - b) * 0.3);
    Outputs o;
    const SortKernels<K>* Ks[2] = {K0, K1};
    for (int k = 0; k < 2; ++k) {
      std::vector<int64_t> hist(mask + 1, -7), offs(mask + 1);
      Ks[k]->histogram(keys.data(), b, e, shift, mask, hist.data());
      // exclusive sums of the histogram (taken from the portable one, so a
      // wrong histogram cannot send the scatter out of bounds)
      int64_t s = 0;
      std::vector<int64_t> h0(mask + 1);
      K0->histogram(keys.data(), b, e, shift, mask, h0.data());
      for (uint32_t d = 0; d <= mask; ++d) offs[d] = s, s += h0[d];
      std::vector<K> kd0(n, K(7)), kd1(n, K(7)), kd2(n, K(7));
      std::vector<uint32_t> vd1(n, 7u), vd2(n, 7u);
      Ks[k]->scatter_keys(keys.data(), nullptr, kd0.data(), nullptr, b, e, shift, mask, offs.data());
      Ks[k]->scatter_values(keys.data(), vals.data(), kd1.data(), vd1.data(), b, e, shift, mask, offs.data());
      Ks[k]->scatter_iota(keys.data(), nullptr, kd2.data(), vd2.data(), b, e, shift, mask, offs.data());
      o.add(k, hist), o.add(k, kd0), o.add(k, kd1), o.add(k, vd1), o.add(k, kd2), o.add(k, vd2);
    }
    if (!o.equal_and_digest(digest) && bad++ < 5)
      std::printf("sort trial %d: %s differs from portable (%d-bit keys n=%lld shift=%u bits=%u)\n", t, name,
                  (int)(8 * sizeof(K)), (long long)n, shift, bits);
  }
  return bad;
}

int check_sortable(const SortTables& P, const SortTables& O, const char* name, int trials, Rng& rng,
                   uint64_t* digest) {
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    const int64_t n = 1 + (int64_t)(uni(rng) * 300);
    std::vector<float> f(n);
    for (auto& x : f) {  // any bit pattern: zeros of both signs, denormals, inf, NaN
      const uint32_t bits = uni(rng) < 0.1 ? (uni(rng) < 0.5 ? 0x80000000u : 0u) : (uint32_t)(uni(rng) * 4294967296.0);
      std::memcpy(&x, &bits, 4);
    }
    Outputs o;
    const SortTables* Ts[2] = {&P, &O};
    for (int k = 0; k < 2; ++k) {
      std::vector<uint32_t> out(n, 7u);
      Ts[k]->to_sortable(f.data(), out.data(), 0, n);
      o.add(k, out);
    }
    if (!o.equal_and_digest(digest) && bad++ < 5)
      std::printf("float keys trial %d: %s differs from portable (n=%lld)\n", t, name, (long long)n);
  }
  return bad;
}

// ---- marching cubes: both passes of mesh/marching_cubes.cpp on one thread ------------------
// A smooth-ish random field: uniform noise box-blurred `passes` times along
// each axis (0 passes: rough, many ambiguous cells).
std::vector<float> field(Rng& rng, const int64_t* n, int passes) {
  const int64_t S = n[0] * n[1] * n[2], st[3] = {n[1] * n[2], n[2], 1};
  std::vector<float> v(S), w(S);
  for (auto& x : v) x = (float)(uni(rng) * 2 - 1);
  for (int p = 0; p < passes; ++p)
    for (int a = 0; a < 3; ++a) {
      for (int64_t i = 0; i < S; ++i) {
        const int64_t c = i / st[a] % n[a];
        float s = v[i];
        if (c > 0) s += v[i - st[a]];
        if (c + 1 < n[a]) s += v[i + st[a]];
        w[i] = s * (1.0f / 3.0f);
      }
      v.swap(w);
    }
  return v;
}

// *faces_total: the triangles of the portable meshes (the comparison is not
// between empty meshes).
int check_mc(const mesh::McKernels& K0, const mesh::McKernels& K1, const char* name, int trials, Rng& rng,
             uint64_t* digest, int64_t* faces_total) {
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    ScMcGrid g{};
    g.pad = uni(rng) < 0.5;
    for (int a = 0; a < 3; ++a) {
      g.n[a] = 2 - g.pad + (int64_t)(uni(rng) * 14);
      g.N[a] = g.n[a] + 2 * g.pad;
      g.spacing[a] = (float)(0.25 + 2 * uni(rng));
      g.origin[a] = (float)(uni(rng) * 10 - 5);
      g.inv_spacing[a] = 1.0f / g.spacing[a];
    }
    const int64_t S = g.n[0] * g.n[1] * g.n[2];
    std::vector<float> vol = field(rng, g.n, (int)(uni(rng) * 3));
    std::vector<uint8_t> mask;
    if (uni(rng) < 0.3) {
      mask.resize(S);
      for (auto& m : mask) m = uni(rng) < 0.95;
    }
    g.has_mask = !mask.empty();
    g.channels = uni(rng) < 0.3 ? 1 + (int)(uni(rng) * 3) : 0;
    std::vector<float> col(S * g.channels);
    for (auto& c : col) c = (float)uni(rng);
    const bool normals = uni(rng) < 0.7;
    g.sign = uni(rng) < 0.5 ? 1.0f : -1.0f;
    g.level = vol[(size_t)(uni(rng) * S)];
    // a few infinite values: only the classification runs (the caller
    // refuses such a volume), its count of non-finite values is compared
    const bool infinite = uni(rng) < 0.1;
    if (infinite)
      for (int j = 0; j < 3; ++j) vol[(size_t)(uni(rng) * S)] = j == 1 ? -HUGE_VALF : HUGE_VALF;
    const mesh::McView in{g, vol.data(), mask.empty() ? nullptr : mask.data(), g.channels ? col.data() : nullptr};
    const int64_t N0 = g.N[0], N1 = g.N[1], N2 = g.N[2], P2 = N1 * N2;
    Outputs o;
    const mesh::McKernels* Ks[2] = {&K0, &K1};
    for (int k = 0; k < 2; ++k) {
      const mesh::McKernels& kern = *Ks[k];
      std::vector<uint8_t> flags(N0 * P2, 9), rows(N0 * N1, 0);
      std::vector<int64_t> counts(3 * N0 + 1, 0);  // bad, vertices, triangles, centres per plane; total bad
      for (int64_t P = 0; P < N0; ++P) counts[3 * N0] += kern.plane_flags(in, P, flags.data() + P * P2);
      o.add(k, flags), o.add(k, counts);
      if (infinite) continue;
      std::vector<uint8_t> q(N2 + 8), v(N2 + 8), cs(N2 + 8, 0), x(N2 + 8, 0);
      std::vector<int64_t> cc(N0, 0);
      for (int64_t P = 0; P < N0; ++P) {
        const uint8_t* cur = flags.data() + P * P2;
        const uint8_t* nxt = P + 1 < N0 ? cur + P2 : nullptr;
        counts[P] = kern.count_vertices(in, cur, nxt, rows.data() + P * N1);
        if (nxt)
          counts[N0 + P] = kern.count_triangles(in, P, cur, nxt, q.data(), v.data(), cs.data(), &cc[P],
                                                rows.data() + P * N1);
      }
      // first vertex of each plane (its edge vertices, then its slab's centre
      // vertices) and first triangle of each slab, as mc_plan sums them
      std::vector<int64_t> vbase(N0 + 1, 0), cbase(N0, 0), tbase(N0 + 1, 0);
      for (int64_t P = 0; P < N0; ++P) {
        cbase[P] = vbase[P] + counts[P];
        vbase[P + 1] = cbase[P] + cc[P];
        tbase[P + 1] = tbase[P] + counts[N0 + P];
      }
      const int64_t nv = vbase[N0], nt = tbase[N0];
      if (k == 0) *faces_total += nt;
      std::vector<float> verts(3 * nv, -7.0f), nrm(normals ? 3 * nv : 0, -7.0f), colors(nv * g.channels, -7.0f);
      std::vector<int32_t> faces(3 * nt, -1), ids(6 * P2, -1);
      const mesh::McOut out{verts.data(), normals ? nrm.data() : nullptr, g.channels ? colors.data() : nullptr,
                            faces.data()};
      auto fl = [&](int64_t P) { return P < N0 ? flags.data() + P * P2 : nullptr; };
      auto idmap = [&](int64_t P) { return ids.data() + (P % 2) * 3 * P2; };
      kern.plane_ids(in, 0, fl(0), fl(1), vbase[0], idmap(0), 1, out, x.data(), rows.data());
      for (int64_t P = 0; P + 1 < N0; ++P) {
        kern.plane_ids(in, P + 1, fl(P + 1), fl(P + 2), vbase[P + 1], idmap(P + 1), 1, out, x.data(),
                       rows.data() + (P + 1) * N1);
        kern.emit_triangles(in, P, fl(P), fl(P + 1), idmap(P), idmap(P + 1), tbase[P], cbase[P], q.data(),
                            v.data(), cs.data(), out, rows.data() + P * N1);
      }
      o.add(k, rows), o.add(k, cc), o.add(k, verts), o.add(k, nrm), o.add(k, colors), o.add(k, faces);
    }
    if (!o.equal_and_digest(digest) && bad++ < 5)
      std::printf("marching cubes trial %d: %s differs from portable (n=%lldx%lldx%lld pad=%d mask=%d "
                  "channels=%d normals=%d infinite=%d)\n",
                  t, name, (long long)g.n[0], (long long)g.n[1], (long long)g.n[2], g.pad, g.has_mask, g.channels,
                  (int)normals, (int)infinite);
  }
  return bad;
}

// ---- tile binning: tile lists (into a small buffer, so that they stop and resume) and keys
// The tiles of Gaussian g by the shared test, as splat/binning.cpp listed
// them before the per-target copies.
template <typename T>
void reference_tiles(const T* m, const T* c, T r2, int64_t W, int64_t H, int ts, int64_t tiles_x,
                     std::vector<uint32_t>& out) {
  int box[4];
  if (!sc_footprint_pixel_box(m[0], m[1], c[0], c[1], c[2], r2, (int)W, (int)H, box)) return;
  const T limit = sc_tile_limit(r2);
  for (int ty = box[2] / ts; ty <= box[3] / ts; ++ty)
    for (int tx = box[0] / ts; tx <= box[1] / ts; ++tx)
      if (sc_tile_reached(m[0], m[1], c[0], c[1], c[2], limit, box, tx, ty, ts))
        out.push_back((uint32_t)(ty * tiles_x + tx));
}

template <typename T>
int check_binning(const BinningTables& P, const BinningTables& O, const char* name, int trials, Rng& rng,
                  uint64_t* digest) {
  int bad = 0;
  for (int t = 0; t < trials; ++t) {
    const int64_t n = 1 + (int64_t)(uni(rng) * 400), W = 16 + (int64_t)(uni(rng) * 200),
                  H = 16 + (int64_t)(uni(rng) * 150), ts = uni(rng) < 0.7 ? 16 : 1 + (int64_t)(uni(rng) * 12);
    const int64_t tiles_x = (W + ts - 1) / ts;
    // projected Gaussians: covariance sx^2, sy^2, rho sx sy (+0.3 blur)
    std::vector<T> m(2 * n), c(3 * n), r2(n);
    std::vector<int32_t> radii(2 * n);
    for (int64_t i = 0; i < n; ++i) {
      m[2 * i] = T(uni(rng) * (W + 40) - 20), m[2 * i + 1] = T(uni(rng) * (H + 40) - 20);
      const double sx = 0.3 + (uni(rng) < 0.1 ? 60 : 6) * uni(rng), sy = 0.3 + 6 * uni(rng), rho = 1.9 * uni(rng) - 0.95;
      const double xx = sx * sx + 0.3, yy = sy * sy + 0.3, xy = rho * sx * sy, det = xx * yy - xy * xy;
      c[3 * i] = T(yy / det), c[3 * i + 1] = T(-xy / det), c[3 * i + 2] = T(xx / det);
      r2[i] = T(0.1 + 11 * uni(rng));
      radii[2 * i] = radii[2 * i + 1] = uni(rng) < 0.1 ? 0 : 5;
    }
    std::vector<uint32_t> ref;
    std::vector<int64_t> ref_counts(n, 0);
    for (int64_t i = 0; i < n; ++i) {
      const size_t before = ref.size();
      if (radii[2 * i] > 0 || radii[2 * i + 1] > 0)
        reference_tiles(&m[2 * i], &c[3 * i], r2[i], W, H, (int)ts, tiles_x, ref);
      ref_counts[i] = (int64_t)(ref.size() - before);
    }
    // a buffer of 1 to 40 slots, grown only as much as asked: many stops
    const size_t slots = 1 + (size_t)(uni(rng) * 40);
    std::vector<uint32_t> rank(n);
    for (auto& r : rank) r = (uint32_t)(uni(rng) * n);
    const int rank_bits = 1 + (int)(uni(rng) * 14);
    Outputs o;
    const BinningTables* Ts[2] = {&P, &O};
    bool ok = true;
    for (int k = 0; k < 2; ++k) {
      const BinningKernels<T>& K = by_dtype<T>(*Ts[k]);
      std::vector<uint32_t> tiles(slots);
      std::vector<int64_t> counts(n, -7);
      int64_t g = 0, size = 0, stops = 0;
      while (g < n && stops < 100000) {
        int64_t used = -1, need = -1;
        g = K.tile_lists(m.data(), c.data(), r2.data(), radii.data(), g, n, W, H, ts, tiles_x, tiles.data() + size,
                         (int64_t)tiles.size() - size, counts.data(), &used, &need);
        size += used;
        if (g < n) tiles.resize((size_t)(size + need)), ++stops;
      }
      tiles.resize((size_t)size);
      ok = ok && tiles == ref && counts == ref_counts;
      // the keys, 32- and 64-bit
      std::vector<int64_t> off(n + 1, 0);
      for (int64_t i = 0; i < n; ++i) off[i + 1] = off[i] + counts[i];
      std::vector<uint32_t> k32(size), ids(size), gs(size), ids2(size), gs2(size);
      std::vector<uint64_t> k64(size);
      Ts[k]->k32.emit_keys(tiles.data(), off.data(), rank.data(), 0, n, rank_bits, k32.data(), ids.data(), gs.data());
      Ts[k]->k64.emit_keys(tiles.data(), off.data(), rank.data(), 0, n, rank_bits + 20, k64.data(), ids2.data(),
                           gs2.data());
      o.add(k, tiles), o.add(k, counts), o.add(k, k32), o.add(k, ids), o.add(k, gs), o.add(k, k64), o.add(k, ids2),
          o.add(k, gs2);
    }
    const bool same_bits = o.equal_and_digest(digest);
    if ((!same_bits || !ok) && bad++ < 5)
      std::printf("binning trial %d: %s (n=%lld %lldx%lld tile %lld)\n", t,
                  same_bits ? "the tiles differ from sc_tile_reached's" : "differs from portable", (long long)n,
                  (long long)W, (long long)H, (long long)ts);
  }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t digest = 14695981039346656037ull;
  const bool digesting = argc == 3 && std::strcmp(argv[1], "--digest") == 0;
  const unsigned seed = digesting ? (unsigned)std::strtoul(argv[2], nullptr, 10) : std::random_device{}();
#ifdef __aarch64__
  const OptimTables &op = optim_kernels_portable(), &oo = optim_kernels_neon();
  const SortTables &sp = sort_kernels_portable(), &so = sort_kernels_neon();
  const mesh::McKernels &mp = mc_kernels_portable(), &mo = mc_kernels_neon();
  const BinningTables &bp = binning_kernels_portable(), &bo = binning_kernels_neon();
  const char* name = "neon";
#else
  const OptimTables &op = optim_kernels_portable(), &oo = optim_kernels_sse2();
  const SortTables &sp = sort_kernels_portable(), &so = sort_kernels_sse2();
  const mesh::McKernels &mp = mc_kernels_portable(), &mo = mc_kernels_sse2();
  const BinningTables &bp = binning_kernels_portable(), &bo = binning_kernels_sse2();
  const char* name = "sse2";
#endif
  if (std::strcmp(oo.target, name) || std::strcmp(so.target, name) || std::strcmp(mo.target, name) ||
      std::strcmp(bo.target, name) ||
      std::strcmp(op.target, "portable")) {
    std::printf("%s: the tables are not the copies asked for\n", name);
    return 1;
  }
  uint64_t* d = digesting ? &digest : nullptr;
  Rng rng(seed);
  int64_t faces = 0;
  const int bad = check_optim<float>(&op.f32, &oo.f32, name, 300, rng, d) +
                  check_optim<double>(&op.f64, &oo.f64, name, 100, rng, d) +
                  check_sort<uint32_t>(&sp.u32, &so.u32, name, 150, rng, d) +
                  check_sort<uint64_t>(&sp.u64, &so.u64, name, 100, rng, d) +
                  check_sortable(sp, so, name, 50, rng, d) + check_mc(mp, mo, name, 300, rng, d, &faces) +
                  check_binning<float>(bp, bo, name, 150, rng, d) + check_binning<double>(bp, bo, name, 50, rng, d);
  if (digesting) std::printf("digest %016llx\n", (unsigned long long)digest);
  std::printf("%s: %d mismatching trials of 1200 (optimizers 300 float32 + 100 float64, sort 150 32-bit + "
              "100 64-bit + 50 float keys, binning 150 float32 + 50 float64, marching cubes 300 with %lld "
              "triangles)\n",
              name, bad, (long long)faces);
  return bad != 0;
}
