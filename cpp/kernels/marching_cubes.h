// Marching-cubes kernel bodies shared by every backend (kernel subset, see
// compat.h). The CPU driver is cpp/mesh/marching_cubes.cpp; a GPU backend runs
// the same three stages with one thread per cell / edge:
//
//   1. classify: per grid point the inside flag (sc_mc_inside); per cell the
//      case and configuration (sc_mc_cell_config) and its triangle count
//      (sc_mc_config_ntri); per edge whether it is crossed (sc_mc_crossed);
//   2. exclusive prefix sums of the edge and triangle counts give every
//      crossed edge its vertex index and every cell its first triangle;
//   3. emit: one vertex per crossed edge (sc_mc_edge_t, sc_mc_diff for the
//      gradient normal), and per cell its triangles (sc_mc_emit) from the
//      vertex indices of its 12 edges (plus, for the rare configurations
//      that need one, a vertex at the cell's centre: sc_mc_config_centre).
//
// Vertices belong to grid edges, so faces share them by construction (no weld).
// Values are "relative": g = sign * (v - level) with sign = +1 when the inside
// is above the level, -1 when it is below; a point is inside when g > 0.
//
// Conventions (also in cpp/mesh/gen_mc_tables.py, which derives the tables):
//   corner c (0..7) at offset ((c >> 2) & 1, (c >> 1) & 1, c & 1) along the
//   volume axes (0, 1, 2), axis 2 fastest; case bit c = corner c inside;
//   edge e = 4 a + ob + 2 od, parallel to axis a, ob / od the offsets along
//   the two other axes (lower one first), from offset 0 to 1 along a;
//   face f = 2 a + side, canonical corners p00, p10, p11, p01 (first digit =
//   offset along the lower other axis).
//
// Ambiguous faces are resolved by the asymptotic decider from the face's own
// four values, in a canonical order both neighbouring cells share, so the two
// cells always agree and the surface has no cracks. Triangles are wound so
// that their right-hand normal points from inside to outside.
#pragma once
#include "kernels/compat.h"
#include "kernels/marching_cubes_tables.h"

// 64-bit offsets, and the explicit fused multiply-add of the vertex bodies
// (see "vertices on a grid" below).
#if defined(__METAL_VERSION__)
typedef long sc_mc_i64;
#define SC_MC_FMA(a, b, c) fma(a, b, c)
#elif defined(__CUDACC__)
typedef __INT64_TYPE__ sc_mc_i64;
#define SC_MC_FMA(a, b, c) fmaf(a, b, c)
#else
typedef __INT64_TYPE__ sc_mc_i64;
#define SC_MC_FMA(a, b, c) __builtin_fmaf(a, b, c)
#endif

// Offset (0 or 1) of corner c along axis a.
SC_FN sc_i32 sc_mc_corner_offset(sc_i32 c, sc_i32 a) { return (c >> (2 - a)) & 1; }

// Corner index from its offsets.
SC_FN sc_i32 sc_mc_corner(sc_i32 d0, sc_i32 d1, sc_i32 d2) { return (d0 << 2) | (d1 << 1) | d2; }

// Axis of edge e.
SC_FN sc_i32 sc_mc_edge_axis(sc_i32 e) { return e >> 2; }

// First corner (offset 0 along the edge's axis) of edge e.
SC_FN sc_i32 sc_mc_edge_corner0(sc_i32 e) {
  sc_i32 a = e >> 2;
  sc_i32 ob = e & 1, od = (e >> 1) & 1;
  sc_i32 d[3];
  d[a] = 0;
  sc_i32 b = a == 0 ? 1 : 0;
  sc_i32 dd = a == 2 ? 1 : 2;
  d[b] = ob;
  d[dd] = od;
  return sc_mc_corner(d[0], d[1], d[2]);
}

// Second corner of edge e.
SC_FN sc_i32 sc_mc_edge_corner1(sc_i32 e) { return sc_mc_edge_corner0(e) | (4 >> (e >> 2)); }

