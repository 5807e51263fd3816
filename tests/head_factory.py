"""A tiny synthetic HeadModel for tests that must not depend on the built default head.

Every part is a small closed box (the skin a subdivided cube pushed onto a
sphere) with a box UV layout, so UV seams split vertices exactly as a real head
does. The tongue is a triangular prism, so polygons of 3 and 4 corners mix.
Two identity sliders (one symmetric, one with its own negative target) and a
handful of non-zero ARKit shapes (jawOpen moves the lower skin, lower teeth and
tongue; tongueOut moves only the tongue; eyeBlinkLeft only the skin's upper
left) exercise the writers.
"""

from __future__ import annotations

import numpy as np

from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.model import REGION_NAMES, HeadModel, Landmarks

F32 = np.float32


class _Builder:
    def __init__(self) -> None:
        self.vertices: list[np.ndarray] = []
        self.polygons: list[list[int]] = []
        self.poly_uvs: list[list[tuple[float, float]]] = []
        self.parts: dict[str, list[int]] = {}
        self.n = 0

    def add(self, part: str, verts: np.ndarray, polys: list[list[int]], uvs: list[list[tuple[float, float]]]):
        base = self.n
        self.vertices.append(np.asarray(verts, np.float64))
        self.polygons.extend([[base + i for i in p] for p in polys])
        self.poly_uvs.extend(uvs)
        self.parts.setdefault(part, []).extend(range(base, base + len(verts)))
        self.n += len(verts)


def _box(n: int) -> tuple[np.ndarray, list[list[int]], list[list[tuple[float, float]]]]:
    """A cube [-1,1]^3 with every face cut into n x n quads (outward winding), box-unwrapped UVs."""
    index: dict[tuple[int, int, int], int] = {}
    verts: list[tuple[float, float, float]] = []

    def vid(p: tuple[int, int, int]) -> int:
        if p not in index:
            index[p] = len(verts)
            verts.append(tuple(2.0 * c / n - 1.0 for c in p))  # type: ignore[arg-type]
        return index[p]

    polys: list[list[int]] = []
    uvs: list[list[tuple[float, float]]] = []
    # (axis, sign): the face's normal; u and v axes chosen so (u x v) points outward.
    faces = [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]
    for f, (axis, sign) in enumerate(faces):
        a, b = [(axis + 1) % 3, (axis + 2) % 3]
        if sign < 0:
            a, b = b, a
        tile_u, tile_v = (f % 3) / 3.0, (f // 3) / 2.0
        for i in range(n):
            for j in range(n):
                corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
                poly, puv = [], []
                for ci, cj in corners:
                    p = [0, 0, 0]
                    p[axis] = n if sign > 0 else 0
                    p[a], p[b] = ci, cj
                    poly.append(vid((p[0], p[1], p[2])))
                    puv.append((tile_u + (0.02 + 0.96 * ci / n) / 3.0, tile_v + (0.02 + 0.96 * cj / n) / 2.0))
                polys.append(poly)
                uvs.append(puv)
    return np.array(verts), polys, uvs


def _prism() -> tuple[np.ndarray, list[list[int]], list[list[tuple[float, float]]]]:
    """A triangular prism along X: two triangles, three quads."""
    verts = np.array(
        [[-1, -1, -1], [-1, 1, -1], [-1, 0, 1], [1, -1, -1], [1, 1, -1], [1, 0, 1]], dtype=np.float64
    )
    polys = [[0, 2, 1], [3, 4, 5], [0, 1, 4, 3], [1, 2, 5, 4], [2, 0, 3, 5]]
    uvs = [
        [(0.1, 0.1), (0.2, 0.3), (0.3, 0.1)],
        [(0.4, 0.1), (0.6, 0.1), (0.5, 0.3)],
        [(0.1, 0.4), (0.3, 0.4), (0.3, 0.6), (0.1, 0.6)],
        [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)],
        [(0.7, 0.4), (0.9, 0.4), (0.9, 0.6), (0.7, 0.6)],
    ]
    return verts, polys, uvs


