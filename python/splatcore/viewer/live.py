"""The live view while training (``--viewer``): a step hook that, every N steps,
copies the Gaussians (a few milliseconds) and hands the copy to the viewer's
background thread, which builds the browser's arrays and sends them. The
training thread never waits on the viewer."""
from __future__ import annotations

import contextlib
import time

import numpy as np

from ..io.ply import SplatData

__all__ = ["LiveViewer", "live_viewer", "snapshot"]


def snapshot(g) -> SplatData:
    """A copy of a Gaussians' parameters as SplatData (safe to read in another thread)."""
    a = g.numpy()
    return SplatData(a["means"], a["scales"], a["quats"], a["opacities"],
                     np.ascontiguousarray(a["sh0"][:, 0, :]), a["shN"])


class LiveViewer:
    """Step hook: the scene every `every` steps, the status line ten times as often."""

    def __init__(self, viewer, every: int = 100):
        if int(every) < 1:
            raise ValueError(f"viewer update interval must be >= 1 step, got {every!r}")
        self.viewer = viewer
        self.every = int(every)
        self.status_every = max(1, self.every // 10)
        self.updates = 0           # scene snapshots handed over
        self._started = False
        self._t0 = time.perf_counter()
        self._step0 = 0

    def __call__(self, trainer, loss):
        step = trainer.step
        if not self._started:
            self._started = True
            self._t0, self._step0 = time.perf_counter(), step - 1
            self.viewer.worker.submit("cameras", self._cameras, trainer.views)
        last = step >= trainer.cfg.iters
        if step % self.status_every == 0 or last:
            h = trainer.history[-1] if trainer.history else None
            rate = (step - self._step0) / max(time.perf_counter() - self._t0, 1e-9)
            text = (f"**training** step {step} / {trainer.cfg.iters}  \n"
                    f"loss {loss:.4f}" + (f", PSNR {h[2]:.2f} dB (training view)" if h else "")
                    + f"  \n{len(trainer.g)} Gaussians, {rate:.1f} steps/s")
            self.viewer.worker.submit("status", self.viewer.set_status, text)
        if step % self.every == 0 or last or self.updates == 0:
            self.updates += 1
            self.viewer.worker.submit("scene", self.viewer.show_scene, snapshot(trainer.g))

    def _cameras(self, views):
        from .content import MAX_THUMBNAILS, thumbnail

        cams, images = [], {}
        for i, v in enumerate(views):
            name = str(v["name"]) if "name" in v else f"{i}"
            cams.append({"viewmat": np.asarray(v["viewmat"]), "K": np.asarray(v["K"]),
                         "width": int(v["width"]), "height": int(v["height"]), "name": name})
            if i < MAX_THUMBNAILS and "image" in v:
                images[name] = thumbnail(v["image"])
        scene = self.viewer.scene
        means = None if scene is None else scene.means
        self.viewer.show_cameras(cams, images, means)
        self.viewer.frame(cams, means)

    def finish(self, metrics):
        """The final numbers (held-out PSNR once the evaluation has run)."""
        lines = [f"**trained** {metrics.get('steps')} steps, {metrics.get('gaussians')} Gaussians"]
        if "mean" in metrics:
            m = metrics["mean"]
            lines.append(f"held-out PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}")
        if metrics.get("interrupted"):
            lines.append("(interrupted)")
        self.viewer.worker.submit("status", self.viewer.set_status, "  \n".join(lines))
        self.viewer.worker.idle()

    def wait(self, log=print):
        """Keep the page up until Ctrl-C."""
        from .server import wait_for_ctrl_c

        log(f"viewer: still at {self.viewer.url} (Ctrl-C to close)")
        wait_for_ctrl_c()


@contextlib.contextmanager
def live_viewer(host: str = "127.0.0.1", port: int = 8080, every: int = 100, wait: bool = True,
                log=print):
    """Serve a live view of every Trainer.train inside the block; on a normal exit
    keep it open until Ctrl-C when `wait`."""
    from ..trainer import step_hook
    from .app import SceneViewer
    from .server import start_server

    server, url = start_server(host, port, log)
    viewer = SceneViewer(server, url)
    live = LiveViewer(viewer, every)
    try:
        with step_hook(live):
            yield live
        viewer.worker.idle()
        if wait:
            live.wait(log)
    finally:
        viewer.close()
