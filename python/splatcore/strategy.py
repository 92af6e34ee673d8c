"""Adaptive density control of 3DGS (Kerbl et al. 2023, sec. 5.2), as in the
original code and gsplat's default strategy: clone small and split large
Gaussians whose view-space positional gradient, averaged over the views that
saw them, exceeds a threshold; prune transparent and oversized ones; reset
opacities periodically."""
from dataclasses import dataclass

import numpy as np

from . import _core
from ._autograd import no_grad
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
    """(K, 4) wxyz quaternions (any norm) -> (K, 3, 3) rotations, in tensor ops."""
    q = q / _core.norm(q, axis=1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    entries = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return _core.stack(entries, axis=1).reshape(-1, 3, 3)


def _stats_dtype(device):
    """float64 statistics where the device has it (Metal has no float64)."""
    return "float32" if device.startswith("metal") else "float64"


def _rows(mask):
    """int64 indices of the true entries of a bool tensor (reads its count on the host)."""
    return _core.nonzero(mask)


def _fill(n, value, like):
    return _core.full((n,), value, dtype="int64", device=like.device)


def _as_dtype(t, dtype):
    return t if t.dtype == dtype else t.astype(dtype)


def _as_stats(a):
    """Statistics given as NumPy (a checkpoint, a test) or a Tensor -> a float64 CPU
    tensor (moved to the Gaussians' device when next used); None stays None."""
    if a is None or isinstance(a, _core.Tensor):
        return a
    return _core.Tensor(np.array(a, np.float64))


class DefaultStrategy:
    def __init__(self, config=None, scene_extent=1.0, seed=0):
        self.cfg = config or DensifyConfig()
        self.scene_extent = float(scene_extent)
        self.rng = np.random.default_rng(seed)
        self._grad_sum = None  # tensors on the Gaussians' device (see grad2d / count)
        self._count = None

    # ---- bookkeeping ----------------------------------------------------------
    @property
    def grad2d(self):
        """Summed NDC gradient norms per Gaussian: a host copy (NumPy), or None."""
        return None if self._grad_sum is None else np.array(self._grad_sum.numpy(), np.float64)

    @grad2d.setter
    def grad2d(self, value):
        self._grad_sum = _as_stats(value)

    @property
    def count(self):
        """Views that saw each Gaussian since the last refinement: a host copy, or None."""
        return None if self._count is None else np.array(self._count.numpy(), np.float64)

    @count.setter
    def count(self, value):
        self._count = _as_stats(value)

    def state(self):
        """Host copies of the statistics and the RNG state (for checkpoints)."""
        return {"grad2d": self.grad2d, "count": self.count, "rng": self.rng.bit_generator.state}

    def load_state(self, st, device=None):
        """Restore what state() returned; the statistics go to `device` (None:
        to the Gaussians' device at the next step)."""
        self.grad2d = st.get("grad2d")
        self.count = st.get("count")
        self.rng.bit_generator.state = st["rng"]
        if device is not None:
            self._place(device)

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

    def _stats_on(self, gaussians):
        """(grad_sum, count) on the Gaussians' device with one row per Gaussian
        (zeros after a change of the set)."""
        n, device = len(gaussians), gaussians.device
        if self._grad_sum is None or len(self._grad_sum) != n or self._count is None \
                or len(self._count) != n:
            self._reset_stats(gaussians)
        self._place(device)
        return self._grad_sum, self._count

    def _place(self, device):
        """The statistics on `device`, in its dtype (cast on the host before an
        upload: Metal has no float64)."""
        from ._device import on_device

        dtype = _stats_dtype(device)
        for name in ("_grad_sum", "_count"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, on_device(_as_dtype(t, dtype), device))

    def _reset_stats(self, gaussians):
        n, device = len(gaussians), gaussians.device
        self._grad_sum = _core.zeros((n,), dtype=_stats_dtype(device), device=device)
        self._count = _core.zeros((n,), dtype=_stats_dtype(device), device=device)

    def _accumulate(self, gaussians, info):
        grad_sum, count = self._stats_on(gaussians)
        g = info["means2d"].grad
        if g is None:
            return
        # pixel gradients -> NDC gradients (x width/2, height/2), the scale the 3DGS
        # threshold assumes; summed over the views where the Gaussian was visible
        sx, sy = info["width"] / 2.0, info["height"] / 2.0
        # one fused pass, in place (on a GPU device one kernel)
        _core.accumulate_grad2d(g.detach(), info["radii"], sx, sy, grad_sum, count)

    # ---- refinement -----------------------------------------------------------
    def _refine(self, gaussians, optimizer, step):
        """gsplat's order: grow (clone, then split), then prune the grown set, so
        clones and split halves of transparent or oversized Gaussians go too. New
        rows start with zero Adam moments (the step count stays global), as in the
        original 3DGS and gsplat."""
        with no_grad():
            clone, split = self._grow_masks(gaussians)
            rest, clone_idx, split_idx = _rows(_core.logical_not(split)), _rows(clone), _rows(split)
            grown, sources = self._grow(gaussians, rest, clone_idx, split_idx)
            keep = _rows(_core.logical_not(self._prune_mask(grown, step)))
            n_pruned = len(grown["means"]) - len(keep)
            self._replace(gaussians, optimizer,
                          {k: _core.index_select(v, 0, keep) for k, v in grown.items()},
                          _core.index_select(sources, 0, keep))
            self._reset_stats(gaussians)
        return f"+{len(clone_idx)} clone +{len(split_idx)} split -{n_pruned} prune"

    def _grow_masks(self, gaussians):
        """(clone, split): bool tensors over the Gaussians, capped at max_gaussians."""
        cfg = self.cfg
        grad_sum, count = self._stats_on(gaussians)
        avg = grad_sum / _core.maximum(count, 1.0)
        high = _core.greater(avg, cfg.grow_grad2d)
        max_scale = _core.exp(_core.max(gaussians.scales.detach(), axis=1))
        small = _core.less_equal(max_scale, cfg.grow_scale3d * self.scene_extent)
        clone = _core.logical_and(high, small)
        split = _core.logical_and(high, _core.logical_not(small))
        budget = max(0, cfg.max_gaussians - len(gaussians))
        if int(_core.sum(high).item()) > budget:  # keep the strongest gradients
            allowed = self._strongest(avg, high, budget // 2)
            clone = _core.logical_and(clone, allowed)
            split = _core.logical_and(split, allowed)
        return clone, split

    @staticmethod
    def _strongest(avg, high, k):
        """Bool tensor: the k highest averages among `high`. Only when the
        max_gaussians cap is reached; the one place that reads every statistic on
        the host (an argsort with NumPy's tie order, as on the CPU)."""
        score = np.where(high.numpy(), avg.numpy(), -np.inf)
        allowed = np.zeros(len(score), bool)
        allowed[np.argsort(-score)[:k]] = True
        return _core.Tensor(allowed).to(avg.device)

    def _grow(self, gaussians, rest, clone_idx, split_idx):
        """The grown set as tensors: survivors of the split, clones, then two
        samples per split Gaussian; and each grown row's source row for the
        optimizer state (-1: fresh)."""
        p = {k: v.detach() for k, v in gaussians.tensors().items()}
        kept = _core.concat([rest, clone_idx])
        both = _core.concat([split_idx, split_idx])
        grown = {k: _core.concat([_core.index_select(v, 0, kept), _core.index_select(v, 0, both)])
                 for k, v in p.items() if k not in ("means", "scales")}
        means, scales = self._split_samples(p, split_idx)
        grown["means"] = _core.concat([_core.index_select(p["means"], 0, kept), means])
        grown["scales"] = _core.concat([_core.index_select(p["scales"], 0, kept), scales])
        sources = _core.concat([rest, _fill(len(clone_idx) + len(both), -1, rest)])
        return grown, sources

    def _split_samples(self, p, split_idx):
        """Means and log-scales of the two children of each split Gaussian
        ((2K, 3) each: all first children, then all second ones): means drawn
        from the parent, scales shrunk by 1.6 (1/(0.8*2), as 3DGS)."""
        k = len(split_idx)
        log_scales = _core.index_select(p["scales"], 0, split_idx)
        if k == 0:
            return _core.index_select(p["means"], 0, split_idx), log_scales
        noise = self.rng.standard_normal((2, k, 3)).astype(np.float32)
        local = _core.Tensor(noise).to(split_idx.device) * _core.exp(log_scales)    # (2, K, 3)
        R = _quat_to_rotmat(_core.index_select(p["quats"], 0, split_idx))        # (K, 3, 3)
        offsets = _core.sum(R * local.reshape(2, k, 1, 3), axis=3)                # R @ local
        means = _core.index_select(p["means"], 0, split_idx) + offsets
        shrunk = log_scales - float(np.log(1.6))
        return means.reshape(2 * k, 3), _core.concat([shrunk, shrunk])

    def _prune_mask(self, grown, step):
        """Bool tensor over the grown set: transparent, or (after the first
        opacity reset) too large."""
        cfg = self.cfg
        prune = _core.less(_core.sigmoid(grown["opacities"]), cfg.prune_opacity)
        if step > cfg.reset_every:
            max_scale = _core.exp(_core.max(grown["scales"], axis=1))
            too_big = _core.greater(max_scale, cfg.prune_scale3d * self.scene_extent)
            prune = _core.logical_or(prune, too_big)
        return prune

    def _reset_opacity(self, gaussians, optimizer):
        """Opacities clamped to at most 2x the prune threshold; their Adam state restarts."""
        cap = float(np.log(2 * self.cfg.prune_opacity / (1 - 2 * self.cfg.prune_opacity)))
        with no_grad():
            new = _core.minimum(gaussians.opacities.detach(), cap).contiguous()
        new.requires_grad = True
        optimizer.replace_param(gaussians.opacities, new, _fill(len(new), -1, new))
        gaussians.opacities = new

    @staticmethod
    def _replace(gaussians, optimizer, tensors, source_rows):
        for name in Gaussians.NAMES:
            t = tensors[name].contiguous()
            t.requires_grad = True
            optimizer.replace_param(getattr(gaussians, name), t, source_rows)
            setattr(gaussians, name, t)
