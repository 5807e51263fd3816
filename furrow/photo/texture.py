"""The skin's albedo from a photo: projection into UV space, shading removed, the unseen filled.

1. Every skin texel of the fitted head is projected into the photo; it takes the photo's colour
   where the depth buffer says it is visible, weighted by how squarely it faces the camera.
2. Lighting is a 2nd-order spherical-harmonics environment (9 coefficients per channel), fitted
   to the visible face on the assumption that skin albedo varies less than shading; dividing by
   the (normalised) shading leaves albedo.
3. The side turned away borrows its mirror texel's colour (faces are nearly symmetric); what
   neither side saw (back of the head, under the chin, inside the ears) is filled by a push-pull
   pyramid from the seen skin, which matches its tone and blurs toward it smoothly.
Colours are linear RGB; PNGs are written as sRGB.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from ..heads.model import HeadModel
from ..io.head_mesh import vertex_normals
from ..raster import Raster, rasterize, uv_raster
from .fit import FitResult
from .image import Photo
from .landmarks import MP_EYE_RINGS, MP_FACE_OVAL, MP_INNER_LIP_RING, FaceLandmarks

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ALBEDO_RESOLUTION = 1024
FACE_PX_FOR_TEXTURE = 1200.0  # a face larger than this (per 1024 px of albedo) has no more to give
VISIBLE_TOLERANCE_M = 0.003  # a texel within 3 mm of the depth buffer's surface is visible
MIRROR_WEIGHT = 0.6  # the mirror side's evidence counts this much
HAIR_LUMA = 0.55  # forehead texels darker than this fraction of the cheeks' skin are taken as hair
# Above the brows, albedo (shading divided out) darker than this fraction of the cheeks' is hair or
# its shadow: the fringe's edge, which the raw-luma test above keeps in part (``_hairline``).
HAIRLINE_ALBEDO = 0.8
BROWS_MARGIN_MM = 3.0  # "above the brows": this far above the brow landmarks' line
FEATHER = 0.08  # the photo's weight ramps up over this fraction of the face's size inside the mask
SHADING_FLOOR = 0.25  # shading below this fraction of the face's median is not divided out fully
# Glasses: in an ellipsoid about each eye (EYE_ZONE_MM across: frames reach the temples, but
# not down to the nasolabial folds), albedo far darker than the skin's median (frames:
# Grace Hopper's are 0.02-0.035 of it; dark brows on light skin ~0.3) or far less warm (lens glare,
# metal rims, the eyeball seen through the lids) is not skin. Grown by GLASSES_GROW_MM, it is
# filled from the skin around it. Farther out, dark albedo is left alone: a fold's deep shadow
# filled in looks worse than the shadow.
EYE_ZONE_MM = (50.0, 50.0, 28.0)  # x (across), y (depth), z (up) radii
NEAR_BLACK = 0.1
LESS_WARM = 0.5  # x the skin's median (R - B) / (R + G + B)
GLASSES_GROW_MM = 2.0


@dataclass
class Albedo:
    image: F32  # (R, R, 3) linear RGB, row 0 at v = 1
    seen: F32  # (R, R) photo evidence per texel in [0, 1] (direct or mirrored); 0 = filled
    lighting: F32  # (9, 3) SH coefficients (camera frame) of the photo's light, times mean albedo
    reference: F32  # (3,) the face's median shading: albedo = photo / (shading / reference)
    seen_fraction: float  # of the skin's texels, the share with photo evidence (direct or mirrored)
    notes: list[str] = field(default_factory=list)

    def srgb8(self) -> npt.NDArray[np.uint8]:
        out: npt.NDArray[np.uint8] = (linear_to_srgb(self.image) * 255.0 + 0.5).astype(np.uint8)
        return out


def srgb_to_linear(c: npt.ArrayLike) -> F32:
    x = np.asarray(c, np.float32)
    out: F32 = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)
    return out


def linear_to_srgb(c: npt.ArrayLike) -> F32:
    x = np.clip(np.asarray(c, np.float32), 0.0, 1.0)
    out: F32 = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)
    return out


def sh_basis(n: npt.ArrayLike) -> F64:
    """Real spherical harmonics up to order 2 (9 functions) at unit normals (N, 3)."""
    v = np.asarray(n, np.float64)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    out: F64 = np.stack(
        [
            np.full_like(x, 0.282095),
            0.488603 * y,
            0.488603 * z,
            0.488603 * x,
            1.092548 * x * y,
            1.092548 * y * z,
            0.315392 * (3 * z * z - 1),
            1.092548 * x * z,
            0.546274 * (x * x - y * y),
        ],
        axis=1,
    )
    return out


def sh_basis_torch(n: torch.Tensor) -> torch.Tensor:
    """``sh_basis`` in torch (differentiable): (..., 3) unit normals -> (..., 9)."""
    x, y, z = n.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, 0.282095), 0.488603 * y, 0.488603 * z, 0.488603 * x, 1.092548 * x * y,
            1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z, 0.546274 * (x * x - y * y),
        ],
        dim=-1,
    )  # fmt: skip


@dataclass
class _Layout:
    """Per skin texel: its triangle and weights, and its mirror texel (built once per head)."""

    raster: Raster
    index: npt.NDArray[np.int64]  # flat texel ids on skin
    mirror: npt.NDArray[np.int64]  # for each of ``index``: the flat id of the mirror-image texel
    eye_zone: npt.NDArray[np.bool_] | None = None  # texels near the eyes (``eye_zone``), on first use
    above_brows: npt.NDArray[np.bool_] | None = None  # texels above the brows (``above_brows``), too


_LAYOUTS: dict[tuple[int, int], tuple[weakref.ref[HeadModel], _Layout]] = {}


LAYOUT_CACHE_VERSION = 3  # 2: with the eye zone; 3: and the zone above the brows


def layout_cache_dir() -> Path:
    """Where built skin layouts are kept between sessions (``furrow/data/layouts``, never committed)."""
    return Path(__file__).resolve().parents[1] / "data" / "layouts"


def _layout_key(head: HeadModel, resolution: int) -> str:
    """A digest of everything a layout depends on: the UVs, the triangles, the skin, the mesh's
    symmetry (its vertices), the eyes and their zone, the size and the format."""
    h = hashlib.sha1(f"v{LAYOUT_CACHE_VERSION}-{resolution}-{EYE_ZONE_MM}".encode())
    eyes = head.parts.get("eyes", np.zeros(0, np.int64))
    for a in (head.uvs, head.triangle_loops, head.triangles, head.parts["skin"], head.vertices, eyes):
        h.update(np.ascontiguousarray(a).tobytes())
    return f"skin_layout-{resolution}-{h.hexdigest()[:20]}.npz"


def _load_layout(path: Path, resolution: int) -> _Layout | None:
    try:
        with np.load(path) as f:
            raster = Raster(tri=f["tri"], bary=f["bary"], depth=f["depth"])
            index, mirror = f["index"].astype(np.int64), f["mirror"].astype(np.int64)
            eyes = np.unpackbits(f["eye_zone"], count=len(index)).astype(bool)
            brows = np.unpackbits(f["above_brows"], count=len(index)).astype(bool)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # missing or damaged: built again
    if raster.tri.shape != (resolution, resolution) or index.shape != mirror.shape:
        return None
    return _Layout(raster=raster, index=index, mirror=mirror, eye_zone=eyes, above_brows=brows)


def _save_layout(path: Path, layout: _Layout) -> None:
    """Best effort (a read-only install builds it each session), atomic (no reader sees half a file)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f, tri=layout.raster.tri, bary=layout.raster.bary, depth=layout.raster.depth,
                index=layout.index.astype(np.int32), mirror=layout.mirror.astype(np.int32),
                eye_zone=_bits(layout.eye_zone), above_brows=_bits(layout.above_brows),
            )  # fmt: skip
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _bits(mask: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.uint8]:
    return np.packbits(mask if mask is not None else np.zeros(0, bool))


