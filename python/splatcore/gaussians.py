"""A set of 3D Gaussians as trainable parameter tensors (3DGS parameterisation)."""
import numpy as np

from . import _core
from ._device import host_array

SH_C0 = 0.28209479177387814


def rgb_to_sh0(rgb):
    """DC coefficient whose colour (SH_C0 * c + 0.5) is `rgb` in [0, 1]."""
    return (np.asarray(rgb, np.float64) - 0.5) / SH_C0


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class Gaussians:
    """Raw (pre-activation) parameters, as in the original 3DGS and gsplat:
    ``means`` (N,3), ``scales`` log-scales (N,3), ``quats`` wxyz (N,4, normalised
    by the rasterizer), ``opacities`` logits (N,), ``sh0`` (N,1,3) DC and ``shN``
    (N,K-1,3) higher SH coefficients. All float32 splatcore Tensors with
    requires_grad."""

    NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")

    def __init__(self, means, scales, quats, opacities, sh0, shN, device=None):
        """Arrays (NumPy, or Tensors on any device) copied into new parameter
        tensors on `device` (None: the default device, "cpu" unless changed)."""
        from ._device import resolve_device

        device = resolve_device(device)
        arrays = dict(means=means, scales=scales, quats=quats, opacities=opacities, sh0=sh0, shN=shN)
        n = None
        for name, a in arrays.items():
            a = np.ascontiguousarray(host_array(a), np.float32)
            if n is None:
                n = a.shape[0]
            if a.shape[0] != n:
                raise ValueError(f"Gaussians: {name} has {a.shape[0]} rows, means has {n}")
            setattr(self, name, _parameter(_core.Tensor(a.copy()), device))
        self._check_shapes()

    def _check_shapes(self):
        n = len(self)
        expect = dict(means=(n, 3), scales=(n, 3), quats=(n, 4), opacities=(n,), sh0=(n, 1, 3))
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians: {name} must have shape {shape}, got "
                                 f"{tuple(getattr(self, name).shape)}")
        k = self.shN.shape[1] + 1
        if self.shN.ndim != 3 or self.shN.shape[2] != 3 or k not in (1, 4, 9, 16):
            raise ValueError(f"Gaussians: shN must have shape (N, K-1, 3) with K in 1, 4, 9, 16, got "
                             f"{tuple(self.shN.shape)}")

    def __len__(self):
        return self.means.shape[0]

    @property
    def device(self):
        """The device of the parameters ("cpu", "sim:0", "cuda:0", ...)."""
        return self.means.device

    def to(self, device):
        """Moves the parameters to `device`, in place (as torch's Module.to), and
        returns self. Do it before an optimizer holds them: the optimizer keeps
        the tensors it was given."""
        from ._device import resolve_device, same_device

        device = resolve_device(device)
        for name in self.NAMES:
            t = getattr(self, name)
            if not same_device(t.device, device):
                setattr(self, name, _parameter(t.detach().to(device), device))
        return self

    @property
    def sh_degree(self):
        return int(round(np.sqrt(self.shN.shape[1] + 1))) - 1

    @classmethod
    def from_points(cls, xyz, rgb=None, sh_degree=3, init_opacity=0.1, init_scale=1.0, seed=0,
                    device=None):
        """Initialisation of 3DGS: one Gaussian per point, isotropic log-scale from the
        mean distance to the 3 nearest neighbours, identity rotation, opacity 0.1,
        DC colour from the point colour (uint8 or [0,1] floats). Computed on the
        CPU, then placed on `device`."""
        xyz = np.asarray(xyz, np.float64)
        if xyz.ndim != 2 or xyz.shape[1] != 3 or len(xyz) == 0:
            raise ValueError(f"from_points: xyz must have shape (N, 3) with N > 0, got {xyz.shape}")
        n = len(xyz)
        if rgb is None:
            rgb = np.full((n, 3), 0.5)
        rgb = np.asarray(rgb)
        if rgb.shape != (n, 3):
            raise ValueError(f"from_points: rgb must have shape ({n}, 3), got {rgb.shape}")
        if rgb.dtype == np.uint8 or rgb.max() > 1.0:
            rgb = rgb.astype(np.float64) / 255.0
        dist = _core.knn_mean_distance(xyz, 3).numpy().astype(np.float64)
        dist = np.maximum(dist, 1e-7)
        scales = np.repeat(np.log(dist * init_scale)[:, None], 3, axis=1)
        quats = np.zeros((n, 4))
        quats[:, 0] = 1.0
        opac = np.full(n, _logit(init_opacity))
        k = (sh_degree + 1) ** 2
        sh0 = rgb_to_sh0(rgb)[:, None, :]
        shN = np.zeros((n, k - 1, 3))
        return cls(xyz, scales, quats, opac, sh0, shN, device=device)

    def render(self, view, sh_degree=None, background=None, viewmat=None):
        """Rasterize from a view (dict-like with viewmat, K, width, height):
        returns (image (H,W,3), alpha (H,W,1), info) on the parameters' device.
        `viewmat` overrides the view's (a Tensor with requires_grad gets the pose
        gradient). The camera and background stay host arrays (a few numbers,
        read by the rasterizer's host side)."""
        bg = None if background is None else np.asarray(background, np.float32)
        if viewmat is None:
            viewmat = np.ascontiguousarray(view["viewmat"], np.float32)
        # the parameter form: exp / sigmoid / SH concat happen inside, with no
        # activation ops (or their gradient copies) per step
        return _core.rasterize_params(
            self.means, self.quats, self.scales, self.opacities, self.sh0, self.shN, viewmat,
            np.ascontiguousarray(view["K"], np.float32), int(view["width"]), int(view["height"]),
            self.sh_degree if sh_degree is None else sh_degree, bg)

    def tensors(self):
        return {name: getattr(self, name) for name in self.NAMES}

    def numpy(self):
        """Host copies of the parameters (NumPy arrays), from any device."""
        return {name: np.array(getattr(self, name).numpy(), copy=True) for name in self.NAMES}

    # ---- PLY ------------------------------------------------------------------
    def save_ply(self, path, min_opacity=1.0 / 255.0):
        """Standard 3DGS PLY; Gaussians with opacity below `min_opacity` are dropped."""
        from .io.ply import write_splat_ply

        a = self.numpy()
        keep = 1.0 / (1.0 + np.exp(-a["opacities"].astype(np.float64))) >= min_opacity
        write_splat_ply(path, a["means"][keep], a["scales"][keep], a["quats"][keep],
                        a["opacities"][keep], a["sh0"][keep, 0, :], a["shN"][keep])
        return int(keep.sum())

    @classmethod
    def load_ply(cls, path, device=None):
        from .io.ply import read_splat_ply

        d = read_splat_ply(path)
        return cls(d.means, d.scales_log, d.quats_wxyz, d.opacity_logits, d.sh_dc[:, None, :],
                   d.sh_rest, device=device)


def _parameter(t, device):
    """`t` (a CPU or device tensor, no grad) as a leaf parameter on `device`."""
    from ._device import same_device

    if not same_device(t.device, device):
        t = t.to(device)
    t.requires_grad = True
    return t
