"""The viewer without a browser: the arithmetic against independent references
(SciPy rotations, the SH degree-1 formula, the rasterizer through a dataset
camera), what a folder shows, and the server's safety rules (loopback, warning,
busy port, page served, clear message without viser)."""
import socket
import sys
import urllib.request

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from splatcore.datasets.synthetic import make_dataset
from splatcore.gaussians import Gaussians
from splatcore.io import write_point_ply, write_splat_ply
from splatcore.io.ply import SplatData
from splatcore.viewer import splats as sp
from splatcore.viewer.server import free_port

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199


def random_splats(rng, n, degree, spread=1.0):
    k = (degree + 1) ** 2
    return SplatData(
        means=(rng.standard_normal((n, 3)) * spread).astype(np.float32),
        scales_log=rng.uniform(-4, -2, (n, 3)).astype(np.float32),
        quats_wxyz=rng.standard_normal((n, 4)).astype(np.float32),
        opacity_logits=rng.uniform(-1, 3, n).astype(np.float32),
        sh_dc=rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        sh_rest=(0.3 * rng.standard_normal((n, k - 1, 3))).astype(np.float32),
    )


def test_covariances_match_scipy(rng):
    s = random_splats(rng, 50, 0)
    R = Rotation.from_quat(s.quats_wxyz[:, [1, 2, 3, 0]].astype(np.float64)).as_matrix()
    S2 = np.exp(2 * s.scales_log.astype(np.float64))
    ref = np.stack([R[i] @ np.diag(S2[i]) @ R[i].T for i in range(50)])
    np.testing.assert_allclose(sp.covariances(s.quats_wxyz, s.scales_log), ref, rtol=1e-5,
                               atol=1e-9)


def test_quaternion_helpers_match_scipy(rng):
    q = rng.standard_normal((20, 4))
    R = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
    np.testing.assert_allclose(sp.quat_to_rotmat(q), R, atol=1e-12)
    for Ri in R:
        back = sp.rotmat_to_quat(Ri)
        np.testing.assert_allclose(Rotation.from_quat(back[[1, 2, 3, 0]]).as_matrix(), Ri,
                                   atol=1e-10)
        assert back[0] >= 0


def test_degree_one_colours_match_the_formula(rng):
    s = random_splats(rng, 80, 1)
    eye = rng.standard_normal(3) * 4
    d = s.means.astype(np.float64) - eye
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x, y, z = d.T
    sh = s.sh_rest.astype(np.float64)
    ref = (SH_C0 * s.sh_dc + 0.5 - SH_C1 * y[:, None] * sh[:, 0] + SH_C1 * z[:, None] * sh[:, 1]
           - SH_C1 * x[:, None] * sh[:, 2])
    np.testing.assert_allclose(sp.splat_colors(s, 1, eye), np.clip(ref, 0, 1), atol=1e-5)
    np.testing.assert_allclose(sp.splat_colors(s, 0, eye), np.clip(SH_C0 * s.sh_dc + 0.5, 0, 1),
                               atol=1e-6)


class _FakeCamera:
    def __init__(self, wxyz, position, fov, w, h):
        self.wxyz, self.position, self.fov = wxyz, position, fov
        self.image_width, self.image_height = w, h


class _FakeClient:
    def __init__(self, camera):
        self.camera = camera


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(n_views=6, width=64, height=48, seed=3, n_points=500)


@pytest.fixture
def viewer():
    """A SceneViewer on a free loopback port, closed afterwards."""
    from splatcore.viewer.app import SceneViewer
    from splatcore.viewer.server import start_server

    server, url = start_server("127.0.0.1", free_port("127.0.0.1", 0), log=lambda *_: None)
    v = SceneViewer(server, url)
    yield v
    v.close()