def skin_layout(head: HeadModel, resolution: int) -> _Layout:
    """Per skin texel at ``resolution``: triangle, weights and mirror texel. Built once per head
    and size (1.6 s at 1024 px) and kept on disk, so a new session loads it (~0.1 s)."""
    key = (id(head), resolution)
    if key in _LAYOUTS and _LAYOUTS[key][0]() is head:
        return _LAYOUTS[key][1]
    path = layout_cache_dir() / _layout_key(head, resolution)
    layout = _load_layout(path, resolution)
    if layout is None:
        layout = _build_layout(head, resolution)
        eye_zone(head, layout)  # kept with it: 0.2 s at 1024 px
        above_brows(head, layout)
        _save_layout(path, layout)
    if len(_LAYOUTS) >= 2:
        _LAYOUTS.pop(next(iter(_LAYOUTS)))
    _LAYOUTS[key] = (weakref.ref(head), layout)
    return layout


def _build_layout(head: HeadModel, resolution: int) -> _Layout:
    from scipy.spatial import cKDTree  # type: ignore[import-untyped]

    skin = np.zeros(head.n_vertices, bool)
    skin[head.parts["skin"]] = True
    tris = np.flatnonzero(skin[head.triangles].all(axis=1))
    r = uv_raster(head.uvs, head.triangle_loops, resolution, tris)
    index = np.flatnonzero(r.tri.reshape(-1) >= 0)
    mirror = _mirror_by_topology(head, r, index, resolution)
    if mirror is None:  # an asymmetric mesh: the nearest texel to each mirrored point
        pos = _texel_points(head, r, index, head.vertices.astype(np.float64))
        _, nearest = cKDTree(pos).query(pos * np.array([-1.0, 1.0, 1.0]))
        mirror = index[nearest]
    return _Layout(raster=r, index=index, mirror=mirror)


