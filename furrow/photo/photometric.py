"""Photometric refinement: the landmark fit polished against the photo's shading, by alternating
descent through a differentiable renderer (Realistic Generative 3D Face Models' analysis by
synthesis, on our head).

The renderer is point based: a fixed set of points on the visible facial skin (a few per
triangle, with barycentric weights) is moved with the head's identity, expression and pose; each
point's colour is its albedo times second-order spherical-harmonics shading of its interpolated
normal, and is compared with the photo sampled (bilinearly, so differentiably) where the point
projects. Visibility comes from our depth-buffer rasteriser and is held fixed within a round, as
are the points' albedo. So the gradient reaches the shape through both the normals (shading) and
the projection (where the photo's edges are), which landmarks alone cannot see.

Each round has two steps:
1. Shape and light: Adam on pose, identity sliders, ARKit weights and the SH light, minimising the
   robust photometric error plus the landmark fit's own objective (its robust reprojection term
   and priors, ``fit._Problem``), so the result stays a plausible head that still meets the
   landmarks.
2. Albedo: re-projected from the photo through the new shape (``texture.project_albedo``, which
   re-fits the light), then smoothed for the next round (fine albedo would absorb the shading
   error that step 1 needs).

Albedo edges (brows, lips, eyelids) are left out of the photometric term: their colour changes
would be read as shape.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..heads.model import HeadModel
from ..raster import rasterize
from .adam import Adam
from .camera import HEAD_TO_CAMERA, Camera, rotation_matrix
from .fit import FitResult, FitSettings, LandmarkModel, _Problem
from .image import Photo
from .landmarks import FaceLandmarks
from .texture import Albedo, face_mask, project_albedo, sh_basis_torch, srgb_to_linear

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

Progress = Callable[[float, str], None]

# Barycentric weights of the points rendered per triangle: the centre and three inner points.
SAMPLE_BARY = np.array(
    [[1 / 3, 1 / 3, 1 / 3], [2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]]
)
FEATURE_REGIONS = ("brows", "lip_upper", "lip_lower", "eyelid_upper", "eyelid_lower")
WORK_FACE_PX = 256.0  # the photo is worked on at most this face size (shading is low frequency)
VISIBLE_TOLERANCE_M = 0.003
ROUND_ALBEDO_PX = 256  # the albedo between rounds only feeds the smoothed albedo: low resolution will do


@dataclass
class PhotometricSettings:
    rounds: int = 2  # shape-and-light / albedo alternations
    steps: int = 40  # Adam steps per shape-and-light step (60 at lr 0.02 scored the same, 2.705 mm)
    lr: float = 0.03
    weight: float = 4.0  # the photometric term against the landmark objective, each scaled to 1 at the start
    robust_scale: float = 0.1  # Geman-McClure scale of a point's RGB error (linear intensity)
    albedo_blur: float = 0.03  # albedo smoothing for step 1, as a fraction of the UV square
    photo_blur: float = 1.0 / 200.0  # the photo's blur, as a fraction of the face's size
    fit_identity: bool = True
    # Off by default: on held-out renders, shading moved the expression away from the truth (sum of
    # 52 errors 1.18 -> 1.52) while it helped the identity; landmarks read expression better.
    fit_expression: bool = False


@dataclass
class PhotometricResult:
    fit: FitResult
    albedo: Albedo
    error_before: float  # mean robust photometric error per point at the start (shape step 1)
    error_after: float  # and at the end of the last shape step
    points: int  # points rendered in the last round
    seconds: float
    notes: list[str] = field(default_factory=list)


def _vertex_normals(verts: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    face = torch.cross(b - a, c - a, dim=-1)
    acc = torch.zeros_like(verts).index_add(0, tris.reshape(-1), face.repeat_interleave(3, dim=0))
    out: torch.Tensor = acc / acc.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return out


def _rvec_of(rotation: F64) -> F64:
    """The rotation vector of the pose part of a camera rotation (rotation = R(rvec) @ HEAD_TO_CAMERA)."""
    import cv2

    pose = np.asarray(rotation, np.float64) @ HEAD_TO_CAMERA.T
    rvec, _ = cv2.Rodrigues(pose)
    out: F64 = rvec.reshape(3)
    return out


def _gaussian_blur(image: F32, sigma: float) -> F32:
    if sigma < 0.3:
        return image
    from scipy.ndimage import gaussian_filter  # type: ignore[import-untyped]

    out: F32 = gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)
    return out


def _smooth_albedo(head: HeadModel, albedo: Albedo, blur: float) -> F32:
    """The albedo with its features (brows, lips, lids) left out and the rest blurred: normalised
    convolution, so a dark brow does not bleed into the forehead."""
    res = albedo.image.shape[0]
    weight = np.clip(albedo.seen, 0.0, 1.0).astype(np.float64)
    for name in FEATURE_REGIONS:
        mask = head.region_masks.get(name)
        if mask is None:
            continue
        m = np.asarray(mask, np.float64)
        idx = (np.arange(res) * m.shape[0]) // res
        weight *= 1.0 - np.clip(m[np.ix_(idx, idx)], 0.0, 1.0)
    from scipy.ndimage import gaussian_filter

    sigma = blur * res
    num = gaussian_filter(albedo.image * weight[..., None], sigma=(sigma, sigma, 0), mode="nearest")
    den = gaussian_filter(weight, sigma=sigma, mode="nearest")
    fallback = albedo.image.reshape(-1, 3)[weight.reshape(-1) > 0.5]
    mean = fallback.mean(axis=0) if len(fallback) else albedo.image.reshape(-1, 3).mean(axis=0)
    out = np.where(den[..., None] > 1e-3, num / np.maximum(den, 1e-3)[..., None], mean)
    result: F32 = out.astype(np.float32)
    return result


@dataclass
class _Window:
    """The photo's face region, downscaled to ``WORK_FACE_PX``: pixel (x, y) -> ((x - x0) s, (y - y0) s)."""

    x0: float
    y0: float
    scale: float
    image: torch.Tensor  # (1, 3, H, W) linear RGB, blurred
    mask: npt.NDArray[np.bool_]  # (H, W) facial skin
    clip: float  # linear level at which the photo's channels saturate (tone curve, over-exposure)