def test_render_with_splatcore_uses_the_viewer_camera(viewer, dataset, rng):
    """The button's render from a browser camera placed at a dataset camera equals
    the rasterizer's image through that camera (centred principal point)."""
    xyz, rgb = dataset.points
    g = Gaussians.from_points(xyz, rgb, sh_degree=1)
    a = g.numpy()
    a["shN"] = (0.2 * rng.standard_normal(a["shN"].shape)).astype(np.float32)
    s = SplatData(a["means"], a["scales"], a["quats"], a["opacities"], a["sh0"][:, 0], a["shN"])
    viewer.show_scene(s)
    assert viewer.sh.value == 1
    view = dict(dataset.train[0])
    w, h = 320, 240   # the browser's canvas: rendered at 640 on the long side
    fy = view["K"][1, 1] * 640 / view["width"]
    K = np.array([[fy, 0, 320], [0, fy, 240], [0, 0, 1]], np.float32)
    ref_view = dict(viewmat=view["viewmat"], K=K, width=640, height=480)
    g2 = Gaussians(s.means, s.scales_log, s.quats_wxyz, s.opacity_logits, s.sh_dc[:, None], s.sh_rest)
    ref, _, _ = g2.render(ref_view, sh_degree=1, background=np.zeros(3, np.float32))
    wxyz, pos = sp.pose_from_view(view["viewmat"])
    fov = 2 * np.arctan(240 / fy)
    viewer.request_render(_FakeClient(_FakeCamera(wxyz, pos, fov, w, h)))
    assert viewer.worker.idle()
    assert not viewer.worker.errors
    img, used = viewer.last_render
    assert img.shape == (480, 640, 3)
    np.testing.assert_allclose(used["viewmat"], view["viewmat"], atol=1e-5)
    ref8 = (np.clip(ref.numpy(), 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.abs(img.astype(int) - ref8).max() <= 2
    assert ref8.max() > 30   # the scene is in the picture


def test_folder_content(tmp_path, rng, dataset):
    from splatcore.trainer import cameras_json, write_json
    from splatcore.viewer.content import load_content

    s = random_splats(rng, 40, 2)
    write_splat_ply(tmp_path / "scene.ply", *s)
    write_json(tmp_path / "cameras.json", {"train": cameras_json(dataset.train),
                                           "test": cameras_json(dataset.test)})
    pts = rng.standard_normal((30, 3))
    write_point_ply(tmp_path / "points.ply", pts, rng.integers(0, 256, (30, 3)).astype(np.uint8))
    (tmp_path / "images").mkdir()
    from splatcore.io.images import save_png

    first = dataset.train[0]
    save_png(str(tmp_path / "images" / first["name"]), np.asarray(first["image"]))
    c = load_content(tmp_path)
    assert len(c.scene.means) == 40 and c.scene.sh_degree == 2
    assert len(c.cameras) == len(dataset.train) + len(dataset.test)
    assert list(c.images) == [first["name"]] and c.images[first["name"]].dtype == np.uint8
    np.testing.assert_allclose(c.points[0], pts, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_content(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="nothing to show"):
        load_content(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="cannot show"):
        load_content(tmp_path / "x.txt")


def test_server_is_loopback_and_serves_the_page(viewer):
    host, port = viewer.url.rsplit(":", 1)[0][7:], int(viewer.url.rsplit(":", 1)[1])
    assert host == "127.0.0.1"
    page = urllib.request.urlopen(viewer.url, timeout=10).read().decode("utf-8", "replace")
    assert "<html" in page.lower()
    # not reachable through another address of this machine
    others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for addr in others - {"127.0.0.1"}:
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex((addr, port)) != 0, f"viewer reachable on {addr}"


def test_busy_port_falls_back_and_other_hosts_warn(capsys):
    from splatcore.viewer.server import start_server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        lines = []
        server, url = start_server("127.0.0.1", taken, log=lines.append)
        try:
            assert f"port {taken} is busy" in lines[0]
            assert url == f"http://127.0.0.1:{server.get_port()}" and server.get_port() != taken
            assert url in lines[-1]
        finally:
            server.stop()
    server, url = start_server("0.0.0.0", free_port("127.0.0.1", 0), log=lambda *_: None)
    server.stop()
    assert "warning: the viewer listens on 0.0.0.0" in capsys.readouterr().err


def test_view_command_without_viser(monkeypatch, tmp_path, rng):
    from splatcore.cli import main

    write_splat_ply(tmp_path / "scene.ply", *random_splats(rng, 5, 0))
    monkeypatch.setitem(sys.modules, "viser", None)   # import viser -> ImportError
    with pytest.raises(SystemExit) as e:
        main(["view", str(tmp_path / "scene.ply")])
    assert "pip install 'splatcore[viewer]'" in str(e.value)
    with pytest.raises(SystemExit, match=r"splatcore\[viewer\]"):
        main(["demo", "--viewer", "-o", str(tmp_path / "d"), "--iters", "2"])


def test_browser_colours_follow_the_eye(viewer, rng, monkeypatch):
    """With SH degree > 0, a camera move resends the colours seen from the new eye."""
    sent = []
    real = viewer.server.scene.add_gaussian_splats

    def capture(name, **kw):
        sent.append(kw)
        return real(name, **kw)

    monkeypatch.setattr(viewer.server.scene, "add_gaussian_splats", capture)
    s = random_splats(rng, 60, 2)
    viewer.show_scene(s)
    assert viewer.worker.idle()
    assert viewer.sh.value == 2 and sent
    eye = np.array([0.5, -2.0, 3.0])
    viewer._camera_moved(_FakeClient(_FakeCamera((1, 0, 0, 0), eye, 1.0, 64, 48)))
    assert viewer.worker.idle()
    np.testing.assert_allclose(sent[-1]["rgbs"], sp.splat_colors(s, 2, eye), atol=1e-6)
    assert not np.allclose(sent[-1]["rgbs"], sp.splat_colors(s, 0)), "view-dependent colours"
    np.testing.assert_allclose(sent[-1]["covariances"], sp.covariances(s.quats_wxyz, s.scales_log))


def test_mesh_and_point_files(tmp_path, rng):
    from splatcore.mesh.io import write_mesh
    from splatcore.mesh.mc import Mesh
    from splatcore.viewer.content import load_content

    v = rng.standard_normal((12, 3)).astype(np.float32)
    f = rng.integers(0, 12, (10, 3)).astype(np.int32)
    for name in ("m.ply", "m.stl", "m.obj"):
        write_mesh(tmp_path / name, Mesh(v, f))
        c = load_content(tmp_path / name)
        assert c.scene is None and c.mesh.num_faces == 10, name
    write_point_ply(tmp_path / "p.ply", v)            # a PLY without faces: points
    c = load_content(tmp_path / "p.ply")
    assert c.mesh is None and c.points[0].shape == (12, 3)
    write_splat_ply(tmp_path / "s.ply", *random_splats(rng, 7, 1))
    c = load_content(tmp_path / "s.ply", mesh=tmp_path / "m.stl")   # a scene with a mesh
    assert len(c.scene.means) == 7 and c.mesh.num_faces == 10