def _mirror_by_topology(
    head: HeadModel, r: Raster, index: npt.NDArray[np.int64], resolution: int
) -> npt.NDArray[np.int64] | None:
    """Mirror texels through the mesh's own symmetry (vertex i <-> its mirror vertex): each texel's
    triangle and weights map to the mirrored triangle, whose UVs give the texel. None when the
    mesh is not symmetric."""
    from scipy.spatial import cKDTree

    v = head.vertices.astype(np.float64)
    dist, vm = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    if dist.max() > 1e-6:
        return None
    tris = head.triangles.astype(np.int64)
    lookup = {tuple(sorted(t)): i for i, t in enumerate(tris.tolist())}
    mirrored = vm[tris]  # (F, 3): the mirror vertices of each triangle's corners
    partner = np.array([lookup.get(tuple(sorted(t)), -1) for t in mirrored.tolist()], dtype=np.int64)
    if (partner < 0).any():
        return None
    tri = r.tri.reshape(-1)[index].astype(np.int64)
    bary = r.bary.reshape(-1, 3)[index].astype(np.float64)
    other = partner[tri]
    # Weight of the partner's corner k = the weight of the corner of ``tri`` that mirrors onto it.
    corner_of = mirrored[tri][:, None, :] == tris[other][:, :, None]  # (N, 3 partner, 3 own)
    weights = np.einsum("nkj,nj->nk", corner_of.astype(np.float64), bary)
    uv = np.einsum("nk,nkd->nd", weights, head.uvs[head.triangle_loops[other]].astype(np.float64))
    col = np.clip((uv[:, 0] * resolution).astype(np.int64), 0, resolution - 1)
    row = np.clip(((1.0 - uv[:, 1]) * resolution).astype(np.int64), 0, resolution - 1)
    flat = row * resolution + col
    covered = r.tri.reshape(-1)[flat] >= 0
    out: npt.NDArray[np.int64] = np.where(covered, flat, index)  # an edge texel: its own colour
    return out