def _window(photo: Photo, landmarks: FaceLandmarks, blur: float) -> _Window:
    from PIL import Image

    face = landmarks.face_size
    x0, y0, x1, y1 = landmarks.box
    pad = 0.35 * face
    w, h = photo.size
    x0, y0 = int(max(0, math.floor(x0 - pad))), int(max(0, math.floor(y0 - pad)))
    x1, y1 = int(min(w, math.ceil(x1 + pad))), int(min(h, math.ceil(y1 + pad)))
    scale = min(1.0, WORK_FACE_PX / max(face, 1.0))
    crop = photo.rgb[y0:y1, x0:x1]
    mask = face_mask(landmarks)[y0:y1, x0:x1]
    if scale < 1.0:
        size = (max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale)))
        crop = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, Image.Resampling.BOX))
        mask = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))
    scale_x = crop.shape[1] / (x1 - x0)
    linear = _gaussian_blur(srgb_to_linear(crop.astype(np.float32) / 255.0), blur * face * scale_x)
    image = torch.from_numpy(np.ascontiguousarray(linear.transpose(2, 0, 1)))[None]
    mask = np.asarray(mask, bool)
    top = float(np.percentile(linear[mask], 99.5)) if mask.any() else 1.0
    return _Window(x0=float(x0), y0=float(y0), scale=scale_x, image=image, mask=mask, clip=0.97 * top)


