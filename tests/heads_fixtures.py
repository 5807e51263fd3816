"""Synthetic heads and research-model files written in the real formats (FLAME, FaceScape).

The real files cannot be downloaded here, so these writers reproduce them as
closely as their loaders and documentation establish:

- FLAME ``generic_model.pkl``: a Python 2 style pickle, protocol 2, ``str`` keys
  and raw array bytes as (SHORT_)BINSTRING, numpy arrays through
  ``numpy.core.multiarray _reconstruct``, the arrays of ``v_template``,
  ``shapedirs``, ``posedirs``, ``weights`` and ``J`` as ``chumpy.ch Ch`` objects
  (NEWOBJ + a state dict with the array under 'x'), ``J_regressor`` a
  ``scipy.sparse.csc csc_matrix`` (NEWOBJ + data/indices/indptr/_shape), ``f``
  and ``kintree_table`` plain arrays. Real shapes: 5023 vertices, 9976
  triangles, 400 shape+expression components, 36 pose correctives, 5 joints.
- ``FLAME_masks.pkl`` and ``flame_static_embedding.pkl``: Python 2 pickles of
  dicts of arrays; DECA's ``landmark_embedding.npy``: ``np.save`` of a dict whose
  dynamic entries are torch tensors; ``mediapipe_landmark_embedding.npz``;
  ``head_template.obj`` (v / vt / f v/vt) and ``FLAME_texture.npz`` (vt, ft).
- FaceScape ``facescape_bm_v1.6_*.npz``: uncompressed npz with ``shape_bm_core``
  float32 (3V, 52, ids) whose expression slices are absolute shapes (0 = neutral),
  ``id_mean``/``id_var``, 1-based ``fv_indices``/``ft_indices``, ``texcoords``,
  0-based ``lm_list_v16`` (68), and the other keys the toolkit reads.

The shapes are one parametric head (an ellipsoid with nose, brows, eye sockets,
lips, chin and a neck) sampled with different tessellations and proportions, so
two meshes of it correspond exactly through their parameters (u = azimuth, 0 at
the face; v = angle from the crown): tests can measure registration and transfer
errors against that truth.
"""

from __future__ import annotations

import io
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.model import REGION_NAMES, HeadModel, Landmarks
from furrow.heads.transfer import SurfaceQuery, TriMesh

V_MAX = 2.55  # the neck cut, in polar angle from the crown

# --- the parametric head (Blender axes: Z up, face toward -Y, head's left +X) ------------------


@dataclass(frozen=True)
class HeadShape:
    """Proportions of one synthetic person."""

    radii: tuple[float, float, float] = (0.075, 0.095, 0.112)
    nose: float = 0.022
    brows: float = 0.005
    eyes: float = -0.008
    lips: float = 0.006
    chin: float = 0.008
    neck: float = 0.4
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _bump(u: np.ndarray, v: np.ndarray, u0: float, v0: float, su: float, sv: float) -> np.ndarray:
    du = np.angle(np.exp(1j * (u - u0)))
    return np.exp(-0.5 * ((du / su) ** 2 + ((v - v0) / sv) ** 2))


