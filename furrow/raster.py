"""A vectorised triangle rasteriser with a depth buffer (numpy), for images and UV layouts.

Every (triangle, pixel-centre) pair inside a triangle's bounding box is tested at once, in
chunks that bound memory; the nearest hit per pixel wins. Barycentric weights are perspective
correct when depths are given. A head of ~10k triangles rasterises at 1024 x 1024 in a fraction
of a second, so visibility, texture projection and the renderer's forward pass share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

CHUNK_CANDIDATES = 4_000_000  # (triangle, pixel) pairs tested at once: ~200 MB of temporaries


@dataclass
class Raster:
    """Per pixel: the nearest triangle (-1 where none), its barycentric weights and depth."""

    tri: I32  # (H, W)
    bary: F32  # (H, W, 3)
    depth: F32  # (H, W), +inf where no triangle

    @property
    def covered(self) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = self.tri >= 0
        return out

    def interpolate(self, values: npt.ArrayLike, triangles: npt.ArrayLike) -> F32:
        """Per-vertex ``values`` (V, C) -> (H, W, C) through the hit triangles (0 where none)."""
        vals = np.asarray(values, np.float32)
        tris = np.asarray(triangles)
        corners = vals[tris[np.maximum(self.tri, 0)]]  # (H, W, 3, C)
        out: F32 = np.einsum("hwk,hwkc->hwc", self.bary, corners)
        out[~self.covered] = 0.0
        return out


def rasterize(
    xy: npt.ArrayLike,
    triangles: npt.ArrayLike,
    width: int,
    height: int,
    depth: npt.ArrayLike | None = None,
) -> Raster:
    """Rasterise triangles given vertex pixel positions ``xy`` (V, 2; x right, y down, pixel
    (i, j) covering [i, i+1) x [j, j+1)) and optional per-vertex ``depth`` (V,; nearer is smaller,
    must be > 0 for perspective-correct weights). Without depth, later triangles do not override
    earlier ones in a meaningful order: use it for layouts whose triangles do not overlap."""
    p = np.asarray(xy, np.float64)
    tris = np.asarray(triangles, np.int64)
    z = np.ones(len(p)) if depth is None else np.asarray(depth, np.float64)
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    lo = np.minimum(np.minimum(a, b), c)
    hi = np.maximum(np.maximum(a, b), c)
    x0 = np.clip(np.ceil(lo[:, 0] - 0.5), 0, width).astype(np.int64)
    x1 = np.clip(np.floor(hi[:, 0] - 0.5), -1, width - 1).astype(np.int64)
    y0 = np.clip(np.ceil(lo[:, 1] - 0.5), 0, height).astype(np.int64)
    y1 = np.clip(np.floor(hi[:, 1] - 0.5), -1, height - 1).astype(np.int64)
    nx = np.maximum(x1 - x0 + 1, 0)
    ny = np.maximum(y1 - y0 + 1, 0)
    ok = (np.abs(area) > 1e-12) & (nx > 0) & (ny > 0)
    if depth is not None:
        ok &= (z[tris] > 0).all(axis=1)
    count = np.where(ok, nx * ny, 0)

    best_depth = np.full(width * height, np.inf)
    best_tri = np.full(width * height, -1, np.int64)
    best_bary = np.zeros((width * height, 3))
    order = np.flatnonzero(count)
    start = 0
    csum = np.cumsum(count[order])
    while start < len(order):
        # The largest run of triangles whose candidates fit in one chunk (at least one triangle).
        base = csum[start - 1] if start else 0
        end = max(int(np.searchsorted(csum, base + CHUNK_CANDIDATES, side="right")), start + 1)
        ids = order[start:end]
        start = end
        n = count[ids]
        t = np.repeat(ids, n)
        local = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        px = x0[t] + local % nx[t]
        py = y0[t] + local // nx[t]
        gx, gy = px + 0.5, py + 0.5
        ta, tb, tc = a[t], b[t], c[t]
        w1 = ((gx - ta[:, 0]) * (tc[:, 1] - ta[:, 1]) - (tc[:, 0] - ta[:, 0]) * (gy - ta[:, 1])) / area[t]
        w2 = ((tb[:, 0] - ta[:, 0]) * (gy - ta[:, 1]) - (gx - ta[:, 0]) * (tb[:, 1] - ta[:, 1])) / area[t]
        w0 = 1.0 - w1 - w2
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        if not inside.any():
            continue
        t, px, py = t[inside], px[inside], py[inside]
        w = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
        if depth is None:  # a layout: no overlaps to resolve, so no sorting
            pix = py * width + px
            best_depth[pix] = 1.0
            best_tri[pix] = t
            best_bary[pix] = w
            continue
        inv = w / z[tris[t]]  # perspective: screen weights over depth
        inv_sum = inv.sum(axis=1)
        d = 1.0 / inv_sum
        pix = py * width + px
        # Nearest candidate per pixel in this chunk, then against the buffer so far.
        sort = np.lexsort((d, pix))
        pix_s = pix[sort]
        first = np.ones(len(sort), bool)
        first[1:] = pix_s[1:] != pix_s[:-1]
        win = sort[first]
        closer = d[win] < best_depth[pix[win]]
        win = win[closer]
        best_depth[pix[win]] = d[win]
        best_tri[pix[win]] = t[win]
        best_bary[pix[win]] = inv[win] / inv_sum[win, None]
    return Raster(
        tri=best_tri.reshape(height, width).astype(np.int32),
        bary=best_bary.reshape(height, width, 3).astype(np.float32),
        depth=best_depth.reshape(height, width).astype(np.float32),
    )


def uv_raster(
    uvs: npt.ArrayLike, triangle_loops: npt.ArrayLike, resolution: int, triangles: I64 | None = None
) -> Raster:
    """Rasterise a UV layout (per-corner UVs, v up) into an image with row 0 at v = 1.

    ``triangles`` selects which triangles (indices into ``triangle_loops``); the result's ``tri``
    holds those original indices.
    """
    uv = np.asarray(uvs, np.float64)
    loops = np.asarray(triangle_loops, np.int64)
    ids = np.arange(len(loops)) if triangles is None else np.asarray(triangles, np.int64)
    corners = loops[ids]  # (T, 3) loop ids
    flat = corners.reshape(-1)
    xy = np.stack([uv[flat, 0] * resolution, (1.0 - uv[flat, 1]) * resolution], axis=1)
    local = np.arange(len(flat)).reshape(-1, 3)
    r = rasterize(xy, local, resolution, resolution)
    r.tri = np.where(r.tri >= 0, ids[np.maximum(r.tri, 0)], -1).astype(np.int32)
    return r
