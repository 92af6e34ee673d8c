"""3D Gaussian Splatting training loop (coarse Python steps over the C++ core)."""
import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from . import _core
from .gaussians import Gaussians
from .optim import Adam, ExponentialDecaySchedule
from .strategy import DefaultStrategy, DensifyConfig

# Step hooks (the live viewer): each is called as hook(trainer, loss) after every step of
# every Trainer.train inside a `step_hook(...)` block; hooks keep their own work cheap.
# `loss` is a LossValue: float() or formatting it waits for the device, so a hook reads
# it only on the steps where it shows it.
_STEP_HOOKS = []


@contextlib.contextmanager
def step_hook(hook):
    _STEP_HOOKS.append(hook)
    try:
        yield hook
    finally:
        _STEP_HOOKS.remove(hook)


@dataclass
class TrainConfig:
    """Defaults of the original 3DGS (Kerbl et al. 2023)."""
    iters: int = 30_000
    sh_degree: int = 3
    sh_degree_interval: int = 1000     # one more SH band every this many steps
    lambda_ssim: float = 0.2
    lr_means: float = 1.6e-4           # x scene extent, decays log-linearly ...
    lr_means_final: float = 1.6e-6     # ... to this (x scene extent) at `iters`
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_sh0: float = 2.5e-3
    lr_shN: float = 2.5e-3 / 20
    background: tuple = (0.0, 0.0, 0.0)
    random_background: bool = False
    seed: int = 0
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    # where training runs: "cpu", "cuda", "metal", "sim" (the GPU simulator, for
    # tests), "auto" (CUDA, then Metal, then the CPU) or None (where the Gaussians
    # are); not saved in checkpoints
    device: Optional[str] = None

    def scaled_to(self, iters):
        """A copy for a shorter/longer run: densification windows scale with `iters`."""
        import copy

        c = copy.deepcopy(self)
        r = iters / self.iters
        c.iters = iters
        d = c.densify
        d.refine_start = max(1, int(d.refine_start * r))
        d.refine_stop = max(d.refine_start + 1, int(d.refine_stop * r))
        d.refine_every = max(1, int(d.refine_every * r))
        d.reset_every = max(d.refine_every, int(d.reset_every * r))
        c.sh_degree_interval = max(1, int(c.sh_degree_interval * r))
        return c


def _image_tensor(image):
    return _core.Tensor(np.ascontiguousarray(image, dtype=np.float32))


class LossValue:
    """A step's loss, left where it was computed: float(v) (or formatting it,
    f"{v:.4f}") waits for the device and reads the one number, once."""

    __slots__ = ("tensor", "_value")

    def __init__(self, tensor):
        self.tensor = tensor
        self._value = None

    def __float__(self):
        if self._value is None:
            self._value = float(self.tensor.item())
        return self._value

    def __format__(self, spec):
        return format(float(self), spec)

    def __repr__(self):
        return f"LossValue({float(self)!r})"


def _view_field(view, key):
    """view[key], or None where the view has no such field (dicts, dataset items
    and synthetic views alike; `key in item` is not a test every item supports)."""
    try:
        return view[key]
    except (KeyError, IndexError):
        return None


class _TrainingImage:
    """A training view's image as a tensor on the training device, made once (a
    GPU device keeps one per view: images are uploaded once, not every step),
    and the target on another background for views with a known coverage. It
    keeps no reference to the view's host image (the dataset's cache bounds those)."""

    def __init__(self, view, device):
        from ._device import on_device

        self.device = device
        self.image = on_device(_image_tensor(view["image"]), device)
        self._alpha = _view_field(view, "alpha")  # host (H, W), or None
        view_bg = _view_field(view, "background")
        self._view_bg = np.asarray(0.0 if view_bg is None else view_bg, np.float32)
        self._uncovered = None  # 1 - alpha, (H, W, 1) on the device, made on first use

    def target(self, background):
        """The image re-composited on `background` (host (3,) float32): the pixels
        the view's alpha leaves uncovered show it instead of the view's own."""
        if background is None or self._alpha is None:
            return self.image
        from ._device import on_device

        if self._uncovered is None:
            a = np.asarray(self._alpha, np.float32)[..., None]
            self._uncovered = on_device(_core.Tensor(np.ascontiguousarray(1 - a)), self.device)
        shift = np.ascontiguousarray(background - self._view_bg, np.float32)
        return self.image + self._uncovered * on_device(_core.Tensor(shift), self.device)