def _smooth(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


EYE_UV = {"left": (0.45, 1.33), "right": (-0.45, 1.33)}


def head_points(u: np.ndarray, v: np.ndarray, shape: HeadShape = HeadShape()) -> np.ndarray:
    """Surface points (N, 3) at parameters (u, v)."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    d = np.stack([np.sin(v) * np.sin(u), -np.sin(v) * np.cos(u), np.cos(v)], axis=-1)
    rx, ry, rz = shape.radii
    narrow = 1.0 - shape.neck * _smooth(1.95, 2.45, v)
    p = d * np.array([rx, ry, rz])
    p[..., 0] *= narrow
    p[..., 1] *= narrow
    p[..., 2] -= 0.06 * _smooth(2.2, V_MAX, v) * (v - 2.2)
    front = _smooth(0.0, 0.6, np.cos(u))
    h = (
        shape.nose * _bump(u, v, 0.0, 1.62, 0.11, 0.16)
        + shape.brows * _bump(u, v, 0.0, 1.2, 0.5, 0.06) * front
        + shape.eyes * (_bump(u, v, 0.45, 1.33, 0.14, 0.08) + _bump(u, v, -0.45, 1.33, 0.14, 0.08))
        + shape.lips * _bump(u, v, 0.0, 1.86, 0.22, 0.05)
        + shape.chin * _bump(u, v, 0.0, 2.06, 0.25, 0.07)
    )
    n = p / np.linalg.norm(p, axis=-1, keepdims=True)
    return p + h[..., None] * n + np.array(shape.offset)


def landmark_params() -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of 68 iBUG-like points and 478 MediaPipe-like points on the face."""
    pts: list[tuple[float, float]] = []
    for i in range(17):  # jaw line, the head's right (-X) to left
        a = -1.15 + 2.3 * i / 16
        pts.append((a, 1.5 + 0.55 * np.cos(a * 1.3) ** 2))
    for side in (-1, 1):  # brows
        for i in range(5):
            pts.append((side * (0.72 - 0.13 * i) if side < 0 else 0.2 + 0.13 * i, 1.2))
    for i in range(4):  # nose bridge
        pts.append((0.0, 1.38 + 0.08 * i))
    for i in range(5):  # nostrils
        pts.append((-0.16 + 0.08 * i, 1.7))
    for side in (-1, 1):  # eyes
        u0 = 0.45 * side
        for i in range(6):
            a = np.pi * i / 3
            pts.append((u0 + 0.13 * np.cos(a) * -side, 1.33 - 0.035 * np.sin(a)))
    for i in range(12):  # outer lips
        a = 2 * np.pi * i / 12
        pts.append((-0.3 * np.cos(a), 1.86 - 0.06 * np.sin(a)))
    for i in range(8):  # inner lips
        a = 2 * np.pi * i / 8
        pts.append((-0.2 * np.cos(a), 1.86 - 0.02 * np.sin(a)))
    p68 = np.array(pts)
    rng = np.random.default_rng(478)
    p478 = np.stack([rng.uniform(-1.0, 1.0, 478), rng.uniform(1.1, 2.1, 478)], axis=1)
    return p68, p478


def grid_mesh(
    rings: int, cols: int, shape: HeadShape
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[int]]]:
    """Lat-long head: a crown pole, ``rings`` rings of ``cols`` vertices down to the neck (left open).

    Returns (vertices, params (V, 2), triangles (F, 3), polygons: the crown fan as
    triangles, then quads), all with outward winding.
    """
    us = -np.pi + 2 * np.pi * np.arange(cols) / cols
    vs = V_MAX * np.arange(1, rings + 1) / rings
    uu, vvv = np.meshgrid(us, vs)
    params = np.concatenate([[[0.0, 0.0]], np.stack([uu.ravel(), vvv.ravel()], axis=1)])
    verts = head_points(params[:, 0], params[:, 1], shape)

    def vid(r: int, c: int) -> int:
        return 1 + r * cols + (c % cols)

    polys: list[list[int]] = [[0, vid(0, c + 1), vid(0, c)] for c in range(cols)]
    for r in range(rings - 1):
        for c in range(cols):
            polys.append([vid(r, c), vid(r, c + 1), vid(r + 1, c + 1), vid(r + 1, c)])
    tris = []
    for p in polys:
        for k in range(1, len(p) - 1):
            tris.append([p[0], p[k], p[k + 1]])
    tri = np.array(tris, dtype=np.int64)
    a, b, c = verts[tri[:, 0]], verts[tri[:, 1]], verts[tri[:, 2]]
    if np.einsum("ij,ij->", np.cross(b - a, c - a), a - verts.mean(axis=0)) < 0:
        tri = tri[:, ::-1].copy()
        polys = [p[::-1] for p in polys]
    return verts, params, tri, polys


