// Marching cubes on a GPU: the CPU's mesh (cpp/mesh/marching_cubes.cpp),
// vertex for vertex and face for face, from the bodies both share
// (kernels/marching_cubes.h). One thread per extended grid point ("site"),
// groups of SC_MC_GROUP consecutive sites of one plane (a tile):
//
//   mc_classify  per site: the crossed edges it owns (those starting at it,
//                along axes 0, 1, 2), and for the cell whose corner 0 it is
//                the configuration's triangle count and centre vertex, into
//                one byte; per tile the sums of the three counts (NaN / inf
//                values are counted into a status word);
//   (scan)       exclusive scans of the tile counts, laid out in the CPU's
//                numbering order: vertices plane by plane, a plane's edge
//                vertices (its tiles in order) before its slab's centre
//                vertices; triangles cell by cell;
//   mc_vertices  each tile scans its sites' counts and writes its vertices at
//                the scanned offsets, and the first vertex of every site
//                with crossings (vfirst);
//   mc_faces     each cell with triangles looks up its 12 edges' vertices
//                (vfirst of the edge's site plus the edge's rank among that
//                site's crossed edges) and writes its triangles.
//
// The CPU numbers plane P's edge vertices in point order (J, K) with the
// axes in order, then its slab's centre vertices in cell order, then plane P
// + 1; triangles slab by slab in cell order. The tiles run through the same
// sites in the same order, so the scans reproduce its numbers exactly.
// mc_range gives the default level: the extremes of the finite valid values.
#pragma once
#include "gpu/kernels/marching_cubes_args.h"

// Flags of an extended point: bit 1 valid (in the mask, or a pad point), bit 0
// inside. (I, J, K) must lie in the extended grid.
template <typename VP, typename MP>
SC_FN unsigned int sc_mc_gpu_flag(SC_THREAD const ScMcGrid& G, VP vol, MP mask, sc_mc_i64 I,
                                  sc_mc_i64 J, sc_mc_i64 K) {
  if (!sc_mc_real(G, I, J, K)) return 2u;
  const sc_mc_i64 o = sc_mc_offset(G, I, J, K);
  if (G.has_mask && mask[o] == 0) return 0u;
  return 2u | (unsigned int)sc_mc_inside(sc_mc_rel(vol[o], G.level, G.sign));
}

// Case of the cell with corner 0 at (I, J, K), or -1 when it has no triangles
// (case 0 or 255, an invalid corner, or no cell there: I, J or K on the last
// plane of its axis).
template <typename VP, typename MP>
SC_FN sc_i32 sc_mc_gpu_case(SC_THREAD const ScMcGrid& G, VP vol, MP mask, sc_mc_i64 I, sc_mc_i64 J,
                            sc_mc_i64 K) {
  if (I + 1 >= G.N[0] || J + 1 >= G.N[1] || K + 1 >= G.N[2]) return -1;
  unsigned int cs = 0u, valid = 2u;
  for (sc_i32 c = 0; c < 8; ++c) {
    const unsigned int f = sc_mc_gpu_flag(G, vol, mask, I + sc_mc_corner_offset(c, 0),
                                          J + sc_mc_corner_offset(c, 1), K + sc_mc_corner_offset(c, 2));
    cs |= (f & 1u) << c;
    valid &= f;
  }
  return (valid && cs != 0u && cs != 255u) ? (sc_i32)cs : -1;
}

// The site byte of (I, J, K) (see ScMcArgs::site): the flags of the corners
// of its cell that exist (each read once) give both its edges and its case.
template <typename VP, typename MP>
SC_FN unsigned int sc_mc_gpu_site(SC_THREAD const ScMcGrid& G, VP vol, MP mask,
                                  SC_DEVICE const sc_i32* table, sc_mc_i64 I, sc_mc_i64 J,
                                  sc_mc_i64 K) {
  const sc_i32 h0 = I + 1 < G.N[0] ? 1 : 0, h1 = J + 1 < G.N[1] ? 1 : 0, h2 = K + 1 < G.N[2] ? 1 : 0;
  unsigned int f[8];
  unsigned int cs = 0u, valid = 2u;
  for (sc_i32 c = 0; c < 8; ++c) {
    const sc_i32 d0 = sc_mc_corner_offset(c, 0), d1 = sc_mc_corner_offset(c, 1),
                 d2 = sc_mc_corner_offset(c, 2);
    f[c] = 0u;
    if ((d0 && !h0) || (d1 && !h1) || (d2 && !h2)) continue;
    f[c] = sc_mc_gpu_flag(G, vol, mask, I + d0, J + d1, K + d2);
    cs |= (f[c] & 1u) << c;
    valid &= f[c];
  }
  unsigned int word = 0u;
  // corner 4 / 2 / 1: one step along axis 0 / 1 / 2
  if (h0 && (f[0] ^ f[4]) == 1u) word |= 1u;
  if (h1 && (f[0] ^ f[2]) == 1u) word |= 2u;
  if (h2 && (f[0] ^ f[1]) == 1u) word |= 4u;
  if (h0 && h1 && h2 && valid && cs != 0u && cs != 255u) {
    const sc_i32 cfg = sc_mc_cell_config_at(G, vol, I, J, K, (sc_i32)cs, table);
    word |= (sc_mc_config_centre(cfg, table) != 0 ? 8u : 0u) |
            ((unsigned int)sc_mc_config_ntri(cfg, table) << 4);
  }
  return word;
}

