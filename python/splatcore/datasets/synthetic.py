"""An embedded demo scene made in code: analytic objects, ray traced in NumPy.

No download: ``splatcore demo`` trains on this scene, and a mesh extracted from the
trained Gaussians can be judged against the exact geometry (``Scene.sdf``,
``Scene.sample_surface``).

Conventions (see ARCHITECTURE.md, "Facts"):

* world frame: right-handed, **+z up**; the ground is a thin square slab whose top
  face is the plane ``z = 0``; the objects sit in a region of about unit radius above it.
* cameras: COLMAP / OpenCV world-to-camera ``x_cam = R x_world + t``; the camera looks
  down +z, x right, y down; pinhole ``fx, fy, cx, cy`` in pixels with pixel centres at
  ``(x + 0.5, y + 0.5)``, so ``cx = W / 2, cy = H / 2`` is the image centre.
* depth maps hold camera z (not ray length); 0 where the centre ray misses.

Everything is float64 internally and vectorised over rays; no per-pixel Python loops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "Sphere", "Box", "Ground", "Torus", "Scene", "View", "PointCloud", "SyntheticDataset",
    "make_scene", "make_cameras", "look_at", "render", "make_dataset", "SCENE_CENTER",
]

#: The point the default cameras look at (middle of the objects, above the ground).
SCENE_CENTER = (0.0, 0.0, 0.25)
_UP = np.array([0.0, 0.0, 1.0])
_HIT_EPS = 1e-6  # sphere-tracing convergence (scene units, scene is ~1 unit)


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


# --------------------------------------------------------------------------------------
# Objects. Each has: sdf(p), intersect(o, d, tmin) -> t (inf on miss), normal(p),
# albedo(p, n), area(), sample(n, rng) -> points on its (sampleable) surface, bounds().
# Ray directions d are unit vectors; t is the distance along the ray.
# --------------------------------------------------------------------------------------


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    phase: float = 0.0  # rotates the colour pattern about +z
    name: str = "sphere"

    def sdf(self, p):
        return np.linalg.norm(p - self.center, axis=-1) - self.radius

    def intersect(self, o, d, tmin=1e-9):
        oc = o - self.center
        b = _dot(oc, d)
        c = _dot(oc, oc) - self.radius ** 2
        disc = b * b - c
        t = np.full(len(o), np.inf)
        ok = disc >= 0
        sq = np.sqrt(disc[ok])
        t0, t1 = -b[ok] - sq, -b[ok] + sq
        tt = np.where(t0 > tmin, t0, np.where(t1 > tmin, t1, np.inf))
        t[ok] = tt
        return t

    def normal(self, p):
        return _normalize(p - self.center)

    def albedo(self, p, n):
        q = _normalize(p - self.center)
        lon = np.arctan2(q[:, 1], q[:, 0]) + self.phase
        lat = np.arcsin(np.clip(q[:, 2], -1.0, 1.0))
        k = np.arange(3) * (2.0 * np.pi / 3.0)
        band = 0.65 + 0.35 * np.cos(3.0 * lat)[:, None]
        return np.clip(0.55 + 0.4 * np.cos(2.0 * lon[:, None] - k) * band, 0.0, 1.0)

    def area(self):
        return 4.0 * np.pi * self.radius ** 2

    def sample(self, n, rng):
        return self.center + self.radius * _normalize(rng.normal(size=(n, 3)))

    def bounds(self):
        return self.center - self.radius, self.center + self.radius


_BOX_FACE_COLORS = np.array([
    [0.85, 0.25, 0.20],  # +x
    [0.20, 0.70, 0.30],  # -x
    [0.20, 0.40, 0.85],  # +y
    [0.90, 0.80, 0.20],  # -y
    [0.80, 0.30, 0.75],  # +z
    [0.20, 0.75, 0.80],  # -z
])


@dataclass
class Box:
    """Axis-aligned box ``center ± half``; per-face colours with a mild checker."""

    center: np.ndarray
    half: np.ndarray
    face_colors: np.ndarray = field(default_factory=lambda: _BOX_FACE_COLORS.copy())
    checker: int = 3  # checker cells per face edge (0: plain faces)
    name: str = "box"
    faces_to_sample: Tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # face id = 2 * axis + (0: +, 1: -)

    @property
    def lo(self):
        return self.center - self.half

    @property
    def hi(self):
        return self.center + self.half

    def sdf(self, p):
        q = np.abs(p - self.center) - self.half
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        inside = np.minimum(q.max(axis=-1), 0.0)
        return outside + inside

    def intersect(self, o, d, tmin=1e-9):
        """Slab method, one axis at a time on 1-D arrays (fast in NumPy)."""
        lo, hi = self.lo, self.hi
        tnear = np.full(len(o), -np.inf)
        tfar = np.full(len(o), np.inf)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for a in range(3):
                inv = 1.0 / d[:, a]  # +-inf for axis-parallel rays
                t1 = (lo[a] - o[:, a]) * inv
                t2 = (hi[a] - o[:, a]) * inv
                # axis-parallel ray: 0 * inf = nan when on the slab plane; treat as inside
                t1 = np.where(np.isnan(t1), -np.inf, t1)
                t2 = np.where(np.isnan(t2), np.inf, t2)
                np.maximum(tnear, np.minimum(t1, t2), out=tnear)
                np.minimum(tfar, np.maximum(t1, t2), out=tfar)
        hit = (tnear <= tfar) & (tfar > tmin)
        t = np.where(tnear > tmin, tnear, tfar)
        return np.where(hit, t, np.inf)

    def _face(self, p):
        q = (p - self.center) / self.half
        axis = np.abs(q).argmax(axis=1)
        sgn = np.sign(q[np.arange(len(p)), axis])
        sgn[sgn == 0] = 1.0
        return axis, sgn, q

    def normal(self, p):
        axis, sgn, _ = self._face(p)
        n = np.zeros_like(p)
        n[np.arange(len(p)), axis] = sgn
        return n

    def albedo(self, p, n):
        axis, sgn, q = self._face(p)
        face = 2 * axis + (sgn < 0)
        col = self.face_colors[face]
        if self.checker:
            # the two in-face coordinates, in [-1, 1]
            u = q[np.arange(len(p)), (axis + 1) % 3]
            v = q[np.arange(len(p)), (axis + 2) % 3]
            cu = np.floor((u + 1.0) * 0.5 * self.checker - 1e-9)
            cv = np.floor((v + 1.0) * 0.5 * self.checker - 1e-9)
            col = col * np.where((cu + cv) % 2 == 0, 1.0, 0.72)[:, None]
        return col

    def _face_area(self, f):
        a = f // 2
        return 4.0 * self.half[(a + 1) % 3] * self.half[(a + 2) % 3]

    def area(self):
        return float(sum(self._face_area(f) for f in self.faces_to_sample))

    def sample(self, n, rng):
        faces = np.array(self.faces_to_sample)
        w = np.array([self._face_area(f) for f in faces])
        f = faces[rng.choice(len(faces), size=n, p=w / w.sum())]
        q = rng.uniform(-1.0, 1.0, size=(n, 3))
        axis = f // 2
        q[np.arange(n), axis] = np.where(f % 2 == 0, 1.0, -1.0)
        return self.center + q * self.half

    def bounds(self):
        return self.lo.copy(), self.hi.copy()


@dataclass
class Ground(Box):
    """Thin square slab; its top face (``z = top``) is the checkered ground plane.

    Only the top face is sampled by ``sample`` (the ground "plane" restricted to a
    finite square); the slab's sides and bottom exist so that the SDF and the renders
    agree everywhere (the thin sides show as a strip from low cameras).
    """

    cell: float = 0.25
    colors: np.ndarray = field(default_factory=lambda: np.array([[0.86, 0.84, 0.78], [0.28, 0.33, 0.40]]))
    side_color: np.ndarray = field(default_factory=lambda: np.array([0.35, 0.30, 0.26]))
    name: str = "ground"
    faces_to_sample: Tuple[int, ...] = (4,)

    def albedo(self, p, n):
        top = n[:, 2] > 0.5
        cx = np.floor(p[:, 0] / self.cell)
        cy = np.floor(p[:, 1] / self.cell)
        chk = self.colors[((cx + cy) % 2).astype(np.int64)]
        return np.where(top[:, None], chk, self.side_color)


@dataclass
class Torus:
    """Torus with major radius ``R`` and minor radius ``r``; its symmetry axis is the
    third column of ``rotation`` (local-to-world, columns are the local axes)."""

    center: np.ndarray
    rotation: np.ndarray
    R: float
    r: float
    name: str = "torus"
    max_steps: int = 256  # sphere-tracing iteration cap (on a shrinking set of rays)

    def to_local(self, p):
        return (p - self.center) @ self.rotation

    def _sdf_local(self, q):
        rho = np.hypot(q[:, 0], q[:, 1])
        return np.hypot(rho - self.R, q[:, 2]) - self.r

    def sdf(self, p):
        return self._sdf_local(self.to_local(p))

    def intersect(self, o, d, tmin=1e-9):
        """First hit by sphere tracing the exact torus SDF inside the bounding sphere.

        The SDF is exact, so a step never crosses the surface; rays are traced on a
        shrinking active set until they converge (|sdf| < 1e-6) or leave the bounding
        sphere. Rays still undecided after ``max_steps`` (grazing ones) count as misses
        unless they are within 1e-5 of the surface.
        """
        n = len(o)
        t_out = np.full(n, np.inf)
        ol = self.to_local(o)
        dl = d @ self.rotation
        rb = self.R + self.r + 1e-6
        b = _dot(ol, dl)
        c = _dot(ol, ol) - rb * rb
        disc = b * b - c
        ok = disc >= 0
        sq = np.sqrt(np.where(ok, disc, 0.0))
        t0 = np.maximum(-b - sq, tmin)
        t1 = -b + sq
        idx = np.nonzero(ok & (t1 > tmin))[0]
        t, t_exit = t0[idx], t1[idx]
        O, D = ol[idx], dl[idx]
        live = np.ones(len(idx), dtype=bool)
        for _ in range(self.max_steps):
            if len(idx) == 0:
                break
            s = self._sdf_local(O + t[:, None] * D)
            done = live & (s < _HIT_EPS)
            if done.any():
                t_out[idx[done]] = t[done]
            live &= ~done & (t <= t_exit)
            n_live = int(live.sum())
            if n_live < 0.75 * len(idx):  # compress the active set now and then
                idx, t, t_exit, O, D = idx[live], t[live], t_exit[live], O[live], D[live]
                s, live = s[live], np.ones(n_live, dtype=bool)
            t = t + np.where(live, s, 0.0)
        idx, t, t_exit, O, D = idx[live], t[live], t_exit[live], O[live], D[live]
        if len(idx):  # undecided after max_steps: accept only if essentially on the surface
            s = self._sdf_local(O + t[:, None] * D)
            close = (s < 1e-5) & (t <= t_exit)
            t_out[idx[close]] = t[close]
        return t_out

    def normal(self, p):
        q = self.to_local(p)
        rho = np.maximum(np.hypot(q[:, 0], q[:, 1]), 1e-12)
        w = rho - self.R
        nl = np.stack([w * q[:, 0] / rho, w * q[:, 1] / rho, q[:, 2]], axis=1)
        return _normalize(nl) @ self.rotation.T

    def albedo(self, p, n):
        q = self.to_local(p)
        theta = np.arctan2(q[:, 1], q[:, 0])  # around the ring
        rho = np.hypot(q[:, 0], q[:, 1])
        phi = np.arctan2(q[:, 2], rho - self.R)  # around the tube
        k = np.arange(3) * (2.0 * np.pi / 3.0)
        base = 0.55 + 0.38 * np.cos(theta[:, None] + k + 0.5)
        stripes = 0.78 + 0.22 * np.cos(2.0 * phi)[:, None]
        return np.clip(base * stripes, 0.0, 1.0)

    def area(self):
        return 4.0 * np.pi ** 2 * self.R * self.r

    def sample(self, n, rng):
        out = []
        have = 0
        while have < n:  # rejection on the area element (R + r cos phi) dtheta dphi
            m = 2 * (n - have) + 16
            theta = rng.uniform(0.0, 2.0 * np.pi, m)
            phi = rng.uniform(0.0, 2.0 * np.pi, m)
            keep = rng.uniform(0.0, self.R + self.r, m) < self.R + self.r * np.cos(phi)
            theta, phi = theta[keep], phi[keep]
            rr = self.R + self.r * np.cos(phi)
            q = np.stack([rr * np.cos(theta), rr * np.sin(theta), self.r * np.sin(phi)], axis=1)
            out.append(q)
            have += len(q)
        q = np.concatenate(out)[:n]
        return q @ self.rotation.T + self.center

    def bounds(self):
        a = self.rotation[:, 2]
        ext = self.R * np.sqrt(np.clip(1.0 - a * a, 0.0, 1.0)) + self.r
        return self.center - ext, self.center + ext


def _rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# --------------------------------------------------------------------------------------
# Scene
# --------------------------------------------------------------------------------------


@dataclass
class Scene:
    objects: List[Any]
    light_dir: np.ndarray  # unit vector pointing *towards* the light
    ambient: float = 0.28
    diffuse: float = 0.72
    background: np.ndarray = field(default_factory=lambda: np.zeros(3))
    center: np.ndarray = field(default_factory=lambda: np.array(SCENE_CENTER))
    shadows: bool = True

    def __getitem__(self, name: str):
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"no object named {name!r}; have {[o.name for o in self.objects]}")

    # geometry ---------------------------------------------------------------------
    def sdf_objects(self, points) -> np.ndarray:
        """(N, K) signed distance of each point to each object."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return np.stack([o.sdf(p) for o in self.objects], axis=1)

    def sdf(self, points) -> np.ndarray:
        """Signed distance to the union of the objects (negative inside), shape (N,).

        Exact outside the objects (min of exact SDFs); inside it is a bound where
        objects overlap, which is all a mesh-vs-truth comparison needs."""
        return self.sdf_objects(points).min(axis=1)

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (lo, hi) of the union of the objects, ground slab included."""
        b = [o.bounds() for o in self.objects]
        return np.min([x[0] for x in b], axis=0), np.max([x[1] for x in b], axis=0)

    def object_bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Bounds of the objects standing on the ground (ground excluded)."""
        b = [o.bounds() for o in self.objects if not isinstance(o, Ground)]
        return np.min([x[0] for x in b], axis=0), np.max([x[1] for x in b], axis=0)

    def sample_surface(self, n: int, seed: int = 0, return_normals: bool = False):
        """``n`` points spread uniformly by area over the boundary of the union.

        The ground contributes only its top face (a finite square). Samples of one
        object that lie inside or on another object (e.g. the ground under the box) are
        dropped, so every point is on the visible-in-principle boundary (``sdf ≈ 0``)."""
        rng = np.random.default_rng(seed)
        areas = np.array([o.area() for o in self.objects])
        pts, obj = [], []
        have = 0
        while have < n:
            m = int(1.25 * (n - have)) + 64
            counts = rng.multinomial(m, areas / areas.sum())
            for k, (o, c) in enumerate(zip(self.objects, counts)):
                if c == 0:
                    continue
                p = o.sample(int(c), rng)
                others = [j for j in range(len(self.objects)) if j != k]
                if others:
                    so = np.stack([self.objects[j].sdf(p) for j in others], axis=1).min(axis=1)
                    p = p[so > 1e-9]
                pts.append(p)
                obj.append(np.full(len(p), k))
                have += len(p)
        p = np.concatenate(pts)
        k = np.concatenate(obj)
        sel = rng.permutation(len(p))[:n]
        p, k = p[sel], k[sel]
        if not return_normals:
            return p
        nrm = np.zeros_like(p)
        for j, o in enumerate(self.objects):
            m = k == j
            if m.any():
                nrm[m] = o.normal(p[m])
        return p, nrm

    # ray tracing ------------------------------------------------------------------
    def trace(self, o, d, tmin=1e-9):
        """Nearest hit of unit rays: (t (N,) inf on miss, object index (N,) -1 on miss)."""
        ts = np.stack([ob.intersect(o, d, tmin) for ob in self.objects], axis=1)
        k = ts.argmin(axis=1)
        t = ts[np.arange(len(o)), k]
        k = np.where(np.isfinite(t), k, -1)
        return t, k

    def occluded(self, o, d) -> np.ndarray:
        occ = np.zeros(len(o), dtype=bool)
        for ob in self.objects:
            rest = np.nonzero(~occ)[0]
            if len(rest) == 0:
                break
            if len(rest) == len(o):
                occ = np.isfinite(ob.intersect(o, d, 1e-9))
            else:
                occ[rest] = np.isfinite(ob.intersect(o[rest], d[rest], 1e-9))
        return occ

    def normals_albedo(self, p, k):
        n = np.zeros_like(p)
        a = np.zeros_like(p)
        for j, ob in enumerate(self.objects):
            m = k == j
            if m.any():
                n[m] = ob.normal(p[m])
                a[m] = ob.albedo(p[m], n[m])
        return n, a

    def shade(self, p, n, albedo):
        """Lambertian: albedo * (ambient + diffuse * max(0, n.l) * visibility)."""
        ndl = np.maximum(n @ self.light_dir, 0.0)
        if self.shadows:
            lit = ndl > 0
            if lit.any():
                L = np.broadcast_to(self.light_dir, (int(lit.sum()), 3))
                occ = self.occluded(p[lit] + 1e-5 * n[lit], np.ascontiguousarray(L))
                vis = np.ones(len(p))
                vis[np.nonzero(lit)[0][occ]] = 0.0
                ndl = ndl * vis
        return np.clip(albedo * (self.ambient + self.diffuse * ndl)[:, None], 0.0, 1.0)

    def radiance(self, o, d):
        """Colour (N,3), hit t (N,), object index (N,), normal (N,3) of unit rays."""
        t, k = self.trace(o, d)
        hit = k >= 0
        col = np.broadcast_to(self.background, (len(o), 3)).astype(np.float64)
        nrm = np.zeros((len(o), 3))
        if hit.any():
            p = o[hit] + t[hit, None] * d[hit]
            n, a = self.normals_albedo(p, k[hit])
            col[hit] = self.shade(p, n, a)
            nrm[hit] = n
        return col, t, k, nrm