def sphere_mesh(centre: np.ndarray, radius: float, rings: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed lat-long sphere: 2 poles + rings x cols vertices, 2 * cols * rings outward triangles."""
    lat = np.pi * np.arange(1, rings + 1) / (rings + 1)
    lon = 2 * np.pi * np.arange(cols) / cols
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.sin(la) * np.cos(lo), np.sin(la) * np.sin(lo), np.cos(la)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0, 0, 1.0]], ring, [[0, 0, -1.0]]]) * radius + centre
    last = 1 + rings * cols

    def vid(r: int, c: int) -> int:
        return 1 + r * cols + (c % cols)

    tris = [[0, vid(0, c), vid(0, c + 1)] for c in range(cols)]
    for r in range(rings - 1):
        for c in range(cols):
            tris += [
                [vid(r, c), vid(r + 1, c), vid(r + 1, c + 1)],
                [vid(r, c), vid(r + 1, c + 1), vid(r, c + 1)],
            ]
    tris += [[last, vid(rings - 1, c + 1), vid(rings - 1, c)] for c in range(cols)]
    tri = np.array(tris, dtype=np.int64)
    a, b, c = verts[tri[:, 0]], verts[tri[:, 1]], verts[tri[:, 2]]
    if np.einsum("ij,ij->", np.cross(b - a, c - a), a - centre) < 0:
        tri = tri[:, ::-1].copy()
    return verts, tri


def eye_centre(side: str, shape: HeadShape, radius: float) -> np.ndarray:
    u0, v0 = EYE_UV[side]
    p = head_points(np.array([u0]), np.array([v0]), shape)[0]
    inward = p - np.array([0.0, 0.0, p[2]])
    inward[1] -= 0.03
    return p - 0.8 * radius * inward / np.linalg.norm(inward)


def surface_landmarks(verts: np.ndarray, tri: np.ndarray, points: np.ndarray) -> Landmarks:
    return SurfaceQuery(TriMesh.of(verts, tri)).closest(points).landmarks()


# --- synthetic ARKit shapes ------------------------------------------------------------------


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def jaw_pivot(shape: HeadShape) -> np.ndarray:
    return head_points(np.array([0.0]), np.array([1.86]), shape)[0] * np.array([0, 0.0, 1]) + np.array(
        [0, 0.01, 0.0]
    )


def skin_expression(name: str, params: np.ndarray, verts: np.ndarray, shape: HeadShape) -> np.ndarray:
    """A smooth synthetic delta for a few ARKit names (zeros otherwise), defined by the parameters."""
    u, v = params[:, 0], params[:, 1]
    out = np.zeros_like(verts)
    front = _smooth(-0.2, 0.5, np.cos(u))
    if name == "jawOpen":
        w = _smooth(1.84, 1.98, v) * front * (1 - _smooth(2.25, 2.45, v))
        pivot = jaw_pivot(shape)
        rot = _rot(np.array([1.0, 0, 0]), 0.22)  # chin down and back
        rotated = (verts - pivot) @ rot.T + pivot
        out = w[:, None] * (rotated - verts)
    elif name in ("mouthSmileLeft", "mouthSmileRight"):
        s = 1 if name.endswith("Left") else -1
        g = _bump(u, v, 0.3 * s, 1.86, 0.12, 0.07)
        out = g[:, None] * np.array([0.003 * s, -0.002, 0.005])
    elif name in ("eyeBlinkLeft", "eyeBlinkRight"):
        s = 1 if name.endswith("Left") else -1
        g = _bump(u, v, 0.45 * s, 1.3, 0.12, 0.05)
        out = g[:, None] * np.array([0.0, -0.001, -0.006])
    elif name == "browInnerUp":
        g = _bump(u, v, 0.0, 1.2, 0.25, 0.08)
        out = g[:, None] * np.array([0.0, 0.0, 0.005])
    elif name == "cheekPuff":
        g = _bump(u, v, 0.5, 1.75, 0.2, 0.12) + _bump(u, v, -0.5, 1.75, 0.2, 0.12)
        n = verts - verts.mean(axis=0)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        out = 0.004 * g[:, None] * n
    return out


EYE_LOOKS = {  # (eye, axis, angle) in Blender axes: a negative turn about +X lifts the front of the eye
    "eyeLookUpLeft": ("left", np.array([1.0, 0, 0]), -0.3),
    "eyeLookUpRight": ("right", np.array([1.0, 0, 0]), -0.3),
    "eyeLookDownLeft": ("left", np.array([1.0, 0, 0]), 0.35),
    "eyeLookOutLeft": ("left", np.array([0, 0, 1.0]), 0.4),
    "eyeLookInRight": ("right", np.array([0, 0, 1.0]), 0.4),
}


# --- a default-like HeadModel --------------------------------------------------------------------


@dataclass
class SyntheticHead:
    model: HeadModel
    params: np.ndarray  # (V, 2) parameters of every vertex (eyes: nan)
    shape: HeadShape
    extra: dict[str, Any] = field(default_factory=dict)


def synthetic_default_head(
    rings: int = 34, cols: int = 44, shape: HeadShape = HeadShape(), mask_res: int = 64
) -> SyntheticHead:
    """A HeadModel shaped like the default head's contract: quads, UVs, skin + eyes, ARKit deltas,
    68/478 landmarks, region masks; every vertex's surface parameters are known."""
    verts, params, _, polys = grid_mesh(rings, cols, shape)
    n_skin = verts.shape[0]
    all_v = [verts]
    all_params = [params]
    loops: list[int] = []
    starts = [0]
    uvs: list[tuple[float, float]] = []
    for p in polys:
        for vi in p:
            loops.append(vi)
            u, v = params[vi]
            uu = 0.5 + u / (2 * np.pi)
            uvs.append((uu, 1.0 - v / V_MAX))
        # the seam: the corner at u=-pi of a polygon that wraps gets u = 1
        k = len(loops) - len(p)
        us = [uvs[k + i][0] for i in range(len(p))]
        if max(us) - min(us) > 0.5:
            for i in range(len(p)):
                if uvs[k + i][0] < 0.25:
                    uvs[k + i] = (uvs[k + i][0] + 1.0, uvs[k + i][1])
        starts.append(len(loops))
    eye_parts = []
    offset = n_skin
    eye_r = 0.0115
    for side in ("left", "right"):
        c = eye_centre(side, shape, eye_r)
        ev, et = sphere_mesh(c, eye_r, 8, 12)
        all_v.append(ev)
        all_params.append(np.full((ev.shape[0], 2), np.nan))
        for t in et:
            for vi in t:
                loops.append(offset + int(vi))
                d = ev[vi] - c
                uvs.append(
                    (
                        0.02 + 0.1 * (side == "right") + 0.04 * (1 + d[0] / eye_r),
                        0.02 + 0.04 * (1 + d[2] / eye_r),
                    )
                )
            starts.append(len(loops))
        eye_parts.append(np.arange(offset, offset + ev.shape[0]))
        offset += ev.shape[0]
    vertices = np.concatenate(all_v)
    vparams = np.concatenate(all_params)
    loop_arr = np.array(loops, dtype=np.int32)
    start_arr = np.array(starts, dtype=np.int32)
    tris, tloops, tpolys = [], [], []
    for pi in range(len(start_arr) - 1):
        s, e = start_arr[pi], start_arr[pi + 1]
        for k in range(s + 1, e - 1):
            tris.append([loop_arr[s], loop_arr[k], loop_arr[k + 1]])
            tloops.append([s, k, k + 1])
            tpolys.append(pi)
    triangles = np.array(tris, dtype=np.int32)
    nv = vertices.shape[0]
    basis = np.zeros((52, nv, 3), dtype=np.float32)
    for name in ARKIT_NAMES:
        basis[ARKIT_INDEX[name], :n_skin] = skin_expression(name, params, verts, shape)
    for name, (side, axis, ang) in EYE_LOOKS.items():
        idx = eye_parts[0] if side == "left" else eye_parts[1]
        c = vertices[idx].mean(axis=0)
        basis[ARKIT_INDEX[name], idx] = (vertices[idx] - c) @ _rot(axis, ang).T + c - vertices[idx]
    p68, p478 = landmark_params()
    skin_tri = triangles[: cols * (2 * rings - 1)]
    lm68 = surface_landmarks(vertices, skin_tri, head_points(p68[:, 0], p68[:, 1], shape))
    lm478 = surface_landmarks(vertices, skin_tri, head_points(p478[:, 0], p478[:, 1], shape))
    yy, xx = np.mgrid[0:mask_res, 0:mask_res] / (mask_res - 1)
    masks = {}
    for i, name in enumerate(REGION_NAMES):
        cx, cy = 0.5 + 0.15 * np.cos(i), 0.3 + 0.4 * (i / len(REGION_NAMES))
        masks[name] = np.exp(-(((xx - cx) / 0.08) ** 2 + ((yy - cy) / 0.06) ** 2)).astype(np.float32)
    ident = np.zeros((2, nv, 3), dtype=np.float32)
    ident[0, :n_skin, 0] = 0.004 * vertices[:n_skin, 0] / 0.075
    ident[1, :n_skin, 2] = 0.003
    model = HeadModel(
        name="synthetic default",
        vertices=vertices.astype(np.float32),
        loop_vertices=loop_arr,
        polygon_starts=start_arr,
        uvs=np.clip(np.array(uvs, dtype=np.float32), 0, 1),
        triangles=triangles,
        triangle_loops=np.array(tloops, dtype=np.int32),
        triangle_polygons=np.array(tpolys, dtype=np.int32),
        parts={"skin": np.arange(n_skin, dtype=np.int32), "eyes": np.concatenate(eye_parts).astype(np.int32)},
        identity_names=["width", "height"],
        identity_pos=ident,
        identity_neg=-ident,
        expression_basis=basis,
        landmarks68=lm68,
        landmarks478=lm478,
        region_masks=masks,
        meta={"source": "tests/heads_fixtures.py"},
    )
    return SyntheticHead(model, vparams, shape, {"eye_parts": eye_parts})


# --- Python 2 style pickles --------------------------------------------------------------------


class Ch:
    """Stand-in written as ``chumpy.ch Ch``: its __dict__ is the state a real Ch pickles."""

    def __init__(self, x: np.ndarray) -> None:
        self.__dict__.update(
            {
                "_dirty_vars": {"x"},
                "_itr": None,
                "_make_dense": False,
                "_make_sparse": False,
                "_depends_on_deps": {},
                "x": np.asarray(x, dtype=np.float64),
            }
        )


class CscMatrix:
    """Stand-in written as ``scipy.sparse.csc csc_matrix`` with the attributes the 2017 class pickled."""

    def __init__(self, dense: np.ndarray) -> None:
        import scipy.sparse as sp

        m = sp.csc_matrix(dense)
        m.sort_indices()
        self.__dict__.update(
            {
                "_shape": tuple(int(s) for s in dense.shape),
                "maxprint": 50,
                "format": "csc",
                "data": m.data.astype(np.float64),
                "indices": m.indices.astype(np.int32),
                "indptr": m.indptr.astype(np.int32),
                "has_sorted_indices": 1,
            }
        )


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Protocol 2 as Python 2's cPickle wrote it: byte strings as BINSTRING, globals by their 2017 names."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]
    NAMES: dict[Any, tuple[str, str]] = {
        Ch: ("chumpy.ch", "Ch"),
        CscMatrix: ("scipy.sparse.csc", "csc_matrix"),
        np.ndarray: ("numpy", "ndarray"),
        np.dtype: ("numpy", "dtype"),
    }

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=2)

    def _binstring(self, data: bytes) -> None:
        n = len(data)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + data)

    def save_str(self, obj: str) -> None:
        self._binstring(obj.encode("latin1"))
        self.memoize(obj)

    def save_bytes(self, obj: bytes) -> None:
        self._binstring(obj)
        self.memoize(obj)

    dispatch[str] = save_str
    dispatch[bytes] = save_bytes

    def save_global(self, obj: Any, name: Any = None) -> None:
        if obj in self.NAMES:
            module, qual = self.NAMES[obj]
        else:
            module = getattr(obj, "__module__", None) or "__builtin__"
            qual = name or obj.__qualname__
            if module == "builtins":
                module = "__builtin__"
            if module.startswith("numpy._core"):
                module = "numpy.core" + module[len("numpy._core") :]
        self.write(pickle.GLOBAL + f"{module}\n{qual}\n".encode("ascii"))
        self.memoize(obj)


