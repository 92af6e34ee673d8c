// Standalone check that the marching-cubes kernel bodies (kernels/marching_cubes.h)
// run unchanged on CUDA in the GPU formulation: classify -> exclusive scan ->
// emit, one thread per grid point / cell. Not part of the build (the CUDA backend
// will host these kernels); compares with the CPU driver (mesh/marching_cubes.cpp).
//
//   nvcc -O3 -std=c++17 -I cpp cpp/mesh/mc_cuda_check.cu cpp/mesh/marching_cubes.cpp \
//        cpp/core/thread_pool.cpp -o mc_cuda_check && ./mc_cuda_check 256
//
// Sphere: the CPU numbers vertices by (point, axis) and triangles by cell exactly
// as the global scans do, so vertices and faces must be identical. Noise (with
// centre vertices, which the CPU numbers per slab and this check after all edge
// vertices): the same triangles as sets of vertex positions.
#include <thrust/device_ptr.h>
#include <thrust/scan.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "kernels/marching_cubes.h"
#include "mesh/marching_cubes.h"

#define CK(x)                                                                      \
  do {                                                                             \
    cudaError_t e = (x);                                                           \
    if (e != cudaSuccess) {                                                        \
      std::fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); \
      std::exit(2);                                                                \
    }                                                                              \
  } while (0)

struct Dims {
  int n0, n1, n2;
  float level, sign;
};

__device__ inline float rel_at(const float* v, Dims d, int i, int j, int k) {
  return sc_mc_rel(v[((long)i * d.n1 + j) * d.n2 + k], d.level, d.sign);
}

// 1. classify edges: flag[3 p + a] = edge from point p along axis a is crossed
__global__ void classify_edges(const float* v, Dims d, unsigned* flag) {
  long p = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long np = (long)d.n0 * d.n1 * d.n2;
  if (p >= np) return;
  int k = p % d.n2, j = (p / d.n2) % d.n1, i = p / ((long)d.n1 * d.n2);
  float g0 = rel_at(v, d, i, j, k);
  flag[3 * p + 0] = i + 1 < d.n0 && sc_mc_crossed(g0, rel_at(v, d, i + 1, j, k));
  flag[3 * p + 1] = j + 1 < d.n1 && sc_mc_crossed(g0, rel_at(v, d, i, j + 1, k));
  flag[3 * p + 2] = k + 1 < d.n2 && sc_mc_crossed(g0, rel_at(v, d, i, j, k + 1));
}

// 1b. classify cells: configuration, triangle and centre-vertex counts
__global__ void classify_cells(const float* v, Dims d, const sc_i32* table, int* config,
                               unsigned* ntri, unsigned* ncentre) {
  long c = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long nc = (long)(d.n0 - 1) * (d.n1 - 1) * (d.n2 - 1);
  if (c >= nc) return;
  int k = c % (d.n2 - 1), j = (c / (d.n2 - 1)) % (d.n1 - 1), i = c / ((long)(d.n1 - 1) * (d.n2 - 1));
  float g[8];
  for (int q = 0; q < 8; ++q)
    g[q] = rel_at(v, d, i + sc_mc_corner_offset(q, 0), j + sc_mc_corner_offset(q, 1),
                  k + sc_mc_corner_offset(q, 2));
  int cs = sc_mc_case(g);
  int cfg = (cs == 0 || cs == 255) ? -1 : sc_mc_cell_config(cs, g, table);
  config[c] = cfg;
  ntri[c] = cfg < 0 ? 0 : sc_mc_config_ntri(cfg, table);
  ncentre[c] = cfg < 0 ? 0 : (sc_mc_config_centre(cfg, table) != 0);
}