def _texel_points(head: HeadModel, r: Raster, index: npt.NDArray[np.int64], values: F64) -> F64:
    tri = r.tri.reshape(-1)[index]
    bary = r.bary.reshape(-1, 3)[index].astype(np.float64)
    out: F64 = np.einsum("nk,nkd->nd", bary, values[head.triangles[tri]])
    return out


def _bilinear(image: F32, x: F64, y: F64) -> F32:
    """Sample (H, W, C) at continuous pixel coordinates (pixel centres at +0.5), clamped at the
    edges; torch's sampler (every core; 0.02 s for a 1024 px layout's texels, numpy 0.15 s)."""
    import torch.nn.functional as F

    h, w = image.shape[:2]
    img = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
    grid = torch.from_numpy(np.stack([2.0 * x / w - 1.0, 2.0 * y / h - 1.0], axis=1).astype(np.float32))
    out = F.grid_sample(img, grid[None, None], mode="bilinear", padding_mode="border", align_corners=False)
    result: F32 = out[0, :, 0].T.contiguous().numpy()
    return result


def push_pull(values: F32, weights: F32) -> F32:
    """Fill where ``weights`` is 0 with a smooth continuation of the weighted ``values``.

    Pull: halve the image, averaging by weight, until one pixel; push: back up, each level's
    holes taking the coarser level's colour, its partial pixels a weighted blend. In torch: its
    pooling and bilinear upsampling run on every core (0.06 s at 1024 px, scipy's zoom 0.4 s).
    """
    import torch.nn.functional as F

    w = torch.from_numpy(np.ascontiguousarray(weights, np.float32))[None, None]
    v = torch.from_numpy(np.ascontiguousarray(values, np.float32)).permute(2, 0, 1)[None] * w
    levels = [(v, w)]
    while max(levels[-1][1].shape[-2:]) > 1:
        v, w = levels[-1]
        pad = (0, v.shape[-1] % 2, 0, v.shape[-2] % 2)
        levels.append((F.avg_pool2d(F.pad(v, pad), 2) * 4.0, F.avg_pool2d(F.pad(w, pad), 2) * 4.0))
    v, w = levels[-1]
    colour = v / w.clamp_min(1e-12)
    for v, w in reversed(levels[:-1]):
        # Linear (not nearest) upsampling, edges clamped: the fill has no blocks.
        up = F.interpolate(colour, scale_factor=2, mode="bilinear", align_corners=False)
        share = w.clamp(0.0, 1.0)
        colour = v / w.clamp_min(1e-12) * share + up[..., : v.shape[-2], : v.shape[-1]] * (1.0 - share)
    out: F32 = colour[0].permute(1, 2, 0).contiguous().numpy()
    return out