def py2_pickle_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf).dump(obj)
    return buf.getvalue()


def write_py2_pickle(path: Path, obj: Any) -> Path:
    path.write_bytes(py2_pickle_bytes(obj))
    return path


# --- FLAME ---------------------------------------------------------------------------------------

FLAME_SHAPE = HeadShape(
    radii=(0.078, 0.1, 0.118), nose=0.02, brows=0.006, lips=0.007, offset=(0.0, 0.0, 0.02)
)
SKIN_RINGS, SKIN_COLS = 74, 60  # 1 + 74 * 60 = 4441 skin vertices, 60 * 147 = 8820 triangles
EYE_RINGS, EYE_COLS = 17, 17  # 2 * 291 eyeball vertices, 2 * 578 triangles: 5023 / 9976 in all
EYE_RADIUS = 0.0125
N_SKIN = 1 + SKIN_RINGS * SKIN_COLS
N_SKIN_TRIS = SKIN_COLS * (2 * SKIN_RINGS - 1)


def blender_to_flame(p: np.ndarray) -> np.ndarray:
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def _features(p: np.ndarray) -> np.ndarray:
    q = (p - p.mean(axis=0)) / 0.1
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    cols = [
        np.ones_like(x),
        x,
        y,
        z,
        x * x,
        y * y,
        z * z,
        x * y,
        y * z,
        z * x,
        x * y * z,
        x**3,
        y**3,
        z**3,
        np.sin(3 * x),
        np.sin(3 * y),
        np.sin(3 * z),
        np.cos(2 * x + y),
        np.cos(2 * y - z),
        np.sin(x + 2 * z),
    ]
    return np.stack(cols, axis=1)


