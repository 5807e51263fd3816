"""UV-space region masks (forehead, glabella, brows, eyelids, crow's feet, nose, ...), from geometry.

Each region is first a soft weight per skin vertex, defined on the neutral 3D
surface from the 68 landmarks: distances to landmark polylines (bands such as
the brows or the jaw line), inside-ness of landmark polygons seen from the front
(lips, nose, forehead), or distances to points (glabella, crow's feet, cheeks).
The weights are then rasterised through the skin's UV triangles into an R x R
float32 image (row 0 is v = 1) and spread 3 pixels into the gutters so that
bilinear lookups at island borders do not fade. Left and right share one mask.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .model import REGION_NAMES, HeadModel

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

RESOLUTION = 512
MM = 0.001
UP = np.array([0.0, 0.0, 1.0])


def smoothstep(edge0: float, edge1: float, x: F64) -> F64:
    """0 below edge0, 1 above edge1, smooth in between (edges may be in either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    result: F64 = t * t * (3.0 - 2.0 * t)
    return result


def polyline_distance(points: F64, line: F64) -> F64:
    """Distance from each point to a 3D polyline."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.einsum("nsk,sk->ns", points[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(-1), 1e-18)
    closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]
    result: F64 = np.linalg.norm(points[:, None, :] - closest, axis=-1).min(axis=1)
    return result


def polygon_signed_distance(xy: F64, polygon: F64) -> F64:
    """Signed 2D distance to a closed polygon: negative inside, positive outside."""
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    ab = b - a
    t = np.einsum("nsk,sk->ns", xy[:, None, :] - a[None], ab) / np.maximum((ab * ab).sum(-1), 1e-18)
    closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]
    dist = np.linalg.norm(xy[:, None, :] - closest, axis=-1).min(axis=1)
    # Even-odd rule for inside.
    x, y = xy[:, 0:1], xy[:, 1:2]
    ay, by = a[None, :, 1], b[None, :, 1]
    crosses = (ay > y) != (by > y)
    x_at = a[None, :, 0] + (y - ay) / np.where(by - ay == 0, 1e-18, by - ay) * (b[None, :, 0] - a[None, :, 0])
    inside = (crosses & (x < x_at)).sum(axis=1) % 2 == 1
    result: F64 = np.where(inside, -dist, dist)
    return result


def vertex_normals(vertices: F64, triangles: I32) -> F64:
    n = np.cross(
        vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
        vertices[triangles[:, 2]] - vertices[triangles[:, 0]],
    )
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, triangles[:, k], n)
    result: F64 = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return result


def region_weights(head: HeadModel) -> dict[str, F64]:
    """Soft weights in [0, 1] per vertex for every region (zero off the skin)."""
    v = head.vertices.astype(np.float64)
    lm = head.landmark_positions(head.vertices, "68").astype(np.float64)
    normals = vertex_normals(v, head.triangles)
    skin = np.zeros(len(v), dtype=bool)
    skin[head.parts["skin"]] = True
    xz = v[:, [0, 2]]
    # Facing forward (toward -Y), as seen from the front camera: keeps the masks off ears and sides.
    front = smoothstep(0.0, 0.35, -normals[:, 1])
    eyes_z = lm[36:48, 2].mean()
    brow_z = lm[17:27, 2].mean()
    w: dict[str, F64] = {}

    def band(line: F64, width: float, soft: float = 3 * MM) -> F64:
        return 1.0 - smoothstep(width, width + soft, polyline_distance(v, line))

    def inside(polygon_xz: F64, soft: float = 3 * MM) -> F64:
        return 1.0 - smoothstep(-soft, soft, polygon_signed_distance(xz, polygon_xz))

    def on_skin(point: F64) -> F64:
        """The skin vertex nearest a point (landmark averages lie inside the head)."""
        ids = np.flatnonzero(skin)
        result: F64 = v[ids[np.argmin(np.linalg.norm(v[ids] - point, axis=1))]]
        return result

    def near(point: F64, radius: float, soft: float) -> F64:
        return 1.0 - smoothstep(radius, radius + soft, np.linalg.norm(v - point, axis=1))

    # Forehead: above the brows (plus a gap) up to ~65 mm above them, between the temples.
    above = smoothstep(brow_z + 6 * MM, brow_z + 12 * MM, v[:, 2])
    top = 1.0 - smoothstep(brow_z + 55 * MM, brow_z + 70 * MM, v[:, 2])
    half_width = 0.5 * abs(lm[26, 0] - lm[17, 0]) + 4 * MM
    width = 1.0 - smoothstep(half_width - 8 * MM, half_width, np.abs(v[:, 0]))
    w["forehead"] = above * top * width * front
    glabella = 0.5 * (lm[21] + lm[22]) * 0.6 + lm[27] * 0.4
    w["glabella"] = near(glabella, 7 * MM, 5 * MM) * front
    w["brows"] = np.maximum(band(lm[17:22], 5 * MM), band(lm[22:27], 5 * MM)) * front
    upper_r = lm[[36, 37, 38, 39]]
    upper_l = lm[[42, 43, 44, 45]]
    lower_r = lm[[39, 40, 41, 36]]
    lower_l = lm[[45, 46, 47, 42]]
    lids_up = np.maximum(band(upper_r + UP * 4 * MM, 5 * MM), band(upper_l + UP * 4 * MM, 5 * MM))
    w["eyelid_upper"] = lids_up * (1.0 - w["brows"]) * smoothstep(eyes_z - 1 * MM, eyes_z + 2 * MM, v[:, 2])
    lids_low = np.maximum(band(lower_r - UP * 4 * MM, 4.5 * MM), band(lower_l - UP * 4 * MM, 4.5 * MM))
    w["eyelid_lower"] = lids_low * smoothstep(eyes_z + 1 * MM, eyes_z - 2 * MM, v[:, 2])
    crow_r = lm[36] + np.array([-12 * MM, 6 * MM, 0.0])
    crow_l = lm[45] + np.array([12 * MM, 6 * MM, 0.0])
    w["crows_feet"] = np.maximum(near(crow_r, 8 * MM, 6 * MM), near(crow_l, 8 * MM, 6 * MM))
    nose = np.array(
        [
            lm[27, [0, 2]] + [-8 * MM, 4 * MM],
            lm[31, [0, 2]] + [-4 * MM, 4 * MM],
            lm[31, [0, 2]] + [-3 * MM, -2 * MM],
            lm[33, [0, 2]] + [0.0, -2 * MM],
            lm[35, [0, 2]] + [3 * MM, -2 * MM],
            lm[35, [0, 2]] + [4 * MM, 4 * MM],
            lm[27, [0, 2]] + [8 * MM, 4 * MM],
        ]
    )
    nose_depth = smoothstep(
        lm[30, 1] + 32 * MM, lm[30, 1] + 24 * MM, v[:, 1]
    )  # the nose's front, not the cheeks behind
    w["nose"] = inside(nose) * nose_depth
    fold_r = np.stack([on_skin(lm[31] + [-5 * MM, 0, 2 * MM]), on_skin(lm[48] + [-7 * MM, 0, -6 * MM])])
    fold_l = np.stack([on_skin(lm[35] + [5 * MM, 0, 2 * MM]), on_skin(lm[54] + [7 * MM, 0, -6 * MM])])
    w["nasolabial"] = np.maximum(band(fold_r, 5 * MM, 4 * MM), band(fold_l, 5 * MM, 4 * MM)) * (
        1.0 - w["nose"]
    )
    lip_up = np.concatenate([lm[48:55], lm[[64, 63, 62, 61, 60]]])[:, [0, 2]]
    lip_low = np.concatenate([lm[[54, 55, 56, 57, 58, 59, 48]], lm[[60, 67, 66, 65, 64]]])[:, [0, 2]]
    lips_front = smoothstep(lm[51, 1] + 16 * MM, lm[51, 1] + 10 * MM, v[:, 1])
    w["lip_upper"] = inside(lip_up, 1.5 * MM) * lips_front
    w["lip_lower"] = inside(lip_low, 1.5 * MM) * lips_front
    mouth = np.concatenate([lm[48:60], lm[48:49]])
    lips = np.maximum(w["lip_upper"], w["lip_lower"])
    w["perioral"] = band(mouth, 10 * MM, 5 * MM) * (1.0 - lips) * (1.0 - w["nose"]) * front
    chin = np.array(
        [
            lm[58, [0, 2]] + [-4 * MM, -4 * MM],
            lm[56, [0, 2]] + [4 * MM, -4 * MM],
            lm[10, [0, 2]] + [-2 * MM, 6 * MM],
            lm[8, [0, 2]] + [0.0, -2 * MM],
            lm[6, [0, 2]] + [2 * MM, 6 * MM],
        ]
    )
    w["chin"] = inside(chin, 4 * MM) * smoothstep(0.0, 0.2, -normals[:, 1] - normals[:, 2])
    cheek_r = on_skin(0.4 * lm[41] + 0.3 * lm[48] + 0.3 * lm[2])
    cheek_l = on_skin(0.4 * lm[46] + 0.3 * lm[54] + 0.3 * lm[14])
    cheeks = np.maximum(near(cheek_r, 16 * MM, 10 * MM), near(cheek_l, 16 * MM, 10 * MM))
    w["cheeks"] = cheeks * (1.0 - w["nasolabial"]) * (1.0 - w["nose"]) * (1.0 - w["eyelid_lower"])
    w["jaw_line"] = band(lm[1:16], 6 * MM, 5 * MM) * (1.0 - w["chin"])
    # Neck: below a plane through the chin's underside and the ear lobes' height, toward the back.
    chin_z = lm[8, 2] - 12 * MM
    back_z = 0.5 * (lm[0, 2] + lm[16, 2]) - 40 * MM
    plane_z = chin_z + (v[:, 1] - lm[8, 1]) / (0.09 - lm[8, 1]) * (back_z - chin_z)
    w["neck"] = smoothstep(plane_z + 4 * MM, plane_z - 6 * MM, v[:, 2])
    return {name: np.clip(w[name], 0.0, 1.0) * skin for name in REGION_NAMES}


def rasterise_layout(head: HeadModel, resolution: int = RESOLUTION) -> tuple[I32, F64]:
    """For every pixel, the skin triangle covering it (-1 where none) and its barycentric weights."""
    from ..raster import uv_raster

    skin = np.zeros(head.n_vertices, dtype=bool)
    skin[head.parts["skin"]] = True
    tris = np.flatnonzero(skin[head.triangles].all(axis=1))
    r = uv_raster(head.uvs, head.triangle_loops, resolution, tris)
    return r.tri, r.bary.astype(np.float64)


def region_masks(
    head: HeadModel, resolution: int = RESOLUTION, layout: tuple[I32, F64] | None = None
) -> dict[str, F32]:
    """Every region of ``REGION_NAMES`` as a float32 (R, R) image in [0, 1] over UV space;
    ``layout``: ``rasterise_layout(head, resolution)`` when the caller has it already."""
    from scipy.ndimage import distance_transform_edt  # type: ignore[import-untyped]

    weights = region_weights(head)
    tri_id, bary = layout if layout is not None else rasterise_layout(head, resolution)
    covered = tri_id >= 0
    # Every region at once, on the covered pixels only: (N, 3) corners x (V, regions) weights.
    corners = head.triangles[tri_id[covered]]
    table = np.stack([weights[name] for name in REGION_NAMES], axis=1)
    values = np.zeros((resolution, resolution, len(REGION_NAMES)))
    values[covered] = np.einsum("nk,nkr->nr", bary[covered], table[corners])
    # Fill the gutters next to islands (<= 3 px) with the nearest covered pixel's value.
    dist, (iy, ix) = distance_transform_edt(~covered, return_indices=True)
    fill = covered | (dist <= 3.0)
    spread = np.where(fill[..., None], values[iy, ix], 0.0)
    clipped = np.clip(spread, 0.0, 1.0).astype(np.float32)
    return {name: np.ascontiguousarray(clipped[..., k]) for k, name in enumerate(REGION_NAMES)}