class _Renderer:
    """The points of one round and what is held fixed for them (visibility, albedo)."""

    def __init__(self, head: HeadModel, fit: FitResult, win: _Window, albedo_smooth: F32) -> None:
        cam = fit.camera
        verts = head.evaluate_np(fit.identity, fit.expression).astype(np.float64)
        c = cam.to_camera(verts)
        xy = (cam.project(verts) - [win.x0, win.y0]) * win.scale
        height, width = win.mask.shape
        depth = rasterize(xy, head.triangles, width, height, depth=c[:, 2]).depth
        skin = np.zeros(head.n_vertices, bool)
        skin[head.parts["skin"]] = True
        tris = np.flatnonzero(skin[head.triangles].all(axis=1))
        tri = np.repeat(tris, len(SAMPLE_BARY))
        bary = np.tile(SAMPLE_BARY, (len(tris), 1))
        corners = head.triangles[tri]
        p = np.einsum("nk,nkd->nd", bary, c[corners])
        pxy = np.einsum("nk,nkd->nd", bary, xy[corners])
        xi = np.clip(pxy[:, 0].astype(np.int64), 0, width - 1)
        yi = np.clip(pxy[:, 1].astype(np.int64), 0, height - 1)
        inside = (pxy[:, 0] >= 0) & (pxy[:, 0] < width) & (pxy[:, 1] >= 0) & (pxy[:, 1] < height)
        keep = inside & (p[:, 2] > 1e-3) & (p[:, 2] <= depth[yi, xi] + VISIBLE_TOLERANCE_M) & win.mask[yi, xi]
        # Grazing points shade steeply and project onto the silhouette: left out.
        from ..io.head_mesh import vertex_normals

        n = vertex_normals(verts.astype(np.float32), head.triangles).astype(np.float64) @ cam.rotation.T
        pn = np.einsum("nk,nkd->nd", bary, n[corners])
        pn /= np.maximum(np.linalg.norm(pn, axis=1, keepdims=True), 1e-12)
        facing = -(pn * p / np.linalg.norm(p, axis=1, keepdims=True)).sum(axis=1)
        keep &= facing > 0.3
        # Albedo edges (brows, lips, lids) stay out.
        uv = np.einsum("nk,nkd->nd", bary, head.uvs[head.triangle_loops[tri]].astype(np.float64))
        res = albedo_smooth.shape[0]
        col = np.clip((uv[:, 0] * res).astype(np.int64), 0, res - 1)
        row = np.clip(((1.0 - uv[:, 1]) * res).astype(np.int64), 0, res - 1)
        for name in FEATURE_REGIONS:
            mask = head.region_masks.get(name)
            if mask is not None:
                r = mask.shape[0]
                keep &= np.asarray(mask)[(row * r) // res, (col * r) // res] < 0.3
        self.tri = torch.from_numpy(corners[keep])
        self.bary = torch.from_numpy(bary[keep]).float()
        self.albedo = torch.from_numpy(albedo_smooth[row[keep], col[keep]]).float()
        self.count = int(keep.sum())

    def colours(
        self, verts: torch.Tensor, normals: torch.Tensor, rot: torch.Tensor, t: torch.Tensor, f: float,
        win: _Window, cam: Camera, light: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """(rendered RGB (N, 3), the photo's RGB where the points project (N, 3))."""
        p = torch.einsum("nk,nkd->nd", self.bary, verts[self.tri]) @ rot.T + t
        n = torch.einsum("nk,nkd->nd", self.bary, normals[self.tri]) @ rot.T
        n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        z = p[:, 2].clamp_min(1e-4)
        x = (f * p[:, 0] / z + cam.width / 2.0 - win.x0) * win.scale
        y = (f * p[:, 1] / z + cam.height / 2.0 - win.y0) * win.scale
        height, width = win.image.shape[-2:]
        grid = torch.stack([2.0 * x / width - 1.0, 2.0 * y / height - 1.0], dim=-1)[None, None]
        seen = F.grid_sample(win.image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        # Shading cannot go below black (the SH fit's ringing does, on the side away from the light).
        rendered = self.albedo * F.softplus(sh_basis_torch(n) @ light, beta=50.0)
        return rendered, seen[0, :, 0].T


def _photometric_energy(
    rendered: torch.Tensor, seen: torch.Tensor, scale: float, clip: float
) -> torch.Tensor:
    """Mean Geman-McClure error of the points' RGB residuals (0 for a perfect match, -> 1 for outliers).

    A channel at the photo's clipping level only says "at least this bright": it counts only where
    the render is darker."""
    diff = rendered - seen
    diff = torch.where((seen >= clip) & (diff > 0), torch.zeros_like(diff), diff)
    r2 = (diff**2).sum(dim=-1)
    return (r2 / (r2 + scale**2)).mean()


def _landmark_objective(problem: _Problem, fit_s: FitSettings) -> Callable[..., torch.Tensor]:
    """The landmark fit's objective (``_Problem.cost``) in torch, its robust weights frozen."""
    target = torch.from_numpy(problem.target)
    data_scale = torch.from_numpy(problem._data_scale())
    pairs = torch.from_numpy(problem.pairs)
    expr_pairs = torch.from_numpy(problem.expr_pairs)
    antagonists = torch.from_numpy(problem.antagonists)
    l1 = torch.from_numpy(problem.l1_weights)
    centre = torch.from_numpy(problem.centre)
    neutral, id_pos, id_neg, expr_b = (
        torch.from_numpy(a) for a in (problem.neutral, problem.id_pos, problem.id_neg, problem.expr)
    )

    def objective(
        rot: torch.Tensor,
        t: torch.Tensor,
        f: float,
        ident: torch.Tensor,
        expr: torch.Tensor,
        offset: torch.Tensor,
    ) -> torch.Tensor:
        pts = (
            neutral
            + torch.einsum("k,knd->nd", torch.relu(ident), id_pos)
            + torch.einsum("k,knd->nd", torch.relu(-ident), id_neg)
            + torch.einsum("e,end->nd", expr, expr_b)
            + offset
        )
        cam = pts @ rot.T + t
        proj = f * cam[:, :2] / cam[:, 2:3].clamp_min(1e-4) + centre
        total = (((proj - target) * data_scale) ** 2).sum()
        total = total + ((ident / fit_s.identity_scale) ** 2).sum()
        if len(pairs):
            total = total + (((ident[pairs[:, 0]] - ident[pairs[:, 1]]) / fit_s.asymmetry_scale) ** 2).sum()
        total = total + 2.0 * fit_s.expression_l2 * (expr**2).sum()
        total = (
            total
            + (((expr[expr_pairs[:, 0]] - expr[expr_pairs[:, 1]]) / fit_s.expression_asymmetry) ** 2).sum()
        )
        low = torch.minimum(expr[antagonists[:, 0]], expr[antagonists[:, 1]])
        total = total + ((low / fit_s.antagonist_scale) ** 2).sum()
        return total + 2.0 * fit_s.expression_l1 * (l1 * expr).sum()

    return objective


def refine_photometric(
    head: HeadModel,
    fit: FitResult,
    photo: Photo,
    landmarks: FaceLandmarks,
    albedo: Albedo,
    settings: PhotometricSettings | None = None,
    *,
    model: LandmarkModel | None = None,
    fit_settings: FitSettings | None = None,
    albedo_resolution: int | None = None,
    progress: Progress | None = None,
) -> PhotometricResult:
    """Refine ``fit`` (and ``albedo``) against the photo's shading; ``progress`` may raise to cancel."""
    s = settings or PhotometricSettings()
    fs = fit_settings or FitSettings()
    model = model or LandmarkModel(head)
    report = progress or (lambda f, m: None)
    t_start = time.perf_counter()
    face = landmarks.face_size
    cam = fit.camera
    w, h = landmarks.image_size
    problem = _Problem(
        model, landmarks.points[:, :2].astype(np.float64), (w, h), face, fs,
        0.5 * w / math.tan(math.radians(30.0) / 2.0), True,
    )  # fmt: skip
    win = _window(photo, landmarks, s.photo_blur)
    tris = torch.from_numpy(head.triangles.astype(np.int64))
    rvec = torch.tensor(_rvec_of(cam.rotation), dtype=torch.float64, requires_grad=True)
    trans = torch.tensor(cam.translation, dtype=torch.float64, requires_grad=True)
    ident = torch.tensor(fit.identity, dtype=torch.float64, requires_grad=s.fit_identity)
    expr = torch.tensor(fit.expression, dtype=torch.float64, requires_grad=s.fit_expression)
    h2c = torch.from_numpy(HEAD_TO_CAMERA)
    focal = cam.focal_px
    errors: list[float] = []
    notes: list[str] = []
    current, current_albedo = fit, albedo
    renderer: _Renderer | None = None
    for rnd in range(s.rounds):
        smooth = _smooth_albedo(head, current_albedo, s.albedo_blur)
        renderer = _Renderer(head, current, win, smooth)
        if renderer.count < 200:
            notes.append(
                "too little facial skin is visible for the photometric refinement; landmark fit kept"
            )
            break
        light = torch.tensor(
            current_albedo.lighting / np.maximum(current_albedo.reference, 1e-6), dtype=torch.float32,
            requires_grad=True,
        )  # fmt: skip
        # The landmark fit's robust weights at the current shape, and its calibration offsets.
        x = np.concatenate(
            [rvec.detach().numpy(), trans.detach().numpy(), [math.log(focal)], ident.detach().numpy(),
             expr.detach().numpy()]
        )  # fmt: skip
        problem.reweight(x)
        objective = _landmark_objective(problem, fs)
        offset = (
            torch.from_numpy(model.offset(current.camera.rotation)) if model.calibrated else torch.zeros(1)
        )
        opt = Adam(
            [{"params": [rvec], "lr": s.lr * 0.05}, {"params": [trans], "lr": s.lr * 0.002},
             {"params": [p for p in (ident, expr) if p.requires_grad], "lr": s.lr},
             {"params": [light], "lr": s.lr * 0.2}]
        )  # fmt: skip
        with torch.no_grad():
            objective_scale = max(
                float(objective(rotation_matrix(rvec) @ h2c, trans, focal, ident, expr, offset)), 1.0
            )
        for step in range(s.steps):
            opt.zero_grad()
            rot = rotation_matrix(rvec) @ h2c
            verts = head.evaluate(ident.float(), expr.float())[0].double()
            normals = _vertex_normals(verts, tris)
            rendered, seen = renderer.colours(
                verts.float(), normals.float(), rot.float(), trans.float(), focal, win, cam, light
            )
            photo_e = _photometric_energy(rendered, seen, s.robust_scale, win.clip)
            lm_e = objective(rot, trans, focal, ident, expr, offset) / objective_scale
            if not errors:  # the photometric term is scaled by its value at the very start
                errors.append(float(photo_e.detach()))
            loss = lm_e + s.weight * photo_e.double() / max(errors[0], 1e-6)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            with torch.no_grad():
                ident.clamp_(-1.0, 1.0)
                expr.clamp_(0.0, 1.0)
            if step % 10 == 0:
                report((rnd + step / s.steps) / s.rounds, "refining the head against the photo's shading")
        errors_last = float(photo_e.detach())
        rot_np = (rotation_matrix(rvec.detach()) @ h2c).numpy()
        current = FitResult(
            identity=ident.detach().numpy().astype(np.float32),
            expression=np.clip(expr.detach().numpy(), 0.0, 1.0).astype(np.float32),
            camera=Camera(width=cam.width, height=cam.height, focal_px=focal, rotation=rot_np,
                          translation=trans.detach().numpy().copy()),
            landmark_error_px=fit.landmark_error_px,
            face_size_px=fit.face_size_px,
            notes=list(fit.notes),
        )  # fmt: skip
        x = np.concatenate(
            [rvec.detach().numpy(), trans.detach().numpy(), [math.log(focal)],
             current.identity.astype(np.float64), current.expression.astype(np.float64)]
        )  # fmt: skip
        proj, _, _ = problem.project(x)
        current.landmark_error_px = float(np.median(np.linalg.norm(proj - problem.target, axis=1)[:468]))
        final = rnd == s.rounds - 1
        current_albedo = project_albedo(
            head, current, photo, landmarks,
            resolution=(albedo_resolution or albedo.image.shape[0]) if final else ROUND_ALBEDO_PX,
        )  # fmt: skip
        errors.append(errors_last)
    return PhotometricResult(
        fit=current,
        albedo=current_albedo,
        error_before=errors[0] if errors else float("nan"),
        error_after=errors[-1] if errors else float("nan"),
        points=renderer.count if renderer is not None else 0,
        seconds=time.perf_counter() - t_start,
        notes=notes,
    )
