"""Held-out evaluation of a set of Gaussians: PSNR / SSIM per view, optional PNGs."""
import os

import numpy as np

from . import _core
from ._autograd import no_grad


def evaluate_views(gaussians, views, background=None, render_dir=None, compare=True):
    """PSNR and SSIM of `gaussians` rendered from each view against its image.
    With `render_dir`, writes <name>.png and (compare) <name>_compare.png
    (ground truth | render). Renders and scores on the Gaussians' device.
    Returns {"views": [...], "mean": {"psnr", "ssim"}}."""
    from ._device import on_device
    from .io.images import save_png
    from .loss import psnr, ssim

    rows = []
    with no_grad():
        for v in views:
            img, _, _ = gaussians.render(v, background=background)
            gt = on_device(_core.Tensor(np.ascontiguousarray(v["image"], np.float32)),
                           gaussians.device)
            rows.append({"name": v["name"], "psnr": float(psnr(img, gt)), "ssim": float(ssim(img, gt))})
            if render_dir:
                out = np.clip(img.numpy(), 0, 1)
                base = os.path.splitext(os.path.basename(v["name"]))[0]
                save_png(os.path.join(render_dir, base + ".png"), out)
                if compare:
                    save_png(os.path.join(render_dir, base + "_compare.png"),
                             np.concatenate([np.clip(v["image"], 0, 1), out], axis=1))
    # No views: no mean (None, JSON null; NaN is not valid JSON).
    mean = {k: float(np.mean([r[k] for r in rows])) if rows else None for k in ("psnr", "ssim")}
    return {"views": rows, "mean": mean}