// Canonical corner k (0: p00, 1: p10, 2: p11, 3: p01) of face f.
SC_FN sc_i32 sc_mc_face_corner(sc_i32 f, sc_i32 k) {
  sc_i32 a = f >> 1, side = f & 1;
  sc_i32 u = a == 0 ? 1 : 0;
  sc_i32 v = a == 2 ? 1 : 2;
  sc_i32 du = (k == 1 || k == 2) ? 1 : 0;
  sc_i32 dv = (k >= 2) ? 1 : 0;
  sc_i32 d[3];
  d[a] = side;
  d[u] = du;
  d[v] = dv;
  return sc_mc_corner(d[0], d[1], d[2]);
}

// Relative value: positive inside.
SC_FN float sc_mc_rel(float v, float level, float sign) { return sign * (v - level); }

// Inside flag of a relative value.
SC_FN sc_i32 sc_mc_inside(float g) { return g > 0.0f ? 1 : 0; }

// An edge between two valid points is crossed when exactly one is inside.
SC_FN sc_i32 sc_mc_crossed(float g0, float g1) { return sc_mc_inside(g0) != sc_mc_inside(g1) ? 1 : 0; }

// Case index of a cell from its 8 relative corner values.
SC_FN sc_i32 sc_mc_case(SC_THREAD const float* g) {
  sc_i32 c = 0;
  for (sc_i32 i = 0; i < 8; ++i) c |= sc_mc_inside(g[i]) << i;
  return c;
}

// Asymptotic decider on one face, values in canonical order: 1 when the two
// inside corners of an ambiguous face are connected across it (the bilinear
// interpolant's saddle value is inside), 0 when they are separated. Ties
// separate. Symmetric in the values of each diagonal, so both cells sharing
// the face compute exactly the same products and agree.
SC_FN sc_i32 sc_mc_face_connected(float g00, float g10, float g11, float g01) {
  float pa = g00 * g11, pb = g10 * g01;
  if (sc_mc_inside(g00)) return pa > pb ? 1 : 0;
  return pb > pa ? 1 : 0;
}

// Configuration of a cell (index into the configuration table): its case plus
// the decisions on its ambiguous faces. g: the 8 relative corner values.
SC_FN sc_i32 sc_mc_cell_config(sc_i32 cube_case, SC_THREAD const float* g,
                               SC_DEVICE const sc_i32* table) {
  sc_i32 base = table[cube_case];
  sc_i32 amb = table[256 + cube_case];
  sc_i32 n = amb & 15;
  sc_i32 bits = 0;
  for (sc_i32 j = 0; j < n; ++j) {
    sc_i32 f = (amb >> (4 + 3 * j)) & 7;
    sc_i32 conn = sc_mc_face_connected(g[sc_mc_face_corner(f, 0)], g[sc_mc_face_corner(f, 1)],
                                       g[sc_mc_face_corner(f, 2)], g[sc_mc_face_corner(f, 3)]);
    bits |= conn << j;
  }
  return base + bits;
}

// Whether a case needs the corner values (has ambiguous faces) to pick its
// configuration; when not, sc_mc_case_config gives it from the case alone.
SC_FN sc_i32 sc_mc_case_is_ambiguous(sc_i32 cube_case, SC_DEVICE const sc_i32* table) {
  return (table[256 + cube_case] & 15) != 0 ? 1 : 0;
}

SC_FN sc_i32 sc_mc_case_config(sc_i32 cube_case, SC_DEVICE const sc_i32* table) {
  return table[cube_case];
}

// Number of triangles of a configuration (0..SC_MC_MAX_TRIS).
SC_FN sc_i32 sc_mc_config_ntri(sc_i32 config, SC_DEVICE const sc_i32* table) {
  return table[SC_MC_CONF_OFFSET + config] & 31;
}

// Centre vertex of a configuration: a bit mask of the edges whose crossing
// points it averages, 0 when the configuration has none. A cycle of 8 or more
// crossing points that cannot be triangulated without a diagonal inside a
// cube face (which the neighbouring cell might share) is fanned around it.
SC_FN sc_i32 sc_mc_config_centre(sc_i32 config, SC_DEVICE const sc_i32* table) {
  return table[SC_MC_CENTRE_OFFSET + config];
}