def make_scene(seed: int = 0, shadows: bool = True, background=(0.0, 0.0, 0.0)) -> Scene:
    """The demo scene: a patterned sphere, a tilted torus and a box on a checkered ground.

    ``seed`` turns the arrangement about the vertical axis, jitters positions by a few
    centimetres and the torus tilt by a few degrees, and shifts the colour patterns;
    the same seed always gives the same scene. Everything fits in a radius of about 1
    around the z axis, between the ground (z = 0) and z ≈ 0.75.

    ``background`` is the colour of rays that miss everything. It defaults to black,
    the trainer's default background, so a model need not paint a sky; pass e.g.
    ``(0.62, 0.72, 0.86)`` for a blue sky (and train with the same background)."""
    rng = np.random.default_rng(seed)
    yaw = rng.uniform(0.0, 2.0 * np.pi)
    Rz = _rot_z(yaw)
    jit = lambda: np.append(rng.uniform(-0.04, 0.04, 2), 0.0)  # noqa: E731

    sink = 0.02  # objects touching the ground are sunk slightly: a clean union boundary
    r_s = 0.33
    sphere = Sphere(center=Rz @ (np.array([0.52, -0.30, r_s - sink]) + jit()), radius=r_s,
                    phase=rng.uniform(0.0, 2.0 * np.pi))
    half = np.array([0.24, 0.18, 0.22])
    box_c = Rz @ (np.array([0.0, 0.50, 0.0]) + jit())
    box_c[2] = half[2] - sink
    box = Box(center=box_c, half=half)  # axis-aligned (not turned with the arrangement)
    tilt = np.deg2rad(60.0 + rng.uniform(-8.0, 8.0))
    R_t, r_t = 0.28, 0.09
    rot = Rz @ _rot_z(np.deg2rad(-30.0)) @ _rot_x(tilt)
    tor_c = Rz @ (np.array([-0.52, -0.28, 0.0]) + jit())
    a = rot[:, 2]
    tor_c[2] = R_t * math.sqrt(max(0.0, 1.0 - a[2] ** 2)) + r_t + 0.05  # floats 5 cm up
    torus = Torus(center=tor_c, rotation=rot, R=R_t, r=r_t)
    ground = Ground(center=np.array([0.0, 0.0, -0.05]), half=np.array([1.5, 1.5, 0.05]), checker=0)
    light = _normalize(np.array([0.45, 0.3, 1.0]))
    return Scene(objects=[ground, sphere, box, torus], light_dir=light, shadows=shadows,
                 background=np.asarray(background, dtype=np.float64))


