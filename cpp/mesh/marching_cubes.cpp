// Marching cubes, CPU host side: the classify -> prefix sum -> emit shape of
// kernels/marching_cubes.h, multithreaded over slabs of planes along axis 0.
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

#include "core/errors.h"
#include "core/thread_pool.h"
#include "kernels/marching_cubes.h"

namespace sc {
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
  const McInput& in;
  ScMcGrid g;     // the shared bodies' view of the grid (kernels/marching_cubes.h)
  int64_t n[3];
  int64_t p;      // 1 when padded
  int64_t N[3];   // extended dims
  int64_t plane;  // N1 * N2

  explicit Grid(const McInput& input) : in(input), g(mc_grid(input)) {
    p = g.pad;
    for (int a = 0; a < 3; ++a) {
      n[a] = g.n[a];
      N[a] = g.N[a];
    }
    plane = N[1] * N[2];
  }
  int64_t index(int64_t I, int64_t J, int64_t K) const { return sc_mc_offset(g, I, J, K); }
  bool real(int64_t I, int64_t J, int64_t K) const { return sc_mc_real(g, I, J, K) != 0; }
};

// Fills the flags of plane P; returns the number of non-finite values among
// the valid (masked-in) points.
int64_t plane_flags(const Grid& G, int64_t P, uint8_t* fl) {
  const int64_t i = P - G.p;
  const int64_t N1 = G.N[1], N2 = G.N[2], n1 = G.n[1], n2 = G.n[2];
  if (i < 0 || i >= G.n[0]) {
    std::memset(fl, 2, (size_t)G.plane);
    return 0;
  }
  const float level = G.in.level, sign = G.in.sign;
  int64_t bad = 0;
  for (int64_t J = 0; J < N1; ++J) {
    uint8_t* row = fl + J * N2;
    const int64_t j = J - G.p;
    if (j < 0 || j >= n1) {
      std::memset(row, 2, (size_t)N2);
      continue;
    }
    if (G.p) row[0] = row[N2 - 1] = 2;
    uint8_t* r = row + G.p;
    const float* v = G.in.volume + (i * n1 + j) * n2;
    int32_t nb = 0;
    if (!G.in.mask) {
      for (int64_t k = 0; k < n2; ++k) {
        float x = v[k];
        r[k] = (uint8_t)(2 | sc_mc_inside(sc_mc_rel(x, level, sign)));
        nb += !(std::fabs(x) <= FLT_MAX);
      }
    } else {
      const uint8_t* m = G.in.mask + (i * n1 + j) * n2;
      for (int64_t k = 0; k < n2; ++k) {
        float x = v[k];
        int32_t ok = m[k] != 0;
        r[k] = (uint8_t)(ok ? (2 | sc_mc_inside(sc_mc_rel(x, level, sign))) : 0);
        nb += ok & !(std::fabs(x) <= FLT_MAX);
      }
    }
    bad += nb;
  }
  return bad;
}

inline int crossed(uint8_t a, uint8_t b) { return (a ^ b) == 1; }

// Row activity recorded by pass 1 (McPlan::rows, one byte per (plane, row)):
// the row owns crossed edges / the row of cells of the slab has triangles.
constexpr uint8_t kRowVertices = 1, kRowCells = 2;

// Number of crossed edges owned by plane P (next = flags of P + 1 or null).
int64_t count_vertices(const Grid& G, const uint8_t* fl, const uint8_t* next, uint8_t* rows) {
  const int64_t N1 = G.N[1], N2 = G.N[2];
  int64_t total = 0;
  for (int64_t J = 0; J < N1; ++J) {
    const uint8_t* r = fl + J * N2;
    int32_t c = 0;
    for (int64_t K = 0; K + 1 < N2; ++K) c += crossed(r[K], r[K + 1]);
    if (J + 1 < N1) {
      const uint8_t* r1 = r + N2;
      for (int64_t K = 0; K < N2; ++K) c += crossed(r[K], r1[K]);
    }
    if (next) {
      const uint8_t* rn = next + J * N2;
      for (int64_t K = 0; K < N2; ++K) c += crossed(r[K], rn[K]);
    }
    if (c) rows[J] |= kRowVertices;
    total += c;
  }
  return total;
}

