// Marching cubes' per-plane loops for one CPU target (core/target_unit.h; the
// interface, point flags and row marks are described in mesh/mc_kernels.h,
// the two passes in mesh/marching_cubes.cpp): the classification and count
// loops are plain byte loops the compiler vectorises for the target's
// registers; the vertices come from the shared bodies of
// kernels/marching_cubes.h, as the GPU kernels compute them.
#include "core/target_unit.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/marching_cubes.h"
#include "mesh/mc_kernels.h"

namespace {

using sc::mesh::kMcRowCells;
using sc::mesh::kMcRowVertices;
using sc::mesh::McOut;
using sc::mesh::McView;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t plane_flags(const McView& in, int64_t P, uint8_t* fl) {
  const ScMcGrid& G = in.g;
  const int64_t p = G.pad, i = P - p;
  const int64_t N1 = G.N[1], N2 = G.N[2], n1 = G.n[1], n2 = G.n[2];
  if (i < 0 || i >= G.n[0]) {
    std::memset(fl, 2, (size_t)(N1 * N2));
    return 0;
  }
  const float level = G.level, sign = G.sign;
  int64_t bad = 0;
  for (int64_t J = 0; J < N1; ++J) {
    uint8_t* row = fl + J * N2;
    const int64_t j = J - p;
    if (j < 0 || j >= n1) {
      std::memset(row, 2, (size_t)N2);
      continue;
    }
    if (p) row[0] = row[N2 - 1] = 2;
    uint8_t* r = row + p;
    const float* v = in.volume + (i * n1 + j) * n2;
    int32_t nb = 0;
    if (!in.mask) {
      for (int64_t k = 0; k < n2; ++k) {
        const float x = v[k];
        r[k] = (uint8_t)(2 | sc_mc_inside(sc_mc_rel(x, level, sign)));
        nb += !(std::fabs(x) <= FLT_MAX);
      }
    } else {
      const uint8_t* m = in.mask + (i * n1 + j) * n2;
      for (int64_t k = 0; k < n2; ++k) {
        const float x = v[k];
        const int32_t ok = m[k] != 0;
        r[k] = (uint8_t)(ok ? (2 | sc_mc_inside(sc_mc_rel(x, level, sign))) : 0);
        nb += ok & !(std::fabs(x) <= FLT_MAX);
      }
    }
    bad += nb;
  }
  return bad;
}

// An edge is crossed when its two flags differ in exactly the inside bit
// (both valid, one inside).
inline int crossed(uint8_t a, uint8_t b) { return (a ^ b) == 1; }

int64_t count_vertices(const McView& in, const uint8_t* fl, const uint8_t* next, uint8_t* rows) {
  const int64_t N1 = in.g.N[1], N2 = in.g.N[2];
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
    if (c) rows[J] |= kMcRowVertices;
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
inline bool row_cases(const uint8_t* a, const uint8_t* b, const uint8_t* c, const uint8_t* d, int64_t N2,
                      uint8_t* q, uint8_t* v, uint8_t* cs) {
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
    const int64_t end = min64(n, K0 + 8);
    for (int64_t K = K0; K < end; ++K)
      if (buf[K]) fn(K);
  }
}

// Configuration of the cell at (P, J, K) with the given case.
inline int32_t cell_config(const McView& in, int64_t P, int64_t J, int64_t K, int32_t cube_case) {
  return sc_mc_cell_config_at(in.g, in.volume, P, J, K, cube_case, sc_mc_table);
}

int64_t count_triangles(const McView& in, int64_t P, const uint8_t* f0, const uint8_t* f1, uint8_t* q,
                        uint8_t* v, uint8_t* cs, int64_t* centres, uint8_t* rows) {
  const int64_t N1 = in.g.N[1], N2 = in.g.N[2];
  int64_t total = 0, nc = 0;
  for (int64_t J = 0; J + 1 < N1; ++J) {
    if (!row_cases(f0 + J * N2, f0 + (J + 1) * N2, f1 + J * N2, f1 + (J + 1) * N2, N2, q, v, cs))
      continue;
    rows[J] |= kMcRowCells;
    for_nonzero(cs, N2 - 1, [&](int64_t K) {
      const int32_t cfg = cell_config(in, P, J, K, cs[K]);
      total += sc_mc_config_ntri(cfg, sc_mc_table);
      nc += sc_mc_config_centre(cfg, sc_mc_table) != 0;
    });
  }
  *centres = nc;
  return total;
}

// The vertex on the edge from extended point (I, J, K) along axis a.
void emit_vertex(const McView& in, int64_t I, int64_t J, int64_t K, int a, int64_t id, const McOut& o) {
  const ScMcGrid& G = in.g;
  const ScMcEdge e = sc_mc_edge(G, in.volume, I, J, K, a);
  sc_mc_edge_position(G, I, J, K, a, e, o.verts + 3 * id);
  if (o.normals) sc_mc_edge_normal(G, in.volume, in.mask, I, J, K, a, e, o.normals + 3 * id);
  if (o.colors)
    for (int32_t c = 0; c < G.channels; ++c)
      o.colors[id * G.channels + c] = sc_mc_edge_color(G, in.colors, e, c);
}

// The centre vertex of cell (P, J, K): the mean of the crossing points of the
// edges in `mask` (normal: their normalised mean normal; colour: mean).
void emit_centre(const McView& in, int64_t P, int64_t J, int64_t K, int32_t mask, int64_t id,
                 const McOut& o) {
  const ScMcGrid& G = in.g;
  float nrm[3];
  sc_mc_centre_vertex(G, in.volume, in.mask, P, J, K, mask, o.normals ? 1 : 0, o.verts + 3 * id, nrm);
  if (o.normals)
    for (int d = 0; d < 3; ++d) o.normals[3 * id + d] = nrm[d];
  if (o.colors)
    for (int32_t c = 0; c < G.channels; ++c)
      o.colors[id * G.channels + c] = sc_mc_centre_color(G, in.volume, in.colors, P, J, K, mask, c);
}

void plane_ids(const McView& in, int64_t P, const uint8_t* fl, const uint8_t* next, int64_t base,
               int32_t* ids, int emit, const McOut& o, uint8_t* x, const uint8_t* rows) {
  const int64_t N1 = in.g.N[1], N2 = in.g.N[2], S = N1 * N2;
  int32_t* id0 = ids;
  int32_t* id1 = ids + S;
  int32_t* id2 = ids + 2 * S;
  int64_t cur = base;
  for (int64_t J = 0; J < N1; ++J) {
    if (!(rows[J] & kMcRowVertices)) continue;
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
        if (emit) emit_vertex(in, P, J, K, 0, cur, o);
        a0[K] = (int32_t)cur++;
      }
      if (c & 2) {
        if (emit) emit_vertex(in, P, J, K, 1, cur, o);
        a1[K] = (int32_t)cur++;
      }
      if (c & 4) {
        if (emit) emit_vertex(in, P, J, K, 2, cur, o);
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

void emit_triangles(const McView& in, int64_t P, const uint8_t* f0, const uint8_t* f1, const int32_t* ids0,
                    const int32_t* ids1, int64_t first, int64_t centre_first, uint8_t* q, uint8_t* v,
                    uint8_t* cs, const McOut& o, const uint8_t* rows) {
  const int64_t N1 = in.g.N[1], N2 = in.g.N[2], S = N1 * N2;
  EdgeRef refs[12];
  for (int e = 0; e < 12; ++e) {
    const int c0 = sc_mc_edge_corner0(e);
    refs[e] = {sc_mc_corner_offset(c0, 0), sc_mc_edge_axis(e), sc_mc_corner_offset(c0, 1),
               sc_mc_corner_offset(c0, 2)};
  }
  int64_t cur = first, centre = centre_first;
  for (int64_t J = 0; J + 1 < N1; ++J) {
    if (!(rows[J] & kMcRowCells)) continue;
    if (!row_cases(f0 + J * N2, f0 + (J + 1) * N2, f1 + J * N2, f1 + (J + 1) * N2, N2, q, v, cs))
      continue;
    for_nonzero(cs, N2 - 1, [&](int64_t K) {
      const int32_t cfg = cell_config(in, P, J, K, cs[K]);
      int32_t ev[13];
      const int32_t cmask = sc_mc_config_centre(cfg, sc_mc_table);
      if (cmask) {
        emit_centre(in, P, J, K, cmask, centre, o);
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

const sc::mesh::McKernels kTable = {SC_TARGET_STRING, &plane_flags,   &count_vertices, &count_triangles,
                                    &plane_ids,       &emit_triangles};

}  // namespace

namespace sc {
const mesh::McKernels& SC_TARGET_TABLE(mc_kernels)() { return kTable; }
}  // namespace sc
