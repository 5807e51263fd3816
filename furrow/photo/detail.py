"""Detail from the image: shape from shading in UV space, kept skin-like by the DNPM latent.

For a sharp photo, the fine relief of the face (folds, lines, crow's feet) shows as fine variation
of shading. We explain that variation with a displacement map the DNPM generator can make, as
DECA's detail branch does with its own decoder:

1. Per skin texel at the generator's native size (256 px, ~1 mm a texel): the fitted head's
   camera-space point and normal, visibility, facing and face-mask weight (as ``project_albedo``
   weighs them), the photo's colour, and the surface-gradient basis B that turns a displacement
   gradient into a tilt of the normal: n = normalise(n0 - B @ grad d).
2. Shading model: luminance = albedo_low x SH(n) with the photo's fitted lighting. The albedo is
   low-passed because its fine band cannot be told from shading: shape from shading assumes fine
   intensity variation is geometry. So texels where that fails are left out (colour greyer than
   or off the hue of skin: glasses, hair, highlights; the brows, upper lids, lips and nose), and
   only a band of log luminance is compared (a difference of weight-normalised Gaussians, 1 to 5
   texels): finer is pores, JPEG and noise, coarser is the fit's own shape error.
3. Start: the encoder's w+ of the Detailed3DMM prediction for the neutral face at ``age``. Adam
   moves w+ (noise fixed from the seed) to lower a robust residual, with priors that keep w+ near
   the start in units of the latent's own spread (skin-like: the photo's texture and noise are
   not fitted), the map's coarse band at the start (shape is the fit's), and the map at the start
   where the photo saw nothing. The photo's expression wrinkles, as the model makes them, are in
   the map the photo is compared with and not in the result, which is the neutral pose.
4. The change the photo made is kept where the photo saw the skin (faded out over a few texels:
   the generator is global, so it moves unseen texels too), upsampled (bicubic) to
   ``resolution`` and added to the model bake's own map there (``Detailed3DMMSource``: bicubic
   plus the person's fine procedural skin above 256 px).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..heads.arkit import ARKIT_NAMES
from ..heads.model import HeadModel
from .adam import Adam
from .fit import FitResult
from .image import Photo, PhotoError
from .landmarks import FaceLandmarks
from .texture import (
    Albedo,
    _not_hair,
    sh_basis,
    sh_basis_torch,
    view_texels,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Progress = Callable[[float, str], None]

LUMA = np.array([0.2126, 0.7152, 0.0722])
DEFAULT_STEPS = 40  # the map is within ~5% of its 80-step change by then
FINE_SIGMA_TEXELS = 1.0  # at 256 px (~1 mm a texel): finer than this is pores, JPEG and noise ...
COARSE_SIGMA_TEXELS = 5.0  # ... coarser than this is the fit's shape: the band between is detail
LEARNING_RATE = 0.1
PRIOR_WEIGHT = 0.3  # x mean ((w+ - start) / spread)^2: less lets the photo's texture in (blobs)
COARSE_WEIGHT = 0.01  # x mean (low-passed map change)^2 / TOLERANCE_MM^2 over the skin
ANCHOR_WEIGHT = 0.01  # x mean (map change)^2 / TOLERANCE_MM^2 where the photo saw nothing
TOLERANCE_MM = 0.05
EXPRESSION_MM = 0.01  # the model's expression wrinkles (blurred) above this: no data there
REACH_TEXELS = 3.0  # the photo's change fades out over this beyond the texels it saw
CHROMA_TOLERANCE = 0.15  # log chromaticity greyer than or off the hue of the skin: not shading
NOT_SHADING_REGIONS = ("brows", "eyelid_upper", "lip_upper", "lip_lower", "nose")
# The automatic path fits the latent only where the start's relief explains the photo's fine
# shading this well (weighted correlation, ``ShadingModel.evidence``). On 12 Cycles renders with
# known detail (seed 2 of the dev set), fitted from landmarks, it was -0.10 to 0.18 and the fit
# lowered the detail error only at 0.18 (an 85-year-old): below, it fits noise and shadow edges.
MIN_EVIDENCE = 0.15
START = "encoder of the Detailed3DMM prediction (neutral face at the given age)"


@dataclass
class ImageDetail:
    displacement_mm: F32  # (R, R) neutral-pose displacement along the normal, row 0 at v = 1
    w_plus: torch.Tensor  # (1, num_ws, w_dim) the optimised latent
    start: str  # where the latent started
    shading_error_before: float  # weighted RMS of the band-passed log-luminance residual at the start
    shading_error_after: float  # ... and at the end
    texels_used: int  # texels (at the generator's size) with a data term
    evidence: float  # how well the start's skin relief explains the photo's fine shading (-1 to 1)
    fitted: bool  # False: below ``min_evidence``, the map is the detail model's own
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class ShadingData:
    """What the photo says about each seen skin texel, at the generator's size ``size``."""

    size: int
    index: npt.NDArray[np.int64]  # flat texel ids with a data term
    normal: F32  # (N, 3) base normals, camera frame
    gradient_basis: F32  # (N, 3, 2) B: surface gradient = B @ (dd/dcol, dd/drow), texels per metre
    albedo: F32  # (N, 3) low-passed albedo x luma coefficient / reference shading
    log_luma: F32  # (N,) log luminance of the photo
    weight: F32  # (N,) confidence in [0, 1]
    seen: F32  # (size, size) weight over the whole map (0 off the data)
    lighting: F32  # (9, 3) SH coefficients, camera frame