// Writes the 3 * ntri vertex indices of a configuration's triangles to out,
// given the vertex index of each of the cell's 12 edges and, in
// edge_vertex[12], of its centre vertex (only the entries the configuration
// uses are read). Returns the number of triangles written.
SC_FN sc_i32 sc_mc_emit(sc_i32 config, SC_THREAD const sc_i32* edge_vertex,
                        SC_DEVICE sc_i32* out, SC_DEVICE const sc_i32* table) {
  sc_i32 word = table[SC_MC_CONF_OFFSET + config];
  sc_i32 n = word & 31;
  sc_i32 first = word >> 5;
  for (sc_i32 t = 0; t < n; ++t) {
    sc_i32 tri = table[SC_MC_TRI_OFFSET + first + t];
    out[3 * t + 0] = edge_vertex[tri & 15];
    out[3 * t + 1] = edge_vertex[(tri >> 4) & 15];
    out[3 * t + 2] = edge_vertex[(tri >> 8) & 15];
  }
  return n;
}

// Corner k (0..2) of triangle t of a configuration, for a backend that
// resolves vertex indices itself: an edge 0..11 or SC_MC_CENTRE.
SC_FN sc_i32 sc_mc_config_edge(sc_i32 config, sc_i32 t, sc_i32 k, SC_DEVICE const sc_i32* table) {
  sc_i32 first = table[SC_MC_CONF_OFFSET + config] >> 5;
  return (table[SC_MC_TRI_OFFSET + first + t] >> (4 * k)) & 15;
}

// Position of the crossing along an edge from relative values g0 (at offset 0)
// and g1 (at offset 1), linear interpolation, clamped to [0, 1].
SC_FN float sc_mc_edge_t(float g0, float g1) {
  float d = g0 - g1;
  float t = d != 0.0f ? g0 / d : 0.5f;
  return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
}

// Finite difference of the field along one axis at a point with value v0,
// neighbours vm (one step back) and vp (one step forward) when present:
// central when both are, one-sided when one is, 0 when none.
SC_FN float sc_mc_diff(float vm, float v0, float vp, sc_i32 has_m, sc_i32 has_p) {
  if (has_m && has_p) return 0.5f * (vp - vm);
  if (has_p) return vp - v0;
  if (has_m) return v0 - vm;
  return 0.0f;
}

// Outward unit normal from the two endpoint gradients (index space) of an
// edge, blended at t, scaled by 1 / spacing and flipped so that it points
// from inside to outside (down the relative value). n gets 0 when the
// gradient vanishes.
SC_FN void sc_mc_normal(SC_THREAD const float* grad0, SC_THREAD const float* grad1, float t,
                        float sign, SC_THREAD const float* inv_spacing, SC_THREAD float* n) {
  float len2 = 0.0f;
  for (sc_i32 a = 0; a < 3; ++a) {
    float g = SC_MC_FMA(t, grad1[a] - grad0[a], grad0[a]) * inv_spacing[a];
    n[a] = -sign * g;
    len2 = SC_MC_FMA(g, g, len2);
  }
  if (len2 > 0.0f) {
    float s = 1.0f / sqrt(len2);
    for (sc_i32 a = 0; a < 3; ++a) n[a] *= s;
  } else {
    for (sc_i32 a = 0; a < 3; ++a) n[a] = 0.0f;
  }
}

// ---- vertices on a grid: the bodies the CPU driver and the GPU kernels share --
//
// Everything a vertex needs, computed with the same operations on every
// backend so that CPU and GPU meshes are bit-identical: the multiply-adds are
// written as explicit fused multiply-adds (SC_MC_FMA), so no compiler is left
// to contract them (or not) on its own (SC_MC_FMA and sc_mc_i64 are at the top).