__device__ inline void edge_point(const float* v, Dims d, int i, int j, int k, int a, float* pos,
                                  float* nrm) {
  int e1[3] = {i, j, k};
  e1[a] += 1;
  float t = sc_mc_edge_t(rel_at(v, d, i, j, k), rel_at(v, d, e1[0], e1[1], e1[2]));
  pos[0] = (float)i;
  pos[1] = (float)j;
  pos[2] = (float)k;
  pos[a] += t;
  float gr[2][3];
  int pt[2][3] = {{i, j, k}, {e1[0], e1[1], e1[2]}};
  int n[3] = {d.n0, d.n1, d.n2};
  for (int s = 0; s < 2; ++s)
    for (int b = 0; b < 3; ++b) {
      int m[3] = {pt[s][0], pt[s][1], pt[s][2]}, q[3] = {pt[s][0], pt[s][1], pt[s][2]};
      m[b] -= 1;
      q[b] += 1;
      int hm = m[b] >= 0, hp = q[b] < n[b];
      float v0 = v[((long)pt[s][0] * d.n1 + pt[s][1]) * d.n2 + pt[s][2]];
      float vm = hm ? v[((long)m[0] * d.n1 + m[1]) * d.n2 + m[2]] : 0.0f;
      float vp = hp ? v[((long)q[0] * d.n1 + q[1]) * d.n2 + q[2]] : 0.0f;
      gr[s][b] = sc_mc_diff(vm, v0, vp, hm, hp);
    }
  float inv[3] = {1.0f, 1.0f, 1.0f};
  sc_mc_normal(gr[0], gr[1], t, d.sign, inv, nrm);
}

// 3a. emit vertices: one thread per edge slot
__global__ void emit_vertices(const float* v, Dims d, const unsigned* flag, const unsigned* vid,
                              float* verts, float* normals) {
  long e = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long np = (long)d.n0 * d.n1 * d.n2;
  if (e >= 3 * np || !flag[e]) return;
  long p = e / 3;
  int a = e % 3;
  int k = p % d.n2, j = (p / d.n2) % d.n1, i = p / ((long)d.n1 * d.n2);
  edge_point(v, d, i, j, k, a, verts + 3 * (long)vid[e], normals + 3 * (long)vid[e]);
}

// 3b. emit triangles (and centre vertices): one thread per cell
__global__ void emit_cells(const float* v, Dims d, const sc_i32* table, const int* config,
                           const unsigned* vid, const unsigned* toff, const unsigned* coff,
                           unsigned centre_base, float* verts, float* normals, int* faces) {
  long c = blockIdx.x * (long)blockDim.x + threadIdx.x;
  long nc = (long)(d.n0 - 1) * (d.n1 - 1) * (d.n2 - 1);
  if (c >= nc || config[c] < 0) return;
  int k = c % (d.n2 - 1), j = (c / (d.n2 - 1)) % (d.n1 - 1), i = c / ((long)(d.n1 - 1) * (d.n2 - 1));
  int ev[13];
  for (int e = 0; e < 12; ++e) {
    int c0 = sc_mc_edge_corner0(e);
    long p = ((long)(i + sc_mc_corner_offset(c0, 0)) * d.n1 + j + sc_mc_corner_offset(c0, 1)) * d.n2 +
             k + sc_mc_corner_offset(c0, 2);
    ev[e] = (int)vid[3 * p + sc_mc_edge_axis(e)];
  }
  int mask = sc_mc_config_centre(config[c], table);
  if (mask) {
    long id = centre_base + coff[c];
    float acc[3] = {0, 0, 0}, nacc[3] = {0, 0, 0};
    int cnt = 0;
    for (int e = 0; e < 12; ++e) {
      if (!((mask >> e) & 1)) continue;
      int c0 = sc_mc_edge_corner0(e);
      float p[3], n[3];
      edge_point(v, d, i + sc_mc_corner_offset(c0, 0), j + sc_mc_corner_offset(c0, 1),
                 k + sc_mc_corner_offset(c0, 2), sc_mc_edge_axis(e), p, n);
      for (int b = 0; b < 3; ++b) {
        acc[b] += p[b];
        nacc[b] += n[b];
      }
      ++cnt;
    }
    float len = sqrtf(nacc[0] * nacc[0] + nacc[1] * nacc[1] + nacc[2] * nacc[2]);
    const float inv = 1.0f / (float)cnt;  // as the CPU driver computes it
    for (int b = 0; b < 3; ++b) {
      verts[3 * id + b] = acc[b] * inv;
      normals[3 * id + b] = len > 0 ? nacc[b] / len : 0.0f;
    }
    ev[12] = (int)id;
  }
  sc_mc_emit(config[c], ev, faces + 3 * (long)toff[c], table);
}