def face_mask(landmarks: FaceLandmarks, erode: float = 0.02) -> npt.NDArray[np.bool_]:
    """Pixels of the photo that show facial skin: inside the face oval, outside the eyes and the
    open mouth, shrunk by ``erode`` x the face's size so hair and background at the edge stay out."""
    from PIL import Image, ImageDraw

    w, h = landmarks.image_size
    pts = landmarks.points[:, :2]
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    draw.polygon([tuple(map(float, pts[i])) for i in MP_FACE_OVAL], fill=255)
    radius = round(erode * landmarks.face_size)
    if radius >= 1:  # erode by a distance transform: linear time at any radius
        from scipy.ndimage import distance_transform_edt  # type: ignore[import-untyped]

        inside = distance_transform_edt(np.asarray(img) > 127) > radius
        img = Image.fromarray((inside * 255).astype(np.uint8))
    # The eyes and the open mouth, grown by a quarter of the margin (lids and lips are thin).
    draw = ImageDraw.Draw(img)
    edge = max(1, radius // 4)
    for ring in (*MP_EYE_RINGS, MP_INNER_LIP_RING):
        outline = [tuple(map(float, pts[i])) for i in ring]
        draw.polygon(outline, fill=0, outline=0, width=edge)
    out: npt.NDArray[np.bool_] = np.asarray(img) > 127
    return out


def _region_at(head: HeadModel, layout: _Layout, name: str, resolution: int) -> F64:
    """The head's ``name`` region mask at each skin texel of a ``resolution`` layout."""
    m = np.asarray(head.region_masks[name], np.float64)
    rows, cols = np.divmod(layout.index, resolution)
    out: F64 = m[(rows * m.shape[0]) // resolution, (cols * m.shape[0]) // resolution]
    return out


def _relative_to_cheeks(
    head: HeadModel, layout: _Layout, colour: F64, weight: F64, resolution: int
) -> F64 | None:
    """Each texel's luminance over the median of the well-seen cheeks' (None: too few seen)."""
    if "cheeks" not in head.region_masks:
        return None
    luma = colour @ np.array([0.2126, 0.7152, 0.0722])
    cheeks = (_region_at(head, layout, "cheeks", resolution) > 0.5) & (weight > 0.3)
    if cheeks.sum() < 50:
        return None
    out: F64 = luma / max(float(np.median(luma[cheeks])), 1e-6)
    return out


def _not_hair(head: HeadModel, layout: _Layout, colour: F64, weight: F64, resolution: int) -> F64:
    """0 for forehead texels much darker than the cheeks' skin (a fringe of hair, a hat's brim)."""
    relative = _relative_to_cheeks(head, layout, colour, weight, resolution)
    if relative is None or "forehead" not in head.region_masks:
        return np.ones(len(colour))
    dark = np.clip((relative - HAIR_LUMA) / 0.15, 0.0, 1.0)
    out: F64 = np.where(_region_at(head, layout, "forehead", resolution) > 0.3, dark, 1.0)
    return out


@dataclass
class TexelView:
    """Every skin texel of a UV layout seen through the photo's camera: what the albedo and the
    detail from the image both start from."""

    layout: _Layout
    camera_vertices: F64  # (V, 3) the fitted head's vertices in camera space
    points: F64  # (N, 3) camera-space texel points, N = len(layout.index)
    normals: F64  # (N, 3) unit normals, camera space
    colour: F64  # (N, 3) the photo's linear RGB where the texel projects
    visible: npt.NDArray[np.bool_]  # in the photo, in front (depth buffer), inside the face mask
    feather: F64  # (N,) 0 at the face mask's edge -> 1 inside (FEATHER of the face's size)
    facing: F64  # (N,) cosine between the normal and the direction to the camera


def view_texels(
    head: HeadModel,
    fit: FitResult,
    photo: Photo,
    landmarks: FaceLandmarks | None = None,
    resolution: int = ALBEDO_RESOLUTION,
) -> TexelView:
    """Project the skin texels of a ``resolution`` layout into the photo, with visibility.

    With ``landmarks``, only facial skin in the photo counts (``face_mask``): hair, a hat, the
    eyes and the inside of the mouth are not visible skin. Only the head's part of the photo is
    worked on, box-filtered down when the face is larger than the texels can hold (no aliasing),
    so memory stays bounded for any photo size."""
    layout = skin_layout(head, resolution)
    cam = fit.camera
    verts = head.evaluate_np(fit.identity, fit.expression).astype(np.float64)
    c = cam.to_camera(verts)
    xy_full = cam.project(verts)
    # The window: the head's projected skin plus a margin, inside the photo.
    face = landmarks.face_size if landmarks is not None else fit.face_size_px
    front = c[head.parts["skin"], 2] > 1e-3
    skin_xy = xy_full[head.parts["skin"]][front]
    margin = 0.05 * face + 2.0
    x0 = int(np.clip(np.floor(skin_xy[:, 0].min() - margin), 0, cam.width - 1))
    y0 = int(np.clip(np.floor(skin_xy[:, 1].min() - margin), 0, cam.height - 1))
    x1 = int(np.clip(np.ceil(skin_xy[:, 0].max() + margin), x0 + 1, cam.width))
    y1 = int(np.clip(np.ceil(skin_xy[:, 1].max() + margin), y0 + 1, cam.height))
    scale = min(1.0, FACE_PX_FOR_TEXTURE * resolution / ALBEDO_RESOLUTION / max(face, 1.0))
    crop = photo.rgb[y0:y1, x0:x1]
    if scale < 1.0:
        from PIL import Image

        size = (max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale)))
        crop = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, Image.Resampling.BOX))
    height, width = crop.shape[:2]
    sx, sy = width / (x1 - x0), height / (y1 - y0)

    def window(x: F64, y: F64) -> tuple[F64, F64]:
        return (x - x0) * sx, (y - y0) * sy

    wx, wy = window(xy_full[:, 0], xy_full[:, 1])
    depth_buffer = rasterize(np.stack([wx, wy], axis=1), head.triangles, width, height, depth=c[:, 2])
    normals = vertex_normals(verts.astype(np.float32), head.triangles).astype(np.float64) @ cam.rotation.T

    # Camera-frame texel points and normals, in one pass over the texels.
    p, n = np.split(_texel_points(head, layout.raster, layout.index, np.concatenate([c, normals], 1)), 2, 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    z = np.maximum(p[:, 2], 1e-6)
    u, v = window(cam.focal_px * p[:, 0] / z + cam.width / 2.0, cam.focal_px * p[:, 1] / z + cam.height / 2.0)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height) & (p[:, 2] > 1e-3)
    ui = np.clip(u.astype(np.int64), 0, width - 1)
    vi = np.clip(v.astype(np.int64), 0, height - 1)
    visible = inside & (p[:, 2] <= depth_buffer.depth[vi, ui] + VISIBLE_TOLERANCE_M)
    feather = np.ones(len(p))
    if landmarks is not None:
        from scipy.ndimage import distance_transform_edt

        pts = landmarks.points.copy()
        pts[:, 0], pts[:, 1] = window(pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64))
        pts[:, 2] *= sx
        local = FaceLandmarks(points=pts, image_size=(width, height), faces_found=landmarks.faces_found)
        mask = face_mask(local)
        visible &= mask[vi, ui]
        # Fade the photo out toward the mask's edge: hair and shadow there blend, not smudge.
        inner = distance_transform_edt(mask)[vi, ui] / max(FEATHER * local.face_size, 1.0)
        feather = np.clip(inner, 0.0, 1.0)
    facing = -(n * (p / np.linalg.norm(p, axis=1, keepdims=True))).sum(axis=1)
    linear = srgb_to_linear(crop.astype(np.float32) / 255.0)
    colour = _bilinear(linear, u, v).astype(np.float64)
    return TexelView(
        layout=layout, camera_vertices=c, points=p, normals=n, colour=colour, visible=visible,
        feather=feather, facing=facing,
    )  # fmt: skip