class Trainer:
    """Trains `gaussians` on `train_views` (items with image, viewmat, K, width,
    height, name). `scene_extent` scales the position learning rate and the
    densification size thresholds. `device` ("cpu", "cuda", "metal", "sim",
    "auto"; None: config.device, and where the Gaussians are when that is None
    too) is where the parameters, the optimizer's moments, the densification
    statistics and the training images live; the Gaussians are moved there (in
    place)."""

    def __init__(self, train_views, gaussians, scene_extent, config=None, device=None):
        from ._device import resolve_device
        from .loss import gs_loss  # noqa: F401  (fail early if the loss op is missing)

        if len(train_views) == 0:
            raise ValueError("Trainer: no training views")
        self.cfg = config or TrainConfig()
        self.device = resolve_device(_first_given(device, self.cfg.device, gaussians.device))
        self.views = train_views
        self.g = gaussians.to(self.device)
        self.scene_extent = float(scene_extent)
        self.step = 0
        self.rng = np.random.default_rng(self.cfg.seed)
        self._order = np.zeros(0, np.int64)
        self._pos = 0
        self._images = {}  # view index -> _TrainingImage (GPU devices)
        c = self.cfg
        ext = self.scene_extent
        eps = 1e-15  # as gsplat: Adam's eps far below every gradient scale
        self.opt = Adam([
            {"params": [self.g.means], "name": "means", "lr": c.lr_means * ext},
            {"params": [self.g.scales], "name": "scales", "lr": c.lr_scales},
            {"params": [self.g.quats], "name": "quats", "lr": c.lr_quats},
            {"params": [self.g.opacities], "name": "opacities", "lr": c.lr_opacities},
            {"params": [self.g.sh0], "name": "sh0", "lr": c.lr_sh0},
            {"params": [self.g.shN], "name": "shN", "lr": c.lr_shN},
        ], eps=eps)
        self.means_schedule = ExponentialDecaySchedule(
            self.opt, "means", c.lr_means * ext, c.lr_means_final * ext, c.iters)
        self.strategy = DefaultStrategy(c.densify, ext, seed=c.seed)
        self.history = []  # (step, loss, psnr, n_gaussians, seconds)
        self._t0 = time.time()
        self._elapsed_before = 0.0

    # ---- one iteration -----------------------------------------------------------
    def current_sh_degree(self):
        return min(self.cfg.sh_degree, self.g.sh_degree, self.step // self.cfg.sh_degree_interval)

    def _next_index(self):
        if self._pos >= len(self._order):
            self._order = self.rng.permutation(len(self.views))
            self._pos = 0
        i = int(self._order[self._pos])
        self._pos += 1
        return i

    def _next_view(self):
        return self.views[self._next_index()]

    def _training_image(self, i):
        """View i's image on the device: kept for the run on a GPU device; on the
        CPU a zero-copy tensor over the dataset's (cached) array."""
        img = self._images.get(i)
        if img is None:
            img = _TrainingImage(self.views[i], self.device)
            if self.device != "cpu":
                self._images[i] = img
        return img

    def render(self, view, sh_degree=None, background=None):
        bg = self.cfg.background if background is None else background
        return self.g.render(view, self.current_sh_degree() if sh_degree is None else sh_degree, bg)

    def train_step(self):
        """One step. Returns (loss as a LossValue, not read yet; image; target;
        what densification changed). Nothing here waits on the device, except
        what the rasterizer and the refine steps read (see strategy.py)."""
        from .loss import gs_loss

        i = self._next_index()
        view = self.views[i]
        bg = None
        if self.cfg.random_background:
            bg = self.rng.random(3).astype(np.float32)
        self.means_schedule.step(self.step)
        img, alpha, info = self.render(view, background=bg)
        target = self._training_image(i).target(bg)
        loss = gs_loss(img, target, self.cfg.lambda_ssim)
        loss.backward()
        info["width"], info["height"] = int(view["width"]), int(view["height"])
        refined = self.strategy.step_post_backward(self.g, self.opt, info, self.step)
        self.opt.step()
        self.opt.zero_grad()
        self.step += 1
        return LossValue(loss.detach()), img, target, refined

    # ---- the loop --------------------------------------------------------------------
    def train(self, out_dir=None, progress=True, log_every=10, checkpoint_path=None,
              checkpoint_every=0):
        """Runs until cfg.iters; with checkpoint_path, saves a checkpoint every
        `checkpoint_every` steps (0: only at the end) and at the end. Ctrl-C or
        SIGTERM stops cleanly after the current step (see splatcore.stop): the
        caller gets a consistent state, and the checkpoint is written. Returns
        True when stopped early."""
        from .loss import psnr
        from .stop import graceful_stop

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.cfg.iters, initial=self.step, unit="it", dynamic_ncols=True,
                       desc="train")
        interrupted = False
        hooks = tuple(_STEP_HOOKS)
        with graceful_stop() as stop:
            try:
                while self.step < self.cfg.iters and not stop.requested:
                    loss, img, target, refined = self.train_step()
                    for hook in hooks:
                        hook(self, loss)
                    if self.step % log_every == 0 or self.step == self.cfg.iters:
                        # the only reads of the step's results: every log_every steps
                        p = float(psnr(img.detach(), target))
                        self.history.append((self.step, float(loss), p, len(self.g), self.elapsed()))
                        if bar is not None:
                            bar.set_postfix(loss=f"{loss:.4f}", psnr=f"{p:.2f}", n=len(self.g))
                    if bar is not None:
                        bar.update(1)
                        if refined:
                            bar.write(f"step {self.step}: {refined} -> {len(self.g)} Gaussians")
                    if (checkpoint_path and checkpoint_every > 0 and self.step % checkpoint_every == 0
                            and self.step < self.cfg.iters):
                        self.save_checkpoint(checkpoint_path)
            except KeyboardInterrupt:  # a second signal, or Ctrl-C outside the main thread
                interrupted = True
            finally:
                if bar is not None:
                    bar.close()
            interrupted = interrupted or stop.requested
            if checkpoint_path:
                self.save_checkpoint(checkpoint_path)
        return interrupted

    def elapsed(self):
        return self._elapsed_before + time.time() - self._t0

    # ---- evaluation -------------------------------------------------------------------
    def evaluate(self, views, render_dir=None, compare=True):
        """PSNR and SSIM per held-out view (and PNGs of renders / side by sides)."""
        from .evaluate import evaluate_views

        return evaluate_views(self.g, views, self.cfg.background, render_dir, compare)

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, path):
        """Everything needed to resume bit-exactly, in splatcore.checkpoint's
        format (safetensors + JSON: reading it cannot run code). Every tensor is
        copied to the host: the file does not depend on the device, and a run
        resumes on any device."""
        from . import checkpoint

        checkpoint.save(path, {
            "step": self.step,
            "config": _config_without_device(self.cfg),
            "gaussians": self.g.numpy(),
            "optimizer": self.opt.state_dict(),
            "strategy": self.strategy.state(),
            "rng": self.rng.bit_generator.state,
            "order": np.asarray(self._order, np.int64),
            "pos": self._pos,
            "history": self.history,
            "elapsed": self.elapsed(),
            "scene_extent": self.scene_extent,
        })

    def load_checkpoint(self, path):
        """Restore a checkpoint written by save_checkpoint. ValueError naming the
        file for anything else (an old pickle checkpoint included: refused)."""
        from . import checkpoint

        state = checkpoint.load(path)
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
            raise checkpoint.CheckpointError(f"{path}: not a valid training checkpoint "
                                             f"({type(e).__name__}: {e})") from None

    def _restore(self, state):
        _check_finite_arrays(state, "state")
        a = state["gaussians"]
        new = Gaussians(a["means"], a["scales"], a["quats"], a["opacities"], a["sh0"], a["shN"],
                        device=self.device)
        for name in Gaussians.NAMES:  # put the restored tensors in the optimizer's groups
            old = getattr(self.g, name)
            n_old, n_new = old.shape[0], getattr(new, name).shape[0]
            rows = np.arange(n_new) if n_new <= n_old else np.full(n_new, -1)
            self.opt.replace_param(old, getattr(new, name), np.minimum(rows, n_old - 1).astype(np.int64)
                                   if n_old else np.full(n_new, -1, np.int64))
            setattr(self.g, name, getattr(new, name))
        self.opt.load_state_dict(state["optimizer"])
        self.strategy.load_state(state["strategy"], device=self.device)
        self.rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], np.int64)
        self._pos = int(state["pos"])
        self.step = int(state["step"])
        self.history = [tuple(h) for h in state["history"]]
        self._elapsed_before = float(state["elapsed"])
        self._t0 = time.time()
        self.means_schedule.step(self.step)