// Exclusive sum over the group (SC_MC_GROUP threads, whole SIMD groups);
// part: SC_MC_GROUP / 32 shared words. Every thread of the group calls it.
SC_GROUP_FN unsigned int sc_mc_group_exclusive(unsigned int x, SC_THREADGROUP unsigned int* part,
                                               unsigned int lane, unsigned int warp,
                                               SC_THREAD unsigned int* total) {
  const unsigned int in_warp = sc_simd_prefix_exclusive_sum(x);
  if (lane == 31u) part[warp] = in_warp + x;
  SC_BARRIER();
  unsigned int before = 0u, all = 0u;
  for (unsigned int w = 0; w < SC_MC_GROUP / 32; ++w) {
    if (w < warp) before += part[w];
    all += part[w];
  }
  *total = all;
  return before + in_warp;
}

// A site's tile counts packed into one word for the group sums: edge vertices
// (<= 3 per site, bits 0-9), centre vertices (bits 10-19), triangles (<= 12,
// bits 20-31): a tile's sums fit their fields. (SC_GROUP_FN: device-only on
// CUDA, as sc_popcount and the atomics are.)
SC_GROUP_FN unsigned int sc_mc_pack_counts(unsigned int word) {
  return sc_popcount(word & 7u) | (((word >> 3) & 1u) << 10) | ((word >> 4) << 20);
}

SC_KERNEL(mc_classify, ScMcArgs) {
  SC_SHARED(unsigned int, part, SC_MC_GROUP / 32);
  const ScMcGrid G = args.grid;
  const unsigned int tile = SC_GID_X, tpp = args.tiles_per_plane;
  const unsigned int P = tile / tpp, t = tile - P * tpp;
  const unsigned int r = t * SC_MC_GROUP + SC_TID_X;
  const unsigned int N2 = (unsigned int)G.N[2];
  const bool active = r < args.plane;
  unsigned int word = 0u, bad = 0u;
  if (active) {
    const unsigned int J = r / N2, K = r - (r / N2) * N2;
    word = sc_mc_gpu_site(G, args.volume, args.mask, args.table, P, J, K);
    args.site[(sc_mc_i64)P * args.plane + r] = (unsigned char)word;
    if (sc_mc_real(G, P, J, K)) {
      const sc_mc_i64 o = sc_mc_offset(G, P, J, K);
      if (!G.has_mask || args.mask[o] != 0) bad = fabs(args.volume[o]) <= 3.40282347e+38f ? 0u : 1u;
    }
  }
  const unsigned int nbad = sc_simd_sum(bad);
  if (SC_LANE == 0u && nbad) sc_atomic_add(&args.status[SC_MC_STATUS_BAD], nbad);
  const unsigned int s = sc_simd_sum(sc_mc_pack_counts(word));
  if (SC_LANE == 0u) part[SC_SIMD_ID] = s;
  SC_BARRIER();
  if (SC_TID_X == 0u) {
    unsigned int sum = 0u;
    for (unsigned int w = 0; w < SC_MC_GROUP / 32; ++w) sum += part[w];
    const unsigned int ne = sum & 1023u, nc = (sum >> 10) & 1023u, nt = sum >> 20;
    args.vcount[P * 2u * tpp + t] = ne;
    args.vcount[P * 2u * tpp + tpp + t] = nc;
    args.tcount[tile] = nt;
    if (args.check_totals) {
      if (ne + nc)
        sc_atomic_add_wide(&args.status[SC_MC_STATUS_VERTS_LO], &args.status[SC_MC_STATUS_VERTS_HI], ne + nc);
      if (nt) sc_atomic_add_wide(&args.status[SC_MC_STATUS_TRIS_LO], &args.status[SC_MC_STATUS_TRIS_HI], nt);
    }
    if (tile == 0u) {  // the words past the tiles: the totals once scanned
      args.vcount[2u * args.tiles] = 0u;
      args.tcount[args.tiles] = 0u;
    }
  }
}