def _divide_shading(
    basis: F64, colour: F64, good: npt.NDArray[np.bool_], weight: F64, notes: list[str]
) -> tuple[F64, F64, F64]:
    """SH lighting fitted on ``good`` texels (robust: two passes), and the albedo it leaves:
    (lighting (9, 3), albedo (N, 3), the face's median shading (3,))."""
    if good.sum() < 200:
        notes.append("too little of the face is visible to estimate the lighting; shading is left in")
        lighting = np.zeros((9, 3))
        lighting[0] = colour[weight > 0].mean(axis=0) / 0.282095 if (weight > 0).any() else 0.5
    else:
        sel = good.copy()
        for _ in range(2):
            lighting, *_ = np.linalg.lstsq(basis[sel], colour[sel], rcond=None)
            resid = np.abs(colour - basis @ lighting).sum(axis=1)
            sel = good & (resid < 3.0 * np.median(resid[good]))
    shading = basis @ lighting  # (N, 3), includes the mean albedo
    reference = np.median(shading[good], axis=0) if good.any() else np.ones(3)
    relative = np.maximum(shading / np.maximum(reference, 1e-6), SHADING_FLOOR)
    return lighting, colour / relative, np.asarray(reference, np.float64)


def eye_zone(head: HeadModel, layout: _Layout) -> npt.NDArray[np.bool_]:
    """Texels of the neutral head inside the ``EYE_ZONE_MM`` ellipsoid about either eye (kept on
    the layout: the same for every photo of the head)."""
    if layout.eye_zone is None:
        near = np.zeros(len(layout.index), bool)
        eyes = head.parts.get("eyes")
        if eyes is not None and len(eyes) > 0:
            eye_v = head.vertices[eyes].astype(np.float64)
            points = _texel_points(head, layout.raster, layout.index, head.vertices.astype(np.float64))
            for c in (eye_v[eye_v[:, 0] < 0].mean(axis=0), eye_v[eye_v[:, 0] >= 0].mean(axis=0)):
                if np.isfinite(c).all():
                    near |= np.linalg.norm((points - c) / (np.array(EYE_ZONE_MM) / 1000.0), axis=1) < 1.0
        layout.eye_zone = near
    return layout.eye_zone