# --------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV world-to-camera 4x4 (float64): camera at ``eye`` looking at ``target``,
    image y pointing (as far as possible) opposite to ``up``."""
    eye = np.asarray(eye, dtype=np.float64)
    f = _normalize(np.asarray(target, dtype=np.float64) - eye)
    r = np.cross(f, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(r) < 1e-9:
        raise ValueError("look_at: view direction is parallel to up")
    r = _normalize(r)
    dn = np.cross(f, r)  # image y (down)
    R = np.stack([r, dn, f])
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -R @ eye
    return M


def intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Pinhole K with square pixels; ``fov_deg`` is the horizontal field of view."""
    fx = 0.5 * width / math.tan(0.5 * math.radians(fov_deg))
    return np.array([[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]])


def make_cameras(n_views: int = 60, width: int = 128, height: int = 96, fov_deg: float = 50.0,
                 radius: float = 3.2, seed: int = 0, target=SCENE_CENTER,
                 elevation_deg: Tuple[float, float] = (12.0, 58.0),
                 radius_jitter: float = 0.0) -> List[Dict[str, Any]]:
    """``n_views`` cameras around ``target`` on the upper hemisphere, looking at it.

    Azimuths go once round the ring in equal steps (with a seeded start angle and a
    small seeded jitter); elevations spread over ``elevation_deg`` with a golden-ratio
    sequence, so neighbouring views differ in height. Each camera is a dict with
    ``viewmat`` (4,4 float32, world-to-camera), ``K`` (3,3 float32), ``width``,
    ``height``, ``name`` ("view_000.png", ...). ``fov_deg`` is horizontal."""
    if n_views < 1:
        raise ValueError(f"make_cameras: n_views must be >= 1, got {n_views}")
    if width < 1 or height < 1:
        raise ValueError(f"make_cameras: width and height must be >= 1, got {width}x{height}")
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"make_cameras: fov_deg must be in (0, 180), got {fov_deg}")
    rng = np.random.default_rng(seed)
    target = np.asarray(target, dtype=np.float64)
    az0 = rng.uniform(0.0, 2.0 * np.pi)
    u0 = rng.uniform()
    step = 2.0 * np.pi / n_views
    K = intrinsics(width, height, fov_deg).astype(np.float32)
    lo, hi = np.deg2rad(elevation_deg[0]), np.deg2rad(elevation_deg[1])
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    cams = []
    for i in range(n_views):
        az = az0 + i * step + rng.uniform(-0.25, 0.25) * step
        el = lo + (hi - lo) * ((u0 + i * golden) % 1.0)
        rad = radius * (1.0 + radius_jitter * rng.uniform(-1.0, 1.0))
        eye = target + rad * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        cams.append({
            "viewmat": look_at(eye, target).astype(np.float32),
            "K": K.copy(),
            "width": int(width),
            "height": int(height),
            "name": f"view_{i:03d}.png",
        })
    return cams


