"""The viewer page: Gaussians rendered in the browser, camera frustums with their
pictures, points, a mesh, and controls (SH degree, background, a render of the
current view by splatcore's own rasterizer)."""
from __future__ import annotations

import threading
import time

import numpy as np

from . import splats as sp

__all__ = ["SceneViewer", "Latest"]

RENDER_LONG_SIDE = 640
RECOLOUR_INTERVAL = 0.25   # seconds between SH recolourings as the browser camera moves


class Latest:
    """A daemon thread that runs the most recently submitted job of each kind;
    older jobs not yet started are dropped (the viewer only needs the newest)."""

    def __init__(self, name="splatcore-viewer"):
        self._jobs = {}
        self._cv = threading.Condition()
        self._stop = False
        self.errors = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, kind, fn, *args):
        with self._cv:
            self._jobs.pop(kind, None)
            self._jobs[kind] = (fn, args)
            self._cv.notify()

    def idle(self, timeout=10.0) -> bool:
        """Wait until no job is queued or running (tests, shutdown)."""
        end = time.monotonic() + timeout
        with self._cv:
            while (self._jobs or self._busy) and time.monotonic() < end:
                self._cv.wait(0.05)
            return not (self._jobs or self._busy)

    _busy = False

    def _run(self):
        while True:
            with self._cv:
                while not self._jobs and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                kind = next(iter(self._jobs))
                fn, args = self._jobs.pop(kind)
                self._busy = True
            try:
                fn(*args)
            except Exception as e:  # keep serving; the error shows in the page and here
                self.errors.append(e)
                print(f"viewer: {kind} failed: {type(e).__name__}: {e}")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def stop(self):
        with self._cv:
            self._stop = True
            self._cv.notify_all()


def _devices():
    from .. import info

    facts = info()
    return [d for d, ok in facts["backends"].items() if ok and facts["devices"].get(d, 0) > 0] \
        or ["cpu"]


