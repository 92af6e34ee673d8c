"""COLMAP model reading/writing: real datasets, round trips, hostile files, camera models."""
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from splatcore import io as sio

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared datasets absent")

# README facts: images, points (approx.), mean reprojection error (px), image size (approx.)
DATASETS = {
    "llff_fern": dict(images=20, points=3100, error=0.70, size=(700, 525)),
    "kitchen": dict(images=24, points=1900, error=0.31, size=(775, 515)),
}


def _reprojection_errors(model):
    pid_sorted = np.argsort(model.points.ids)
    ids_sorted = model.points.ids[pid_sorted]
    errs, depths = [], []
    for im in model.images.values():
        cam = model.cameras[im.camera_id]
        sel = im.point3D_ids >= 0
        pos = np.searchsorted(ids_sorted, im.point3D_ids[sel])
        assert np.all(ids_sorted[pos] == im.point3D_ids[sel]), "keypoint refers to unknown point"
        X = model.points.xyz[pid_sorted[pos]]
        xc = X @ im.R.T + im.tvec
        uv = np.stack([cam.fx * xc[:, 0] / xc[:, 2] + cam.cx,
                       cam.fy * xc[:, 1] / xc[:, 2] + cam.cy], axis=1)
        errs.append(np.linalg.norm(uv - im.xys[sel], axis=1))
        depths.append(xc[:, 2])
    return np.concatenate(errs), np.concatenate(depths)


def _assert_models_equal(a, b):
    assert sorted(a.cameras) == sorted(b.cameras)
    for k in a.cameras:
        assert a.cameras[k] == b.cameras[k]
    assert sorted(a.images) == sorted(b.images)
    for k, ia in a.images.items():
        ib = b.images[k]
        assert (ia.id, ia.name, ia.camera_id) == (ib.id, ib.name, ib.camera_id)
        for f in ("qvec", "tvec", "xys", "point3D_ids", "R", "viewmat"):
            np.testing.assert_array_equal(getattr(ia, f), getattr(ib, f), err_msg=f)
    for f in ("xyz", "rgb", "error", "ids", "track_lengths", "tracks"):
        np.testing.assert_array_equal(getattr(a.points, f), getattr(b.points, f), err_msg=f)


# ----------------------------------------------------------------------------- real data