def _cam(camera, key):
    if isinstance(camera, dict):
        return camera[key]
    return getattr(camera, key)


def camera_center(viewmat) -> np.ndarray:
    M = np.asarray(viewmat, dtype=np.float64)
    return -M[:3, :3].T @ M[:3, 3]


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _subpixel_offsets(spp: int) -> np.ndarray:
    """Offsets inside the pixel: the centre first, then an R2 low-discrepancy set."""
    g = 1.32471795724474602596  # plastic number
    k = np.arange(1, spp)[:, None]
    extra = (0.5 + k * np.array([1.0 / g, 1.0 / (g * g)])) % 1.0
    return np.concatenate([np.array([[0.5, 0.5]]), extra])


def render(scene: Scene, camera, spp: int = 4) -> Dict[str, np.ndarray]:
    """Ray trace one view.

    Returns ``image`` (H,W,3 float32 in [0,1], the mean of ``spp`` samples per pixel:
    the pixel centre plus ``spp - 1`` fixed low-discrepancy offsets), and from the
    pixel-centre ray: ``depth`` (H,W float32 camera z, 0 on a miss), ``mask`` (H,W bool,
    ray hit an object), ``normal`` (H,W,3 float32 world-space, 0 on a miss) and
    ``object`` (H,W int16 object index into ``scene.objects``, -1 on a miss); and
    ``alpha`` (H,W float32): the fraction of the ``spp`` samples that hit an object
    (coverage; ``image = alpha * objects + (1 - alpha) * scene.background``)."""
    W, H = int(_cam(camera, "width")), int(_cam(camera, "height"))
    M = np.asarray(_cam(camera, "viewmat"), dtype=np.float64)
    K = np.asarray(_cam(camera, "K"), dtype=np.float64)
    R, tvec = M[:3, :3], M[:3, 3]
    eye = -R.T @ tvec
    spp = max(1, int(spp))
    offs = _subpixel_offsets(spp)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    u = (xs.reshape(1, -1) + offs[:, :1]).reshape(-1)
    v = (ys.reshape(1, -1) + offs[:, 1:]).reshape(-1)
    pix = np.stack([u, v, np.ones_like(u)], axis=1)
    dcam = pix @ np.linalg.inv(K).T  # z = 1
    dnorm = np.linalg.norm(dcam, axis=1)
    d = (dcam / dnorm[:, None]) @ R  # R^T applied to row vectors
    o = np.broadcast_to(eye, d.shape)
    col, t, k, nrm = scene.radiance(np.ascontiguousarray(o), d)
    npx = H * W
    image = col.reshape(spp, npx, 3).mean(axis=0).reshape(H, W, 3)
    t0, k0 = t[:npx], k[:npx]
    mask = k0 >= 0
    depth = np.where(mask, t0 / dnorm[:npx], 0.0)  # camera z = t * (d_cam . z) / |d_cam|
    return {
        "image": np.clip(image, 0.0, 1.0).astype(np.float32),
        "depth": depth.reshape(H, W).astype(np.float32),
        "mask": mask.reshape(H, W),
        "normal": nrm[:npx].reshape(H, W, 3).astype(np.float32),
        "object": k0.reshape(H, W).astype(np.int16),
        "alpha": (k >= 0).reshape(spp, npx).mean(axis=0).reshape(H, W).astype(np.float32),
    }