// The grid marching cubes runs over: n real points per axis, surrounded by
// `pad` (0 or 1) layers of virtual outside points, N = n + 2 pad extended
// points per axis. Extended coordinates (I, J, K) index the extended grid.
// Plain scalars only (it travels inside GPU argument structs).
struct ScMcGrid {
  sc_mc_i64 n[3];
  sc_mc_i64 N[3];
  sc_i32 pad;
  sc_i32 has_mask;       // a mask (uint8, shape n) is given
  sc_i32 channels;       // colour channels per point (0: no colours)
  float level, sign;     // relative value g = sign * (v - level)
  float spacing[3], origin[3], inv_spacing[3];
};

SC_FN sc_i32 sc_mc_real(SC_THREAD const ScMcGrid& G, sc_mc_i64 I, sc_mc_i64 J, sc_mc_i64 K) {
  const sc_mc_i64 p = G.pad;
  return (I >= p && I < G.n[0] + p && J >= p && J < G.n[1] + p && K >= p && K < G.n[2] + p) ? 1 : 0;
}

// Offset of a real point (extended coordinates) in the volume.
SC_FN sc_mc_i64 sc_mc_offset(SC_THREAD const ScMcGrid& G, sc_mc_i64 I, sc_mc_i64 J, sc_mc_i64 K) {
  const sc_mc_i64 p = G.pad;
  return ((I - p) * G.n[1] + (J - p)) * G.n[2] + (K - p);
}

// A real point inside the mask (when there is one).
template <typename MP>
SC_FN sc_i32 sc_mc_valid_real(SC_THREAD const ScMcGrid& G, MP mask, sc_mc_i64 I, sc_mc_i64 J,
                              sc_mc_i64 K) {
  if (!sc_mc_real(G, I, J, K)) return 0;
  return (!G.has_mask || mask[sc_mc_offset(G, I, J, K)] != 0) ? 1 : 0;
}

// Relative value at an extended point (pad points are outside: -1).
template <typename VP>
SC_FN float sc_mc_rel_point(SC_THREAD const ScMcGrid& G, VP vol, sc_mc_i64 I, sc_mc_i64 J,
                            sc_mc_i64 K) {
  if (!sc_mc_real(G, I, J, K)) return -1.0f;
  return sc_mc_rel(vol[sc_mc_offset(G, I, J, K)], G.level, G.sign);
}

// Configuration of the cell whose corner 0 is (I, J, K), given its case
// (neither 0 nor 255): the corner values are read only for ambiguous cases.
template <typename VP>
SC_FN sc_i32 sc_mc_cell_config_at(SC_THREAD const ScMcGrid& G, VP vol, sc_mc_i64 I, sc_mc_i64 J,
                                  sc_mc_i64 K, sc_i32 cube_case, SC_DEVICE const sc_i32* table) {
  if (!sc_mc_case_is_ambiguous(cube_case, table)) return sc_mc_case_config(cube_case, table);
  float g[8];
  for (sc_i32 c = 0; c < 8; ++c)
    g[c] = sc_mc_rel_point(G, vol, I + sc_mc_corner_offset(c, 0), J + sc_mc_corner_offset(c, 1),
                           K + sc_mc_corner_offset(c, 2));
  return sc_mc_cell_config(cube_case, g, table);
}

// Gradient of the raw field (index space) at a real point, neighbours taken
// when in the grid and in the mask.
template <typename VP, typename MP>
SC_FN void sc_mc_gradient(SC_THREAD const ScMcGrid& G, VP vol, MP mask, sc_mc_i64 I, sc_mc_i64 J,
                          sc_mc_i64 K, SC_THREAD float* g) {
  const sc_mc_i64 c = sc_mc_offset(G, I, J, K);
  const sc_mc_i64 i = I - G.pad, j = J - G.pad, k = K - G.pad;
  if (!G.has_mask && i > 0 && j > 0 && k > 0 && i + 1 < G.n[0] && j + 1 < G.n[1] &&
      k + 1 < G.n[2]) {
    // interior, no mask: central differences
    const sc_mc_i64 s0 = G.n[1] * G.n[2], s1 = G.n[2];
    g[0] = sc_mc_diff(vol[c - s0], vol[c], vol[c + s0], 1, 1);
    g[1] = sc_mc_diff(vol[c - s1], vol[c], vol[c + s1], 1, 1);
    g[2] = sc_mc_diff(vol[c - 1], vol[c], vol[c + 1], 1, 1);
    return;
  }
  const float v0 = vol[c];
  for (sc_i32 a = 0; a < 3; ++a) {
    const sc_mc_i64 dI = a == 0 ? 1 : 0, dJ = a == 1 ? 1 : 0, dK = a == 2 ? 1 : 0;
    const sc_i32 hm = sc_mc_valid_real(G, mask, I - dI, J - dJ, K - dK);
    const sc_i32 hp = sc_mc_valid_real(G, mask, I + dI, J + dJ, K + dK);
    const float vm = hm ? vol[sc_mc_offset(G, I - dI, J - dJ, K - dK)] : 0.0f;
    const float vp = hp ? vol[sc_mc_offset(G, I + dI, J + dJ, K + dK)] : 0.0f;
    g[a] = sc_mc_diff(vm, v0, vp, hm, hp);
  }
}

