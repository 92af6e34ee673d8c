// Marching cubes, CPU host side: the classify -> prefix sum -> emit shape of
// kernels/marching_cubes.h, multithreaded over slabs of planes along axis 0.
// The per-plane loops named below (flags, counts, plane_ids, triangles) are
// compiled once per CPU target (mesh/mc_target.cpp); this file runs them.
//
// Point flags (one byte per grid point, one plane at a time): bit 0 inside,
// bit 1 valid (in the mask, or a virtual pad point). An edge is crossed when
// its two flags differ in exactly the inside bit ((f0 ^ f1) == 1: both valid,
// one inside). A cell is meshed when its case is neither 0 nor 255 and its 8
// corners are valid.
//
// Vertices belong to edges and are numbered plane by plane: plane P owns the
// edges that start at its points (along axes 0, 1, 2), numbered in point order
// (row J, column K), axes in order. Pass 1 counts the vertices of every plane
// and the triangles of every slab (the cells between planes P and P + 1);
// exclusive sums give each plane its first vertex and each slab its first
// triangle. Pass 1 keeps the point flags (one byte per grid point, a quarter
// of the volume's size) and which rows have crossings / triangles, so pass 2
// reads no field values to classify and visits only those rows. Pass 2
// recomputes each plane's vertex numbers into a small per-plane map (3 int32
// per point), writes the vertices it owns and the triangles of its slab; no
// per-edge array of the whole grid is ever stored.
// The few configurations with a centre vertex (see gen_mc_tables.py) number
// theirs after the edge vertices of the slab's first plane.
//
// Padding (pad = true) surrounds the grid with one layer of virtual outside
// points, so a surface that reaches the grid's boundary is closed by a cap
// half a voxel outside the grid (the crossing on an edge to a pad point is at
// its midpoint; its normal is the outward axis).
#include "mesh/marching_cubes.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu_target.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "kernels/marching_cubes.h"
#include "mesh/mc_kernels.h"

namespace sc {

// The per-plane loops of the CPU target in use (mesh/mc_kernels.h,
// mesh/mc_target.cpp).
SC_TARGET_DISPATCH(mesh::McKernels, mc_kernels)

namespace mesh {

ScMcGrid mc_grid(const McInput& in) {
  ScMcGrid g{};
  g.pad = in.pad ? 1 : 0;
  for (int a = 0; a < 3; ++a) {
    g.n[a] = in.dims[a];
    g.N[a] = in.dims[a] + 2 * g.pad;
    g.spacing[a] = in.spacing[a];
    g.origin[a] = in.origin[a];
    g.inv_spacing[a] = 1.0f / in.spacing[a];
  }
  g.has_mask = in.mask ? 1 : 0;
  g.channels = in.colors ? (int32_t)in.channels : 0;
  g.level = in.level;
  g.sign = in.sign;
  return g;
}

namespace {

struct Grid {
  McView view;    // what the per-plane loops read (mesh/mc_kernels.h)
  int64_t N[3];   // extended dims
  int64_t plane;  // N1 * N2

