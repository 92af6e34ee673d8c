"""Web viewer (viser, the optional extra ``splatcore[viewer]``): `open_view` for
`splatcore view`, `live_viewer` for ``--viewer`` while training."""
import os

from .server import INSTALL_HINT, require_viser

__all__ = ["open_view", "live_viewer", "require_viser", "INSTALL_HINT"]


def open_view(path, mesh=None, host="127.0.0.1", port=8080, log=print):
    """Serve what `path` holds (see :func:`splatcore.viewer.content.load_content`);
    returns the :class:`~splatcore.viewer.app.SceneViewer` (its `.url`, `.close()`)."""
    from .app import SceneViewer
    from .content import load_content
    from .server import start_server

    require_viser()
    content = load_content(path, mesh)   # read everything before opening a port
    server, url = start_server(host, port, log)
    v = SceneViewer(server, url)
    pts = None
    if content.scene is not None:
        v.show_scene(content.scene)
        pts = content.scene.means
    if content.points is not None:
        v.show_points(*content.points)
        pts = content.points[0] if pts is None else pts
    if content.mesh is not None:
        v.show_mesh(content.mesh)
        pts = content.mesh.vertices if pts is None else pts
    if content.cameras:
        v.show_cameras(content.cameras, content.images, pts)
    v.frame(content.cameras, pts)
    n = "" if content.scene is None else f"{len(content.scene.means)} Gaussians, "
    name = os.path.basename(os.path.abspath(os.fspath(path)))
    v.set_status(f"**{name}**  \n{n}{len(content.cameras)} cameras"
                 + (", points" if content.points is not None else "")
                 + (", mesh" if content.mesh is not None else ""))
    return v


def live_viewer(*args, **kw):
    from .live import live_viewer as _lv

    return _lv(*args, **kw)