SC_KERNEL(mc_vertices, ScMcArgs) {
  SC_SHARED(unsigned int, part, SC_MC_GROUP / 32);
  const ScMcGrid G = args.grid;
  const unsigned int tile = SC_GID_X, tpp = args.tiles_per_plane;
  const unsigned int P = tile / tpp, t = tile - P * tpp;
  const unsigned int eslot = P * 2u * tpp + t, cslot = eslot + tpp;
  const unsigned int ebase = args.vcount[eslot], cbase = args.vcount[cslot];
  if (args.vcount[eslot + 1u] == ebase && args.vcount[cslot + 1u] == cbase) return;  // whole group
  const unsigned int r = t * SC_MC_GROUP + SC_TID_X;
  const unsigned int N2 = (unsigned int)G.N[2];
  const bool active = r < args.plane;
  const sc_mc_i64 s = (sc_mc_i64)P * args.plane + r;
  const unsigned int word = active ? (unsigned int)args.site[s] : 0u;
  unsigned int total;
  const unsigned int before = sc_mc_group_exclusive(sc_popcount(word & 7u) | (((word >> 3) & 1u) << 16),
                                                    part, SC_LANE, SC_SIMD_ID, &total);
  if (!active || !(word & 15u)) return;
  const unsigned int J = r / N2, K = r - (r / N2) * N2;
  const sc_i32 C = G.channels;
  unsigned int id = ebase + (before & 0xFFFFu);
  if (word & 7u) args.vfirst[s] = id;
  for (sc_i32 a = 0; a < 3; ++a) {
    if (!((word >> a) & 1u)) continue;
    const ScMcEdge e = sc_mc_edge(G, args.volume, P, J, K, a);
    float pos[3], nrm[3];
    sc_mc_edge_position(G, P, J, K, a, e, pos);
    for (sc_i32 d = 0; d < 3; ++d) args.verts[3 * (sc_mc_i64)id + d] = pos[d];
    if (args.with_normals) {
      sc_mc_edge_normal(G, args.volume, args.mask, P, J, K, a, e, nrm);
      for (sc_i32 d = 0; d < 3; ++d) args.normals[3 * (sc_mc_i64)id + d] = nrm[d];
    }
    for (sc_i32 c = 0; c < C; ++c)
      args.out_colors[(sc_mc_i64)id * C + c] = sc_mc_edge_color(G, args.colors, e, c);
    ++id;
  }
  if (word & 8u) {  // the centre vertex of this site's cell
    const unsigned int cid = cbase + (before >> 16);
    const sc_i32 cfg = sc_mc_cell_config_at(G, args.volume, P, J, K,
                                            sc_mc_gpu_case(G, args.volume, args.mask, P, J, K), args.table);
    const sc_i32 edges = sc_mc_config_centre(cfg, args.table);
    float pos[3], nrm[3];
    sc_mc_centre_vertex(G, args.volume, args.mask, P, J, K, edges, args.with_normals, pos, nrm);
    for (sc_i32 d = 0; d < 3; ++d) {
      args.verts[3 * (sc_mc_i64)cid + d] = pos[d];
      if (args.with_normals) args.normals[3 * (sc_mc_i64)cid + d] = nrm[d];
    }
    for (sc_i32 c = 0; c < C; ++c)
      args.out_colors[(sc_mc_i64)cid * C + c] =
          sc_mc_centre_color(G, args.volume, args.colors, P, J, K, edges, c);
  }
}