class SceneViewer:
    """Everything on one viser server. Scene updates may come from any thread."""

    def __init__(self, server, url):
        self.server, self.url = server, url
        self.worker = Latest()
        self._lock = threading.Lock()
        self.scene = None          # SplatData on show
        self._gaussians = None     # the same as a splatcore Gaussians (render view), lazily
        self._degree = None        # SH degree of the scene on show
        self._cov = (None, None)   # (scene, its covariances)
        self._sent_at = 0.0        # when the splats were last sent
        self.last_render = None    # (image uint8, view dict) of the last splatcore render
        self._build_gui()
        server.on_client_connect(self._on_connect)

    # ---- controls ------------------------------------------------------------------
    def _build_gui(self):
        gui = self.server.gui
        self.status = gui.add_markdown("**splatcore**")
        with gui.add_folder("Display"):
            self.sh = gui.add_slider("SH degree", min=0, max=3, step=1, initial_value=0)
            # black: what training composites on by default
            self.bg = gui.add_rgb("Background", initial_value=(0, 0, 0))
        with gui.add_folder("Render with splatcore"):
            self.device = gui.add_dropdown("Device", options=tuple(_devices()), initial_value="cpu")
            self.render_button = gui.add_button("Render this view")
            self.follow = gui.add_checkbox("Follow the camera", initial_value=False)
            self.render_image = gui.add_image(np.zeros((2, 2, 3), np.uint8), label="splatcore")
            self.render_note = gui.add_markdown("")
        self.sh.on_update(lambda _: self._recolour())
        self.bg.on_update(lambda _: self._background())
        self.render_button.on_click(lambda ev: self.request_render(ev.client))
        self._background()

    def _on_connect(self, client):
        client.camera.on_update(lambda cam: self._camera_moved(cam.client))

    def _camera_moved(self, client):
        if self.scene is not None and self.sh.value > 0:
            self._recolour(client)
        if self.follow.value:
            self.request_render(client)

    def _eye(self, client=None):
        if client is None:
            clients = list(self.server.get_clients().values())
            client = clients[0] if clients else None
        try:
            return None if client is None else np.asarray(client.camera.position, np.float64)
        except AssertionError:  # no camera message from that client yet
            return None

    def _background(self):
        rgb = np.asarray(self.bg.value, np.uint8)
        self.server.scene.set_background_image(np.broadcast_to(rgb, (4, 4, 3)).copy(), format="png")

    # ---- content -------------------------------------------------------------------
    def set_status(self, markdown: str):
        self.status.content = markdown

    def show_scene(self, splat):
        """Show (or replace) the Gaussians."""
        with self._lock:
            self.scene = splat
            self._gaussians = None
        if self._degree != splat.sh_degree:   # another kind of scene: show what it renders
            self._degree = splat.sh_degree
            self.sh.max = max(splat.sh_degree, 1)
            self.sh.value = splat.sh_degree
        self.sh.disabled = splat.sh_degree == 0
        self._send_splats(splat, self._eye())

    def _send_splats(self, splat, eye, throttle=0.0):
        wait = self._sent_at + throttle - time.monotonic()
        if wait > 0:   # camera-driven recolouring: a few times a second at most
            time.sleep(wait)
        if self._cov[0] is not splat:   # covariances once per scene
            self._cov = (splat, sp.covariances(splat.quats_wxyz, splat.scales_log))
        cov = self._cov[1]
        rgb = sp.splat_colors(splat, self.sh.value, eye)
        self._sent_at = time.monotonic()
        self.server.scene.add_gaussian_splats("/gaussians", centers=np.asarray(splat.means),
                                              covariances=cov, rgbs=rgb,
                                              opacities=sp.opacities(splat))

    def _recolour(self, client=None):
        splat = self.scene
        if splat is not None:
            self.worker.submit("colours", self._send_splats, splat, self._eye(client),
                               RECOLOUR_INTERVAL)

    def show_cameras(self, cameras, images=None, points=None, color=(220, 80, 20)):
        """Frustums sized by the spread of the cameras and of the scene's `points`."""
        images = images or {}
        centres = np.array([sp.pose_from_view(c["viewmat"])[1] for c in cameras])
        span = float(np.linalg.norm(centres.max(0) - centres.min(0))) if len(centres) > 1 else 0.0
        if points is not None and len(points):
            p = np.asarray(points, np.float64)
            span = max(span, 0.5 * float(np.linalg.norm(np.percentile(p, 95, 0)
                                                         - np.percentile(p, 5, 0))))
        scale = 0.025 * (span or 1.0)
        for i, c in enumerate(cameras):
            wxyz, pos = sp.pose_from_view(c["viewmat"])
            self.server.scene.add_camera_frustum(
                f"/cameras/{i:04d}", fov=sp.vertical_fov(c["K"], c["height"]),
                aspect=c["width"] / c["height"], scale=scale, color=color, wxyz=wxyz,
                position=pos, image=images.get(c.get("name", "")), format="jpeg",
                thickness=1.5, thickness_units="screen")

    def show_points(self, xyz, rgb, name="/points"):
        xyz = np.asarray(xyz, np.float32)
        size = 0.0015 * float(np.linalg.norm(np.percentile(xyz, 95, 0) - np.percentile(xyz, 5, 0)))
        self.server.scene.add_point_cloud(name, points=xyz, colors=np.asarray(rgb, np.uint8),
                                          point_size=max(size, 1e-6))

    def show_mesh(self, mesh, name="/mesh"):
        color = (180, 180, 180)
        if mesh.colors is not None and len(mesh.colors):
            color = tuple(int(v) for v in np.clip(np.asarray(mesh.colors)[:, :3].mean(0) * 255, 0, 255))
        self.server.scene.add_mesh_simple(name, vertices=np.asarray(mesh.vertices, np.float32),
                                          faces=np.asarray(mesh.faces, np.int32), color=color,
                                          side="double")

    def frame(self, cameras=None, points=None):
        """Initial camera and up direction: the first camera, or looking at the points."""
        ic = self.server.initial_camera
        pts = np.asarray(points, np.float64) if points is not None and len(points) else None
        centre = np.median(pts, 0) if pts is not None else np.zeros(3)
        if cameras:
            ups = [-np.linalg.inv(np.asarray(c["viewmat"], np.float64))[:3, 1] for c in cameras]
            up = np.mean(ups, 0)
            up = up / (np.linalg.norm(up) or 1.0)
            c2w = np.linalg.inv(np.asarray(cameras[0]["viewmat"], np.float64))
            if pts is None:
                centre = c2w[:3, 3] + c2w[:3, 2]
            back = c2w[:3, 3] - centre   # from behind and above the first camera
            ic.position = tuple(centre + 1.3 * back + 0.3 * np.linalg.norm(back) * up)
            ic.look_at = tuple(centre)
            ic.up = tuple(up)
            ic.fov = sp.vertical_fov(cameras[0]["K"], cameras[0]["height"])
            self.server.scene.set_up_direction(tuple(up))
        elif pts is not None:
            lo, hi = np.percentile(pts, 2, 0), np.percentile(pts, 98, 0)
            r = float(np.linalg.norm(hi - lo)) or 1.0
            ic.look_at = tuple(centre)
            ic.position = tuple(centre + np.array([0.0, -0.6, -1.0]) * r)
            ic.up = (0.0, -1.0, 0.0)
            self.server.scene.set_up_direction((0.0, -1.0, 0.0))

    # ---- splatcore's own render -------------------------------------------------------
    def request_render(self, client):
        if client is not None and self.scene is not None:
            self.worker.submit("render", self._render, client)

    def render_view(self, view):
        """splatcore's image (H,W,3 float) of the scene on show, at the control's SH
        degree and background, on the chosen device."""
        from ..gaussians import Gaussians

        with self._lock:
            splat, g = self.scene, self._gaussians
            if g is None:
                g = Gaussians(splat.means, splat.scales_log, splat.quats_wxyz, splat.opacity_logits,
                              splat.sh_dc[:, None, :], splat.sh_rest)
                self._gaussians = g
        if self.device.value != "cpu":
            for name in Gaussians.NAMES:
                setattr(g, name, getattr(g, name).to(self.device.value))
        bg = np.asarray(self.bg.value, np.float32) / 255.0
        img, _, _ = g.render(view, sh_degree=min(self.sh.value, splat.sh_degree), background=bg)
        return np.clip(img.numpy(), 0.0, 1.0)

    def _render(self, client):
        cam = client.camera
        w, h = int(cam.image_width or 640), int(cam.image_height or 480)
        s = RENDER_LONG_SIDE / max(w, h)
        w, h = max(8, int(round(w * s))), max(8, int(round(h * s)))
        view = sp.view_from_pose(cam.wxyz, cam.position, cam.fov, w, h)
        t0 = time.perf_counter()
        try:
            img = self.render_view(view)
        except Exception as e:
            self.render_note.content = f"render failed on {self.device.value}: {e}"
            raise
        dt = time.perf_counter() - t0
        u8 = (img * 255 + 0.5).astype(np.uint8)
        self.last_render = (u8, view)
        self.render_image.image = u8
        self.render_note.content = (f"{w}x{h}, SH degree {min(self.sh.value, self.scene.sh_degree)}, "
                                    f"{len(self.scene.means)} Gaussians, {dt * 1000:.0f} ms on "
                                    f"{self.device.value}")

    def close(self):
        self.worker.stop()
        self.server.stop()