def make_head(subdivisions: int = 4, name: str = "synthetic", mirrored_sliders: bool = False) -> HeadModel:
    """The synthetic head; ``mirrored_sliders`` adds ``eye_l_size``/``eye_r_size`` and ``nose_shift``."""
    b = _Builder()
    verts, polys, uvs = _box(subdivisions)
    sphere = verts / np.linalg.norm(verts, axis=1, keepdims=True)
    b.add("skin", sphere * [0.08, 0.09, 0.11], polys, uvs)
    eye_v, eye_p, eye_uv = _box(1)
    for x in (0.03, -0.03):
        b.add("eyes", eye_v * 0.012 + [x, -0.075, 0.03], eye_p, eye_uv)
    b.add("teeth_upper", eye_v * [0.02, 0.01, 0.004] + [0, -0.06, -0.035], eye_p, eye_uv)
    b.add("teeth_lower", eye_v * [0.02, 0.01, 0.004] + [0, -0.06, -0.045], eye_p, eye_uv)
    pv, pp, puv = _prism()
    b.add("tongue", pv * [0.015, 0.02, 0.004] + [0, -0.045, -0.05], pp, puv)
    # eyelashes: an open sheet of two quads above the left eye
    lash = np.array([[0.015, -0.09, 0.045], [0.03, -0.092, 0.047], [0.045, -0.09, 0.045]])
    lash = np.concatenate([lash, lash + np.array([0, -0.004, 0.002])])
    b.add(
        "eyelashes",
        lash,
        [[0, 1, 4, 3], [1, 2, 5, 4]],
        [
            [(0.0, 0.9), (0.05, 0.9), (0.05, 0.95), (0.0, 0.95)],
            [(0.05, 0.9), (0.1, 0.9), (0.1, 0.95), (0.05, 0.95)],
        ],
    )

    vertices = np.concatenate(b.vertices).astype(F32)
    loop_vertices = np.array([v for p in b.polygons for v in p], np.int32)
    starts = np.concatenate([[0], np.cumsum([len(p) for p in b.polygons])]).astype(np.int32)
    loop_uvs = np.array([uv for p in b.poly_uvs for uv in p], F32)
    tris, tri_loops, tri_polys = [], [], []
    for pi, p in enumerate(b.polygons):
        s = int(starts[pi])
        for k in range(1, len(p) - 1):
            tris.append([p[0], p[k], p[k + 1]])
            tri_loops.append([s, s + k, s + k + 1])
            tri_polys.append(pi)
    parts = {k: np.array(v, np.int32) for k, v in b.parts.items()}
    V = vertices.shape[0]

    skin = parts["skin"]
    pos = np.zeros((2, V, 3), F32)
    neg = np.zeros((2, V, 3), F32)
    pos[0] = vertices * 0.1  # head-size: symmetric
    neg[0] = -pos[0]
    front = skin[vertices[skin, 1] < -0.05]
    pos[1, front, 1] = -0.01  # nose-length: longer forward ...
    neg[1, front, 2] = -0.004  # ... its negative is a different shape (droop)

    names = ["head-size", "nose-length"]
    if mirrored_sliders:
        eyes = parts["eyes"]
        extra = np.zeros((3, V, 3), F32)
        for k, side in enumerate((vertices[eyes, 0] > 0, vertices[eyes, 0] < 0)):
            ev = eyes[side]
            extra[k, ev] = (vertices[ev] - vertices[ev].mean(axis=0)) * 0.2  # eye_l_size, eye_r_size
        extra[2, front, 0] = 0.005  # nose_shift: slides the front of the face toward +x
        pos = np.concatenate([pos, extra])
        neg = np.concatenate([neg, -extra])
        names += ["eye_l_size", "eye_r_size", "nose_shift"]

    expr = np.zeros((len(ARKIT_NAMES), V, 3), F32)
    lower = np.concatenate([skin[vertices[skin, 2] < -0.03], parts["teeth_lower"], parts["tongue"]])
    expr[ARKIT_INDEX["jawOpen"], lower, 2] = -0.015
    expr[ARKIT_INDEX["tongueOut"], parts["tongue"], 1] = -0.02
    upper_left = skin[(vertices[skin, 0] > 0.02) & (vertices[skin, 2] > 0.02) & (vertices[skin, 1] < 0)]
    expr[ARKIT_INDEX["eyeBlinkLeft"], upper_left, 2] = -0.005
    upper_right = skin[(vertices[skin, 0] < -0.02) & (vertices[skin, 2] > 0.02) & (vertices[skin, 1] < 0)]
    expr[ARKIT_INDEX["eyeBlinkRight"], upper_right, 2] = -0.005
    corner = skin[(vertices[skin, 0] > 0.03) & (vertices[skin, 2] < 0) & (vertices[skin, 1] < 0)]
    expr[ARKIT_INDEX["mouthSmileLeft"], corner] = [0.002, 0.001, 0.004]

    n_tri = len(tris)
    lm_tri = (np.arange(68) * 7 % n_tri).astype(np.int32)
    lm_tri478 = (np.arange(478) * 3 % n_tri).astype(np.int32)
    regions = {name: np.full((8, 8), i / len(REGION_NAMES), F32) for i, name in enumerate(REGION_NAMES)}
    return HeadModel(
        name=name,
        vertices=vertices,
        loop_vertices=loop_vertices,
        polygon_starts=starts,
        uvs=loop_uvs,
        triangles=np.array(tris, np.int32),
        triangle_loops=np.array(tri_loops, np.int32),
        triangle_polygons=np.array(tri_polys, np.int32),
        parts=parts,
        identity_names=names,
        identity_pos=pos,
        identity_neg=neg,
        expression_basis=expr,
        landmarks68=Landmarks(lm_tri, np.full((68, 3), 1 / 3, F32)),
        landmarks478=Landmarks(lm_tri478, np.full((478, 3), 1 / 3, F32)),
        region_masks=regions,
        meta={"source": "tests/head_factory.py"},
    )
