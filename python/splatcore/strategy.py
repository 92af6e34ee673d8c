"""Adaptive density control of 3DGS (Kerbl et al. 2023, sec. 5.2), as in the
original code and gsplat's default strategy: clone small and split large
Gaussians whose view-space positional gradient, averaged over the views that
saw them, exceeds a threshold; prune transparent and oversized ones; reset
opacities periodically."""
from dataclasses import dataclass

import numpy as np

from . import _core
from .gaussians import Gaussians


@dataclass
class DensifyConfig:
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    grow_grad2d: float = 2e-4      # NDC-space gradient threshold (original 3DGS)
    grow_scale3d: float = 0.01     # x scene extent: below -> clone, above -> split
    prune_opacity: float = 0.005
    prune_scale3d: float = 0.1     # x scene extent, after the first opacity reset
    reset_every: int = 3000
    # True: also reset at step 0, as gsplat's DefaultStrategy does (its test is
    # step % reset_every == 0), so opacities start at 2 x prune_opacity instead of
    # the 0.1 of the initialisation. Off by default, as in the original 3DGS.
    reset_at_start: bool = False
    max_gaussians: int = 5_000_000


def _quat_to_rotmat(q):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=1).reshape(-1, 3, 3)


class DefaultStrategy:
    def __init__(self, config=None, scene_extent=1.0, seed=0):
        self.cfg = config or DensifyConfig()
        self.scene_extent = float(scene_extent)
        self.rng = np.random.default_rng(seed)
        self.grad2d = None
        self.count = None

    # ---- bookkeeping ----------------------------------------------------------
    def state(self):
        return {"grad2d": self.grad2d, "count": self.count, "rng": self.rng.bit_generator.state}

    def load_state(self, st):
        self.grad2d = None if st.get("grad2d") is None else np.array(st["grad2d"], np.float64)
        self.count = None if st.get("count") is None else np.array(st["count"], np.float64)
        self.rng.bit_generator.state = st["rng"]

    def step_post_backward(self, gaussians, optimizer, info, step):
        """Accumulate view-space gradients; refine the set of Gaussians when due.
        Returns a short string describing what changed ('' when nothing)."""
        cfg = self.cfg
        if step >= cfg.refine_stop:
            return ""
        self._accumulate(gaussians, info)
        msg = ""
        if step > cfg.refine_start and step % cfg.refine_every == 0:
            msg = self._refine(gaussians, optimizer, step)
        if step % cfg.reset_every == 0 and (step > 0 or cfg.reset_at_start):
            self._reset_opacity(gaussians, optimizer)
            msg += " opacity reset"
        return msg.strip()

    def _accumulate(self, gaussians, info):
        n = len(gaussians)
        if self.grad2d is None or len(self.grad2d) != n:
            self.grad2d = np.zeros(n)
            self.count = np.zeros(n)
        g = info["means2d"].grad
        if g is None:
            return
        # pixel gradients -> NDC gradients (x width/2, height/2), the scale the 3DGS
        # threshold assumes; summed over the views where the Gaussian was visible
        _core.accumulate_grad2d(g, info["radii"], info["width"] / 2.0, info["height"] / 2.0,
                                self.grad2d, self.count)

    # ---- refinement -----------------------------------------------------------
    def _refine(self, gaussians, optimizer, step):
        """gsplat's order: grow (clone, then split), then prune the grown set, so
        clones and split halves of transparent or oversized Gaussians go too. New
        rows start with zero Adam moments (the step count stays global), as in the
        original 3DGS and gsplat."""
        cfg = self.cfg
        a = gaussians.numpy()
        n = len(gaussians)
        avg = self.grad2d / np.maximum(self.count, 1)
        high = avg > cfg.grow_grad2d
        max_scale = np.exp(a["scales"]).max(axis=1)
        small = max_scale <= cfg.grow_scale3d * self.scene_extent
        clone = high & small
        split = high & ~small
        budget = max(0, cfg.max_gaussians - n)
        if clone.sum() + split.sum() > budget:  # keep the strongest gradients
            order = np.argsort(-np.where(high, avg, -np.inf))
            allowed = np.zeros(n, bool)
            allowed[order[:budget // 2]] = True
            clone &= allowed
            split &= allowed

        # grown rows: survivors of the split, clones, then two samples per split
        rest = np.nonzero(~split)[0]
        clone_idx = np.nonzero(clone)[0]
        split_idx = np.nonzero(split)[0]
        grown = {k: [v[rest], v[clone_idx]] for k, v in a.items()}
        src = [rest, np.full(len(clone_idx), -1)]
        if len(split_idx):
            scales = np.exp(a["scales"][split_idx].astype(np.float64))
            R = _quat_to_rotmat(a["quats"][split_idx].astype(np.float64))
            for _ in range(2):
                local = self.rng.standard_normal((len(split_idx), 3)) * scales
                grown["means"].append(a["means"][split_idx] + np.einsum("nij,nj->ni", R, local))
                grown["scales"].append(np.log(scales / 1.6))  # 1/(0.8*2), the 3DGS shrink
                for k in ("quats", "opacities", "sh0", "shN"):
                    grown[k].append(a[k][split_idx])
                src.append(np.full(len(split_idx), -1))
        grown = {k: np.concatenate(v).astype(np.float32) for k, v in grown.items()}
        source_rows = np.concatenate(src).astype(np.int64)

        # prune the grown set
        opac = 1.0 / (1.0 + np.exp(-grown["opacities"].astype(np.float64)))
        prune = opac < cfg.prune_opacity
        if step > cfg.reset_every:
            prune |= np.exp(grown["scales"]).max(axis=1) > cfg.prune_scale3d * self.scene_extent
        keep = ~prune
        self._replace(gaussians, optimizer, {k: v[keep] for k, v in grown.items()},
                      source_rows[keep])
        self.grad2d = np.zeros(len(gaussians))
        self.count = np.zeros(len(gaussians))
        return f"+{len(clone_idx)} clone +{len(split_idx)} split -{int(prune.sum())} prune"

    def _reset_opacity(self, gaussians, optimizer):
        """Opacities clamped to at most 2x the prune threshold; their Adam state restarts."""
        a = gaussians.opacities.numpy()
        cap = np.log(2 * self.cfg.prune_opacity / (1 - 2 * self.cfg.prune_opacity))
        new = np.minimum(a, cap).astype(np.float32)
        t = _core.Tensor(new)
        t.requires_grad = True
        optimizer.replace_param(gaussians.opacities, t, np.full(len(new), -1, np.int64))
        gaussians.opacities = t

    @staticmethod
    def _replace(gaussians, optimizer, arrays, source_rows):
        for name in Gaussians.NAMES:
            t = _core.Tensor(np.ascontiguousarray(arrays[name], dtype=np.float32))
            t.requires_grad = True
            optimizer.replace_param(getattr(gaussians, name), t, source_rows)
            setattr(gaussians, name, t)