# --- what the photo says, per texel --------------------------------------------------------------


def _gradient_basis(head: HeadModel, points: F64, size: int) -> F64:
    """(T, 3, 2) per triangle: B with grad_surface(d) = B @ (dd/dcol, dd/drow).

    J = [dP/dcol, dP/drow] from the triangle's edges in space and in texels; B = J (J^T J)^-1
    (the inverse metric): exact for any UV stretch, not only a conformal one."""
    tris = head.triangles.astype(np.int64)
    uv = head.uvs[head.triangle_loops].astype(np.float64)  # (T, 3, 2)
    tex = np.stack([uv[..., 0] * size, (1.0 - uv[..., 1]) * size], axis=-1)  # (col, row)
    p = points[tris]
    e = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=-1)  # (T, 3, 2)
    t = np.stack([tex[:, 1] - tex[:, 0], tex[:, 2] - tex[:, 0]], axis=-1)  # (T, 2, 2)
    det = t[:, 0, 0] * t[:, 1, 1] - t[:, 0, 1] * t[:, 1, 0]
    ok = np.abs(det) > 1e-12
    inv = np.zeros_like(t)
    inv[ok] = np.linalg.inv(t[ok])
    jac = e @ inv  # (T, 3, 2)
    metric = np.swapaxes(jac, 1, 2) @ jac
    mdet = metric[:, 0, 0] * metric[:, 1, 1] - metric[:, 0, 1] ** 2
    ok &= mdet > 1e-24
    out: F64 = np.zeros_like(jac)
    out[ok] = jac[ok] @ np.linalg.inv(metric[ok])
    return out


def _chroma(rgb: F64) -> F64:
    """Log chromaticity: log colour minus log luminance (shading-invariant)."""
    out: F64 = np.log(np.maximum(rgb, 1e-4)) - np.log(np.maximum(rgb @ LUMA, 1e-4))[:, None]
    return out