// The crossing on the edge from extended point (I, J, K) along axis a: the
// volume offsets of its real ends, whether each end is real (a pad point is
// not), and t, the crossing's position along the edge when both are.
struct ScMcEdge {
  sc_mc_i64 i0, i1;
  float t;
  sc_i32 r0, r1;
};

template <typename VP>
SC_FN ScMcEdge sc_mc_edge(SC_THREAD const ScMcGrid& G, VP vol, sc_mc_i64 I, sc_mc_i64 J,
                          sc_mc_i64 K, sc_i32 a) {
  ScMcEdge e;
  const sc_mc_i64 I1 = I + (a == 0 ? 1 : 0), J1 = J + (a == 1 ? 1 : 0), K1 = K + (a == 2 ? 1 : 0);
  e.r0 = sc_mc_real(G, I, J, K);
  e.r1 = sc_mc_real(G, I1, J1, K1);
  e.i0 = e.r0 ? sc_mc_offset(G, I, J, K) : 0;
  e.i1 = e.r1 ? sc_mc_offset(G, I1, J1, K1) : 0;
  e.t = 0.5f;
  if (e.r0 && e.r1)
    e.t = sc_mc_edge_t(sc_mc_rel(vol[e.i0], G.level, G.sign), sc_mc_rel(vol[e.i1], G.level, G.sign));
  return e;
}

// World position of the crossing (origin + index * spacing). On an edge to a
// pad point the crossing is at the midpoint.
SC_FN void sc_mc_edge_position(SC_THREAD const ScMcGrid& G, sc_mc_i64 I, sc_mc_i64 J, sc_mc_i64 K,
                               sc_i32 a, SC_THREAD const ScMcEdge& e, SC_THREAD float* pos) {
  float p[3];
  p[0] = (float)(I - G.pad);
  p[1] = (float)(J - G.pad);
  p[2] = (float)(K - G.pad);
  p[a] += e.t;
  for (sc_i32 d = 0; d < 3; ++d) pos[d] = SC_MC_FMA(G.spacing[d], p[d], G.origin[d]);
}

// Outward unit normal at the crossing: the gradients of the two ends blended
// (sc_mc_normal); on an edge to a pad point the cap faces away from the grid
// along the edge's axis.
template <typename VP, typename MP>
SC_FN void sc_mc_edge_normal(SC_THREAD const ScMcGrid& G, VP vol, MP mask, sc_mc_i64 I,
                             sc_mc_i64 J, sc_mc_i64 K, sc_i32 a, SC_THREAD const ScMcEdge& e,
                             SC_THREAD float* nrm) {
  if (e.r0 && e.r1) {
    float g0[3], g1[3];
    sc_mc_gradient(G, vol, mask, I, J, K, g0);
    sc_mc_gradient(G, vol, mask, I + (a == 0 ? 1 : 0), J + (a == 1 ? 1 : 0), K + (a == 2 ? 1 : 0), g1);
    sc_mc_normal(g0, g1, e.t, G.sign, G.inv_spacing, nrm);
    return;
  }
  nrm[0] = nrm[1] = nrm[2] = 0.0f;
  nrm[a] = e.r0 ? 1.0f : -1.0f;
}