# --------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------


@dataclass
class View:
    """One posed image. Attribute access (``v.image``) or mapping style (``v["image"]``)."""

    name: str
    image: np.ndarray  # (H, W, 3) float32 in [0, 1]
    viewmat: np.ndarray  # (4, 4) float32 world-to-camera (OpenCV)
    K: np.ndarray  # (3, 3) float32
    width: int
    height: int
    depth: Optional[np.ndarray] = None  # (H, W) float32 camera z, 0 on a miss
    mask: Optional[np.ndarray] = None  # (H, W) bool: the pixel-centre ray hit an object
    alpha: Optional[np.ndarray] = None  # (H, W) float32: fraction of samples that hit
    index: int = 0

    _KEYS = ("name", "image", "viewmat", "K", "width", "height", "depth", "mask", "alpha", "index")

    def __getitem__(self, key):
        if key not in self._KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key):
        return key in self._KEYS and getattr(self, key) is not None

    def keys(self):
        return [k for k in self._KEYS if getattr(self, k) is not None]

    def get(self, key, default=None):
        return self[key] if key in self else default

    @property
    def camera_center(self) -> np.ndarray:
        return camera_center(self.viewmat)


@dataclass
class PointCloud:
    """Initial points like a COLMAP sparse cloud; unpacks as ``xyz, rgb = cloud``."""

    xyz: np.ndarray  # (P, 3) float64
    rgb: np.ndarray  # (P, 3) uint8

    def __iter__(self):
        return iter((self.xyz, self.rgb))

    def __len__(self):
        return len(self.xyz)