def _region(head: HeadModel, index: npt.NDArray[np.int64], size: int, names: tuple[str, ...]) -> F64:
    """The largest of the head's named region masks at the texels ``index`` of a ``size`` map."""
    rows, cols = np.divmod(index, size)
    out = np.zeros(len(index))
    for name in names:
        if name in head.region_masks:
            m = np.asarray(head.region_masks[name], np.float64)
            r = m.shape[0]
            out = np.maximum(out, m[(rows * r) // size, (cols * r) // size])
    return np.clip(out, 0.0, 1.0)


def shading_data(
    head: HeadModel, fit: FitResult, photo: Photo, albedo: Albedo, landmarks: FaceLandmarks | None, size: int
) -> ShadingData:
    """Per skin texel at ``size``: where it is, how it faces, what the photo shows there, and how
    far to trust it (visible, inside the face mask, facing the camera, not hair, skin-coloured).
    The window, visibility and face mask are ``texture.view_texels``' (as for the albedo)."""
    view = view_texels(head, fit, photo, landmarks, size)
    layout, c, n, colour = view.layout, view.camera_vertices, view.normals, view.colour
    # Grazing texels are foreshortened (their shading is blurred across several): a steeper ramp.
    weight = np.where(view.visible, np.clip((view.facing - 0.3) / 0.4, 0.0, 1.0) ** 2 * view.feather, 0.0)
    weight *= _not_hair(head, layout, colour, weight, size)

    # The albedo's low band at this size: area-averaged down, then blurred as the high-pass is.
    image = torch.from_numpy(np.ascontiguousarray(albedo.image, dtype=np.float32)).permute(2, 0, 1)[None]
    low = F.interpolate(image, size=(size, size), mode="area") if image.shape[-1] != size else image
    low = _blur(low.reshape(3, 1, size, size), COARSE_SIGMA_TEXELS * size / 256.0).reshape(3, -1).T
    alb = low.numpy()[layout.index].astype(np.float64)
    reference = np.maximum(albedo.reference.astype(np.float64), 1e-6)
    # Chromaticity: shading scales the three channels alike (up to the light's colour), so a texel
    # greyer or of another hue than the skin there (glasses, hair, a highlight) is not evidence of
    # relief. Skin in shadow turns more saturated, not less (light scattered under the skin), so
    # that direction is allowed: folds are where the evidence is.
    expected = alb * (sh_basis(n) @ albedo.lighting.astype(np.float64)) / reference
    chroma = _chroma(colour)
    skin_chroma = _chroma(expected)
    axis = skin_chroma / np.maximum(np.linalg.norm(skin_chroma, axis=1, keepdims=True), 1e-6)
    off = chroma - skin_chroma
    along = (off * axis).sum(axis=1)
    across = np.linalg.norm(off - along[:, None] * axis, axis=1)
    greyer = np.maximum(-along, 0.0)
    weight *= np.exp(-((greyer / CHROMA_TOLERANCE) ** 2 + (across / CHROMA_TOLERANCE) ** 2))
    # Where the albedo has edges of its own (hair of the brows, lashes, the lips' border) shape from
    # shading does not hold, nor where the fit's shape errors are as fine as detail (the nose's
    # wings and nostrils). The soft masks count from half-way, so their edges are out too.
    weight *= 1.0 - np.clip(2.0 * _region(head, layout.index, size, NOT_SHADING_REGIONS), 0.0, 1.0)

    basis = _gradient_basis(head, c, size)[layout.raster.tri.reshape(-1)[layout.index]]
    keep = weight > 0.02
    seen = np.zeros(size * size, np.float32)
    seen[layout.index[keep]] = weight[keep]
    return ShadingData(
        size=size,
        index=layout.index[keep],
        normal=n[keep].astype(np.float32),
        gradient_basis=basis[keep].astype(np.float32),
        albedo=(alb[keep] * LUMA / reference).astype(np.float32),
        log_luma=np.log(np.maximum(colour[keep] @ LUMA, 1e-4)).astype(np.float32),
        weight=weight[keep].astype(np.float32),
        seen=seen.reshape(size, size),
        lighting=albedo.lighting.astype(np.float32),
    )


# --- the shading model (torch, differentiable in the map) ----------------------------------------


def _gauss(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3.0 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W) with zero padding."""
    k = _gauss(sigma)
    r = k.numel() // 2
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))
    return F.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))


class ShadingModel:
    """Map (mm, size x size) -> the band-passed log luminance it predicts at the data texels."""

    def __init__(self, data: ShadingData) -> None:
        self.data = data
        self.size = data.size
        self.index = torch.from_numpy(data.index)
        self.normal = torch.from_numpy(data.normal)
        self.basis = torch.from_numpy(data.gradient_basis)
        self.albedo = torch.from_numpy(data.albedo)
        self.lighting = torch.from_numpy(data.lighting)
        self.weight = torch.from_numpy(data.weight)
        scale = data.size / 256.0
        self.sigmas = (FINE_SIGMA_TEXELS * scale, COARSE_SIGMA_TEXELS * scale)
        grid = torch.zeros(self.size * self.size)
        grid[self.index] = self.weight
        self._wgrid = grid.view(1, 1, self.size, self.size)
        self._norms = [_blur(self._wgrid, s).clamp_min(1e-6) for s in self.sigmas]
        self.target = self.band(torch.from_numpy(data.log_luma))

    def band(self, values: torch.Tensor) -> torch.Tensor:
        """values (N,) at the data texels -> their detail band: the weighted local mean at the fine
        scale minus that at the coarse one (a difference of Gaussians that skips the texels
        without data)."""
        grid = torch.zeros(self.size * self.size, dtype=values.dtype).index_put((self.index,), values)
        grid = grid.view(1, 1, self.size, self.size) * self._wgrid
        fine, coarse = (_blur(grid, s) / n for s, n in zip(self.sigmas, self._norms, strict=True))
        return (fine - coarse).view(-1)[self.index]

    def normals(self, map_mm: torch.Tensor) -> torch.Tensor:
        """(size, size) mm -> (N, 3) unit normals at the data texels, tilted by the map's gradient."""
        d = map_mm * 1e-3  # metres
        dcol = torch.zeros_like(d)
        drow = torch.zeros_like(d)
        dcol[:, 1:-1] = 0.5 * (d[:, 2:] - d[:, :-2])
        drow[1:-1, :] = 0.5 * (d[2:, :] - d[:-2, :])
        g = torch.stack([dcol.reshape(-1)[self.index], drow.reshape(-1)[self.index]], dim=1)  # (N, 2)
        n = self.normal - (self.basis @ g[:, :, None])[:, :, 0]
        out: torch.Tensor = n / n.norm(dim=1, keepdim=True).clamp_min(1e-9)
        return out

    def log_luma(self, map_mm: torch.Tensor) -> torch.Tensor:
        """(size, size) mm -> (N,) log luminance of albedo_low x SH(normal tilted by the map)."""
        shading = sh_basis_torch(self.normals(map_mm)) @ self.lighting  # (N, 3)
        return torch.log(((shading * self.albedo).sum(dim=1)).clamp_min(1e-4))

    def residual(self, map_mm: torch.Tensor) -> torch.Tensor:
        return self.target - self.band(self.log_luma(map_mm))

    def evidence(self, map_mm: torch.Tensor, base_mm: torch.Tensor) -> float:
        """Weighted correlation between what ``map_mm`` adds to the band over ``base_mm`` and what
        the photo adds over it: near 0 when the photo's fine shading is not the skin's relief
        (render or sensor noise, shadows' edges, a fit off by more than a line's width)."""
        with torch.no_grad():
            base = self.band(self.log_luma(base_mm))
            a = self.band(self.log_luma(map_mm)) - base
            b = self.target - base
            w = self.weight / self.weight.sum().clamp_min(1e-9)
            a = a - (w * a).sum()
            b = b - (w * b).sum()
            den = torch.sqrt((w * a * a).sum() * (w * b * b).sum()).clamp_min(1e-12)
            return float((w * a * b).sum() / den)

    def error(self, map_mm: torch.Tensor) -> float:
        """Weighted RMS of the residual (log luminance: ~ the fraction of the intensity)."""
        with torch.no_grad():
            r = self.residual(map_mm)
            return float(torch.sqrt((self.weight * r * r).sum() / self.weight.sum().clamp_min(1e-9)))


# --- the optimisation -----------------------------------------------------------------------------


def reach(data: ShadingData) -> torch.Tensor:
    """(size, size) 1 where the photo's evidence counts, fading to 0 over ``REACH_TEXELS``."""
    seen = (torch.from_numpy(data.seen) > 0.05).float()[None, None]
    return _blur(seen, REACH_TEXELS * data.size / 256.0)[0, 0].mul(2.0).clamp(0.0, 1.0)


def without_expression(data: ShadingData, wrinkles: torch.Tensor) -> ShadingData:
    """``data`` with no weight where the photo's expression makes wrinkles (by the model: where
    its expression map, blurred, exceeds ``EXPRESSION_MM``). A smile's crow's feet or a frown's
    lines in the photo are not evidence of the neutral face, and one photo cannot tell a static
    line from an expression's there: the neutral map keeps the model's."""
    active = _blur(wrinkles.abs()[None, None], 3.0 * data.size / 256.0)[0, 0] / EXPRESSION_MM
    keep = (1.0 - active.clamp(0.0, 1.0)).numpy().reshape(-1)
    weight = (data.weight * keep[data.index]).astype(np.float32)
    seen = (data.seen * keep.reshape(data.seen.shape)).astype(np.float32)
    return replace(data, weight=weight, seen=seen)


_SPREAD: dict[int, torch.Tensor] = {}


def latent_spread(model: Any, samples: int = 256) -> torch.Tensor:
    """(num_ws, w_dim) the spread of w+ over the people and expressions the detail model knows
    (its mapping networks on random identities and sparse ARKit weights, seeded): the prior measures
    how far the photo moves w+ in these units, so no style is free to wander off what was trained."""
    key = id(model)
    if key not in _SPREAD:
        from ..details.detailed3dmm import identity_code
        from ..details.procedural import sample_identities

        gen = torch.Generator().manual_seed(0)
        code = identity_code(sample_identities(samples, seed=11))
        n = len(ARKIT_NAMES)
        active = (torch.rand(samples, n, generator=gen) < 0.1).float()
        weights = active * torch.rand(samples, n, generator=gen)
        with torch.no_grad():
            ws = model.ws(code, weights)
        _SPREAD[key] = ws.std(dim=0).clamp_min(0.01 * float(ws.std()))
    return _SPREAD[key]


def optimise_latent(
    model: Any,
    noise: list[torch.Tensor],
    shading: ShadingModel,
    w0: torch.Tensor,
    start_map: torch.Tensor,
    wrinkles: torch.Tensor,
    unseen: torch.Tensor,
    steps: int,
    report: Progress | None = None,
    *,
    lr: float = LEARNING_RATE,
    prior: float = PRIOR_WEIGHT,
    coarse: float = COARSE_WEIGHT,
    anchor: float = ANCHOR_WEIGHT,
) -> torch.Tensor:
    """Adam on w+ (the model's parameters must not require grad).

    loss = robust data term (Charbonnier at the residual's spread at the start)
         + ``prior`` x mean ((w+ - start) / spread)^2     skin-like: near the encoder's w+ (``latent_spread``)
         + ``coarse`` x mean over skin (low-passed map change)^2 / TOLERANCE^2   shape is the fit's
         + ``anchor`` x mean over the unseen skin (map change)^2 / TOLERANCE^2   nothing to go on
    """
    gen = model.generator
    skin = gen.get_buffer("layout")[0, 0]
    spread = latent_spread(model)
    sigma = COARSE_SIGMA_TEXELS * shading.size / 256.0
    with torch.no_grad():
        r0 = shading.residual(start_map + wrinkles)
        scale = float(torch.quantile(r0.abs(), 0.5)) * 1.4826 + 1e-4
    wsum = shading.weight.sum().clamp_min(1e-9)
    unseen_mean = unseen.mean().clamp_min(1e-6)
    skin_mean = skin.mean().clamp_min(1e-6)
    w = w0.clone().requires_grad_(True)
    opt = Adam([w], lr=lr)
    for step in range(steps):
        map_mm = model.decode(w, noise)[0]
        r = shading.residual(map_mm + wrinkles) / scale
        loss = (shading.weight * (torch.sqrt(1.0 + r * r) - 1.0)).sum() / wsum
        change = map_mm - start_map
        low = _blur(change[None, None], sigma)[0, 0]
        loss = loss + prior * ((w - w0) / spread).pow(2).mean()
        loss = loss + coarse * (skin * low * low).mean() / skin_mean / TOLERANCE_MM**2
        loss = loss + anchor * (unseen * change * change).mean() / unseen_mean / TOLERANCE_MM**2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if report is not None and step % 10 == 9:
            report(0.9 * (step + 1) / steps, "reading detail from the photo")
    return w.detach()


AGE_GRID = tuple(float(a) for a in range(20, 86, 5))  # years the estimate chooses from


@dataclass
class AgeEstimate:
    """The detail model's age whose relief best explains the photo's fine shading."""

    age: float
    errors: dict[float, float]  # age -> weighted RMS shading residual of that age's map
    texels: int

    @property
    def decisive(self) -> bool:
        """False when the least relief the model makes (the youngest age) explains the photo best:
        young skin, or fine shading that is not relief at all (on the dev renders 3 of the 7 such
        picks were people over 45; Grace Hopper, in her late seventies, is one), so no age is read."""
        return self.age > min(self.errors)


def estimate_age(
    head: HeadModel,
    fit: FitResult,
    photo: Photo,
    albedo: Albedo,
    landmarks: FaceLandmarks | None,
    *,
    ages: tuple[float, ...] = AGE_GRID,
    seed: int = 0,
    data: ShadingData | None = None,
) -> AgeEstimate:
    """The detail-identity age whose Detailed3DMM map best explains the photo's fine shading.

    Each age's map in the photo's expression is shaded with the photo's light and compared with
    its fine shading (``ShadingModel.error``); the smallest residual wins. Unlike fitting the
    latent, this only picks among maps the model makes, so shading that is not relief cannot add
    blobs. It is weak: on 12 dev renders (ages 19-85, fitted from landmarks) the pick correlated
    0.6 with the true age and, keeping 40 where it was not ``decisive``, lowered the detail error
    0.0242 -> 0.0217 mm; on the 12 held-out renders of ``scripts/eval_photo`` (details_v2) it was
    decisive on 1 clean and 5-6 noisy views and lowered the error only 1-3% (0.0219 -> 0.0216 and
    0.0214-0.0217 over two runs), so the pipeline only runs it when asked (``PhotoSettings.estimate_age``)."""
    from ..details import DetailIdentity
    from ..details.detailed3dmm import identity_code, load_cached, weights_available

    if not weights_available():
        raise PhotoError("estimating the age needs the trained detail model (furrow/weights/details_v2.pt)")
    model = load_cached()
    size = model.cfg.resolution
    if data is None:
        data = shading_data(head, fit, photo, albedo, landmarks, size)
    texels = int((data.weight > 0.02).sum())
    if texels < 500:
        raise PhotoError("too little skin is visible to estimate the age from the photo")
    shading = ShadingModel(data)
    noise = model.generator.make_noise(int(seed), batch=len(ages))
    code = identity_code([DetailIdentity(age=float(a), seed=int(seed)) for a in ages])
    expression = torch.from_numpy(np.asarray(fit.expression, np.float32))[None].expand(len(ages), -1)
    with torch.no_grad():
        maps = model.decode(model.ws(code, expression), noise)
    errors = {float(a): shading.error(maps[i]) for i, a in enumerate(ages)}
    return AgeEstimate(age=min(errors, key=lambda a: errors[a]), errors=errors, texels=texels)


def detail_from_image(
    head: HeadModel,
    fit: FitResult,
    photo: Photo,
    albedo: Albedo,
    landmarks: FaceLandmarks | None,
    resolution: int = 1024,
    *,
    age: float = 40.0,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    min_evidence: float | None = None,
    progress: Progress | None = None,
) -> ImageDetail:
    """The person's neutral-pose displacement (mm, ``resolution`` square) from a sharp photo.

    ``fit``, ``albedo`` and ``landmarks`` are the photo pipeline's for ``head``, which must have
    the default head's UV layout (the detail model's). ``age`` and ``seed`` pick the start (the
    Detailed3DMM's person) and its pores. With ``min_evidence``, a photo whose fine shading the
    start's relief explains less than that (``ShadingModel.evidence``) keeps the start: fitting the
    latent to shading that is not relief adds blobs, not detail. ``progress(fraction, message)``
    may raise to cancel."""
    from ..details import DetailIdentity
    from ..details.detailed3dmm import Detailed3DMMSource, identity_code, load_cached, weights_available

    if not weights_available():
        raise PhotoError(
            "detail from the image needs the trained detail model (furrow/weights/details_v2.pt)"
        )
    t0 = time.perf_counter()
    report = progress or (lambda f, m: None)
    report(0.0, "reading detail from the photo")
    model = load_cached()
    gen = model.generator
    size = model.cfg.resolution
    identity = DetailIdentity(age=float(age), seed=int(seed))
    noise = gen.make_noise(identity.seed)
    code = identity_code([identity])
    expression = torch.from_numpy(np.asarray(fit.expression, np.float32))[None]
    neutral = torch.zeros_like(expression)

    data = shading_data(head, fit, photo, albedo, landmarks, size)
    skin = gen.get_buffer("layout")[0, 0]
    flags = [p.requires_grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            predicted = model.decode(model.ws(code, neutral), noise)[0]
            # The photo's expression wrinkles as the model makes them: in the map the photo is
            # compared with, not in the neutral result.
            wrinkles = model.decode(model.ws(code, expression), noise)[0] - predicted
            w0 = model.encode(predicted[None])
            start_map = model.decode(w0, noise)[0]
        before = float(data.weight.sum())
        data = without_expression(data, wrinkles)
        expression_share = 1.0 - float(data.weight.sum()) / max(before, 1e-9)
        if int((data.weight > 0.02).sum()) < 500:
            raise PhotoError("too little skin is visible to read detail from the photo; use detail 'model'")
        shading = ShadingModel(data)
        near = reach(data)
        error_before = shading.error(start_map + wrinkles)
        evidence = shading.evidence(start_map + wrinkles, wrinkles)
        trusted = min_evidence is None or evidence >= min_evidence
        unseen = (1.0 - near) * skin
        w = optimise_latent(
            model, noise, shading, w0, start_map, wrinkles, unseen, steps if trusted else 0, report
        )
        with torch.no_grad():
            final = model.decode(w, noise)[0]
            change = (start_map - predicted) + near * (final - start_map)
            if not trusted:  # the detail model's own map, not the encoder's round trip of it
                change = torch.zeros_like(change)
        error_after = shading.error(predicted + change + wrinkles)
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)

    report(0.95, "upsampling the detail")
    source = Detailed3DMMSource(head=head, precision="float32")
    source.prepare(identity, resolution, expressions=False)  # a neutral still: skin only above 256 px
    with torch.no_grad():
        base = source.frames(neutral)[0]  # the model bake's map: its 256 px band, upsampled, + fine skin
        up = change[None, None]
        if resolution != size:
            mode = "bicubic" if resolution > size else "area"
            kwargs: dict[str, Any] = {"align_corners": False} if mode == "bicubic" else {}
            up = F.interpolate(up, size=(resolution, resolution), mode=mode, **kwargs)
    out = (base + up[0, 0]).numpy().astype(np.float32)

    notes: list[str] = []
    face = landmarks.face_size if landmarks is not None else fit.face_size_px
    if face < 0.6 * size:
        notes.append(
            f"the face spans {face:.0f} px: detail finer than ~{250.0 / max(face, 1.0):.1f} mm "
            "is not in the photo"
        )
    if expression_share > 0.05:
        notes.append(
            f"{100 * expression_share:.0f}% of the seen skin is creased by the photo's expression; "
            "the neutral map keeps the model's detail there"
        )
    if trusted:
        notes.append(
            f"detail from the photo: shading residual {error_before:.4f} -> {error_after:.4f} "
            f"over {int((data.weight > 0.02).sum())} texels, {steps} steps"
        )
    else:
        notes.append(
            f"the photo's fine shading is not explained by skin relief (evidence {evidence:.2f} < "
            f"{min_evidence:.2f}: noise, shadows or a fit off by more than a line's width): "
            "the detail model's map is kept"
        )
    report(1.0, "detail from the photo done")
    return ImageDetail(
        displacement_mm=out,
        w_plus=w.detach(),
        start=START,
        shading_error_before=error_before,
        shading_error_after=error_after,
        texels_used=int((data.weight > 0.02).sum()),
        evidence=evidence,
        fitted=trusted,
        seconds=time.perf_counter() - t0,
        notes=notes,
    )
