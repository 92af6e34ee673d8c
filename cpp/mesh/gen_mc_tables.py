#!/usr/bin/env python3
"""Derives the marching-cubes tables from cube topology and writes
cpp/kernels/marching_cubes_tables.h.

No hand-written 256-case table: every triangulation is built here from the
cube's faces, so that the ambiguity resolution is the same rule everywhere.

Conventions (shared with cpp/kernels/marching_cubes.h):

* corner c in 0..7 sits at offset ((c >> 2) & 1, (c >> 1) & 1, c & 1) along
  the volume axes (0, 1, 2); axis 2 is the fastest-varying (C order);
* edge e = 4 * a + ob + 2 * od is parallel to axis a; ob / od are the offsets
  along the other two axes (b < d); it goes from the corner with offset 0
  along a to the corner with offset 1;
* face f = 2 * a + side is the face perpendicular to axis a at offset `side`;
  its corners in canonical order are p00, p10, p11, p01, where the first digit
  is the offset along u = the lower other axis and the second along v = the
  higher one. Two cells sharing a face see the same four grid values in the
  same order, which is what makes the decision below agree on both sides;
* case bit c is set when corner c is inside (value above the level, after the
  sign flip for "inside below").

Ambiguous faces (two inside corners on one diagonal, two outside on the other)
are resolved by the asymptotic decider: the inside corners are connected
across the face when the bilinear interpolant's saddle value is inside, i.e.
g00 * g11 > g10 * g01 for an inside (p00, p11) diagonal. A case with k
ambiguous faces has 2^k configurations, one per set of decisions; bit j of the
decision mask belongs to the j-th ambiguous face in increasing face order.

For each configuration the surface's boundary on the cube is built face by
face (one segment per pair of crossed face edges, oriented so that the inside
lies on the left seen from outside the cube), the segments are chained into
closed cycles, and each cycle is triangulated. A diagonal may never join two
crossing points on a common cube face (the neighbouring cell could pick the
same one, and that mesh edge would then have four triangles); among the
triangulations that obey this, the one with the largest smallest angle (at
edge midpoints) is taken. Long cycles (8 or more points) that have no such
triangulation get a vertex at the cell's centre (the mean of the cycle's
crossing points) and a fan around it. Cycles are reversed so that triangle
normals (right-hand rule) point from inside to outside.

Packed table layout (one sc_i32 array, see marching_cubes.h):
  [0, 256)                 case -> first configuration index
  [256, 512)               case -> nambig | face_j << (4 + 3 j)
  [512, 512 + NCONF)       config -> ntri | first_triangle << 5
  [512 + NCONF, +NCONF)    config -> bit mask of the edges averaged into the
                           centre vertex (0: the configuration has none)
  [512 + 2 NCONF, ...)     triangle -> c0 | c1 << 4 | c2 << 8, c = edge 0..11
                           or 12 for the centre vertex

Run: python cpp/mesh/gen_mc_tables.py   (rewrites the header; --check compares)
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "kernels", "marching_cubes_tables.h")


def corner_offset(c):
    return ((c >> 2) & 1, (c >> 1) & 1, c & 1)


def corner_of(off):
    return (off[0] << 2) | (off[1] << 1) | off[2]


def other_axes(a):
    return [x for x in range(3) if x != a]


def edge_corners(e):
    a, m = e >> 2, e & 3
    b, d = other_axes(a)
    off = [0, 0, 0]
    off[b] = m & 1
    off[d] = (m >> 1) & 1
    c0 = corner_of(off)
    off[a] = 1
    return c0, corner_of(off)


def edge_id(c0, c1):
    o0, o1 = corner_offset(c0), corner_offset(c1)
    diff = [i for i in range(3) if o0[i] != o1[i]]
    assert len(diff) == 1
    a = diff[0]
    b, d = other_axes(a)
    return 4 * a + o0[b] + 2 * o0[d]


def face_corners(f):
    """Canonical p00, p10, p11, p01 of face f."""
    a, side = f >> 1, f & 1
    u, v = other_axes(a)
    out = []
    for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
        off = [0, 0, 0]
        off[a], off[u], off[v] = side, du, dv
        out.append(corner_of(off))
    return out


def edge_mid(e):
    c0, c1 = edge_corners(e)
    return tuple(0.5 * (x + y) for x, y in zip(corner_offset(c0), corner_offset(c1)))


def sub(p, q):
    return tuple(x - y for x, y in zip(p, q))


def cross(p, q):
    return (p[1] * q[2] - p[2] * q[1], p[2] * q[0] - p[0] * q[2], p[0] * q[1] - p[1] * q[0])


def dot(p, q):
    return sum(x * y for x, y in zip(p, q))


def norm(p):
    return math.sqrt(dot(p, p))


def ambiguous(case, f):
    p = face_corners(f)
    s = [(case >> c) & 1 for c in p]
    return s[0] == s[2] and s[1] == s[3] and s[0] != s[1]


def face_segments(case, f, connected):
    """Oriented segments (edge, edge) on face f: inside on the left seen from outside."""
    p = face_corners(f)
    ins = [(case >> c) & 1 for c in p]
    ring = [(p[i], p[(i + 1) % 4]) for i in range(4)]
    crossed = [i for i in range(4) if ins[i] != ins[(i + 1) % 4]]
    segs = []  # (edge i of the ring, edge j, the corner cut off or any corner of a side)
    if len(crossed) == 2:
        i, j = crossed
        if (j - i) % 4 in (1, 3):  # adjacent ring edges: they cut off their shared corner
            shared = set(ring[i]) & set(ring[j])
            segs.append((i, j, shared.pop()))
        else:
            segs.append((i, j, p[0]))
    elif len(crossed) == 4:
        # ring edge k joins corners k and k+1; the corner k is cut off by ring
        # edges k-1 and k. Cut off the inside corners when they are separated,
        # the outside corners when the inside ones are connected.
        cut_inside = not connected
        for k in range(4):
            if bool(ins[k]) == cut_inside:
                segs.append(((k - 1) % 4, k, p[k]))
    a, side = f >> 1, f & 1
    n = [0.0, 0.0, 0.0]
    n[a] = 1.0 if side else -1.0
    out = []
    for i, j, corner in segs:
        ei = edge_id(*ring[i])
        ej = edge_id(*ring[j])
        P, Q = edge_mid(ei), edge_mid(ej)
        left = dot(cross(n, sub(Q, P)), sub(corner_offset(corner), P))
        assert abs(left) > 1e-9
        inside = (case >> corner) & 1
        if (left > 0) == bool(inside):
            out.append((ei, ej))
        else:
            out.append((ej, ei))
    return out


def cycles_of(segments):
    nxt = {}
    for a, b in segments:
        assert a not in nxt, "edge point leaves twice"
        nxt[a] = b
    assert sorted(nxt) == sorted(b for _, b in segments), "unbalanced segments"
    seen, cycles = set(), []
    for start in sorted(nxt):
        if start in seen:
            continue
        cyc, e = [], start
        while e not in seen:
            seen.add(e)
            cyc.append(e)
            e = nxt[e]
        assert e == start
        cycles.append(cyc)
    return cycles


CENTRE = 12  # "edge" index of a cell's centre vertex in the triangle lists


def point(e, centre_of=None):
    if e == CENTRE:
        pts = [edge_mid(x) for x in centre_of]
        return tuple(sum(q[i] for q in pts) / len(pts) for i in range(3))
    return edge_mid(e)


def tri_quality(a, b, c, centre_of=None):
    """Smallest angle (radians) of a triangle of edge midpoints."""
    P = [point(a, centre_of), point(b, centre_of), point(c, centre_of)]
    angs = []
    for i in range(3):
        u, v = sub(P[(i + 1) % 3], P[i]), sub(P[(i + 2) % 3], P[i])
        nu, nv = norm(u), norm(v)
        if nu < 1e-12 or nv < 1e-12:
            return 0.0
        angs.append(math.acos(max(-1.0, min(1.0, dot(u, v) / (nu * nv)))))
    return min(angs)


def faces_of_edge(e):
    return _FACES_OF_EDGE[e]


_FACES_OF_EDGE = [frozenset(f for f in range(6) if edge_corners(e)[0] in face_corners(f)
                            and edge_corners(e)[1] in face_corners(f)) for e in range(12)]


def chord_allowed(e1, e2):
    """A diagonal may join two crossing points only when they lie on no common
    cube face: a chord inside a face could be chosen by the neighbouring cell
    too, and its mesh edge would then belong to four triangles."""
    return not (faces_of_edge(e1) & faces_of_edge(e2))


def best_triangulation(cycle):
    """Triangulation of a polygon with allowed chords only, maximising the
    smallest angle (dynamic programming over sub-polygons); None if none."""
    n = len(cycle)
    memo = {}

    def ok(i, j):
        return j - i == 1 or (i == 0 and j == n - 1) or chord_allowed(cycle[i], cycle[j])

    def rec(i, j):
        if j - i < 2:
            return (math.inf, [])
        if (i, j) in memo:
            return memo[(i, j)]
        best = (-1.0, None)
        for k in range(i + 1, j):
            if not (ok(i, k) and ok(k, j)):
                continue
            qa, ta = rec(i, k)
            qb, tb = rec(k, j)
            if ta is None or tb is None:
                continue
            q = min(qa, qb, tri_quality(cycle[i], cycle[k], cycle[j]))
            if q > best[0] + 1e-9:
                best = (q, ta + tb + [(cycle[i], cycle[k], cycle[j])])
        memo[(i, j)] = best
        return best

    q, tris = rec(0, n - 1)
    return tris


def triangulate(case, decisions):
    """decisions: face -> connected (bool) for the ambiguous faces. Returns
    (triangles, centre): triangles as edge triples (CENTRE = the cell's centre
    vertex), centre the edges averaged into that vertex (empty when none)."""
    segs = []
    for f in range(6):
        segs += face_segments(case, f, decisions.get(f, False))
    tris, centre = [], []
    for cyc in cycles_of(segs):
        # cycles run with the inside on their left seen from outside the cube,
        # so their right-hand normal points inward: reverse them.
        cyc = list(reversed(cyc))
        t = best_triangulation(cyc)
        if t is None:
            assert not centre, "two cycles need a centre vertex"
            centre = list(cyc)
            n = len(cyc)
            t = [(cyc[i], cyc[(i + 1) % n], CENTRE) for i in range(n)]
        tris += t
    return tris, centre


def crossed_edges(case):
    return sorted(e for e in range(12)
                  if ((case >> edge_corners(e)[0]) & 1) != ((case >> edge_corners(e)[1]) & 1))


def check_orientation(case, tris, centre):
    """Normals (from edge midpoints) point down the gradient of the trilinear
    interpolant of +-1 corner values (inside = +1), summed per triangle."""
    if not tris:
        return
    val = [1.0 if (case >> c) & 1 else -1.0 for c in range(8)]

    def grad(x):
        g = [0.0, 0.0, 0.0]
        for c in range(8):
            o = corner_offset(c)
            w = [(x[i] if o[i] else 1.0 - x[i]) for i in range(3)]
            for a in range(3):
                dw = 1.0 if o[a] else -1.0
                prod = dw
                for b in range(3):
                    if b != a:
                        prod *= w[b]
                g[a] += val[c] * prod
        return g

    total = 0.0
    for t in tris:
        P = [point(e, centre) for e in t]
        nrm = cross(sub(P[1], P[0]), sub(P[2], P[0]))
        cen = tuple(sum(q[i] for q in P) / 3.0 for i in range(3))
        total += dot(nrm, grad(cen))
    assert total < 0, f"case {case}: triangles face up the gradient"


def build():
    case_base, case_amb, conf_words, centre_words, tri_words = [], [], [], [], []
    max_tris = n_centre = 0
    for case in range(256):
        amb = [f for f in range(6) if ambiguous(case, f)]
        case_base.append(len(conf_words))
        word = len(amb)
        for j, f in enumerate(amb):
            word |= f << (4 + 3 * j)
        case_amb.append(word)
        for mask in range(1 << len(amb)):
            dec = {f: bool((mask >> j) & 1) for j, f in enumerate(amb)}
            tris, centre = triangulate(case, dec)
            used = sorted({e for t in tris for e in t} - {CENTRE})
            assert used == crossed_edges(case), (case, mask)
            check_manifold_cell(tris)
            check_orientation(case, tris, centre)
            max_tris = max(max_tris, len(tris))
            conf_words.append(len(tris) | (len(tri_words) << 5))
            centre_words.append(sum(1 << e for e in centre))
            n_centre += bool(centre)
            for t in tris:
                tri_words.append(t[0] | (t[1] << 4) | (t[2] << 8))
    # complement symmetry of the decider: flipping every sign and every decision
    # gives the same face segments with the opposite orientation.
    for case in range(256):
        amb = [f for f in range(6) if ambiguous(case, f)]
        for mask in range(1 << len(amb)):
            dec = {f: bool((mask >> j) & 1) for j, f in enumerate(amb)}
            inv = {f: not v for f, v in dec.items()}
            for f in range(6):
                a = sorted(face_segments(case, f, dec.get(f, False)))
                b = sorted((q, p) for p, q in face_segments(255 - case, f, inv.get(f, False)))
                assert a == b, (case, f, a, b)
    return case_base, case_amb, conf_words, centre_words, tri_words, max_tris, n_centre


def check_manifold_cell(tris):
    """Inside one cell: every chord (not a face segment) is in exactly two
    triangles, every face segment in one, and no chord lies in a face."""
    from collections import Counter
    count = Counter(frozenset(p) for t in tris for p in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    for pair, c in count.items():
        a, b = tuple(pair)
        on_face = CENTRE not in pair and not chord_allowed(a, b)
        assert c == (1 if on_face else 2), (tris, pair, c)


def render(case_base, case_amb, conf_words, centre_words, tri_words, max_tris, n_centre):
    nconf = len(conf_words)
    words = case_base + case_amb + conf_words + centre_words + tri_words

    def rows(vals, per=12):
        return "\n".join("  " + ", ".join(str(v) for v in vals[i:i + per]) + ","
                         for i in range(0, len(vals), per))

    return f"""// Generated by cpp/mesh/gen_mc_tables.py from cube topology: do not edit.