@dataclass
class FlameArrays:
    arrays: dict[str, Any]
    skin_params: np.ndarray  # (4441, 2)
    eyeballs: dict[str, np.ndarray]
    jaw_weight: np.ndarray


def flame_arrays(seed: int = 0, shape: HeadShape = FLAME_SHAPE) -> FlameArrays:
    """FLAME's arrays with its real shapes and dtypes (FLAME frame: Y up, face +Z, metres)."""
    rng = np.random.default_rng(seed)
    skin_b, params, skin_t, _ = grid_mesh(SKIN_RINGS, SKIN_COLS, shape)
    verts_b = [skin_b]
    tris = [skin_t]
    eyeballs = {}
    offset = skin_b.shape[0]
    for side in ("left", "right"):
        ev, et = sphere_mesh(eye_centre(side, shape, EYE_RADIUS), EYE_RADIUS, EYE_RINGS, EYE_COLS)
        verts_b.append(ev)
        tris.append(et + offset)
        eyeballs[side] = np.arange(offset, offset + ev.shape[0])
        offset += ev.shape[0]
    vb = np.concatenate(verts_b)
    f = np.concatenate(tris)
    v = blender_to_flame(vb)
    nv = v.shape[0]
    assert nv == 5023 and f.shape == (9976, 3), (nv, f.shape)

    u, vv = params[:, 0], params[:, 1]
    n_skin = skin_b.shape[0]
    front = _smooth(-0.1, 0.4, np.cos(u))
    jaw = np.zeros(nv)
    jaw[:n_skin] = _smooth(1.8, 1.95, vv) * front * (1 - _smooth(2.2, 2.4, vv))
    neck = np.zeros(nv)
    neck[:n_skin] = _smooth(2.1, 2.5, vv) * (1 - jaw[:n_skin])
    weights = np.zeros((nv, 5))
    weights[:, 2] = jaw
    weights[:, 1] = neck
    weights[:, 0] = 1 - jaw - neck
    for j, side in ((3, "left"), (4, "right")):
        weights[eyeballs[side]] = 0.0
        weights[eyeballs[side], j] = 1.0

    reg = np.zeros((5, nv))
    ring = lambda r: 1 + r * SKIN_COLS + np.arange(SKIN_COLS)  # noqa: E731
    reg[0, ring(SKIN_RINGS - 1)] = 1.0  # root: the neck rim's centre
    reg[1, ring(int(SKIN_RINGS * 2.25 / V_MAX))] = 1.0
    reg[2, ring(int(SKIN_RINGS * 1.75 / V_MAX))] = 1.0  # jaw: centre of the cross-section at the cheeks
    reg[3, eyeballs["left"]] = 1.0
    reg[4, eyeballs["right"]] = 1.0
    reg /= reg.sum(axis=1, keepdims=True)

    feats = _features(v)
    shapedirs = np.zeros((nv, 3, 400))
    face = np.zeros(nv)
    face[:n_skin] = front * _bump(u, vv, 0.0, 1.6, 0.9, 0.45)
    for k in range(400):
        field = feats @ rng.normal(size=(feats.shape[1], 3))
        if k >= 300:
            field *= face[:, None]
            std = 0.002 * (k - 299) ** -0.5
        else:
            std = 0.004 * (k + 1) ** -0.6
        field -= field.mean(axis=0) * (k < 300)
        shapedirs[:, :, k] = std * field / np.sqrt((field**2).sum(axis=1).mean())
    posedirs = np.zeros((nv, 3, 36))
    for j, w in ((0, neck), (1, jaw)):
        for c in range(9):
            field = feats @ rng.normal(size=(feats.shape[1], 3))
            posedirs[:, :, 9 * j + c] = 0.004 * w[:, None] * field / np.sqrt((field**2).sum(axis=1).mean())
    kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
    arrays = {
        "f": f.astype(np.uint32),
        "J_regressor": CscMatrix(reg),
        "kintree_table": kintree,
        "J": Ch(reg @ v),
        "weights": Ch(weights),
        "posedirs": Ch(posedirs),
        "bs_style": "lbs",
        "v_template": Ch(v),
        "shapedirs": Ch(shapedirs),
        "bs_type": "lrotmin",
    }
    return FlameArrays(arrays, params, eyeballs, jaw)


