"""Dense float64 NumPy reference of the 3D Gaussian Splatting rasterizer.

Independent of the C++ core: every Gaussian is evaluated at every pixel (no
tiles), in front-to-back order of camera-space depth, with the conventions of
gsplat / the original 3DGS (see ARCHITECTURE.md, "Facts outputs must match"):

* quaternions wxyz (normalised here), ``Σ = R S Sᵀ Rᵀ``, ``S = diag(scales)``;
* ``viewmat`` world-to-camera (x right, y down, camera looks down +z),
  ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``;
* EWA splatting with the pinhole Jacobian evaluated at the mean clamped to
  1.3× the field of view, ``cov2d + eps2d·I`` low-pass (optionally with the
  "antialiased" opacity compensation ``sqrt(det_orig / det_blurred)``);
* per pixel (centre ``(x + 0.5, y + 0.5)``): ``α = min(alpha_max, o·exp(-σ))``,
  skipped when ``σ < 0`` or ``α < 1/255``; the pixel stops (without the current
  Gaussian) once the transmittance would drop to ``<= 1e-4``.

Matches the gsplat 1.5.3 goldens in ``/work/shared/golden/gsplat``
(relative L2 < 1e-4, see ``tests/test_rasterize.py``).

``render_reference`` is the forward; ``reference_grads_fd`` is a float64
backward by central finite differences of the forward (small scenes only).
"""
import numpy as np

# Opacity clamp per pixel. The gsplat 1.5.3 goldens cannot tell 0.99 from
# 0.999 (all their opacities are <= 0.97, so the clamp never engages); the
# project's ARCHITECTURE.md says 0.99 (original 3DGS), so that is the default.
ALPHA_MAX = 0.99
ALPHA_MIN = 1.0 / 255.0       # skip a Gaussian at a pixel below this alpha
T_MIN = 1e-4                  # stop a pixel when the next transmittance is <= this
EPS2D = 0.3                   # low-pass added to the 2D covariance
ED_MIN_ALPHA = 1e-10          # "ED" = D / max(alpha, ED_MIN_ALPHA)

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
         -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
         0.3731763325901154, -0.4570457994644658, 1.445305721320277,
         -0.5900435899266435)

RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")