// Colour channel ch at the crossing (linear along the edge; the real end's
// colour on an edge to a pad point). colors: (n..., channels) per point.
template <typename CP>
SC_FN float sc_mc_edge_color(SC_THREAD const ScMcGrid& G, CP colors, SC_THREAD const ScMcEdge& e,
                             sc_i32 ch) {
  const sc_mc_i64 C = G.channels;
  if (e.r0 && e.r1) {
    const float c0 = colors[e.i0 * C + ch], c1 = colors[e.i1 * C + ch];
    return SC_MC_FMA(e.t, c1 - c0, c0);
  }
  return colors[(e.r0 ? e.i0 : e.i1) * C + ch];
}

// The centre vertex of the cell with corner 0 at (I, J, K): the mean of the
// crossing points of the edges in `edges` (a bit mask), and when with_normal
// their normalised mean normal.
template <typename VP, typename MP>
SC_FN void sc_mc_centre_vertex(SC_THREAD const ScMcGrid& G, VP vol, MP mask, sc_mc_i64 I,
                               sc_mc_i64 J, sc_mc_i64 K, sc_i32 edges, sc_i32 with_normal,
                               SC_THREAD float* pos, SC_THREAD float* nrm) {
  float sp[3] = {0.0f, 0.0f, 0.0f}, sn[3] = {0.0f, 0.0f, 0.0f};
  sc_i32 cnt = 0;
  for (sc_i32 ed = 0; ed < 12; ++ed) {
    if (!((edges >> ed) & 1)) continue;
    const sc_i32 c0 = sc_mc_edge_corner0(ed), a = sc_mc_edge_axis(ed);
    const sc_mc_i64 I0 = I + sc_mc_corner_offset(c0, 0), J0 = J + sc_mc_corner_offset(c0, 1),
                    K0 = K + sc_mc_corner_offset(c0, 2);
    const ScMcEdge e = sc_mc_edge(G, vol, I0, J0, K0, a);
    float p1[3], n1[3];
    sc_mc_edge_position(G, I0, J0, K0, a, e, p1);
    if (with_normal) sc_mc_edge_normal(G, vol, mask, I0, J0, K0, a, e, n1);
    for (sc_i32 d = 0; d < 3; ++d) {
      sp[d] += p1[d];
      if (with_normal) sn[d] += n1[d];
    }
    ++cnt;
  }
  const float inv = cnt ? 1.0f / (float)cnt : 0.0f;
  for (sc_i32 d = 0; d < 3; ++d) pos[d] = sp[d] * inv;
  if (with_normal) {
    const float len = sqrt(SC_MC_FMA(sn[2], sn[2], SC_MC_FMA(sn[0], sn[0], sn[1] * sn[1])));
    for (sc_i32 d = 0; d < 3; ++d) nrm[d] = len > 0.0f ? sn[d] / len : 0.0f;
  }
}

// Colour channel ch of that centre vertex: the mean of the crossings' colours.
template <typename VP, typename CP>
SC_FN float sc_mc_centre_color(SC_THREAD const ScMcGrid& G, VP vol, CP colors, sc_mc_i64 I,
                               sc_mc_i64 J, sc_mc_i64 K, sc_i32 edges, sc_i32 ch) {
  float s = 0.0f;
  sc_i32 cnt = 0;
  for (sc_i32 ed = 0; ed < 12; ++ed) {
    if (!((edges >> ed) & 1)) continue;
    const sc_i32 c0 = sc_mc_edge_corner0(ed);
    const ScMcEdge e = sc_mc_edge(G, vol, I + sc_mc_corner_offset(c0, 0),
                                  J + sc_mc_corner_offset(c0, 1), K + sc_mc_corner_offset(c0, 2),
                                  sc_mc_edge_axis(ed));
    s += sc_mc_edge_color(G, colors, e, ch);
    ++cnt;
  }
  return s * (cnt ? 1.0f / (float)cnt : 0.0f);
}