// Cases of a row of cells (J, K) of slab P, K < N2 - 1, into cs[K]: 0 for a
// trivial cell (case 0 or 255) or one with an invalid corner. a, b: flag rows
// J and J + 1 of plane P; c, d: of plane P + 1. q, v: scratch of N2 bytes.
// Column code q[K] holds the inside bits of the four points at column K in
// the case-bit positions of corners 0, 2, 4, 6, so that the case of cell K is
// q[K] | q[K + 1] << 1; v[K] ANDs their flags (bit 1: all valid). Returns
// whether any cell of the row is non-trivial. Vectorisable loops only.
inline bool row_cases(const uint8_t* a, const uint8_t* b, const uint8_t* c, const uint8_t* d,
                      int64_t N2, uint8_t* q, uint8_t* v, uint8_t* cs) {
  for (int64_t K = 0; K < N2; ++K) {
    q[K] = (uint8_t)((a[K] & 1) | ((b[K] & 1) << 2) | ((c[K] & 1) << 4) | ((d[K] & 1) << 6));
    v[K] = (uint8_t)(a[K] & b[K] & c[K] & d[K]);
  }
  uint8_t any = 0;
  for (int64_t K = 0; K + 1 < N2; ++K) {
    const uint8_t x = (uint8_t)(q[K] | (q[K + 1] << 1));
    const uint8_t ok = (uint8_t)((x != 0) & (x != 255) & ((v[K] & v[K + 1]) >> 1));
    cs[K] = ok ? x : 0;
    any |= cs[K];
  }
  return any != 0;
}

// Calls fn(K) for every non-zero byte of buf[0, n); buf is readable and zero
// up to the next multiple of 8, so whole words of zeros are skipped.
template <typename Fn>
inline void for_nonzero(const uint8_t* buf, int64_t n, Fn&& fn) {
  for (int64_t K0 = 0; K0 < n; K0 += 8) {
    uint64_t w;
    std::memcpy(&w, buf + K0, 8);
    if (!w) continue;
    const int64_t end = std::min<int64_t>(n, K0 + 8);
    for (int64_t K = K0; K < end; ++K)
      if (buf[K]) fn(K);
  }
}

// Configuration of the cell at (P, J, K) with the given case.
inline int32_t cell_config(const Grid& G, int64_t P, int64_t J, int64_t K, int32_t cube_case) {
  return sc_mc_cell_config_at(G.g, G.in.volume, P, J, K, cube_case, sc_mc_table);
}

// Triangles of slab P (flags of planes P and P + 1). q, v, cs: scratch of
// N2 + 8 bytes (cs zero-padded).
int64_t count_triangles(const Grid& G, int64_t P, const uint8_t* f0, const uint8_t* f1,
                        uint8_t* q, uint8_t* v, uint8_t* cs, int64_t* centres, uint8_t* rows) {
  const int64_t N1 = G.N[1], N2 = G.N[2];
  int64_t total = 0, nc = 0;
  for (int64_t J = 0; J + 1 < N1; ++J) {
    if (!row_cases(f0 + J * N2, f0 + (J + 1) * N2, f1 + J * N2, f1 + (J + 1) * N2, N2, q, v, cs))
      continue;
    rows[J] |= kRowCells;
    for_nonzero(cs, N2 - 1, [&](int64_t K) {
      const int32_t cfg = cell_config(G, P, J, K, cs[K]);
      total += sc_mc_config_ntri(cfg, sc_mc_table);
      nc += sc_mc_config_centre(cfg, sc_mc_table) != 0;
    });
  }
  *centres = nc;
  return total;
}

struct Out {
  float* verts;
  float* normals;
  float* colors;
  int32_t* faces;
};

// The vertex on the edge from extended point (I, J, K) along axis a (the
// shared bodies of kernels/marching_cubes.h, as the GPU kernels run them).
void emit_vertex(const Grid& G, int64_t I, int64_t J, int64_t K, int a, int64_t id, const Out& o) {
  const ScMcEdge e = sc_mc_edge(G.g, G.in.volume, I, J, K, a);
  sc_mc_edge_position(G.g, I, J, K, a, e, o.verts + 3 * id);
  if (o.normals) sc_mc_edge_normal(G.g, G.in.volume, G.in.mask, I, J, K, a, e, o.normals + 3 * id);
  if (o.colors)
    for (int32_t c = 0; c < G.g.channels; ++c)
      o.colors[id * G.g.channels + c] = sc_mc_edge_color(G.g, G.in.colors, e, c);
}