  explicit Grid(const McInput& in) : view{mc_grid(in), in.volume, in.mask, in.colors} {
    for (int a = 0; a < 3; ++a) N[a] = view.g.N[a];
    plane = N[1] * N[2];
  }
};

// Chunks of at least this many planes (each chunk recomputes one or two
// planes of flags at its start).
int64_t plane_grain(const Grid& G) { return std::max<int64_t>(4, 262144 / std::max<int64_t>(1, G.plane)); }

}  // namespace

void mc_check_input(const McInput& in) {
  if (!in.volume) throw ValueError("marching_cubes: volume is required");
  const int64_t need = in.pad ? 1 : 2;
  for (int a = 0; a < 3; ++a)
    if (in.dims[a] < need)
      throw ValueError("marching_cubes: volume must have at least " + std::to_string(need) +
                       " points along each axis" + (in.pad ? "" : " (or pad=True)") + ", got shape " +
                       shape_str({in.dims[0], in.dims[1], in.dims[2]}));
  if (!std::isfinite(in.level)) throw ValueError("marching_cubes: level must be finite");
  if (in.sign != 1.0f && in.sign != -1.0f)
    throw ValueError("marching_cubes: sign must be +1 or -1");
  for (int a = 0; a < 3; ++a) {
    if (!(in.spacing[a] > 0.0f) || !std::isfinite(in.spacing[a]))
      throw ValueError("marching_cubes: spacing must be three positive finite numbers, got " +
                       std::to_string(in.spacing[a]) + " on axis " + std::to_string(a));
    if (!std::isfinite(in.origin[a]))
      throw ValueError("marching_cubes: origin must be three finite numbers");
  }
  if (in.colors && in.channels < 1)
    throw ValueError("marching_cubes: colors need at least one channel");
}

McPlan mc_plan(const McInput& in) {
  mc_check_input(in);
  Grid G(in);
  const McKernels& kern = mc_kernels();
  McPlan plan;
  for (int a = 0; a < 3; ++a) plan.ext[a] = G.N[a];
  const int64_t N0 = G.N[0], S = G.plane;
  std::vector<int64_t> vcount((size_t)N0, 0), tcount((size_t)N0, 0), ccount((size_t)N0, 0),
      bad((size_t)N0, 0);
  plan.flags.reset(new uint8_t[(size_t)(N0 * S)]);  // not zeroed: every plane is written
  plan.rows.assign((size_t)(N0 * G.N[1]), 0);
  uint8_t* flags = plan.flags.get();
  // classify points: the flags of every plane
  parallel_for(N0, plane_grain(G), [&](int64_t b, int64_t e) {
    for (int64_t P = b; P < e; ++P) bad[(size_t)P] = kern.plane_flags(G.view, P, flags + P * S);
  });
  // count: vertices owned by each plane, triangles of each slab
  parallel_for(N0, plane_grain(G), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> q((size_t)G.N[2] + 8), v((size_t)G.N[2] + 8), cs((size_t)G.N[2] + 8, 0);
    for (int64_t P = b; P < e; ++P) {
      const bool has_next = P + 1 < N0;
      const uint8_t* cur = flags + P * S;
      const uint8_t* nxt = has_next ? cur + S : nullptr;
      uint8_t* rows = plan.rows.data() + P * G.N[1];
      vcount[(size_t)P] = kern.count_vertices(G.view, cur, nxt, rows);
      if (has_next)
        tcount[(size_t)P] = kern.count_triangles(G.view, P, cur, nxt, q.data(), v.data(), cs.data(),
                                                 &ccount[(size_t)P], rows);
    }
  });
  int64_t nbad = 0;
  for (int64_t x : bad) nbad += x;
  if (nbad)
    throw ValueError("marching_cubes: volume has " + std::to_string(nbad) +
                     " NaN or infinite values" + (in.mask ? " inside the mask" : "") +
                     "; mask them out (mask=...) or replace them before meshing");
  plan.vbase.assign((size_t)N0 + 1, 0);
  plan.cbase.assign((size_t)N0, 0);
  plan.tbase.assign((size_t)N0 + 1, 0);
  for (int64_t P = 0; P < N0; ++P) {
    plan.cbase[(size_t)P] = plan.vbase[(size_t)P] + vcount[(size_t)P];
    plan.vbase[(size_t)P + 1] = plan.cbase[(size_t)P] + ccount[(size_t)P];
    plan.tbase[(size_t)P + 1] = plan.tbase[(size_t)P] + tcount[(size_t)P];
  }
  plan.num_vertices = plan.vbase[(size_t)N0];
  plan.num_triangles = plan.tbase[(size_t)N0];
  if (plan.num_vertices > INT32_MAX || plan.num_triangles > INT32_MAX)
    throw ValueError("marching_cubes: the mesh would have " + std::to_string(plan.num_vertices) +
                     " vertices and " + std::to_string(plan.num_triangles) +
                     " triangles, over the int32 index limit; use a coarser grid");
  return plan;
}

void mc_emit(const McInput& in, const McPlan& plan, float* verts, float* normals, float* colors,
             int32_t* faces) {
  Grid G(in);
  const McKernels& kern = mc_kernels();
  const int64_t N0 = G.N[0], S = G.plane;
  if (!plan.flags || (int64_t)plan.rows.size() != N0 * G.N[1] || plan.ext[0] != N0 ||
      plan.ext[1] != G.N[1] || plan.ext[2] != G.N[2])
    throw ValueError("mc_emit: the plan does not belong to this input");
  const McOut o{verts, normals, in.colors ? colors : nullptr, faces};
  const uint8_t* fl = plan.flags.get();
  auto flags = [&](int64_t P) { return P < N0 ? fl + P * S : nullptr; };
  auto rows = [&](int64_t P) { return plan.rows.data() + P * G.N[1]; };
  parallel_for(N0, plane_grain(G), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> q((size_t)G.N[2] + 8), v((size_t)G.N[2] + 8), cs((size_t)G.N[2] + 8, 0),
        x((size_t)G.N[2] + 8, 0);
    std::vector<int32_t> ids(6 * (size_t)S);
    auto idmap = [&](int64_t P) { return ids.data() + (size_t)(P % 2) * 3 * (size_t)S; };
    kern.plane_ids(G.view, b, flags(b), flags(b + 1), plan.vbase[(size_t)b], idmap(b), 1, o, x.data(),
                   rows(b));
    for (int64_t P = b; P < e && P + 1 < N0; ++P) {
      const int64_t Q = P + 1;
      kern.plane_ids(G.view, Q, flags(Q), flags(Q + 1), plan.vbase[(size_t)Q], idmap(Q), Q < e ? 1 : 0, o,
                     x.data(), rows(Q));
      kern.emit_triangles(G.view, P, flags(P), flags(Q), idmap(P), idmap(Q), plan.tbase[(size_t)P],
                          plan.cbase[(size_t)P], q.data(), v.data(), cs.data(), o, rows(P));
    }
  });
}

int64_t mesh_components(const int32_t* faces, int64_t num_faces, int64_t num_vertices,
                        int32_t* labels) {
  std::vector<int32_t> parent((size_t)num_vertices);
  for (int64_t i = 0; i < num_vertices; ++i) parent[(size_t)i] = (int32_t)i;
  auto find = [&](int32_t x) {
    while (parent[(size_t)x] != x) {
      parent[(size_t)x] = parent[(size_t)parent[(size_t)x]];
      x = parent[(size_t)x];
    }
    return x;
  };
  auto unite = [&](int32_t a, int32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (a < b) std::swap(a, b);
    parent[(size_t)a] = b;  // the smaller index is the root
  };
  for (int64_t f = 0; f < num_faces; ++f) {
    const int32_t* t = faces + 3 * f;
    for (int k = 0; k < 3; ++k)
      if (t[k] < 0 || t[k] >= num_vertices)
        throw ValueError("mesh_components: faces[" + std::to_string(f) + "] refers to vertex " +
                         std::to_string(t[k]) + ", outside [0, " + std::to_string(num_vertices) + ")");
    unite(t[0], t[1]);
    unite(t[1], t[2]);
  }
  int64_t count = 0;
  for (int64_t i = 0; i < num_vertices; ++i) {
    int32_t r = find((int32_t)i);
    if (r == (int32_t)i)
      labels[i] = (int32_t)count++;
    else
      labels[i] = labels[r];  // r < i, already labelled
  }
  return count;
}

}  // namespace mesh
}  // namespace sc