struct GpuMesh {
  std::vector<float> v, n;
  std::vector<int> f;
  double ms;
};

GpuMesh gpu_mc(const std::vector<float>& vol, int n, float level) {
  Dims d{n, n, n, level, 1.0f};
  long np = (long)n * n * n, nc = (long)(n - 1) * (n - 1) * (n - 1);
  float *dv, *dverts, *dnorm;
  unsigned *flag, *vid, *ntri, *toff, *ncen, *coff;
  int *cfg, *faces;
  sc_i32* table;
  CK(cudaMalloc(&dv, np * 4));
  CK(cudaMalloc(&flag, 3 * np * 4));
  CK(cudaMalloc(&vid, 3 * np * 4));
  CK(cudaMalloc(&cfg, nc * 4));
  CK(cudaMalloc(&ntri, nc * 4));
  CK(cudaMalloc(&toff, nc * 4));
  CK(cudaMalloc(&ncen, nc * 4));
  CK(cudaMalloc(&coff, nc * 4));
  CK(cudaMalloc(&table, sizeof(sc_mc_table)));
  CK(cudaMemcpy(dv, vol.data(), np * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(table, sc_mc_table, sizeof(sc_mc_table), cudaMemcpyHostToDevice));
  CK(cudaDeviceSynchronize());
  auto t0 = std::chrono::steady_clock::now();
  const int B = 256;
  classify_edges<<<(np + B - 1) / B, B>>>(dv, d, flag);
  classify_cells<<<(nc + B - 1) / B, B>>>(dv, d, table, cfg, ntri, ncen);
  thrust::exclusive_scan(thrust::device_ptr<unsigned>(flag), thrust::device_ptr<unsigned>(flag + 3 * np),
                         thrust::device_ptr<unsigned>(vid));
  thrust::exclusive_scan(thrust::device_ptr<unsigned>(ntri), thrust::device_ptr<unsigned>(ntri + nc),
                         thrust::device_ptr<unsigned>(toff));
  thrust::exclusive_scan(thrust::device_ptr<unsigned>(ncen), thrust::device_ptr<unsigned>(ncen + nc),
                         thrust::device_ptr<unsigned>(coff));
  unsigned last[6];
  CK(cudaMemcpy(&last[0], vid + 3 * np - 1, 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(&last[1], flag + 3 * np - 1, 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(&last[2], toff + nc - 1, 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(&last[3], ntri + nc - 1, 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(&last[4], coff + nc - 1, 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(&last[5], ncen + nc - 1, 4, cudaMemcpyDeviceToHost));
  unsigned nev = last[0] + last[1], nt = last[2] + last[3], ncv = last[4] + last[5];
  CK(cudaMalloc(&dverts, 3l * (nev + ncv) * 4 + 4));
  CK(cudaMalloc(&dnorm, 3l * (nev + ncv) * 4 + 4));
  CK(cudaMalloc(&faces, 3l * nt * 4 + 4));
  emit_vertices<<<(3 * np + B - 1) / B, B>>>(dv, d, flag, vid, dverts, dnorm);
  emit_cells<<<(nc + B - 1) / B, B>>>(dv, d, table, cfg, vid, toff, coff, nev, dverts, dnorm, faces);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  auto t1 = std::chrono::steady_clock::now();
  GpuMesh m;
  m.ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  m.v.resize(3l * (nev + ncv));
  m.n.resize(m.v.size());
  m.f.resize(3l * nt);
  CK(cudaMemcpy(m.v.data(), dverts, m.v.size() * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(m.n.data(), dnorm, m.n.size() * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(m.f.data(), faces, m.f.size() * 4, cudaMemcpyDeviceToHost));
  for (void* p : {(void*)dv, (void*)flag, (void*)vid, (void*)cfg, (void*)ntri, (void*)toff,
                  (void*)ncen, (void*)coff, (void*)table, (void*)dverts, (void*)dnorm, (void*)faces})
    cudaFree(p);
  return m;
}

using Tri = std::tuple<long, long, long, long, long, long, long, long, long>;

// positions on a 1e-5 grid: the check compares topology, not last-bit rounding
inline long q5(float x) { return std::lround((double)x * 1e5); }

std::multiset<Tri> tri_set(const std::vector<float>& v, const std::vector<int>& f) {
  std::multiset<Tri> s;
  for (size_t t = 0; t < f.size(); t += 3) {
    // rotate so the smallest vertex index by position comes first (winding kept)
    int r = 0;
    for (int q = 1; q < 3; ++q) {
      auto key = [&](int x) { return std::make_tuple(v[3 * f[t + x]], v[3 * f[t + x] + 1], v[3 * f[t + x] + 2]); };
      if (key(q) < key(r)) r = q;
    }
    int a = f[t + r], b = f[t + (r + 1) % 3], c = f[t + (r + 2) % 3];
    s.insert(Tri(q5(v[3 * a]), q5(v[3 * a + 1]), q5(v[3 * a + 2]), q5(v[3 * b]), q5(v[3 * b + 1]),
                 q5(v[3 * b + 2]), q5(v[3 * c]), q5(v[3 * c + 1]), q5(v[3 * c + 2])));
  }
  return s;
}

int check(const char* name, const std::vector<float>& vol, int n, float level, bool exact) {
  sc::mesh::McInput in;
  in.volume = vol.data();
  in.dims[0] = in.dims[1] = in.dims[2] = n;
  in.level = level;
  auto t0 = std::chrono::steady_clock::now();
  sc::mesh::McPlan plan = sc::mesh::mc_plan(in);
  std::vector<float> v(3 * plan.num_vertices), nr(3 * plan.num_vertices);
  std::vector<int> f(3 * plan.num_triangles);
  sc::mesh::mc_emit(in, plan, v.data(), nr.data(), nullptr, f.data());
  double cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  GpuMesh g = gpu_mc(vol, n, level);
  g = gpu_mc(vol, n, level);  // warm
  bool ok = g.v.size() == v.size() && g.f.size() == f.size();
  double dv = 0, dn = 0;
  if (ok && exact) {
    for (size_t i = 0; i < v.size(); ++i) {
      dv = std::max(dv, (double)std::fabs(v[i] - g.v[i]));
      dn = std::max(dn, (double)std::fabs(nr[i] - g.n[i]));
    }
    ok = dv < 1e-5 && dn < 1e-4 && f == g.f;
  } else if (ok) {
    ok = tri_set(v, f) == tri_set(g.v, g.f);
  }
  std::printf("%s %d^3: CPU %zu vertices %zu faces (%.1f ms), GPU %zu vertices %zu faces "
              "(%.2f ms): %s (max |dv| %.2g, |dn| %.2g)\n",
              name, n, v.size() / 3, f.size() / 3, cpu_ms, g.v.size() / 3, g.f.size() / 3, g.ms,
              ok ? "MATCH" : "MISMATCH", dv, dn);
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  // one-line summary per check; exit status = number of mismatches
  int n = argc > 1 ? std::atoi(argv[1]) : 256;
  std::vector<float> sphere((size_t)n * n * n), noise((size_t)n * n * n);
  std::srand(7);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k) {
        float x = -1 + 2.f * i / (n - 1), y = -1 + 2.f * j / (n - 1), z = -1 + 2.f * k / (n - 1);
        size_t p = ((size_t)i * n + j) * n + k;
        sphere[p] = 0.7f - std::sqrt(x * x + y * y + z * z);
        noise[p] = std::rand() / (float)RAND_MAX - 0.5f;
      }
  int bad = check("sphere", sphere, n, 0.0f, true);
  bad += check("noise", noise, std::min(n, 96), 0.0f, false);
  return bad;
}