def quat_to_rotmat(quats):
    """(N,4) wxyz (any norm) -> (N,3,3) rotation matrices."""
    q = np.asarray(quats, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    R = np.empty((q.shape[0], 3, 3))
    R[:, 0, 0] = 1 - 2 * (y * y + z * z)
    R[:, 0, 1] = 2 * (x * y - w * z)
    R[:, 0, 2] = 2 * (x * z + w * y)
    R[:, 1, 0] = 2 * (x * y + w * z)
    R[:, 1, 1] = 1 - 2 * (x * x + z * z)
    R[:, 1, 2] = 2 * (y * z - w * x)
    R[:, 2, 0] = 2 * (x * z - w * y)
    R[:, 2, 1] = 2 * (y * z + w * x)
    R[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def covariance3d(quats, scales):
    """Σ = R S Sᵀ Rᵀ, (N,3,3)."""
    M = quat_to_rotmat(quats) * np.asarray(scales, dtype=np.float64)[:, None, :]
    return M @ np.swapaxes(M, 1, 2)


def camera_center(viewmat):
    """Camera centre in world space: the translation column of inverse(viewmat).

    Equal to ``-R_vᵀ t_v`` for a rigid viewmat. gsplat computes it through the
    full 4×4 inverse, which is what decides its ``dL_dviewmat`` (including the
    non-zero bottom row when the colours depend on the view direction)."""
    return np.linalg.inv(np.asarray(viewmat, dtype=np.float64))[:3, 3]


def eval_sh(sh, dirs, degree):
    """Real SH of 3DGS. sh (N,K,C) with K >= (degree+1)^2, dirs (N,3) (any
    length; normalised here). Returns (N,C) = SH(dir) (without the +0.5)."""
    sh = np.asarray(sh, dtype=np.float64)
    out = SH_C0 * sh[:, 0]
    if degree < 1:
        return out
    d = np.asarray(dirs, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # a mean at the camera centre
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    x, y, z = (d[:, i:i + 1] for i in range(3))
    out = out - SH_C1 * y * sh[:, 1] + SH_C1 * z * sh[:, 2] - SH_C1 * x * sh[:, 3]
    if degree < 2:
        return out
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    out = (out + SH_C2[0] * xy * sh[:, 4] + SH_C2[1] * yz * sh[:, 5]
           + SH_C2[2] * (2 * zz - xx - yy) * sh[:, 6]
           + SH_C2[3] * xz * sh[:, 7] + SH_C2[4] * (xx - yy) * sh[:, 8])
    if degree < 3:
        return out
    out = (out + SH_C3[0] * y * (3 * xx - yy) * sh[:, 9]
           + SH_C3[1] * xy * z * sh[:, 10]
           + SH_C3[2] * y * (4 * zz - xx - yy) * sh[:, 11]
           + SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[:, 12]
           + SH_C3[4] * x * (4 * zz - xx - yy) * sh[:, 13]
           + SH_C3[5] * z * (xx - yy) * sh[:, 14]
           + SH_C3[6] * x * (xx - 3 * yy) * sh[:, 15])
    return out


def project(means, quats, scales, opacities, viewmat, K, width, height,
            near=0.01, far=1e10, antialiased=False, eps2d=EPS2D):
    """EWA projection of N Gaussians. Returns a dict of float64 arrays:
    means_cam (N,3), depths (N,), means2d (N,2), cov2d (N,2,2) (with the
    low-pass), conics (N,3) = (a, b, c) of the inverse, opacities (N,)
    (compensated when antialiased), compensation (N,), visible (N,) bool
    (in the depth range and det > 0), radii (N,2) int (gsplat's footprint
    rule, 0 = culled; informative only: the dense reference does not use it)."""
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    viewmat = np.asarray(viewmat, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    Rv, tv = viewmat[:3, :3], viewmat[:3, 3]
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    n = means.shape[0]

    pc = means @ Rv.T + tv
    x, y, z = pc[:, 0], pc[:, 1], pc[:, 2]
    in_range = (z >= near) & (z <= far)
    zs = np.where(in_range, z, 1.0)          # keep culled ones finite

    cov_c = Rv @ covariance3d(quats, scales) @ Rv.T
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    tx = zs * np.clip(x / zs, -lim_x_neg, lim_x_pos)
    ty = zs * np.clip(y / zs, -lim_y_neg, lim_y_pos)
    J = np.zeros((n, 2, 3))
    J[:, 0, 0] = fx / zs
    J[:, 0, 2] = -fx * tx / zs ** 2
    J[:, 1, 1] = fy / zs
    J[:, 1, 2] = -fy * ty / zs ** 2
    cov2d = J @ cov_c @ np.swapaxes(J, 1, 2)
    det_orig = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    cov2d = cov2d + eps2d * np.eye(2)
    det = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    visible = in_range & (det > 0)
    det_s = np.where(visible, det, 1.0)
    compensation = np.sqrt(np.maximum(0.0, det_orig / det_s))
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    if antialiased:
        opac = opac * compensation
    conics = np.stack([cov2d[:, 1, 1] / det_s, -cov2d[:, 0, 1] / det_s,
                       cov2d[:, 0, 0] / det_s], axis=-1)
    means2d = np.stack([fx * x / zs + cx, fy * y / zs + cy], axis=-1)

    # gsplat's footprint (reproduces its `radii` exactly on the goldens; not
    # used to render): per axis ceil(extend * sqrt(cov2d_ii)) with
    # extend = min(3.33, sqrt(2 ln(255 o))) for the (compensated) opacity o,
    # i.e. the bounding box of the region where o·exp(-σ) >= 1/255. Culled when
    # o < 1/255, when both radii are 0 or when the box is entirely off screen.
    with np.errstate(invalid="ignore", divide="ignore"):
        extend = np.minimum(3.33, np.sqrt(2.0 * np.log(np.maximum(opac, 1e-300) / ALPHA_MIN)))
        rx = np.ceil(extend * np.sqrt(np.maximum(cov2d[:, 0, 0], 0)))
        ry = np.ceil(extend * np.sqrt(np.maximum(cov2d[:, 1, 1], 0)))
    on = visible & (opac >= ALPHA_MIN) & ((rx > 0) | (ry > 0))
    on &= ~((means2d[:, 0] + rx <= 0) | (means2d[:, 0] - rx >= width)
            | (means2d[:, 1] + ry <= 0) | (means2d[:, 1] - ry >= height))
    rx, ry = np.nan_to_num(rx), np.nan_to_num(ry)
    radii = np.where(on[:, None], np.stack([rx, ry], -1), 0).astype(np.int64)

    return dict(means_cam=pc, depths=z, means2d=means2d, cov2d=cov2d,
                conics=conics, opacities=opac, compensation=compensation,
                visible=visible, radii=radii)


def _check_mode(render_mode):
    if render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}")


def composite(means2d, conics, opacities, features, order, width, height,
              alpha_max=ALPHA_MAX, stats=False):
    """Front-to-back alpha compositing of `features` (N,F) over all pixels,
    visiting the Gaussians in `order` (indices). Loops over Gaussians,
    vectorised over pixels. Returns (sum (H,W,F), T_final (H,W), st) where st
    (when `stats`) holds per Gaussian `n_pixels` (N,) (pixels it was blended
    into), `n_tiles16` (N,) (16×16 tiles holding such a pixel), `n_stopped`
    (pixels that hit the transmittance stop) and the
    threshold margins used to pick finite-difference-safe scenes:
    `alpha_min_margin` = min over all (Gaussian, pixel) pairs of
    |ln(o·exp(-σ)·255)|, `t_min_margin` = min over blended or stopping pairs
    of |ln(next_T / 1e-4)|, `alpha_max_margin` = min over pairs of
    |ln(o·exp(-σ) / alpha_max)|."""
    n = means2d.shape[0]
    px, py = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    acc = np.zeros((height, width, features.shape[1]))
    T = np.ones((height, width))
    done = np.zeros((height, width), dtype=bool)
    st = {}
    if stats:
        st = dict(n_pixels=np.zeros(n, dtype=np.int64), n_tiles16=np.zeros(n, dtype=np.int64),
                  n_stopped=0, alpha_min_margin=np.inf, t_min_margin=np.inf,
                  alpha_max_margin=np.inf)
    ht, wt = -(-height // 16), -(-width // 16)
    for g in order:
        dx = means2d[g, 0] - px
        dy = means2d[g, 1] - py
        a, b, c = conics[g]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        alpha_raw = opacities[g] * np.exp(-sigma)
        alpha = np.minimum(alpha_max, alpha_raw)
        use = (sigma >= 0) & (alpha >= ALPHA_MIN) & ~done
        next_T = T * (1.0 - alpha)
        stop = use & (next_T <= T_MIN)
        if stats:
            with np.errstate(divide="ignore"):
                la = np.log(alpha_raw)
                st["alpha_min_margin"] = min(st["alpha_min_margin"],
                                             np.abs(la - np.log(ALPHA_MIN)).min())
                st["alpha_max_margin"] = min(st["alpha_max_margin"],
                                             np.abs(la - np.log(alpha_max)).min())
                if use.any():
                    st["t_min_margin"] = min(st["t_min_margin"],
                                             np.abs(np.log(next_T[use] / T_MIN)).min())
        done |= stop
        use &= ~stop
        w = np.where(use, alpha * T, 0.0)
        acc += w[:, :, None] * features[g]
        T = np.where(use, next_T, T)
        if stats and use.any():
            st["n_pixels"][g] = use.sum()
            pad = np.zeros((ht * 16, wt * 16), dtype=bool)
            pad[:height, :width] = use
            st["n_tiles16"][g] = pad.reshape(ht, 16, wt, 16).any(axis=(1, 3)).sum()
    if stats:
        st["n_stopped"] = int(done.sum())
    return acc, T, st


def render_reference(means, quats, scales, opacities, colors_or_sh, viewmat, K,
                     width, height, sh_degree=None, background=None, near=0.01,
                     far=1e10, render_mode="RGB", antialiased=False,
                     alpha_max=ALPHA_MAX, eps2d=EPS2D, means2d_offset=None, stats=False):
    """Dense float64 render. Returns (image (H,W,C), alpha (H,W,1), extras).

    colors_or_sh: (N,C) colours when sh_degree is None, else (N,K,3) SH
    coefficients (K >= (sh_degree+1)^2), colour = max(SH(dir) + 0.5, 0).
    render_mode: RGB | D | ED | RGB+D | RGB+ED (depth = camera z of the means,
    composited; ED divides by max(alpha, 1e-10); depth is the last channel).
    background: (C_colour,) added as T_final * background to the colour
    channels (the depth channel gets no background).
    means2d_offset: optional (N,2) added to the projected 2D means (only to
    take finite differences w.r.t. the 2D means, i.e. the `means2d` gradient).
    extras: the `project` dict plus `colors` (N,C) (before the clamp at 0 is
    `colors_raw`), `order` (indices of the visible Gaussians, front to back)
    and, when `stats` (slower), the `composite` statistics (`n_pixels`,
    `n_tiles16`, threshold margins)."""
    _check_mode(render_mode)
    width, height = int(width), int(height)
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    n = means.shape[0]
    p = project(means, quats, scales, opacities, viewmat, K, width, height,
                near=near, far=far, antialiased=antialiased, eps2d=eps2d)

    feats = []
    if render_mode.startswith("RGB"):
        if sh_degree is None:
            colors = np.asarray(colors_or_sh, dtype=np.float64)
            colors = colors if colors.ndim == 2 else colors.reshape(n, -1)
        else:
            dirs = means - camera_center(viewmat)
            colors_raw = eval_sh(colors_or_sh, dirs, sh_degree) + 0.5
            colors = np.maximum(colors_raw, 0.0)
        feats.append(colors)
    else:
        colors = np.zeros((n, 0))
    if sh_degree is None or not render_mode.startswith("RGB"):
        colors_raw = colors
    n_col = colors.shape[1]
    if render_mode != "RGB":
        feats.append(p["depths"][:, None])
    features = np.concatenate(feats, axis=1)

    vis = np.flatnonzero(p["visible"])
    order = vis[np.argsort(p["depths"][vis], kind="stable")]
    means2d = p["means2d"]
    if means2d_offset is not None:
        means2d = means2d + np.asarray(means2d_offset, dtype=np.float64)
    acc, T, st = composite(means2d, p["conics"], p["opacities"], features, order,
                           width, height, alpha_max=alpha_max, stats=stats)
    alpha = 1.0 - T
    if background is not None and n_col:
        acc[:, :, :n_col] += T[:, :, None] * np.asarray(background, dtype=np.float64)
    if render_mode.endswith("ED"):
        acc[:, :, -1] = acc[:, :, -1] / np.maximum(alpha, ED_MIN_ALPHA)
    extras = dict(p, colors=colors, colors_raw=colors_raw, order=order, **st)
    return acc, alpha[:, :, None], extras


# ---------------------------------------------------------------- backward (FD)

GRAD_NAMES = ("means", "quats", "scales", "opacities", "colors_or_sh", "viewmat",
              "background")


def reference_loss(args, grad_image, grad_alpha, **kw):
    """sum(image * grad_image) + sum(alpha * grad_alpha) of render_reference(**args, **kw)."""
    img, alpha, _ = render_reference(**args, **kw)
    return float(np.sum(img * grad_image) + np.sum(alpha * grad_alpha))


def reference_grads_fd(args, grad_image, grad_alpha, names=GRAD_NAMES, eps=1e-6,
                       only=None, **kw):
    """Central finite differences of `reference_loss` w.r.t. the arrays in
    `args` named in `names` (those present and not None). `only` may map a
    name to a list of flat indices to restrict the work (others stay 0).
    Returns {name: gradient array}. Cost: 2 renders per scalar: small scenes."""
    out = {}
    for name in names:
        if args.get(name) is None:
            continue
        x0 = np.array(args[name], dtype=np.float64)
        g = np.zeros(x0.size)
        idx = range(x0.size) if only is None or name not in only else only[name]
        for i in idx:
            vals = []
            for s in (1.0, -1.0):
                x = x0.copy().reshape(-1)
                x[i] += s * eps
                a = dict(args)
                a[name] = x.reshape(x0.shape)
                vals.append(reference_loss(a, grad_image, grad_alpha, **kw))
            g[i] = (vals[0] - vals[1]) / (2 * eps)
        out[name] = g.reshape(x0.shape)
    return out