def above_brows(head: HeadModel, layout: _Layout) -> npt.NDArray[np.bool_]:
    """Texels of the neutral head more than ``BROWS_MARGIN_MM`` above the brow line (the brow
    landmarks' height across the face, held level beyond their ends): where hair can hang over
    the skin (a fringe, the temples). Kept on the layout."""
    if layout.above_brows is None:
        points = _texel_points(head, layout.raster, layout.index, head.vertices.astype(np.float64))
        brows = head.landmark_positions(head.vertices, "68")[17:27].astype(np.float64)
        order = np.argsort(brows[:, 0])
        line = np.interp(points[:, 0], brows[order, 0], brows[order, 2])
        layout.above_brows = points[:, 2] > line + BROWS_MARGIN_MM / 1000.0
    return layout.above_brows


def _hairline(head: HeadModel, albedo: F64, weight: F64, layout: _Layout, resolution: int) -> F64:
    """A weight per texel: 0 above the brows where the albedo is far darker than the cheeks'
    (``HAIRLINE_ALBEDO``: hair, or the shadow it casts; the photo's lighting is divided out, so a
    forehead merely lit less is not taken), ramping to 1 at skin tone; 1 elsewhere."""
    relative = _relative_to_cheeks(head, layout, albedo, weight, resolution)
    if relative is None:
        return np.ones(len(albedo))
    dark = np.clip((relative - HAIRLINE_ALBEDO) / 0.1, 0.0, 1.0)
    out: F64 = np.where(above_brows(head, layout), dark, 1.0)
    return out


def _glasses(
    head: HeadModel, albedo: F64, weight: F64, layout: _Layout, resolution: int
) -> npt.NDArray[np.bool_]:
    """Seen texels near the eyes that are not skin (``EYE_ZONE_MM``, ``NEAR_BLACK``, ``LESS_WARM``), grown."""
    from scipy.ndimage import binary_dilation

    seen = weight > 0.3
    near = eye_zone(head, layout)
    if seen.sum() < 50 or not near.any():
        return np.zeros(len(albedo), bool)
    luma = albedo @ np.array([0.2126, 0.7152, 0.0722])
    warmth = (albedo[:, 0] - albedo[:, 2]) / np.maximum(albedo.sum(axis=1), 1e-6)
    skin_luma, skin_warmth = float(np.median(luma[seen])), float(np.median(warmth[seen]))
    odd = (luma < NEAR_BLACK * skin_luma) | (warmth < LESS_WARM * skin_warmth)
    grid = np.zeros(resolution * resolution, bool)
    grid[layout.index[seen & near & odd]] = True
    # The UV square spans ~0.5 m of the head: texels per mm = resolution / 500.
    steps = max(1, round(GLASSES_GROW_MM * resolution / 500.0))
    grown = binary_dilation(grid.reshape(resolution, resolution), iterations=steps).reshape(-1)
    out: npt.NDArray[np.bool_] = grown[layout.index] & near & (weight > 0)
    return out