class SyntheticDataset:
    """Rendered views of the demo scene with train / test splits and initial points.

    Indexable and iterable over all views (``View`` items with ``name``, ``image``,
    ``viewmat``, ``K``, ``width``, ``height``; also ``depth``, ``mask``). ``train`` and
    ``test`` are lists of views; every ``holdout_every``-th view (0, 8, 16, ...) is held
    out. ``background`` is the colour rays that miss take."""

    def __init__(self, scene: Scene, views: List[View], points: PointCloud, holdout_every: int = 8):
        self.scene = scene
        self.views = views
        self.points = points
        self.holdout_every = int(holdout_every)
        n = len(views)
        if self.holdout_every > 0:
            self.test_indices = list(range(0, n, self.holdout_every))
        else:
            self.test_indices = []
        held = set(self.test_indices)
        self.train_indices = [i for i in range(n) if i not in held]

    @property
    def train(self) -> List[View]:
        return [self.views[i] for i in self.train_indices]

    @property
    def test(self) -> List[View]:
        return [self.views[i] for i in self.test_indices]

    @property
    def background(self) -> np.ndarray:
        return self.scene.background.astype(np.float32)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i) -> View:
        return self.views[i]

    def __iter__(self) -> Iterator[View]:
        return iter(self.views)

    def camera_centers(self) -> np.ndarray:
        return np.stack([v.camera_center for v in self.views])

    def scene_extent(self) -> float:
        """3DGS convention: 1.1 × the largest distance of a camera centre from their mean."""
        c = self.camera_centers()
        return float(1.1 * np.linalg.norm(c - c.mean(axis=0), axis=1).max())

    def __repr__(self) -> str:
        v = self.views[0] if self.views else None
        res = f"{v.width}x{v.height}" if v else "-"
        return (f"SyntheticDataset({len(self)} views {res}, train {len(self.train_indices)}, "
                f"test {len(self.test_indices)}, {len(self.points)} points)")