// Marching-cubes configurations with the asymptotic decider on ambiguous
// faces; conventions and layout are described in that script and in
// kernels/marching_cubes.h. Kernel subset: plain integers only. Backends pass
// sc_mc_table to the kernel bodies as a buffer (upload it once on a GPU).
#pragma once
#include "kernels/compat.h"

#define SC_MC_NUM_CONFIGS {nconf}
#define SC_MC_MAX_TRIS {max_tris}
#define SC_MC_TABLE_WORDS {len(words)}
#define SC_MC_CONF_OFFSET 512
#define SC_MC_CENTRE_OFFSET {512 + nconf}
#define SC_MC_TRI_OFFSET {512 + 2 * nconf}
#define SC_MC_CENTRE 12  // triangle corner index of the cell's centre vertex

#if defined(__METAL_VERSION__)
#define SC_MC_TABLE_STORAGE constant
#else
#define SC_MC_TABLE_STORAGE static const
#endif

SC_MC_TABLE_STORAGE sc_i32 sc_mc_table[SC_MC_TABLE_WORDS] = {{
{rows(words)}
}};
"""


def main(argv):
    text = render(*build())
    if "--check" in argv:
        with open(OUT) as f:
            ok = f.read() == text
        print("tables up to date" if ok else "tables differ: regenerate")
        return 0 if ok else 1
    with open(OUT, "w") as f:
        f.write(text)
    cb, ca, cw, cc, tw, mt, nc = build()
    print(f"wrote {os.path.relpath(OUT)}: {len(cw)} configurations ({nc} with a centre vertex), "
          f"{len(tw)} triangles, at most {mt} per cell")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
