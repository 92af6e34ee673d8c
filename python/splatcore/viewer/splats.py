"""The arithmetic between splatcore scenes and the browser: covariances, colours
from SH for one eye point, and viewer cameras <-> splatcore views.

Viewer poses follow OpenCV axes (x right, y down, z forward) as splatcore's
views do: a pose is ``wxyz`` (camera-to-world rotation) and ``position``
(the camera centre); ``fov`` is vertical, in radians."""
from __future__ import annotations

import numpy as np

from ..io.splat_common import SH_C0, sigmoid

__all__ = ["quat_to_rotmat", "rotmat_to_quat", "covariances", "splat_colors",
           "view_from_pose", "pose_from_view", "vertical_fov"]


def quat_to_rotmat(q_wxyz) -> np.ndarray:
    """(N,4) wxyz quaternions (normalised here) -> (N,3,3) rotation matrices."""
    q = np.asarray(q_wxyz, np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def rotmat_to_quat(R) -> np.ndarray:
    """(3,3) rotation -> wxyz (w >= 0)."""
    R = np.asarray(R, np.float64)
    t = np.trace(R)
    if t > 0:
        s = 2.0 * np.sqrt(1.0 + t)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(max(1.0 + R[i, i] - R[j, j] - R[k, k], 1e-300))
        q = [0.0] * 4
        q[0] = (R[k, j] - R[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (R[j, i] + R[i, j]) / s
        q[1 + k] = (R[k, i] + R[i, k]) / s
    q = np.asarray(q)
    return q * (1 if q[0] >= 0 else -1) / np.linalg.norm(q)


def covariances(quats_wxyz, scales_log) -> np.ndarray:
    """World covariances R diag(s^2) R^T, (N,3,3) float32."""
    R = quat_to_rotmat(quats_wxyz)
    s = np.exp(np.asarray(scales_log, np.float64))
    M = R * s[:, None, :]
    return np.einsum("nij,nkj->nik", M, M).astype(np.float32)


def splat_colors(splat, degree: int = 0, eye=None) -> np.ndarray:
    """(N,3) colours in [0,1]: SH up to `degree` seen from the point `eye` (the
    rasterizer's max(SH(dir) + 0.5, 0), then clipped to 1), or the DC colour."""
    dc = np.asarray(splat.sh_dc, np.float32)
    degree = min(int(degree), splat.sh_degree)
    if degree <= 0 or eye is None:
        return np.clip(SH_C0 * dc.astype(np.float64) + 0.5, 0.0, 1.0).astype(np.float32)
    from ..splat import spherical_harmonics

    k = (degree + 1) ** 2
    coeffs = np.ascontiguousarray(np.concatenate([dc[:, None, :], splat.sh_rest[:, :k - 1]], 1),
                                  dtype=np.float32)
    dirs = np.ascontiguousarray(np.asarray(splat.means, np.float32) - np.asarray(eye, np.float32))
    c = spherical_harmonics(degree, dirs, coeffs).numpy()
    return np.clip(c, 0.0, 1.0).astype(np.float32)


def opacities(splat) -> np.ndarray:
    return sigmoid(splat.opacity_logits).astype(np.float32).reshape(-1, 1)


def view_from_pose(wxyz, position, fov, width: int, height: int) -> dict:
    """A splatcore view (viewmat world-to-camera, K, width, height) for a viewer pose."""
    c2w = np.eye(4)
    c2w[:3, :3] = quat_to_rotmat(wxyz)[0]
    c2w[:3, 3] = np.asarray(position, np.float64)
    f = 0.5 * height / np.tan(0.5 * float(fov))
    K = np.array([[f, 0, 0.5 * width], [0, f, 0.5 * height], [0, 0, 1]], np.float32)
    return {"viewmat": np.linalg.inv(c2w).astype(np.float32), "K": K, "width": int(width),
            "height": int(height), "name": "viewer"}


def pose_from_view(viewmat):
    """(wxyz, position) of the camera of a world-to-camera matrix."""
    c2w = np.linalg.inv(np.asarray(viewmat, np.float64).reshape(4, 4))
    return rotmat_to_quat(c2w[:3, :3]), c2w[:3, 3].copy()


def vertical_fov(K, height) -> float:
    return float(2.0 * np.arctan(0.5 * float(height) / float(np.asarray(K)[1, 1])))