def _initial_points(views: Sequence[View], n_points: int, noise: float, rng) -> PointCloud:
    """COLMAP-like cloud: random hit pixels of the given views unprojected with their
    depth, coloured by the observed pixel, plus Gaussian position noise."""
    per = np.full(len(views), n_points // max(1, len(views)))
    per[: n_points - per.sum()] += 1
    xyz, rgb = [], []
    for v, m in zip(views, per):
        ys, xs = np.nonzero(v.mask)
        if len(xs) == 0 or m == 0:
            continue
        sel = rng.choice(len(xs), size=min(int(m), len(xs)), replace=False)
        x, y = xs[sel], ys[sel]
        z = v.depth[y, x].astype(np.float64)
        K = v.K.astype(np.float64)
        M = v.viewmat.astype(np.float64)
        pc = np.stack([(x + 0.5 - K[0, 2]) / K[0, 0] * z, (y + 0.5 - K[1, 2]) / K[1, 1] * z, z], axis=1)
        xyz.append((pc - M[:3, 3]) @ M[:3, :3])  # R^T (x_cam - t)
        rgb.append(v.image[y, x])
    p = np.concatenate(xyz) if xyz else np.zeros((0, 3))
    c = np.concatenate(rgb) if rgb else np.zeros((0, 3))
    p = p + rng.normal(scale=noise, size=p.shape)
    return PointCloud(xyz=p.astype(np.float64), rgb=np.clip(np.round(c * 255.0), 0, 255).astype(np.uint8))


def make_dataset(n_views: int = 60, width: int = 128, height: int = 96, seed: int = 0,
                 holdout_every: int = 8, fov_deg: float = 50.0, radius: float = 3.2,
                 spp: int = 4, n_points: int = 3000, point_noise: float = 0.005,
                 scene: Optional[Scene] = None, background=(0.0, 0.0, 0.0)) -> SyntheticDataset:
    """Render the demo scene from ``n_views`` cameras (see ``make_cameras``).

    ``points`` is sampled from the *training* views only (no test leakage)."""
    scene = make_scene(seed, background=background) if scene is None else scene
    cams = make_cameras(n_views=n_views, width=width, height=height, fov_deg=fov_deg,
                        radius=radius, seed=seed, target=scene.center)
    views = []
    for i, c in enumerate(cams):
        out = render(scene, c, spp=spp)
        views.append(View(name=c["name"], image=out["image"], viewmat=c["viewmat"], K=c["K"],
                          width=c["width"], height=c["height"], depth=out["depth"],
                          mask=out["mask"], alpha=out["alpha"], index=i))
    ds = SyntheticDataset(scene, views, PointCloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8)),
                          holdout_every=holdout_every)
    rng = np.random.default_rng([seed, 1])
    ds.points = _initial_points(ds.train, n_points, point_noise, rng)
    return ds