def write_flame(path: Path, fa: FlameArrays | None = None) -> Path:
    return write_py2_pickle(path, (fa or flame_arrays()).arrays)


def flame_landmarks(
    fa: FlameArrays, shape: HeadShape = FLAME_SHAPE
) -> tuple[Landmarks, Landmarks, np.ndarray]:
    """The 68 and the MediaPipe subset as FLAME triangle + barycentric (against the FLAME-frame mesh)."""
    v_b = head_points  # parametric points are in Blender axes; convert after
    p68, p478 = landmark_params()
    f = np.asarray(fa.arrays["f"], dtype=np.int64)
    v = fa.arrays["v_template"].x
    mesh_b = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)
    skin_tri = f[:N_SKIN_TRIS]
    lm68 = surface_landmarks(mesh_b, skin_tri, v_b(p68[:, 0], p68[:, 1], shape))
    mp_ids = np.sort(np.random.default_rng(105).choice(478, 105, replace=False)).astype(np.int64)
    lm_mp = surface_landmarks(mesh_b, skin_tri, v_b(p478[mp_ids, 0], p478[mp_ids, 1], shape))
    return lm68, lm_mp, mp_ids


def write_flame_companions(folder: Path, fa: FlameArrays) -> dict[str, Path]:
    """The companion files: landmark embeddings (DECA npy, static pkl, MediaPipe npz), masks, UVs."""
    lm68, lm_mp, mp_ids = flame_landmarks(fa)
    out: dict[str, Path] = {}
    dyn_faces = torch.zeros((79, 17), dtype=torch.int64)
    dyn_bary = torch.full((79, 17, 3), 1.0 / 3.0)
    deca = {
        "static_lmk_faces_idx": lm68.triangles[17:].astype(np.int64),
        "static_lmk_bary_coords": lm68.barycentric[17:].astype(np.float64),
        "dynamic_lmk_faces_idx": dyn_faces,
        "dynamic_lmk_bary_coords": dyn_bary,
        "full_lmk_faces_idx": lm68.triangles[None].astype(np.int64),
        "full_lmk_bary_coords": lm68.barycentric[None].astype(np.float64),
    }
    out["deca"] = folder / "landmark_embedding.npy"
    np.save(out["deca"], deca, allow_pickle=True)
    out["static"] = write_py2_pickle(
        folder / "flame_static_embedding.pkl",
        {
            "lmk_face_idx": lm68.triangles[17:].astype(np.int64),
            "lmk_b_coords": lm68.barycentric[17:].astype(np.float64),
        },
    )
    out["mediapipe"] = folder / "mediapipe_landmark_embedding.npz"
    np.savez(
        out["mediapipe"],
        lmk_face_idx=lm_mp.triangles.astype(np.int64),
        lmk_b_coords=lm_mp.barycentric.astype(np.float64),
        landmark_indices=mp_ids,
    )
    n_skin = N_SKIN
    masks = {
        "eye_region": np.arange(0, 200),
        "neck": np.arange(n_skin - 4 * SKIN_COLS, n_skin),
        "left_eyeball": fa.eyeballs["left"],
        "right_eyeball": fa.eyeballs["right"],
        "right_ear": np.arange(300, 320),
        "right_eye_region": np.arange(320, 340),
        "forehead": np.arange(340, 400),
        "lips": np.arange(400, 420),
        "nose": np.arange(420, 440),
        "scalp": np.arange(0, 120),
        "boundary": np.arange(n_skin - SKIN_COLS, n_skin),
        "face": np.arange(400, 2000),
        "left_ear": np.arange(440, 460),
        "left_eye_region": np.arange(460, 480),
    }
    out["masks"] = write_py2_pickle(
        folder / "FLAME_masks.pkl", {k: v.astype(np.int64) for k, v in masks.items()}
    )
    # UVs: a cylindrical layout with its own seam vertices (vt), like FLAME's 5118 vt for 5023 v
    v = fa.arrays["v_template"].x
    f = np.asarray(fa.arrays["f"], dtype=np.int64)
    ang = np.arctan2(v[:, 0], v[:, 2])
    uv = np.stack([0.5 + ang / (2 * np.pi), 0.1 + 0.85 * (v[:, 1] - v[:, 1].min()) / np.ptp(v[:, 1])], axis=1)
    vt = list(map(tuple, uv))
    ft = f.copy()
    for t in range(f.shape[0]):
        us = uv[f[t], 0]
        if us.max() - us.min() > 0.5:
            for k in range(3):
                if us[k] < 0.5:
                    vt.append((us[k] + 1.0, uv[f[t, k], 1]))
                    ft[t, k] = len(vt) - 1
    vt_arr = np.clip(np.array(vt), 0, 1)
    out["texture"] = folder / "FLAME_texture.npz"
    np.savez(out["texture"], vt=vt_arr, ft=ft, mean=np.zeros((8, 8, 3)))
    out["obj"] = folder / "head_template.obj"
    with open(out["obj"], "w") as fh:
        for p in v:
            fh.write(f"v {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n")
        for t in vt_arr:
            fh.write(f"vt {t[0]:.6f} {t[1]:.6f}\n")
        for a, b in zip(f + 1, ft + 1, strict=True):
            fh.write(f"f {a[0]}/{b[0]} {a[1]}/{b[1]} {a[2]}/{b[2]}\n")
    out["vt_ft"] = folder / "vt_ft.npy"  # the corner UVs, for comparisons
    np.save(out["vt_ft"], vt_arr[ft])
    return out