// The centre vertex of cell (P, J, K): the mean of the crossing points of the
// edges in `mask` (normal: their normalised mean normal; colour: mean).
void emit_centre(const Grid& G, int64_t P, int64_t J, int64_t K, int32_t mask, int64_t id,
                 const Out& o) {
  float nrm[3];
  sc_mc_centre_vertex(G.g, G.in.volume, G.in.mask, P, J, K, mask, o.normals ? 1 : 0,
                      o.verts + 3 * id, nrm);
  if (o.normals)
    for (int d = 0; d < 3; ++d) o.normals[3 * id + d] = nrm[d];
  if (o.colors)
    for (int32_t c = 0; c < G.g.channels; ++c)
      o.colors[id * G.g.channels + c] =
          sc_mc_centre_color(G.g, G.in.volume, G.in.colors, P, J, K, mask, c);
}

// Vertex numbers of the edges owned by plane P (ids[a][J * N2 + K]; only the
// entries of crossed edges are written, and only those are ever read),
// starting at `base`; writes those vertices when `emit`. x: scratch of N2 + 8
// bytes, zero-padded.
void plane_ids(const Grid& G, int64_t P, const uint8_t* fl, const uint8_t* next, int64_t base,
               int32_t* ids, bool emit, const Out& o, uint8_t* x, const uint8_t* rows) {
  const int64_t N1 = G.N[1], N2 = G.N[2], S = G.plane;
  int32_t* id0 = ids;
  int32_t* id1 = ids + S;
  int32_t* id2 = ids + 2 * S;
  int64_t cur = base;
  for (int64_t J = 0; J < N1; ++J) {
    if (!(rows[J] & kRowVertices)) continue;
    const uint8_t* r = fl + J * N2;
    // crossing bits of the row's points: bit a = the edge along axis a
    uint8_t any = 0;
    for (int64_t K = 0; K + 1 < N2; ++K) x[K] = (uint8_t)(crossed(r[K], r[K + 1]) << 2);
    x[N2 - 1] = 0;
    if (J + 1 < N1) {
      const uint8_t* r1 = r + N2;
      for (int64_t K = 0; K < N2; ++K) x[K] |= (uint8_t)(crossed(r[K], r1[K]) << 1);
    }
    if (next) {
      const uint8_t* rn = next + J * N2;
      for (int64_t K = 0; K < N2; ++K) x[K] |= (uint8_t)crossed(r[K], rn[K]);
    }
    for (int64_t K = 0; K < N2; ++K) any |= x[K];
    if (!any) continue;
    int32_t* a0 = id0 + J * N2;
    int32_t* a1 = id1 + J * N2;
    int32_t* a2 = id2 + J * N2;
    for_nonzero(x, N2, [&](int64_t K) {
      const uint8_t c = x[K];
      if (c & 1) {
        if (emit) emit_vertex(G, P, J, K, 0, cur, o);
        a0[K] = (int32_t)cur++;
      }
      if (c & 2) {
        if (emit) emit_vertex(G, P, J, K, 1, cur, o);
        a1[K] = (int32_t)cur++;
      }
      if (c & 4) {
        if (emit) emit_vertex(G, P, J, K, 2, cur, o);
        a2[K] = (int32_t)cur++;
      }
    });
  }
}

// Where the 12 edges of a cell find their vertex numbers: plane (0: P, 1: P +
// 1), axis, and the point offset inside the plane map (d1 * N2 + d2).
struct EdgeRef {
  int plane, axis, d1, d2;
};

void edge_refs(EdgeRef* refs) {
  for (int e = 0; e < 12; ++e) {
    int c0 = sc_mc_edge_corner0(e);
    refs[e] = {sc_mc_corner_offset(c0, 0), sc_mc_edge_axis(e), sc_mc_corner_offset(c0, 1),
               sc_mc_corner_offset(c0, 2)};
  }
}

