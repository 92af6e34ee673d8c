"""COLMAP sparse models: ``cameras``, ``images``, ``points3D`` in ``.bin`` and ``.txt``.

Conventions (COLMAP / OpenCV): world-to-camera ``x_cam = R @ x_world + t``, camera
looking down +z, x right, y down; quaternions stored ``qw qx qy qz``; pixel
coordinates with the top-left pixel's centre at ``(0.5, 0.5)``.

Only pinhole cameras are accepted: PINHOLE, SIMPLE_PINHOLE, and SIMPLE_RADIAL /
RADIAL / OPENCV whose distortion parameters are all zero (|k| <= 1e-12), which are
converted to pinhole. Any other model, or non-zero distortion, raises ValueError
telling the user to undistort the images first (``colmap image_undistorter``).

Binary files are read with bounds checks: every count read from a file is checked
against the bytes left before anything is allocated from it, so truncated or
hostile files raise ValueError instead of hanging or exhausting memory.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple, Union

import numpy as np

from .atomic import atomic_write

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "Camera", "Image", "Points", "ColmapModel", "CAMERA_MODELS",
    "find_sparse_dir", "read_model", "write_model",
    "read_cameras", "read_images", "read_points3D",
    "write_cameras", "write_images", "write_points3D",
    "qvec_to_rotmat", "rotmat_to_qvec",
]

# model id -> (name, number of parameters). Ids 12/13 are the division models of
# recent COLMAP releases; like every model other than the pinhole family they are
# rejected, so their entries only serve the error message.
CAMERA_MODELS: Dict[int, Tuple[str, int]] = {
    0: ("SIMPLE_PINHOLE", 3),
    1: ("PINHOLE", 4),
    2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5),
    4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12),
    7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5),
    10: ("THIN_PRISM_FISHEYE", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
    12: ("SIMPLE_DIVISION", 4),
    13: ("DIVISION", 5),
}
_MODEL_IDS = {name: mid for mid, (name, _) in CAMERA_MODELS.items()}
# model -> (index of first distortion parameter, names of the distortion parameters)
_PINHOLE_LIKE = {
    "SIMPLE_PINHOLE": (3, ()),
    "PINHOLE": (4, ()),
    "SIMPLE_RADIAL": (3, ("k",)),
    "RADIAL": (3, ("k1", "k2")),
    "OPENCV": (4, ("k1", "k2", "p1", "p2")),
}
_DISTORTION_TOL = 1e-12
_UNDISTORT_HINT = ("splatcore needs undistorted pinhole images: undistort them first, e.g. "
                   "`colmap image_undistorter --image_path IMAGES --input_path SPARSE "
                   "--output_path OUT` and use OUT (its images/ and sparse/)")
_MAX_DIM = 1 << 20  # largest plausible image side in pixels


# --------------------------------------------------------------------------- types

@dataclass(frozen=True)
class Camera:
    """A pinhole camera: focal lengths and principal point in pixels.

    ``model`` is the COLMAP model name as read (a zero-distortion SIMPLE_RADIAL
    stays named SIMPLE_RADIAL, its intrinsics are pinhole).
    """
    id: int
    model: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> "Camera":
        """The same camera for an image resized to ``width`` x ``height``: fx, cx are
        multiplied by ``width / self.width`` and fy, cy by ``height / self.height``
        (exact for COLMAP's pixel-corner origin)."""
        width, height = int(width), int(height)
        if width <= 0 or height <= 0:
            raise ValueError(f"Camera.scaled: size must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        model = self.model
        if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL") and sx != sy:
            model = "PINHOLE"
        return Camera(self.id, model, width, height, self.fx * sx, self.fy * sy,
                      self.cx * sx, self.cy * sy)

    def colmap_params(self) -> Tuple[str, Tuple[float, ...]]:
        """(model name, parameter tuple) to write back in COLMAP form; models with a
        single focal length fall back to PINHOLE when fx != fy."""
        single = self.fx == self.fy
        m = self.model
        if m == "SIMPLE_PINHOLE" and single:
            return m, (self.fx, self.cx, self.cy)
        if m == "SIMPLE_RADIAL" and single:
            return m, (self.fx, self.cx, self.cy, 0.0)
        if m == "RADIAL" and single:
            return m, (self.fx, self.cx, self.cy, 0.0, 0.0)
        if m == "OPENCV":
            return m, (self.fx, self.fy, self.cx, self.cy, 0.0, 0.0, 0.0, 0.0)
        return "PINHOLE", (self.fx, self.fy, self.cx, self.cy)


def qvec_to_rotmat(qvec) -> np.ndarray:
    """Rotation matrix (3x3 float64) of a quaternion ``(w, x, y, z)`` (normalised here)."""
    q = np.asarray(qvec, dtype=np.float64).reshape(4)
    with np.errstate(over="ignore", invalid="ignore"):
        n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"quaternion must be finite and non-zero, got {q.tolist()}")
    w, x, y, z = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def rotmat_to_qvec(R) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` with ``w >= 0`` of a 3x3 rotation matrix."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise ValueError(f"rotmat_to_qvec: expected a 3x3 matrix, got shape {R.shape}")
    # Largest-eigenvector of the symmetric 4x4 matrix (robust for every rotation).
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = R
    k = np.array([
        [r00 - r11 - r22, 0, 0, 0],
        [r01 + r10, r11 - r00 - r22, 0, 0],
        [r02 + r20, r12 + r21, r22 - r00 - r11, 0],
        [r21 - r12, r02 - r20, r10 - r01, r00 + r11 + r22],
    ]) / 3.0
    vals, vecs = np.linalg.eigh(k, UPLO="L")
    x, y, z, w = vecs[:, int(np.argmax(vals))]
    q = np.array([w, x, y, z])
    return -q if q[0] < 0 else q


@dataclass(eq=False)
class Image:
    """A registered image: pose (world-to-camera) and its 2D keypoints.

    ``R`` (3x3) and ``viewmat`` (4x4, ``[[R, t], [0, 1]]``) are computed from
    ``qvec`` / ``tvec``. ``xys`` (M,2) float64 and ``point3D_ids`` (M,) int64
    (-1 = not triangulated) are the keypoints; empty when not given.
    """
    id: int
    name: str
    camera_id: int
    qvec: np.ndarray
    tvec: np.ndarray
    xys: Optional[np.ndarray] = None
    point3D_ids: Optional[np.ndarray] = None
    R: np.ndarray = field(init=False, repr=False)
    viewmat: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.qvec = np.asarray(self.qvec, dtype=np.float64).reshape(4)
        self.tvec = np.asarray(self.tvec, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(self.qvec)) and np.all(np.isfinite(self.tvec))):
            raise ValueError(f"image {self.id} ({self.name!r}): pose must be finite, got "
                             f"qvec={self.qvec.tolist()} tvec={self.tvec.tolist()}")
        self.R = qvec_to_rotmat(self.qvec)
        vm = np.eye(4)
        vm[:3, :3] = self.R
        vm[:3, 3] = self.tvec
        self.viewmat = vm
        if self.xys is None:
            self.xys = np.zeros((0, 2), np.float64)
        if self.point3D_ids is None:
            self.point3D_ids = np.full(len(self.xys), -1, np.int64)
        self.xys = np.asarray(self.xys, dtype=np.float64).reshape(-1, 2)
        self.point3D_ids = np.asarray(self.point3D_ids, dtype=np.int64).reshape(-1)
        if len(self.xys) != len(self.point3D_ids):
            raise ValueError(f"image {self.id}: {len(self.xys)} keypoints but "
                             f"{len(self.point3D_ids)} point3D ids")

    @property
    def camera_center(self) -> np.ndarray:
        """Camera centre in world coordinates, ``-R^T t``."""
        return -self.R.T @ self.tvec


@dataclass(eq=False)
class Points:
    """The sparse point cloud: ``xyz`` (P,3) float64, ``rgb`` (P,3) uint8, ``error``
    (P,) float64 (mean reprojection error in px), ``ids`` (P,) int64, and the tracks
    in CSR form: ``track_lengths`` (P,) int64 and ``tracks`` (sum of lengths, 2)
    int32 rows ``(image_id, point2D_idx)``."""
    xyz: np.ndarray
    rgb: np.ndarray
    error: np.ndarray
    ids: Optional[np.ndarray] = None
    track_lengths: Optional[np.ndarray] = None
    tracks: Optional[np.ndarray] = None

    def __post_init__(self):
        self.xyz = np.asarray(self.xyz, dtype=np.float64).reshape(-1, 3)
        p = len(self.xyz)
        rgb = np.asarray(self.rgb)
        if rgb.dtype != np.uint8:
            if not np.issubdtype(rgb.dtype, np.integer) or rgb.size and (rgb.min() < 0 or rgb.max() > 255):
                raise ValueError(f"Points.rgb: expected uint8 values 0..255, got dtype {rgb.dtype}")
        self.rgb = rgb.astype(np.uint8).reshape(-1, 3)
        self.error = np.asarray(self.error, dtype=np.float64).reshape(-1)
        self.ids = (np.arange(1, p + 1, dtype=np.int64) if self.ids is None
                    else np.asarray(self.ids, dtype=np.int64).reshape(-1))
        if self.track_lengths is None:
            self.track_lengths = np.zeros(p, np.int64)
        self.track_lengths = np.asarray(self.track_lengths, dtype=np.int64).reshape(-1)
        if self.tracks is None:
            self.tracks = np.zeros((0, 2), np.int32)
        tracks = np.asarray(self.tracks).reshape(-1, 2)
        _check_tracks(tracks, "Points.tracks")
        self.tracks = tracks.astype(np.int32)
        for nm in ("rgb", "error", "ids", "track_lengths"):
            if len(getattr(self, nm)) != p:
                raise ValueError(f"Points.{nm}: expected {p} rows (as xyz), got {len(getattr(self, nm))}")
        if np.any(self.track_lengths < 0) or int(self.track_lengths.sum()) != len(self.tracks):
            raise ValueError(f"Points: track lengths sum to {int(self.track_lengths.sum())} "
                             f"but {len(self.tracks)} track entries were given")

    def __len__(self) -> int:
        return len(self.xyz)


@dataclass(eq=False)
class ColmapModel:
    """A whole sparse model. ``cameras`` / ``images`` are keyed by id."""
    cameras: Dict[int, Camera]
    images: Dict[int, Image]
    points: Points
    path: Optional[Path] = None

    def sorted_images(self):
        """Images sorted by name (the usual dataset order)."""
        return sorted(self.images.values(), key=lambda im: im.name)


# --------------------------------------------------------------------------- helpers

class _Reader:
    """Bounds-checked cursor over the bytes of a binary file."""

    def __init__(self, data: bytes, path: str):
        self.data, self.pos, self.path, self.size = data, 0, path, len(data)

    def left(self) -> int:
        return self.size - self.pos

    def need(self, nbytes: int, what: str) -> None:
        if nbytes > self.left():
            raise ValueError(f"{self.path}: truncated or corrupt file: {what} needs {nbytes} bytes "
                             f"at offset {self.pos}, but only {self.left()} remain "
                             f"(file size {self.size})")

    def unpack(self, st: struct.Struct, what: str):
        self.need(st.size, what)
        v = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return v

    def count(self, min_record: int, what: str) -> int:
        (n,) = self.unpack(_U64, f"the number of {what}")
        if n * min_record > self.left():
            raise ValueError(f"{self.path}: corrupt or truncated file: header says {n} {what}, "
                             f"which needs at least {n * min_record} bytes, but only {self.left()} "
                             f"bytes follow")
        return n

    def finish(self) -> None:
        if self.pos != self.size:
            raise ValueError(f"{self.path}: corrupt file: {self.size - self.pos} unexpected bytes "
                             f"after the last record (offset {self.pos})")


_U64 = struct.Struct("<Q")
_CAM_HDR = struct.Struct("<iiQQ")
_IMG_HDR = struct.Struct("<i4d3di")
_PT_HDR_DTYPE = np.dtype([("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)),
                          ("error", "<f8"), ("track_length", "<u8")])
_PT_HDR_SIZE = _PT_HDR_DTYPE.itemsize  # 51
_KP_DTYPE = np.dtype([("x", "<f8"), ("y", "<f8"), ("id", "<i8")])


_ID_MAX = 2**31 - 1  # camera, image and track ids are 32-bit in COLMAP's files
_POINT_ID_MAX = 2**63 - 1


def _fspath(path: PathLike) -> str:
    """str for str, bytes and os.PathLike paths."""
    return os.fsdecode(os.fspath(path))


def _check_id(v: int, what: str, where: str, hi: int = _ID_MAX) -> int:
    if not 0 <= v <= hi:
        raise ValueError(f"{where}: {what} must be in 0..{hi}, got {v}")
    return v


def _check_tracks(tracks: np.ndarray, where: str) -> None:
    """Track entries (image id, point2D index) must fit COLMAP's 32-bit ids (they were
    cast to int32, wrapping silently)."""
    bad = (tracks < 0) | (tracks > _ID_MAX)
    if bad.any():
        r = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{where}: track entry {r} is {tracks[r].tolist()}: image ids and "
                         f"point2D indices must be in 0..{_ID_MAX}")


def _check_xyz(xyz: np.ndarray, ids: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise ValueError(f"{where}: point {int(ids[r])} (row {r}) has a non-finite position "
                         f"{xyz[r].tolist()}; expected finite x y z ({int(bad.sum())} such points)")


def _read_bytes(path: PathLike) -> Tuple[bytes, str]:
    p = _fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"COLMAP file not found: {p!r}")
    with open(p, "rb") as f:
        return f.read(), p


def _make_camera(cid: int, model: str, width: int, height: int, params, where: str) -> Camera:
    if model not in _PINHOLE_LIKE:
        raise ValueError(f"{where}: camera {cid} uses COLMAP model {model}, which splatcore does "
                         f"not support (only PINHOLE, SIMPLE_PINHOLE, and SIMPLE_RADIAL/RADIAL/"
                         f"OPENCV with zero distortion); {_UNDISTORT_HINT}")
    if not (0 < width <= _MAX_DIM and 0 < height <= _MAX_DIM):
        raise ValueError(f"{where}: camera {cid}: image size must be 1..{_MAX_DIM} px, "
                         f"got {width}x{height}")
    params = [float(v) for v in params]
    if not all(np.isfinite(params)):
        raise ValueError(f"{where}: camera {cid} ({model}): parameters must be finite, got {params}")
    start, dnames = _PINHOLE_LIKE[model]
    dist = params[start:]
    if any(abs(v) > _DISTORTION_TOL for v in dist):
        desc = ", ".join(f"{n}={v:g}" for n, v in zip(dnames, dist))
        raise ValueError(f"{where}: camera {cid} uses COLMAP model {model} with non-zero "
                         f"distortion ({desc}); {_UNDISTORT_HINT}")
    if model in ("PINHOLE", "OPENCV"):
        fx, fy, cx, cy = params[:4]
    else:
        fx = fy = params[0]
        cx, cy = params[1:3]
    if fx <= 0 or fy <= 0:
        raise ValueError(f"{where}: camera {cid}: focal lengths must be positive, got fx={fx} fy={fy}")
    return Camera(int(cid), model, int(width), int(height), fx, fy, cx, cy)


def _check_suffix(path: PathLike, what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".bin", ".txt"):
        raise ValueError(f"{what}: expected a .bin or .txt file, got {os.fspath(path)!r}")
    return suffix


def _data_lines(text: str):
    """(line number, stripped line) for non-comment lines, blank lines included."""
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#"):
            continue
        yield i, s


def _read_text(path: PathLike) -> Tuple[str, str]:
    data, p = _read_bytes(path)
    try:
        return data.decode("utf-8"), p
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: expected a UTF-8 COLMAP text file, got undecodable bytes at "
                         f"offset {e.start}") from None


def _bad_line(path: str, lineno: int, expected: str, line: str) -> ValueError:
    shown = line if len(line) <= 120 else line[:120] + "..."
    return ValueError(f"{path}:{lineno}: expected {expected}, got {shown!r}")


# --------------------------------------------------------------------------- cameras

def _read_cameras_bin(path: PathLike) -> Dict[int, Camera]:
    data, p = _read_bytes(path)
    r = _Reader(data, p)
    n = r.count(_CAM_HDR.size + 8, "cameras")
    cams: Dict[int, Camera] = {}
    for i in range(n):
        cid, model_id, w, h = r.unpack(_CAM_HDR, f"camera record {i}")
        _check_id(cid, "camera id", p)
        if model_id not in CAMERA_MODELS:
            raise ValueError(f"{p}: camera {cid}: unknown COLMAP camera model id {model_id} "
                             f"(known: 0..{max(CAMERA_MODELS)}); {_UNDISTORT_HINT}")
        name, nparams = CAMERA_MODELS[model_id]
        if name not in _PINHOLE_LIKE:  # reject before reading: params count may differ by version
            _make_camera(cid, name, w, h, [], p)
        params = r.unpack(struct.Struct(f"<{nparams}d"), f"parameters of camera {cid}")
        if cid in cams:
            raise ValueError(f"{p}: camera id {cid} appears twice")
        cams[cid] = _make_camera(cid, name, w, h, params, p)
    r.finish()
    return cams


def _read_cameras_txt(path: PathLike) -> Dict[int, Camera]:
    text, p = _read_text(path)
    cams: Dict[int, Camera] = {}
    for lineno, line in _data_lines(text):
        if not line:
            continue
        tok = line.split()
        expected = "CAMERA_ID MODEL WIDTH HEIGHT PARAMS..."
        if len(tok) < 4:
            raise _bad_line(p, lineno, expected, line)
        try:
            cid, w, h = int(tok[0]), int(tok[2]), int(tok[3])
            params = [float(v) for v in tok[4:]]
        except ValueError:
            raise _bad_line(p, lineno, expected, line) from None
        _check_id(cid, "CAMERA_ID", f"{p}:{lineno}")
        model = tok[1].upper()
        if model not in _MODEL_IDS:
            raise ValueError(f"{p}:{lineno}: camera {cid}: unknown COLMAP camera model {tok[1]!r}; "
                             f"{_UNDISTORT_HINT}")
        if model not in _PINHOLE_LIKE:
            _make_camera(cid, model, w, h, [], f"{p}:{lineno}")
        nparams = CAMERA_MODELS[_MODEL_IDS[model]][1]
        if len(params) != nparams:
            raise ValueError(f"{p}:{lineno}: camera {cid}: model {model} takes {nparams} "
                             f"parameters, got {len(params)}")
        if cid in cams:
            raise ValueError(f"{p}:{lineno}: camera id {cid} appears twice")
        cams[cid] = _make_camera(cid, model, w, h, params, f"{p}:{lineno}")
    return cams


def read_cameras(path: PathLike) -> Dict[int, Camera]:
    """Read ``cameras.bin`` or ``cameras.txt`` (by suffix) into ``{camera_id: Camera}``."""
    path = _fspath(path)
    if _check_suffix(path, "read_cameras") == ".bin":
        return _read_cameras_bin(path)
    return _read_cameras_txt(path)


def write_cameras(path: PathLike, cameras: Union[Mapping[int, Camera], Iterable[Camera]]) -> None:
    """Write cameras to ``cameras.bin`` / ``cameras.txt`` (by suffix), atomically."""
    suffix = _check_suffix(path, "write_cameras")
    cams = sorted(cameras.values() if isinstance(cameras, Mapping) else cameras, key=lambda c: c.id)
    if suffix == ".bin":
        parts = [_U64.pack(len(cams))]
        for c in cams:
            model, params = c.colmap_params()
            parts.append(_CAM_HDR.pack(c.id, _MODEL_IDS[model], c.width, c.height))
            parts.append(struct.pack(f"<{len(params)}d", *params))
        with atomic_write(path, "wb") as f:
            f.write(b"".join(parts))
    else:
        lines = ["# Camera list with one line of data per camera:",
                 "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
                 f"# Number of cameras: {len(cams)}"]
        for c in cams:
            model, params = c.colmap_params()
            lines.append(" ".join([str(c.id), model, str(c.width), str(c.height)]
                                  + [repr(float(v)) for v in params]))
        with atomic_write(path, "w") as f:
            f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- images

def _read_images_bin(path: PathLike) -> Dict[int, Image]:
    data, p = _read_bytes(path)
    r = _Reader(data, p)
    n = r.count(_IMG_HDR.size + 1 + 8, "images")
    images: Dict[int, Image] = {}
    for i in range(n):
        iid, qw, qx, qy, qz, tx, ty, tz, cam_id = r.unpack(_IMG_HDR, f"image record {i}")
        end = data.find(b"\0", r.pos)
        if end < 0:
            raise ValueError(f"{p}: truncated or corrupt file: the name of image {iid} has no "
                             f"terminating NUL byte (offset {r.pos})")
        try:
            name = data[r.pos:end].decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{p}: image {iid}: name is not valid UTF-8 "
                             f"({data[r.pos:min(end, r.pos + 64)]!r})") from None
        r.pos = end + 1
        (m,) = r.unpack(_U64, f"the keypoint count of image {iid}")
        r.need(m * _KP_DTYPE.itemsize, f"{m} keypoints of image {iid}")
        kp = np.frombuffer(data, dtype=_KP_DTYPE, count=m, offset=r.pos)
        r.pos += m * _KP_DTYPE.itemsize
        xys = np.stack([kp["x"], kp["y"]], axis=1)
        if iid in images:
            raise ValueError(f"{p}: image id {iid} appears twice")
        try:
            images[iid] = Image(iid, name, cam_id, (qw, qx, qy, qz), (tx, ty, tz),
                                xys, kp["id"].astype(np.int64))
        except ValueError as e:
            raise ValueError(f"{p}: {e}") from None
    r.finish()
    return images


def _read_images_txt(path: PathLike) -> Dict[int, Image]:
    text, p = _read_text(path)
    images: Dict[int, Image] = {}
    lines = list(_data_lines(text))
    k = 0
    expected = "IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME"
    while k < len(lines):
        lineno, line = lines[k]
        k += 1
        if not line:
            continue
        tok = line.split(maxsplit=9)
        if len(tok) != 10:
            raise _bad_line(p, lineno, expected, line)
        try:
            iid = int(tok[0])
            pose = [float(v) for v in tok[1:8]]
            cam_id = int(tok[8])
        except ValueError:
            raise _bad_line(p, lineno, expected, line) from None
        _check_id(iid, "IMAGE_ID", f"{p}:{lineno}")
        _check_id(cam_id, "CAMERA_ID", f"{p}:{lineno}")
        name = tok[9]
        # The keypoint line always follows (it may be empty).
        if k < len(lines):
            kline_no, kline = lines[k]
            k += 1
        else:
            kline_no, kline = lineno + 1, ""
        kt = kline.split()
        if len(kt) % 3:
            raise _bad_line(p, kline_no, f"the keypoints of image {iid} as X Y POINT3D_ID triples",
                            kline)
        try:
            xs = np.array(kt[0::3], dtype=np.float64)
            ys = np.array(kt[1::3], dtype=np.float64)
            ids = np.array(kt[2::3], dtype=np.int64)
        except (ValueError, OverflowError):
            raise _bad_line(p, kline_no, f"the keypoints of image {iid} as X Y POINT3D_ID triples",
                            kline) from None
        if iid in images:
            raise ValueError(f"{p}:{lineno}: image id {iid} appears twice")
        try:
            images[iid] = Image(iid, name, cam_id, pose[:4], pose[4:], np.stack([xs, ys], 1), ids)
        except ValueError as e:
            raise ValueError(f"{p}:{lineno}: {e}") from None
    return images


def read_images(path: PathLike) -> Dict[int, Image]:
    """Read ``images.bin`` or ``images.txt`` (by suffix) into ``{image_id: Image}``."""
    path = _fspath(path)
    if _check_suffix(path, "read_images") == ".bin":
        return _read_images_bin(path)
    return _read_images_txt(path)


def write_images(path: PathLike, images: Union[Mapping[int, Image], Iterable[Image]]) -> None:
    """Write images (poses + keypoints) to ``images.bin`` / ``images.txt``, atomically."""
    suffix = _check_suffix(path, "write_images")
    ims = sorted(images.values() if isinstance(images, Mapping) else images, key=lambda im: im.id)
    for im in ims:
        if "\0" in im.name or (suffix == ".txt" and ("\n" in im.name or "\r" in im.name)):
            raise ValueError(f"write_images: image {im.id} name {im.name!r} cannot be stored")
    if suffix == ".bin":
        with atomic_write(path, "wb") as f:
            f.write(_U64.pack(len(ims)))
            for im in ims:
                f.write(_IMG_HDR.pack(im.id, *im.qvec.tolist(), *im.tvec.tolist(), im.camera_id))
                f.write(im.name.encode("utf-8") + b"\0")
                kp = np.empty(len(im.xys), _KP_DTYPE)
                kp["x"], kp["y"], kp["id"] = im.xys[:, 0], im.xys[:, 1], im.point3D_ids
                f.write(_U64.pack(len(kp)))
                f.write(kp.tobytes())
    else:
        with atomic_write(path, "w") as f:
            mean_obs = np.mean([len(im.xys) for im in ims]) if ims else 0.0
            f.write("# Image list with two lines of data per image:\n"
                    "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n"
                    "#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
                    f"# Number of images: {len(ims)}, mean observations per image: {mean_obs}\n")
            for im in ims:
                head = [str(im.id)] + [repr(v) for v in im.qvec.tolist() + im.tvec.tolist()]
                f.write(" ".join(head + [str(im.camera_id), im.name]) + "\n")
                xs, ys, ids = im.xys[:, 0].tolist(), im.xys[:, 1].tolist(), im.point3D_ids.tolist()
                f.write(" ".join(f"{x!r} {y!r} {i}" for x, y, i in zip(xs, ys, ids)) + "\n")


# --------------------------------------------------------------------------- points3D

def _read_points_bin(path: PathLike) -> Points:
    data, p = _read_bytes(path)
    r = _Reader(data, p)
    n = r.count(_PT_HDR_SIZE, "points")
    # Walk the variable-length records once to find where each starts, then gather
    # headers and tracks with two vectorised masks (no per-point Python objects).
    offsets = [0] * n
    pos, size = r.pos, r.size
    tl_at = _PT_HDR_SIZE - 8
    unpack_u64 = _U64.unpack_from
    for i in range(n):
        if pos + _PT_HDR_SIZE > size:
            r.pos = pos
            r.need(_PT_HDR_SIZE, f"point record {i}")
        (tl,) = unpack_u64(data, pos + tl_at)
        end = pos + _PT_HDR_SIZE + 8 * tl
        if end > size:
            r.pos = pos + _PT_HDR_SIZE
            r.need(8 * tl, f"the track ({tl} entries) of point record {i}")
        offsets[i] = pos
        pos = end
    r.pos = pos
    r.finish()
    body_start = 8
    body = np.frombuffer(data, dtype=np.uint8, count=size - body_start, offset=body_start)
    starts = np.asarray(offsets, dtype=np.int64) - body_start
    edge = np.zeros(len(body) + 1, np.int8)
    edge[starts] += 1
    edge[starts + _PT_HDR_SIZE] -= 1
    is_header = np.cumsum(edge[:-1], dtype=np.int8).astype(bool)
    hdr = body[is_header].view(_PT_HDR_DTYPE)
    tracks = body[~is_header].view("<u4").reshape(-1, 2).astype(np.int64)
    ids = hdr["id"]
    if np.any(ids > np.iinfo(np.int64).max):
        raise ValueError(f"{p}: corrupt file: point ids must be below 2^63")
    _check_tracks(tracks, p)
    _check_xyz(hdr["xyz"], ids, p)
    return Points(hdr["xyz"].copy(), hdr["rgb"].copy(), hdr["error"].copy(),
                  ids.astype(np.int64), hdr["track_length"].astype(np.int64), tracks.astype(np.int32))


def _read_points_txt(path: PathLike) -> Points:
    text, p = _read_text(path)
    ids, xyz, rgb, err, tls, tracks = [], [], [], [], [], []
    expected = "POINT3D_ID X Y Z R G B ERROR (IMAGE_ID POINT2D_IDX)..."
    for lineno, line in _data_lines(text):
        if not line:
            continue
        tok = line.split()
        if len(tok) < 8 or (len(tok) - 8) % 2:
            raise _bad_line(p, lineno, expected, line)
        try:
            ids.append(int(tok[0]))
            xyz.append([float(v) for v in tok[1:4]])
            c = [int(v) for v in tok[4:7]]
            err.append(float(tok[7]))
            tr = [int(v) for v in tok[8:]]
        except ValueError:
            raise _bad_line(p, lineno, expected, line) from None
        if any(v < 0 or v > 255 for v in c):
            raise _bad_line(p, lineno, "R G B in 0..255", line)
        _check_id(ids[-1], "POINT3D_ID", f"{p}:{lineno}", _POINT_ID_MAX)
        if tr and (min(tr) < 0 or max(tr) > _ID_MAX):
            raise _bad_line(p, lineno, f"track entries (IMAGE_ID POINT2D_IDX) in 0..{_ID_MAX}", line)
        if not all(np.isfinite(xyz[-1])):
            raise ValueError(f"{p}:{lineno}: point {ids[-1]} has a non-finite position "
                             f"{xyz[-1]}; expected finite X Y Z")
        rgb.append(c)
        tls.append(len(tr) // 2)
        tracks.extend(tr)
    return Points(np.array(xyz, np.float64).reshape(-1, 3), np.array(rgb, np.uint8).reshape(-1, 3),
                  np.array(err, np.float64), np.array(ids, np.int64), np.array(tls, np.int64),
                  np.array(tracks, np.int64).reshape(-1, 2))


def read_points3D(path: PathLike) -> Points:
    """Read ``points3D.bin`` or ``points3D.txt`` (by suffix)."""
    path = _fspath(path)
    if _check_suffix(path, "read_points3D") == ".bin":
        return _read_points_bin(path)
    return _read_points_txt(path)


def write_points3D(path: PathLike, points: Points) -> None:
    """Write the point cloud (with tracks) to ``points3D.bin`` / ``points3D.txt``, atomically."""
    suffix = _check_suffix(path, "write_points3D")
    n = len(points)
    if suffix == ".bin":
        hdr = np.empty(n, _PT_HDR_DTYPE)
        hdr["id"] = points.ids
        hdr["xyz"] = points.xyz
        hdr["rgb"] = points.rgb
        hdr["error"] = points.error
        hdr["track_length"] = points.track_lengths
        tr = np.ascontiguousarray(points.tracks, dtype="<i4")
        body = np.empty(n * _PT_HDR_SIZE + tr.nbytes, np.uint8)
        starts = np.arange(n, dtype=np.int64) * _PT_HDR_SIZE
        starts[1:] += 8 * np.cumsum(points.track_lengths)[:-1]
        edge = np.zeros(len(body) + 1, np.int8)
        edge[starts] += 1
        edge[starts + _PT_HDR_SIZE] -= 1
        is_header = np.cumsum(edge[:-1], dtype=np.int8).astype(bool)
        body[is_header] = hdr.view(np.uint8)
        body[~is_header] = tr.reshape(-1).view(np.uint8)
        with atomic_write(path, "wb") as f:
            f.write(_U64.pack(n))
            f.write(body.tobytes())
    else:
        mean_track = float(points.track_lengths.mean()) if n else 0.0
        ends = np.cumsum(points.track_lengths)
        flat = points.tracks.reshape(-1).tolist()
        with atomic_write(path, "w") as f:
            f.write("# 3D point list with one line of data per point:\n"
                    "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
                    f"# Number of points: {n}, mean track length: {mean_track}\n")
            ids, xyz, rgb, err = (points.ids.tolist(), points.xyz.tolist(), points.rgb.tolist(),
                                  points.error.tolist())
            lo = 0
            for i in range(n):
                hi = int(ends[i])
                row = [str(ids[i])] + [repr(v) for v in xyz[i]] + [str(v) for v in rgb[i]]
                row.append(repr(err[i]))
                row.extend(str(v) for v in flat[2 * lo:2 * hi])
                f.write(" ".join(row) + "\n")
                lo = hi


# --------------------------------------------------------------------------- models

_NAMES = ("cameras", "images", "points3D")


def find_sparse_dir(path: PathLike) -> Path:
    """The folder holding ``cameras``/``images``/``points3D``: ``path`` itself, else
    ``path/sparse/0``, else ``path/sparse``."""
    path = _fspath(path)
    base = Path(path)
    if not base.exists():
        raise FileNotFoundError(f"COLMAP model path does not exist: {path!r}")
    candidates = [base, base / "sparse" / "0", base / "sparse"]
    for c in candidates:
        if any((c / f"cameras{ext}").is_file() for ext in (".bin", ".txt")):
            return c
    raise FileNotFoundError(
        f"no COLMAP sparse model found under {os.fspath(path)!r}: expected cameras.bin or "
        f"cameras.txt (with images.* and points3D.*) in one of "
        + ", ".join(repr(os.fspath(c)) for c in candidates))


def read_model(path: PathLike, ext: Optional[str] = None) -> ColmapModel:
    """Read a whole sparse model from ``path`` (a model folder, or a dataset folder
    with ``sparse/0`` or ``sparse``). ``ext`` (``".bin"``/``".txt"``) forces the
    format; by default binary is used when all three ``.bin`` files exist, else text.
    Checks that every image refers to a known camera."""
    d = find_sparse_dir(path)
    if ext is None:
        for e in (".bin", ".txt"):
            if all((d / f"{n}{e}").is_file() for n in _NAMES):
                ext = e
                break
        else:
            present = sorted(x.name for x in d.iterdir() if x.stem in _NAMES)
            raise FileNotFoundError(f"incomplete COLMAP model in {os.fspath(d)!r}: expected "
                                    f"cameras, images and points3D all as .bin or all as .txt, "
                                    f"found {present}")
    elif ext not in (".bin", ".txt"):
        raise ValueError(f"read_model: ext must be '.bin' or '.txt', got {ext!r}")
    cameras = read_cameras(d / f"cameras{ext}")
    images = read_images(d / f"images{ext}")
    points = read_points3D(d / f"points3D{ext}")
    for im in images.values():
        if im.camera_id not in cameras:
            raise ValueError(f"{os.fspath(d / f'images{ext}')}: image {im.id} ({im.name!r}) refers "
                             f"to camera {im.camera_id}, which is not in cameras{ext} "
                             f"(known: {sorted(cameras)[:10]})")
    return ColmapModel(cameras, images, points, d)


def write_model(path: PathLike, model: ColmapModel, ext: str = ".bin") -> None:
    """Write ``model`` as ``cameras``/``images``/``points3D`` + ``ext`` into folder
    ``path`` (created if needed). Each file is written atomically."""
    if ext not in (".bin", ".txt"):
        raise ValueError(f"write_model: ext must be '.bin' or '.txt', got {ext!r}")
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    write_cameras(d / f"cameras{ext}", model.cameras)
    write_images(d / f"images{ext}", model.images)
    write_points3D(d / f"points3D{ext}", model.points)