def project_albedo(
    head: HeadModel,
    fit: FitResult,
    photo: Photo,
    landmarks: FaceLandmarks | None = None,
    resolution: int = ALBEDO_RESOLUTION,
) -> Albedo:
    """The skin albedo (linear RGB, ``resolution`` square) of the fitted head from the photo
    (texels seen as ``view_texels`` sees them)."""
    view = view_texels(head, fit, photo, landmarks, resolution)
    layout, n, colour = view.layout, view.normals, view.colour
    n_tex = len(layout.index)
    weight = np.where(view.visible, np.clip((view.facing - 0.15) / 0.35, 0.0, 1.0) ** 2 * view.feather, 0.0)
    weight *= _not_hair(head, layout, colour, weight, resolution)

    # Lighting: colour = mean albedo x SH shading, fitted on well-seen texels (robust: two passes),
    # then again without what is not skin near the eyes (glasses), found through the first albedo.
    basis = sh_basis(n)
    notes: list[str] = []
    lighting, albedo, reference = _divide_shading(basis, colour, weight > 0.5, weight, notes)
    dropped = _glasses(head, albedo, weight, layout, resolution)
    hair = _hairline(head, albedo, weight, layout, resolution)
    if dropped.any() or (hair < 1.0).any():
        seen_before = int((weight > 0.5).sum())
        hair_cut = int(((weight > 0.5) & (hair < 0.5)).sum())
        weight = np.where(dropped, 0.0, weight)
        share = float(dropped.sum()) / max(int((weight > 0.5).sum() + dropped.sum()), 1)
        weight = weight * hair
        lighting, albedo, reference = _divide_shading(basis, colour, weight > 0.5, weight, [])
        if share > 0.002:
            notes.append(
                f"{100 * share:.1f}% of the seen face near the eyes is not skin (glasses, or the eyes "
                "through the lids): filled from the skin around it"
            )
        if hair_cut / max(seen_before, 1) > 0.002:
            notes.append(
                f"{100 * hair_cut / max(seen_before, 1):.1f}% of the seen face above the brows is hair "
                "or its shadow: filled from the skin around it"
            )

    # Mirror: texels the photo did not see well take their mirror image's colour.
    mirror_pos = np.searchsorted(layout.index, layout.mirror)
    w_m = weight[mirror_pos] * MIRROR_WEIGHT
    a_m = albedo[mirror_pos]
    total = weight + w_m
    combined = (albedo * weight[:, None] + a_m * w_m[:, None]) / np.maximum(total, 1e-12)[:, None]
    seen = np.clip(total, 0.0, 1.0)

    image = np.zeros((resolution * resolution, 3), np.float32)
    wmap = np.zeros(resolution * resolution, np.float32)
    image[layout.index] = combined
    wmap[layout.index] = seen
    image = image.reshape(resolution, resolution, 3)
    wmap = wmap.reshape(resolution, resolution)
    filled = push_pull(image, wmap)
    seen_fraction = float((seen > 0.05).mean()) if n_tex else 0.0
    notes.append(f"{100 * seen_fraction:.0f}% of the skin comes from the photo (with its mirror image)")
    return Albedo(
        image=np.clip(filled, 0.0, 1.0).astype(np.float32),
        seen=wmap.astype(np.float32),
        lighting=lighting.astype(np.float32),
        reference=np.asarray(reference, np.float32),
        seen_fraction=seen_fraction,
        notes=notes,
    )
