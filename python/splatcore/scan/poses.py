"""Joint refinement of camera poses during training.

The rasterizer gives dL/d(viewmat) (a 4 x 4 matrix ``G``). Each refined view's
pose is updated on the left by a small rigid motion, ``V <- exp(xi^) V`` with
``xi = (omega, v)`` (rotation vector, translation; se(3)). At ``xi = 0``,
``dV = xi^ V``, so with ``M = G V^T``:

    dL/dv     = (M[0,3], M[1,3], M[2,3])
    dL/domega = (M[2,1] - M[1,2], M[0,2] - M[2,0], M[1,0] - M[0,1])

Each step, the view just rendered gets an Adam step on its own ``xi`` (moments
and step count per view), which is then folded into the pose and reset to 0, so
the gradient is always taken at ``xi = 0`` (exact, no Jacobian of exp needed).
One view (the first training view) stays fixed: the Gaussians and the poses
are otherwise free to drift together.

:class:`PoseRefiningTrainer` is a :class:`splatcore.trainer.Trainer` whose
training render passes the view matrix as a tensor that requires a gradient;
everything else (losses, densification, checkpoints) is the parent's.
Checkpoints do not store the refined poses (the views hold them).
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np

from .. import _core
from ..trainer import Trainer

__all__ = ["se3_exp", "twist_gradient", "PoseRefiner", "PoseRefiningTrainer"]


def _hat(w):
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def se3_exp(xi) -> np.ndarray:
    """4 x 4 rigid motion ``exp(xi^)`` of a twist ``xi = (omega, v)`` (float64)."""
    xi = np.asarray(xi, dtype=np.float64).reshape(6)
    w, v = xi[:3], xi[3:]
    th = float(np.linalg.norm(w))
    W = _hat(w)
    if th < 1e-8:
        R = np.eye(3) + W + 0.5 * W @ W
        Vm = np.eye(3) + 0.5 * W + W @ W / 6.0
    else:
        a = math.sin(th) / th
        b = (1.0 - math.cos(th)) / th ** 2
        c = (th - math.sin(th)) / th ** 3
        R = np.eye(3) + a * W + b * W @ W
        Vm = np.eye(3) + b * W + c * W @ W
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = Vm @ v
    return T


def twist_gradient(G, viewmat) -> np.ndarray:
    """dL/dxi at xi = 0 for ``viewmat' = exp(xi^) viewmat`` given ``G = dL/dviewmat``:
    (d omega (3), d v (3))."""
    M = np.asarray(G, dtype=np.float64) @ np.asarray(viewmat, dtype=np.float64).T
    return np.array([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1],
                     M[0, 3], M[1, 3], M[2, 3]])


class PoseRefiner:
    """Adam on a left se(3) correction of each view's ``viewmat`` (updated in place
    in the view dicts). ``lr_rot`` in radians per step, ``lr_trans`` in scene
    units per step; views in ``fixed`` (positions in ``views``) are not moved."""

    def __init__(self, views: Sequence[dict], lr_rot: float = 1e-4, lr_trans: float = 1e-4,
                 fixed: Iterable[int] = (0,), betas=(0.9, 0.999), eps: float = 1e-15):
        self.views = views
        self.slot = {id(v): k for k, v in enumerate(views)}
        self.lr = np.array([lr_rot] * 3 + [lr_trans] * 3, dtype=np.float64)
        self.fixed = {int(k) for k in fixed}
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        n = len(views)
        self.m = np.zeros((n, 6))
        self.v = np.zeros((n, 6))
        self.t = np.zeros(n, dtype=np.int64)
        self.initial = [np.array(v["viewmat"], dtype=np.float64, copy=True) for v in views]

    def update(self, view: dict, G) -> bool:
        """One Adam step for ``view`` from ``G = dL/dviewmat``; False when the view is
        fixed, unknown or the gradient is not finite."""
        k = self.slot.get(id(view))
        if k is None or k in self.fixed:
            return False
        vm = np.asarray(view["viewmat"], dtype=np.float64)
        g = twist_gradient(G, vm)
        if not np.isfinite(g).all():
            return False
        b1, b2 = self.betas
        self.t[k] += 1
        self.m[k] = b1 * self.m[k] + (1 - b1) * g
        self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
        mh = self.m[k] / (1 - b1 ** self.t[k])
        vh = self.v[k] / (1 - b2 ** self.t[k])
        step = -self.lr * mh / (np.sqrt(vh) + self.eps)
        view["viewmat"] = (se3_exp(step) @ vm).astype(np.float32)
        return True

    def changes(self):
        """Per view (rotation change in degrees, translation change of the camera
        centre) since the start."""
        out = []
        for v, V0 in zip(self.views, self.initial):
            V = np.asarray(v["viewmat"], dtype=np.float64)
            dR = V[:3, :3] @ V0[:3, :3].T
            skew = 0.5 * np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]])
            ang = math.degrees(math.atan2(float(np.linalg.norm(skew)), 0.5 * (np.trace(dR) - 1)))
            c0 = -V0[:3, :3].T @ V0[:3, 3]
            c1 = -V[:3, :3].T @ V[:3, 3]
            out.append((ang, float(np.linalg.norm(c1 - c0))))
        return out


class PoseRefiningTrainer(Trainer):
    """A Trainer that also refines the poses of its training views (see the module
    docstring). ``refiner`` defaults to a :class:`PoseRefiner` over the training
    views with learning rates 1e-4 rad and 1e-4 x scene extent per step, the
    first view fixed; ``pose_start``: the first step that moves poses."""

    def __init__(self, train_views, gaussians, scene_extent, config=None,
                 refiner: Optional[PoseRefiner] = None, pose_start: int = 0):
        super().__init__(train_views, gaussians, scene_extent, config)
        self.refiner = refiner or PoseRefiner(train_views, lr_rot=1e-4,
                                              lr_trans=1e-4 * float(scene_extent))
        self.pose_start = int(pose_start)
        self._capture = False
        self._rendered = None

    def render(self, view, sh_degree=None, background=None):
        if not self._capture:
            return super().render(view, sh_degree, background)
        vm = _core.Tensor(np.ascontiguousarray(view["viewmat"], dtype=np.float32).copy())
        vm.requires_grad = True
        self._rendered = (view, vm)
        bg = self.cfg.background if background is None else background
        return self.g.render(view, self.current_sh_degree() if sh_degree is None else sh_degree,
                             bg, viewmat=vm)

    def train_step(self):
        self._capture = self.step >= self.pose_start
        self._rendered = None
        try:
            out = super().train_step()
        finally:
            self._capture = False
        if self._rendered is not None:
            view, vm = self._rendered
            self._rendered = None
            if vm.grad is not None:
                self.refiner.update(view, vm.grad.numpy())
        return out