SC_KERNEL(mc_faces, ScMcArgs) {
  SC_SHARED(unsigned int, part, SC_MC_GROUP / 32);
  const ScMcGrid G = args.grid;
  const unsigned int tile = SC_GID_X, tpp = args.tiles_per_plane;
  const unsigned int P = tile / tpp, t = tile - P * tpp;
  const unsigned int tbase = args.tcount[tile];
  if (args.tcount[tile + 1u] == tbase) return;  // the whole group: no triangles in this tile
  const unsigned int cbase = args.vcount[P * 2u * tpp + tpp + t];
  const unsigned int r = t * SC_MC_GROUP + SC_TID_X;
  const unsigned int N2 = (unsigned int)G.N[2];
  const bool active = r < args.plane;
  const sc_mc_i64 s = (sc_mc_i64)P * args.plane + r;
  const unsigned int word = active ? (unsigned int)args.site[s] : 0u;
  unsigned int total;
  const unsigned int before = sc_mc_group_exclusive((word >> 4) | (((word >> 3) & 1u) << 16), part,
                                                    SC_LANE, SC_SIMD_ID, &total);
  if (!active || (word >> 4) == 0u) return;
  const unsigned int J = r / N2, K = r - (r / N2) * N2;
  const sc_i32 cfg = sc_mc_cell_config_at(G, args.volume, P, J, K,
                                          sc_mc_gpu_case(G, args.volume, args.mask, P, J, K), args.table);
  sc_i32 ev[13];
  for (sc_i32 e = 0; e < 12; ++e) {
    const sc_i32 c0 = sc_mc_edge_corner0(e), a = sc_mc_edge_axis(e);
    const sc_mc_i64 s1 = s + (sc_mc_i64)sc_mc_corner_offset(c0, 0) * args.plane +
                         (sc_mc_i64)sc_mc_corner_offset(c0, 1) * N2 + sc_mc_corner_offset(c0, 2);
    const unsigned int w1 = args.site[s1];
    ev[e] = ((w1 >> a) & 1u) ? (sc_i32)(args.vfirst[s1] + sc_popcount(w1 & ((1u << a) - 1u))) : -1;
  }
  ev[12] = (word & 8u) ? (sc_i32)(cbase + (before >> 16)) : -1;
  const sc_i32 n = sc_mc_config_ntri(cfg, args.table);
  const sc_mc_i64 first = (sc_mc_i64)tbase + (before & 0xFFFFu);
  for (sc_i32 k = 0; k < n; ++k)
    for (sc_i32 q = 0; q < 3; ++q)
      args.faces[3 * (first + k) + q] = ev[sc_mc_config_edge(cfg, k, q, args.table)];
}

// Order key of a float: unsigned order = numeric order (-0 below +0).
SC_FN unsigned int sc_mc_order_key(float x) {
  const unsigned int b = SC_BITS_OF_FLOAT(x);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// The finite extremes of the valid values (order keys into status MIN / MAX,
// which start at ~0 / 0), whether there is one (VALID) and the count of
// non-finite valid values (BAD). Grid-stride over the real points.
SC_KERNEL(mc_range, ScMcArgs) {
  SC_SHARED(unsigned int, part, 4 * (SC_MC_GROUP / 32));
  const ScMcGrid G = args.grid;
  const sc_mc_i64 n = G.n[0] * G.n[1] * G.n[2];
  const sc_mc_i64 stride = (sc_mc_i64)SC_NGROUPS_X * SC_MC_GROUP;
  unsigned int lo = 0xFFFFFFFFu, hi = 0u, any = 0u, bad = 0u;
  for (sc_mc_i64 i = (sc_mc_i64)SC_GID_X * SC_MC_GROUP + SC_TID_X; i < n; i += stride) {
    if (G.has_mask && args.mask[i] == 0) continue;
    const float x = args.volume[i];
    if (fabs(x) <= 3.40282347e+38f) {
      const unsigned int k = sc_mc_order_key(x);
      lo = k < lo ? k : lo;
      hi = k > hi ? k : hi;
      any = 1u;
    } else {
      bad += 1u;
    }
  }
  lo = sc_simd_min(lo);
  hi = sc_simd_max(hi);
  any = sc_simd_max(any);
  bad = sc_simd_sum(bad);
  const unsigned int w = SC_SIMD_ID;
  if (SC_LANE == 0u) {
    part[4 * w] = lo;
    part[4 * w + 1] = hi;
    part[4 * w + 2] = any;
    part[4 * w + 3] = bad;
  }
  SC_BARRIER();
  if (SC_TID_X == 0u) {
    for (unsigned int v = 1; v < SC_MC_GROUP / 32; ++v) {
      lo = part[4 * v] < lo ? part[4 * v] : lo;
      hi = part[4 * v + 1] > hi ? part[4 * v + 1] : hi;
      any = part[4 * v + 2] > any ? part[4 * v + 2] : any;
      bad += part[4 * v + 3];
    }
    if (any) {
      sc_atomic_min(&args.status[SC_MC_STATUS_MIN], lo);
      sc_atomic_max(&args.status[SC_MC_STATUS_MAX], hi);
      sc_atomic_max(&args.status[SC_MC_STATUS_VALID], 1u);
    }
    if (bad) sc_atomic_add(&args.status[SC_MC_STATUS_BAD], bad);
  }
}