def _first_given(*values):
    return next(v for v in values if v is not None)


def _config_without_device(cfg):
    """The config as saved in checkpoints: where it ran is not part of it."""
    d = asdict(cfg)
    d.pop("device", None)
    return d


def _check_finite_arrays(obj, where):
    """Every float array of a checkpoint's state is finite (a NaN parameter or
    moment would only fail at the end, in save_ply, with no file name)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite_arrays(v, f"{where}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_finite_arrays(v, f"{where}/{i}")
    elif isinstance(obj, np.ndarray) and obj.dtype.kind == "f" and not np.isfinite(obj).all():
        raise ValueError(f"tensor {where!r} holds NaN or inf")


def write_json(path, obj):
    from .io.atomic import atomic_write

    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)


def cameras_json(views):
    out = []
    for v in views:
        vm = np.asarray(v["viewmat"], np.float64)
        c2w = np.linalg.inv(vm)
        out.append({"name": v["name"], "width": int(v["width"]), "height": int(v["height"]),
                    "K": np.asarray(v["K"], float).tolist(), "viewmat": vm.tolist(),
                    "camera_to_world": c2w.tolist()})
    return out


def fmt_time(s):
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.1f}s"


__all__ = ["TrainConfig", "Trainer", "LossValue", "cameras_json", "write_json", "fmt_time", "step_hook"]