# --- FaceScape -------------------------------------------------------------------------------------

FS_SHAPE = HeadShape(radii=(0.077, 0.097, 0.115), nose=0.024, lips=0.008, chin=0.01)


@dataclass
class FaceScapeFile:
    path: Path
    params: np.ndarray
    neutral_mm: np.ndarray  # (V, 3) FaceScape frame (Y up, face +Z), millimetres
    core: np.ndarray
    id_mean: np.ndarray
    id_var: np.ndarray


def write_facescape(
    path: Path, rings: int = 36, cols: int = 48, n_id: int = 12, seed: int = 1, compressed: bool = False
) -> FaceScapeFile:
    """A FaceScape v1.6 bilinear model npz: the toolkit's keys, dtypes as far as established, small sizes."""
    rng = np.random.default_rng(seed)
    verts_b, params, tri, _ = grid_mesh(rings, cols, FS_SHAPE)
    nv = verts_b.shape[0]
    neutral = blender_to_flame(verts_b) * 1000.0  # same frame as FLAME, in mm
    feats = _features(neutral / 1000.0)
    id_mean = np.zeros(n_id)
    id_mean[0] = -1.0 / np.sqrt(847.0)
    id_var = np.full(n_id, 1.0 / 847.0)
    id_var[0] = 1e-6
    c0 = np.zeros((3 * nv, n_id))
    c0[:, 0] = neutral.ravel() / id_mean[0]
    for k in range(1, n_id):
        field = feats @ rng.normal(size=(feats.shape[1], 3))
        field -= field.mean(axis=0)
        field *= 3.0 * k**-0.5 / np.sqrt((field**2).sum(axis=1).mean())  # mm at 1 std
        c0[:, k] = field.ravel() / np.sqrt(id_var[k])
    core = np.zeros((3 * nv, 52, n_id), dtype=np.float32)
    core[:, 0, :] = c0
    for e in range(1, 52):
        g = _bump(params[:, 0], params[:, 1], rng.uniform(-0.6, 0.6), rng.uniform(1.2, 2.0), 0.2, 0.1)
        delta = (g[:, None] * rng.normal(size=3) * 2.0).ravel()  # mm
        core[:, e, :] = c0
        core[:, e, 0] += delta / id_mean[0]
    # 1-based faces and texture faces; texcoords with seam duplicates
    uv = np.stack([0.5 + params[:, 0] / (2 * np.pi), 1.0 - params[:, 1] / V_MAX], axis=1)
    vt = list(map(tuple, uv))
    ft = tri.copy()
    for t in range(tri.shape[0]):
        us = uv[tri[t], 0]
        if us.max() - us.min() > 0.5:
            for k in range(3):
                if us[k] < 0.5:
                    vt.append((us[k] + 1.0, uv[tri[t, k], 1]))
                    ft[t, k] = len(vt) - 1
    texcoords = np.clip(np.array(vt), 0, 1)
    p68, _ = landmark_params()
    lm_pts = head_points(p68[:, 0], p68[:, 1], FS_SHAPE)
    lm_vid = np.array([int(np.argmin(((verts_b - q) ** 2).sum(axis=1))) for q in lm_pts], dtype=np.int64)
    front_v = np.flatnonzero(np.cos(params[:, 0]) > 0.3)
    keep = np.isin(tri, front_v).all(axis=1)
    remap = np.full(nv, -1)
    remap[front_v] = np.arange(front_v.size)
    data = {
        "shape_bm_core": core,
        "color_bm_core": rng.normal(size=(3 * front_v.size, 8)).astype(np.float32),
        "color_bm_mean": np.full(3 * front_v.size, 128.0, dtype=np.float32),
        "fv_indices": (tri + 1).astype(np.int32),
        "ft_indices": (ft + 1).astype(np.int32),
        "fv_indices_front": (remap[tri[keep]] + 1).astype(np.int32),
        "ft_indices_front": (ft[keep] + 1).astype(np.int32),
        "vc_dict_front": np.arange(front_v.size, dtype=np.int64),
        "v_indices_front": front_v.astype(np.int64),
        "vert_num": np.array(nv),
        "face_num": np.array(tri.shape[0]),
        "frontal_vert_num": np.array(front_v.size),
        "frontal_face_num": np.array(int(keep.sum())),
        "texcoords": texcoords.astype(np.float64),
        "facial_mask": np.ones((64, 64), dtype=np.uint8),
        "sym_dict": np.arange(nv, dtype=np.int64),
        "lm_list_v16": lm_vid,
        "vert_10to16_dict": np.arange(nv, dtype=np.int64),
        "vert_16to10_dict": np.arange(nv, dtype=np.int64),
        "id_mean": id_mean.astype(np.float64),
        "id_var": id_var.astype(np.float64),
        "exp_gmm_weights": np.full(4, 0.25),
        "exp_gmm_means": np.zeros((4, 51)),
        "exp_gmm_covariances": np.tile(np.eye(51), (4, 1, 1)),
        "contour_line_right": np.array([list(range(5)), list(range(5, 12))], dtype=object),
        "contour_line_left": np.array([list(range(3)), list(range(3, 9))], dtype=object),
        "bottom_cand": np.arange(10, dtype=np.int64),
    }
    (np.savez_compressed if compressed else np.savez)(path, **data)
    return FaceScapeFile(path, params, neutral, core, id_mean, id_var)