@needs_data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_real_dataset_counts_and_reprojection(name):
    facts = DATASETS[name]
    model = sio.read_model(DATA / name)
    assert model.path == DATA / name / "sparse" / "0"
    assert len(model.images) == facts["images"]
    assert abs(len(model.points) - facts["points"]) < 0.1 * facts["points"]
    assert len(model.cameras) == 1
    cam = next(iter(model.cameras.values()))
    assert cam.model == "PINHOLE"
    assert abs(cam.width - facts["size"][0]) < 30 and abs(cam.height - facts["size"][1]) < 30
    for im in model.images.values():
        np.testing.assert_allclose(im.R @ im.R.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(im.viewmat[:3, :3], im.R)
        np.testing.assert_allclose(im.viewmat[:3, 3], im.tvec)
        np.testing.assert_allclose(im.R @ im.camera_center + im.tvec, 0, atol=1e-9)
        assert (DATA / name / "images" / im.name).is_file()
    # End-to-end check of the conventions: x_cam = R x + t, pinhole, COLMAP pixel coords.
    err, depth = _reprojection_errors(model)
    assert np.all(depth > 0), "triangulated points must lie in front of the cameras observing them"
    assert abs(err.mean() - facts["error"]) < 0.15, err.mean()
    assert abs(err.mean() - model.points.error.mean()) < 0.1
    # Tracks agree with the keypoints' point ids.
    starts = np.concatenate([[0], np.cumsum(model.points.track_lengths)[:-1]])
    for j in range(0, len(model.points), 97):
        pid = model.points.ids[j]
        for img_id, kp in model.points.tracks[starts[j]:starts[j] + model.points.track_lengths[j]]:
            assert model.images[int(img_id)].point3D_ids[kp] == pid


@needs_data
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_real_dataset_bin_txt_round_trip(name, tmp_path):
    src = DATA / name / "sparse" / "0"
    model = sio.read_model(src)
    sio.write_model(tmp_path / "txt", model, ext=".txt")
    txt = sio.read_model(tmp_path / "txt")
    _assert_models_equal(model, txt)
    sio.write_model(tmp_path / "bin", txt, ext=".bin")
    for n in ("cameras", "images", "points3D"):  # byte-identical to COLMAP's own files
        assert (tmp_path / "bin" / f"{n}.bin").read_bytes() == (src / f"{n}.bin").read_bytes(), n


@needs_data
def test_real_truncated_files_raise(tmp_path, rng):
    src = DATA / "kitchen" / "sparse" / "0"
    for n, reader in (("cameras", sio.read_cameras), ("images", sio.read_images),
                      ("points3D", sio.read_points3D)):
        data = (src / f"{n}.bin").read_bytes()
        cuts = {0, 1, 7, 9, len(data) - 1} | set(rng.integers(0, len(data), 6).tolist())
        for cut in sorted(cuts):
            p = tmp_path / f"{n}.bin"
            p.write_bytes(data[:cut])
            with pytest.raises(ValueError, match=f"{n}.bin"):
                reader(p)


@needs_data
def test_real_dataset_views(tmp_path):
    pytest.importorskip("PIL")
    test = sio.ColmapDataset(DATA / "kitchen", split="test")
    train = sio.ColmapDataset(DATA / "kitchen", split="train")
    assert len(test) == 3 and len(train) == 21
    names = sorted(im.name for im in test.model.images.values())
    assert test.names == names[0::8]
    assert set(train.names) == set(names) - set(test.names)
    item = test[0]
    assert item.image.shape == (item.height, item.width, 3) == (518, 777, 3)
    assert item.image.dtype == np.float32 and item.K.dtype == np.float32
    assert item.viewmat.dtype == np.float32 and item.viewmat.shape == (4, 4)
    assert 0.0 <= item.image.min() and item.image.max() <= 1.0
    assert len(train.points) == len(test.points) > 1000
    centers = train.camera_centers()
    ext = np.linalg.norm(centers - centers.mean(0), axis=1).max() * 1.1
    assert train.scene_extent() == pytest.approx(ext) and ext > 0
    small = sio.ColmapDataset(DATA / "llff_fern", downscale=4, split="all")
    it = small[3]
    w, h = sio.downscaled_size(696, 521, 4)
    assert (it.width, it.height) == (w, h) and it.image.shape == (h, w, 3)
    cam = next(iter(small.model.cameras.values()))
    np.testing.assert_allclose(it.K[0, 0], cam.fx * w / 696, rtol=1e-6)
    np.testing.assert_allclose(it.K[1, 1], cam.fy * h / 521, rtol=1e-6)
    np.testing.assert_allclose(it.K[:2, 2], [cam.cx * w / 696, cam.cy * h / 521], rtol=1e-6)


# ----------------------------------------------------------------------------- synthetic

def _synthetic_model(rng, n_images=5, n_points=40):
    cams = {
        1: sio.Camera(1, "PINHOLE", 640, 480, 500.0, 510.5, 320.25, 239.75),
        2: sio.Camera(2, "SIMPLE_PINHOLE", 320, 200, 300.0, 300.0, 160.0, 100.0),
        3: sio.Camera(3, "SIMPLE_RADIAL", 100, 80, 90.0, 90.0, 50.0, 40.0),
        5: sio.Camera(5, "RADIAL", 100, 80, 91.0, 91.0, 50.0, 40.0),
        7: sio.Camera(7, "OPENCV", 100, 80, 92.0, 93.0, 51.0, 41.0),
    }
    cam_ids = sorted(cams)
    images = {}
    for i in range(n_images):
        q = rng.standard_normal(4)
        q /= np.linalg.norm(q)
        m = int(rng.integers(0, 12)) if i else 0  # first image: no keypoints
        ids = rng.integers(-1, n_points, m)
        images[10 + 3 * i] = sio.Image(10 + 3 * i, f"img {i:02d}.png" if i == 2 else f"img{i:02d}.jpg",
                                       cam_ids[i % len(cam_ids)], q, rng.standard_normal(3),
                                       rng.uniform(0, 600, (m, 2)), ids)
    tl = rng.integers(0, 5, n_points)
    tracks = np.stack([rng.integers(1, 30, tl.sum()), rng.integers(0, 1000, tl.sum())], 1)
    pts = sio.Points(rng.standard_normal((n_points, 3)), rng.integers(0, 256, (n_points, 3)),
                     rng.uniform(0, 2, n_points), np.arange(n_points) * 7 + 1, tl, tracks)
    return sio.ColmapModel(cams, images, pts)


def test_synthetic_round_trip_all_formats(tmp_path, rng):
    model = _synthetic_model(rng)
    sio.write_model(tmp_path / "a", model, ".bin")
    sio.write_model(tmp_path / "b", model, ".txt")
    a = sio.read_model(tmp_path / "a")
    b = sio.read_model(tmp_path / "b")
    _assert_models_equal(model, a)
    _assert_models_equal(a, b)
    assert b.images[16].name == "img 02.png"  # a name with a space survives the text format
    # Zero-distortion models keep their names and come back as pinhole intrinsics.
    assert a.cameras[3].model == "SIMPLE_RADIAL" and a.cameras[7].model == "OPENCV"
    # A model folder, a sparse/ folder and a dataset folder with sparse/0 are all found.
    (tmp_path / "ds" / "sparse").mkdir(parents=True)
    sio.write_model(tmp_path / "ds" / "sparse" / "0", model, ".txt")
    assert sio.find_sparse_dir(tmp_path / "ds") == tmp_path / "ds" / "sparse" / "0"
    _assert_models_equal(model, sio.read_model(tmp_path / "ds"))


def test_empty_model_round_trip(tmp_path):
    model = sio.ColmapModel({}, {}, sio.Points(np.zeros((0, 3)), np.zeros((0, 3), np.uint8),
                                               np.zeros(0)))
    for ext in (".bin", ".txt"):
        sio.write_model(tmp_path / ext[1:], model, ext)
        back = sio.read_model(tmp_path / ext[1:])
        assert back.cameras == {} and back.images == {} and len(back.points) == 0


def test_quaternion_convention(rng):
    # 90 degrees about z: (w, x, y, z) = (cos 45, 0, 0, sin 45) maps x to y.
    R = sio.qvec_to_rotmat([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    for _ in range(50):
        q = rng.standard_normal(4)
        q *= np.sign(q[0]) / np.linalg.norm(q)
        np.testing.assert_allclose(sio.rotmat_to_qvec(sio.qvec_to_rotmat(q)), q, atol=1e-12)
    with pytest.raises(ValueError, match="quaternion"):
        sio.qvec_to_rotmat([0, 0, 0, 0])


def test_camera_scaled():
    cam = sio.Camera(1, "SIMPLE_PINHOLE", 100, 50, 80.0, 80.0, 50.0, 25.0)
    s = cam.scaled(50, 25)
    assert (s.width, s.height, s.fx, s.fy, s.cx, s.cy) == (50, 25, 40.0, 40.0, 25.0, 12.5)
    assert s.model == "SIMPLE_PINHOLE"
    t = cam.scaled(33, 17)
    assert t.model == "PINHOLE" and t.fx == pytest.approx(80 * 0.33) and t.fy == pytest.approx(80 * 0.34)
    np.testing.assert_allclose(t.K, [[t.fx, 0, t.cx], [0, t.fy, t.cy], [0, 0, 1]])


# ----------------------------------------------------------------------------- camera models

def _cameras_bin(model_id, params, w=640, h=480):
    return (struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, model_id, w, h)
            + struct.pack(f"<{len(params)}d", *params))


@pytest.mark.parametrize("line,model", [
    ("1 SIMPLE_RADIAL 640 480 500 320 240 0.1", "SIMPLE_RADIAL"),
    ("1 RADIAL 640 480 500 320 240 0 -0.02", "RADIAL"),
    ("1 OPENCV 640 480 500 500 320 240 0 0 0.001 0", "OPENCV"),
    ("1 OPENCV_FISHEYE 640 480 500 500 320 240 0 0 0 0", "OPENCV_FISHEYE"),
    ("1 FULL_OPENCV 640 480 500 500 320 240 0 0 0 0 0 0 0 0", "FULL_OPENCV"),
    ("1 FOV 640 480 500 500 320 240 0.5", "FOV"),
])
def test_distorted_or_unsupported_models_rejected(tmp_path, line, model):
    p = tmp_path / "cameras.txt"
    p.write_text("# header\n" + line + "\n")
    with pytest.raises(ValueError, match=model) as e:
        sio.read_cameras(p)
    assert "image_undistorter" in str(e.value) and "cameras.txt" in str(e.value)


def test_distorted_model_rejected_binary(tmp_path):
    p = tmp_path / "cameras.bin"
    p.write_bytes(_cameras_bin(2, [500, 320, 240, -0.05]))
    with pytest.raises(ValueError, match=r"SIMPLE_RADIAL.*non-zero distortion.*undistort"):
        sio.read_cameras(p)
    p.write_bytes(_cameras_bin(5, [500, 500, 320, 240, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="OPENCV_FISHEYE"):
        sio.read_cameras(p)
    p.write_bytes(_cameras_bin(99, [1, 2, 3]))
    with pytest.raises(ValueError, match="unknown COLMAP camera model id 99"):
        sio.read_cameras(p)
    # Zero distortion: accepted and converted.
    p.write_bytes(_cameras_bin(4, [500, 501, 320, 240, 0, 0, 0, 0]))
    cam = sio.read_cameras(p)[1]
    assert (cam.model, cam.fx, cam.fy, cam.cx, cam.cy) == ("OPENCV", 500, 501, 320, 240)


# ----------------------------------------------------------------------------- hostile files

def test_truncated_synthetic_binaries_raise(tmp_path, rng):
    model = _synthetic_model(rng, n_images=6, n_points=60)
    sio.write_model(tmp_path, model, ".bin")
    for n, reader in (("cameras", sio.read_cameras), ("images", sio.read_images),
                      ("points3D", sio.read_points3D)):
        data = (tmp_path / f"{n}.bin").read_bytes()
        bad = tmp_path / f"cut_{n}.bin"
        for cut in list(range(0, 12)) + rng.integers(12, len(data), 30).tolist():
            bad.write_bytes(data[:cut])
            t = time.perf_counter()
            with pytest.raises(ValueError, match="truncated|corrupt"):
                reader(bad)
            assert time.perf_counter() - t < 1.0
        bad.write_bytes(data + b"\0\0\0")
        with pytest.raises(ValueError, match="unexpected bytes"):
            reader(bad)


def test_garbage_headers_raise_without_allocating(tmp_path, rng):
    huge = struct.pack("<Q", 2 ** 63 + 12345)
    cases = {
        "cameras.bin": huge + b"\0" * 40,
        "images.bin": huge + b"\0" * 100,
        "points3D.bin": huge + b"\0" * 100,
    }
    # One plausible point whose track length is absurd.
    cases["points3D_track.bin"] = (struct.pack("<Q", 1) + struct.pack("<Q3d3BdQ", 1, 0, 0, 0, 1, 2, 3,
                                                                       0.5, 2 ** 62))
    # One image whose keypoint count is absurd.
    cases["images_kp.bin"] = (struct.pack("<Q", 1) + struct.pack("<i4d3di", 1, 1, 0, 0, 0, 0, 0, 0, 1)
                              + b"a.png\0" + struct.pack("<Q", 2 ** 60))
    # An image name that never ends.
    cases["images_name.bin"] = (struct.pack("<Q", 1) + struct.pack("<i4d3di", 1, 1, 0, 0, 0, 0, 0, 0, 1)
                                + b"x" * 200)
    cases["cameras_random.bin"] = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    readers = {"cameras": sio.read_cameras, "images": sio.read_images, "points3D": sio.read_points3D}
    for fname, data in cases.items():
        p = tmp_path / fname
        p.write_bytes(data)
        reader = readers[fname.split("_")[0].split(".")[0]]
        t = time.perf_counter()
        with pytest.raises(ValueError):
            reader(p)
        assert time.perf_counter() - t < 1.0, fname


def test_bad_text_lines_name_file_and_line(tmp_path):
    p = tmp_path / "cameras.txt"
    p.write_text("# c\n1 PINHOLE 640 480 500 500 320\n")
    with pytest.raises(ValueError, match=r"cameras.txt:2: camera 1: model PINHOLE takes 4"):
        sio.read_cameras(p)
    p.write_text("1 PINHOLE 640 abc 500 500 320 240\n")
    with pytest.raises(ValueError, match=r"cameras.txt:1: expected CAMERA_ID"):
        sio.read_cameras(p)
    p = tmp_path / "images.txt"
    p.write_text("1 1 0 0 0 0 0 0 1 a.png\n1.0 2.0\n")
    with pytest.raises(ValueError, match=r"images.txt:2: expected the keypoints"):
        sio.read_images(p)
    p.write_text("1 1 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(ValueError, match=r"images.txt:1"):
        sio.read_images(p)
    p.write_text("1 0 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(ValueError, match=r"quaternion"):
        sio.read_images(p)
    p = tmp_path / "points3D.txt"
    p.write_text("1 0 0 0 255 0 300 0.5\n")
    with pytest.raises(ValueError, match=r"points3D.txt:1: expected R G B in 0..255"):
        sio.read_points3D(p)
    p.write_text("1 0 0 0 255 0 3 0.5 4\n")
    with pytest.raises(ValueError, match=r"points3D.txt:1"):
        sio.read_points3D(p)
    p = tmp_path / "cameras.dat"
    p.write_text("")
    with pytest.raises(ValueError, match=r"expected a .bin or .txt file"):
        sio.read_cameras(p)


def test_missing_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="no COLMAP sparse model"):
        sio.read_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sio.read_model(tmp_path / "nope")
    (tmp_path / "cameras.bin").write_bytes(struct.pack("<Q", 0))
    with pytest.raises(FileNotFoundError, match="incomplete COLMAP model"):
        sio.read_model(tmp_path)
    (tmp_path / "points3D.bin").write_bytes(struct.pack("<Q", 0))
    (tmp_path / "images.bin").write_bytes(
        struct.pack("<Q", 1) + struct.pack("<i4d3di", 1, 1, 0, 0, 0, 0, 0, 0, 4) + b"a.png\0"
        + struct.pack("<Q", 0))
    with pytest.raises(ValueError, match="refers to camera 4"):
        sio.read_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        sio.read_cameras(tmp_path / "x" / "cameras.bin")


def test_writers_are_atomic(tmp_path, rng):
    model = _synthetic_model(rng)
    target = tmp_path / "images.bin"
    bad_image = model.images[13]
    bad_image.point3D_ids = "not numbers"  # fails midway, after earlier images were written
    with pytest.raises((ValueError, TypeError)):
        sio.write_images(target, model.images)
    assert os.listdir(tmp_path) == []
