"""Re-rendering a fitted head into its photo: albedo x spherical-harmonics shading, through the
photo's camera, with our rasteriser. The photometric error of the fit is measured on it, and the
overlay pictures in docs/ are made with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..heads.model import HeadModel
from ..io.head_mesh import vertex_normals
from ..raster import rasterize
from .fit import FitResult
from .texture import Albedo, _bilinear, linear_to_srgb, sh_basis, srgb_to_linear

F32 = npt.NDArray[np.float32]


@dataclass
class Rerender:
    rgb: npt.NDArray[np.uint8]  # (H, W, 3) sRGB: the render over the photo
    skin: npt.NDArray[np.bool_]  # (H, W) pixels covered by the head's skin


def rerender(head: HeadModel, fit: FitResult, albedo: Albedo, photo_rgb: npt.NDArray[np.uint8]) -> Rerender:
    cam = fit.camera
    verts = head.evaluate_np(fit.identity, fit.expression).astype(np.float64)
    xy = cam.project(verts)
    depth = cam.to_camera(verts)[:, 2]
    skin = np.zeros(head.n_vertices, bool)
    skin[head.parts["skin"]] = True
    r = rasterize(xy, head.triangles, cam.width, cam.height, depth=depth)
    on_skin = r.covered & skin[head.triangles[np.maximum(r.tri, 0)]].all(axis=-1)
    # Per-pixel UV from the hit triangle's corners, normal from the vertices.
    tri = r.tri[on_skin]
    bary = r.bary[on_skin].astype(np.float64)
    corners_uv = head.uvs[head.triangle_loops[tri]].astype(np.float64)  # (N, 3, 2)
    uv = np.einsum("nk,nkd->nd", bary, corners_uv)
    res = albedo.image.shape[0]
    colour = _bilinear(albedo.image, uv[:, 0] * res, (1.0 - uv[:, 1]) * res).astype(np.float64)
    normals = vertex_normals(verts.astype(np.float32), head.triangles).astype(np.float64) @ cam.rotation.T
    n = np.einsum("nk,nkd->nd", bary, normals[head.triangles[tri]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shading = sh_basis(n) @ albedo.lighting.astype(np.float64)
    lit = colour * shading / np.maximum(albedo.reference.astype(np.float64), 1e-6)
    out = srgb_to_linear(photo_rgb.astype(np.float32) / 255.0)
    out[on_skin] = lit.astype(np.float32)
    rgb: npt.NDArray[np.uint8] = (linear_to_srgb(out) * 255.0 + 0.5).astype(np.uint8)
    return Rerender(rgb=rgb, skin=on_skin)


def photometric_error(
    photo_rgb: npt.NDArray[np.uint8], render: Rerender, mask: npt.NDArray[np.bool_]
) -> dict[str, float]:
    """Mean absolute error (8-bit sRGB levels) and PSNR (dB) over ``mask`` & the rendered skin."""
    sel = mask & render.skin
    if not sel.any():
        return {"mae_levels": float("nan"), "psnr_db": float("nan"), "pixels": 0.0}
    a = photo_rgb[sel].astype(np.float64)
    b = render.rgb[sel].astype(np.float64)
    mse = float(((a - b) ** 2).mean())
    return {
        "mae_levels": float(np.abs(a - b).mean()),
        "psnr_db": float(10 * np.log10(255.0**2 / max(mse, 1e-9))),
        "pixels": float(sel.sum()),
    }