// Triangles of slab P, written from faces[3 * first].
void emit_triangles(const Grid& G, int64_t P, const uint8_t* f0, const uint8_t* f1,
                    const int32_t* ids0, const int32_t* ids1, int64_t first, int64_t centre_first,
                    uint8_t* q, uint8_t* v, uint8_t* cs, const Out& o, const uint8_t* rows) {
  const int64_t N1 = G.N[1], N2 = G.N[2], S = G.plane;
  EdgeRef refs[12];
  edge_refs(refs);
  int64_t cur = first, centre = centre_first;
  for (int64_t J = 0; J + 1 < N1; ++J) {
    if (!(rows[J] & kRowCells)) continue;
    if (!row_cases(f0 + J * N2, f0 + (J + 1) * N2, f1 + J * N2, f1 + (J + 1) * N2, N2, q, v, cs))
      continue;
    for_nonzero(cs, N2 - 1, [&](int64_t K) {
      const int32_t cfg = cell_config(G, P, J, K, cs[K]);
      int32_t ev[13];
      const int32_t cmask = sc_mc_config_centre(cfg, sc_mc_table);
      if (cmask) {
        emit_centre(G, P, J, K, cmask, centre, o);
        ev[12] = (int32_t)centre++;
      }
      for (int e = 0; e < 12; ++e) {
        const EdgeRef& r = refs[e];
        const int32_t* m = (r.plane ? ids1 : ids0) + r.axis * S;
        ev[e] = m[(J + r.d1) * N2 + K + r.d2];
      }
      cur += sc_mc_emit(cfg, ev, o.faces + 3 * cur, sc_mc_table);
    });
  }
}


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
    for (int64_t P = b; P < e; ++P) bad[(size_t)P] = plane_flags(G, P, flags + P * S);
  });
  // count: vertices owned by each plane, triangles of each slab
  parallel_for(N0, plane_grain(G), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> q((size_t)G.N[2] + 8), v((size_t)G.N[2] + 8), cs((size_t)G.N[2] + 8, 0);
    for (int64_t P = b; P < e; ++P) {
      const bool has_next = P + 1 < N0;
      const uint8_t* cur = flags + P * S;
      const uint8_t* nxt = has_next ? cur + S : nullptr;
      uint8_t* rows = plan.rows.data() + P * G.N[1];
      vcount[(size_t)P] = count_vertices(G, cur, nxt, rows);
      if (has_next)
        tcount[(size_t)P] = count_triangles(G, P, cur, nxt, q.data(), v.data(), cs.data(),
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
  const int64_t N0 = G.N[0], S = G.plane;
  if (!plan.flags || (int64_t)plan.rows.size() != N0 * G.N[1] || plan.ext[0] != N0 ||
      plan.ext[1] != G.N[1] || plan.ext[2] != G.N[2])
    throw ValueError("mc_emit: the plan does not belong to this input");
  const Out o{verts, normals, in.colors ? colors : nullptr, faces};
  const uint8_t* fl = plan.flags.get();
  auto flags = [&](int64_t P) { return P < N0 ? fl + P * S : nullptr; };
  auto rows = [&](int64_t P) { return plan.rows.data() + P * G.N[1]; };
  parallel_for(N0, plane_grain(G), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> q((size_t)G.N[2] + 8), v((size_t)G.N[2] + 8), cs((size_t)G.N[2] + 8, 0),
        x((size_t)G.N[2] + 8, 0);
    std::vector<int32_t> ids(6 * (size_t)S);
    auto idmap = [&](int64_t P) { return ids.data() + (size_t)(P % 2) * 3 * (size_t)S; };
    plane_ids(G, b, flags(b), flags(b + 1), plan.vbase[(size_t)b], idmap(b), true, o, x.data(),
              rows(b));
    for (int64_t P = b; P < e && P + 1 < N0; ++P) {
      const int64_t Q = P + 1;
      plane_ids(G, Q, flags(Q), flags(Q + 1), plan.vbase[(size_t)Q], idmap(Q), Q < e, o, x.data(),
                rows(Q));
      emit_triangles(G, P, flags(P), flags(Q), idmap(P), idmap(Q), plan.tbase[(size_t)P],
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
