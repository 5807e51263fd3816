"""Fit one head mesh onto another and carry its shapes, points and maps across.

This is how a FLAME or FaceScape head (and later a user's own character) gets the
default head's 52 ARKit shapes: the default head's skin is registered onto the
target surface (similarity from landmarks, then non-rigid ICP), which gives a
dense correspondence; expressions then move over by deformation transfer (Sumner &
Popovic 2004), so they keep their local shape on a face of different proportions
and topology, and landmarks, per-vertex data and UV-space masks follow the same
correspondence.

Everything is numpy/scipy: sparse least-squares solves, factorised once where
many right-hand sides share a matrix (the 52 shapes). Meshes are triangle meshes
in any consistent frame; the heads use metres in Blender axes.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from .model import Landmarks

# scipy ships no type stubs: bound untyped, so mypy settings for scipy do not matter here
sp: Any = importlib.import_module("scipy.sparse")
spla: Any = importlib.import_module("scipy.sparse.linalg")
ndimage: Any = importlib.import_module("scipy.ndimage")
cKDTree: Any = importlib.import_module("scipy.spatial").cKDTree

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# --- meshes and closest points ---------------------------------------------------


@dataclass(frozen=True)
class TriMesh:
    """A triangle mesh: vertices (V, 3) float64 and triangles (F, 3) int64."""

    vertices: F64
    triangles: I64

    @staticmethod
    def of(vertices: npt.ArrayLike, triangles: npt.ArrayLike) -> TriMesh:
        return TriMesh(
            np.ascontiguousarray(vertices, dtype=np.float64).reshape(-1, 3),
            np.ascontiguousarray(triangles, dtype=np.int64).reshape(-1, 3),
        )

    def with_vertices(self, vertices: npt.ArrayLike) -> TriMesh:
        return TriMesh.of(vertices, self.triangles)

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def corners(self) -> tuple[F64, F64, F64]:
        t = self.triangles
        v = self.vertices
        return v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]

    def triangle_normals(self, normalise: bool = True) -> F64:
        a, b, c = self.corners()
        n: F64 = np.cross(b - a, c - a)
        if normalise:
            n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
        return n

    def triangle_areas(self) -> F64:
        result: F64 = 0.5 * np.linalg.norm(self.triangle_normals(normalise=False), axis=1)
        return result

    def vertex_normals(self) -> F64:
        """Area-weighted vertex normals (unit; zero for vertices no triangle uses)."""
        n = self.triangle_normals(normalise=False)
        out = np.zeros_like(self.vertices)
        for k in range(3):
            np.add.at(out, self.triangles[:, k], n)
        result: F64 = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-30)
        return result

    def vertex_areas(self) -> F64:
        """Lumped (one third of each adjacent triangle) area per vertex."""
        out = np.zeros(self.n_vertices)
        a = self.triangle_areas() / 3.0
        for k in range(3):
            np.add.at(out, self.triangles[:, k], a)
        return out

    def boundary_vertices(self) -> npt.NDArray[np.bool_]:
        """Vertices on an edge used by one triangle only (holes, the neck rim)."""
        t = self.triangles
        e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
        e.sort(axis=1)
        key = e[:, 0] * self.n_vertices + e[:, 1]
        uniq, counts = np.unique(key, return_counts=True)
        single = uniq[counts == 1]
        out = np.zeros(self.n_vertices, dtype=bool)
        out[single // self.n_vertices] = True
        out[single % self.n_vertices] = True
        return out

    def submesh(self, keep_vertices: npt.ArrayLike) -> tuple[TriMesh, I64, I64]:
        """Triangles whose corners are all kept -> (mesh, vertex ids into self, triangle ids into self)."""
        keep = np.zeros(self.n_vertices, dtype=bool)
        keep[np.asarray(keep_vertices, dtype=np.int64)] = True
        tri_ids = np.flatnonzero(keep[self.triangles].all(axis=1)).astype(np.int64)
        vert_ids = np.flatnonzero(keep).astype(np.int64)
        remap = np.full(self.n_vertices, -1, dtype=np.int64)
        remap[vert_ids] = np.arange(vert_ids.size)
        return TriMesh.of(self.vertices[vert_ids], remap[self.triangles[tri_ids]]), vert_ids, tri_ids


@dataclass(frozen=True)
class SurfacePoints:
    """Points on a mesh surface: the triangle, barycentric weights, the point and its query distance."""

    triangles: I64  # (N,)
    barycentric: F64  # (N, 3)
    points: F64  # (N, 3)
    distances: F64  # (N,)

    def interpolate(self, mesh_triangles: I64, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Per-vertex ``values`` (V, ...) of the mesh these points lie on, at the points (N, ...)."""
        corners = values[mesh_triangles[self.triangles]]  # (N, 3, ...)
        w = self.barycentric.reshape(self.barycentric.shape + (1,) * (corners.ndim - 2))
        result: npt.NDArray[Any] = (corners * w).sum(axis=1)
        return result

    def landmarks(self) -> Landmarks:
        return Landmarks(self.triangles.astype(np.int32), self.barycentric.astype(np.float32))


def _closest_on_triangles(p: F64, a: F64, b: F64, c: F64) -> tuple[F64, F64, F64]:
    """Closest point on each triangle (a, b, c) to each p (all (M, 3)): points, barycentric, squared distance.

    The plane projection when it falls inside the triangle, otherwise the nearest of
    the three clamped edge projections (which also covers degenerate triangles).
    """
    ab, ac, ap = b - a, c - a, p - a
    d00 = np.einsum("ij,ij->i", ab, ab)
    d01 = np.einsum("ij,ij->i", ab, ac)
    d11 = np.einsum("ij,ij->i", ac, ac)
    d20 = np.einsum("ij,ij->i", ap, ab)
    d21 = np.einsum("ij,ij->i", ap, ac)
    denom = d00 * d11 - d01 * d01
    ok = denom > 1e-30 * np.maximum(d00 * d11, 1e-300)
    safe = np.where(ok, denom, 1.0)
    v = (d11 * d20 - d01 * d21) / safe
    w = (d00 * d21 - d01 * d20) / safe
    u = 1.0 - v - w
    inside = ok & (u >= 0) & (v >= 0) & (w >= 0)
    best_bary = np.stack([u, v, w], axis=1)
    best_q = a + v[:, None] * ab + w[:, None] * ac
    best_d2 = np.where(inside, np.einsum("ij,ij->i", p - best_q, p - best_q), np.inf)
    for s, e, k0, k1 in ((a, b, 0, 1), (b, c, 1, 2), (c, a, 2, 0)):
        se = e - s
        ll = np.einsum("ij,ij->i", se, se)
        t = np.clip(np.einsum("ij,ij->i", p - s, se) / np.maximum(ll, 1e-300), 0.0, 1.0)
        q = s + t[:, None] * se
        d2 = np.einsum("ij,ij->i", p - q, p - q)
        better = d2 < best_d2
        if better.any():
            bary = np.zeros((int(better.sum()), 3))
            bary[:, k0] = 1.0 - t[better]
            bary[:, k1] = t[better]
            best_bary[better] = bary
            best_q[better] = q[better]
            best_d2 = np.where(better, d2, best_d2)
    return best_q, best_bary, best_d2


class SurfaceQuery:
    """Closest points on a mesh: k nearest vertices (KD-tree), then exact distance to their triangles.

    Exact whenever the closest triangle touches one of the k nearest vertices, which
    holds for the fairly even tessellations of head meshes.
    """

    def __init__(self, mesh: TriMesh, k: int = 8, chunk: int = 20000) -> None:
        self.mesh = mesh
        self.k = max(1, min(k, mesh.n_vertices))
        self.chunk = chunk
        used = np.unique(mesh.triangles)
        self._used = used
        self._tree = cKDTree(mesh.vertices[used])
        flat = mesh.triangles.ravel()
        order = np.argsort(flat, kind="stable")
        self._vt = (order // 3).astype(np.int64)
        counts = np.bincount(flat, minlength=mesh.n_vertices)
        self._ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        a, b, c = mesh.corners()
        self._centroid = (a + b + c) / 3.0
        self._radius = np.sqrt(
            np.max(np.stack([((x - self._centroid) ** 2).sum(axis=1) for x in (a, b, c)]), axis=0)
        )

    def closest(self, points: npt.ArrayLike) -> SurfacePoints:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        n = pts.shape[0]
        tri = np.zeros(n, dtype=np.int64)
        bary = np.zeros((n, 3))
        out = np.zeros((n, 3))
        dist = np.zeros(n)
        for s in range(0, n, self.chunk):
            e = min(n, s + self.chunk)
            tri[s:e], bary[s:e], out[s:e], dist[s:e] = self._closest_chunk(pts[s:e])
        return SurfacePoints(tri, bary, out, dist)

    def _closest_chunk(self, pts: F64) -> tuple[I64, F64, F64, F64]:
        n = pts.shape[0]
        _, nn = self._tree.query(pts, k=self.k)
        nn = self._used[np.asarray(nn, dtype=np.int64).reshape(n, self.k)]
        flat_v = nn.ravel()
        counts = self._ptr[flat_v + 1] - self._ptr[flat_v]
        owner = np.repeat(np.repeat(np.arange(n), self.k), counts)
        starts = np.repeat(self._ptr[flat_v], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = self._vt[starts + offsets]
        # neighbouring vertices share triangles: test each (point, triangle) pair once
        nf = self.mesh.triangles.shape[0]
        key = np.unique(owner * nf + cand)
        owner, cand = key // nf, key % nf
        # prune by bounding spheres: a triangle's centroid bounds the best distance from above
        dc = np.linalg.norm(pts[owner] - self._centroid[cand], axis=1)
        group_start = np.concatenate([[0], np.flatnonzero(np.diff(owner)) + 1])
        upper = np.minimum.reduceat(dc, group_start)
        group = np.repeat(np.arange(group_start.size), np.diff(np.append(group_start, owner.size)))
        keep = dc - self._radius[cand] <= upper[group]
        owner, cand = owner[keep], cand[keep]
        t = self.mesh.triangles[cand]
        v = self.mesh.vertices
        q, b, d2 = _closest_on_triangles(pts[owner], v[t[:, 0]], v[t[:, 1]], v[t[:, 2]])
        # the best candidate of each query point (owner is sorted)
        group_start = np.concatenate([[0], np.flatnonzero(np.diff(owner)) + 1])
        best = np.minimum.reduceat(d2, group_start)
        hit = np.flatnonzero(d2 <= best[owner])
        first = hit[np.unique(owner[hit], return_index=True)[1]]
        return cand[first], b[first], q[first], np.sqrt(d2[first])


# --- similarity alignment --------------------------------------------------------


@dataclass(frozen=True)
class Similarity:
    """x -> scale * R x + t."""

    scale: float
    rotation: F64
    translation: F64

    @staticmethod
    def identity() -> Similarity:
        return Similarity(1.0, np.eye(3), np.zeros(3))

    def apply(self, points: npt.ArrayLike) -> F64:
        p = np.asarray(points, dtype=np.float64)
        result: F64 = self.scale * p @ self.rotation.T + self.translation
        return result

    def then(self, other: Similarity) -> Similarity:
        """``other`` applied after ``self``."""
        return Similarity(
            other.scale * self.scale,
            other.rotation @ self.rotation,
            other.scale * other.rotation @ self.translation + other.translation,
        )


def fit_similarity(
    source: npt.ArrayLike, target: npt.ArrayLike, weights: Optional[npt.ArrayLike] = None, scale: bool = True
) -> Similarity:
    """Least-squares similarity taking ``source`` points onto ``target`` (Umeyama), optionally weighted."""
    x = np.asarray(source, dtype=np.float64).reshape(-1, 3)
    y = np.asarray(target, dtype=np.float64).reshape(-1, 3)
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / max(w.sum(), 1e-300)
    mx, my = w @ x, w @ y
    xc, yc = x - mx, y - my
    cov = (yc * w[:, None]).T @ xc
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rot = u @ np.diag(d) @ vt
    var = float((w * (xc * xc).sum(axis=1)).sum())
    s = float((sig * d).sum() / var) if scale and var > 0 else 1.0
    return Similarity(s, rot, my - s * rot @ mx)


def bbox_similarity(source: F64, target: F64) -> Similarity:
    """A first guess for two heads in Blender axes (Z up, face toward -Y) without landmarks.

    Scale from the width (ear to ear), then the tops of the heads, the frontmost
    points (nose tips) and the left/right centres are made to coincide.
    """
    smin, smax = source.min(axis=0), source.max(axis=0)
    tmin, tmax = target.min(axis=0), target.max(axis=0)
    s = float((tmax[0] - tmin[0]) / max(smax[0] - smin[0], 1e-12))
    t = np.array(
        [
            0.5 * (tmin[0] + tmax[0]) - s * 0.5 * (smin[0] + smax[0]),
            tmin[1] - s * smin[1],
            tmax[2] - s * smax[2],
        ]
    )
    return Similarity(s, np.eye(3), t)


# --- registration ------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationOptions:
    """Knobs of the non-rigid fit; the defaults suit two heads of a few thousand vertices each.

    stiffness: weights of the term keeping neighbouring vertices' affine transforms
    alike, one stage each, from stiff (nearly one global affine map) to supple.
    landmark_weight / reverse_weight: relative to the forward closest-point term
    (normalised by point counts). Closest points further than a cap are ignored; the
    cap shrinks geometrically from ``max_distance`` to ``min_distance`` (fractions of
    the target's bounding-box diagonal) over the stages; normal_cos: and those whose
    normals disagree.
    """

    stiffness: tuple[float, ...] = (1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0)
    iterations_per_stage: int = 3
    landmark_weight: float = 1.0
    reverse_weight: float = 1.0
    max_distance: float = 0.1
    min_distance: float = 0.02
    normal_cos: float = 0.3
    rigid_iterations: int = 12
    reverse_samples: int = 8000


@dataclass
class Registration:
    """The source mesh fitted onto the target: its vertices in the target frame, plus how it got there."""

    source: TriMesh
    target: TriMesh
    vertices: F64  # (Vs, 3) registered source vertices, target frame
    similarity: Similarity  # the rigid+scale part (applied before the non-rigid fit)
    stats: dict[str, float] = field(default_factory=dict)
    _query: Optional[SurfaceQuery] = field(default=None, init=False, repr=False)

    @property
    def mesh(self) -> TriMesh:
        return self.source.with_vertices(self.vertices)

    def query(self) -> SurfaceQuery:
        """Closest points on the registered source surface (cached)."""
        if self._query is None:
            self._query = SurfaceQuery(self.mesh)
        return self._query

    def correspondence(self, target_points: npt.ArrayLike) -> SurfacePoints:
        """Where target-frame points land on the registered source (triangle + barycentric of the source)."""
        return self.query().closest(target_points)


def _barycentric_matrix(triangles: I64, tri: npt.ArrayLike, bary: npt.ArrayLike, n: int) -> Any:
    """Sparse (N, n) matrix whose rows evaluate points given as triangle + barycentric weights."""
    tri_a = np.asarray(tri, dtype=np.int64)
    b = np.asarray(bary, dtype=np.float64).reshape(-1, 3)
    rows = np.repeat(np.arange(tri_a.size), 3)
    cols = triangles[tri_a].ravel()
    return sp.csr_matrix((b.ravel(), (rows, cols)), shape=(tri_a.size, n))


def register(
    source: TriMesh,
    target: TriMesh,
    *,
    source_landmarks: Optional[Landmarks] = None,
    target_landmarks: Optional[npt.ArrayLike] = None,
    options: Optional[RegistrationOptions] = None,
) -> Registration:
    """Fit ``source`` onto ``target``: similarity from landmarks (or bounding boxes + ICP), then non-rigid.

    The non-rigid part is optimal-step non-rigid ICP (Amberg et al. 2007): every
    source vertex gets an affine transform; each stage minimises stiffness * the
    differences of neighbouring transforms + |X_i - closest target point|^2
    (forward) + |closest source point - target vertex|^2 (reverse, so the source
    covers the target) + |landmarks - target landmarks|^2, a sparse linear
    least-squares solve, with the closest points re-found every iteration. A global
    affine map costs nothing, so different proportions do not make points slide.
    Both meshes should be in the same axes.
    """
    t0 = time.perf_counter()
    opts = options or RegistrationOptions()
    tgt_lm = (
        None if target_landmarks is None else np.asarray(target_landmarks, dtype=np.float64).reshape(-1, 3)
    )
    use_lm = source_landmarks is not None and tgt_lm is not None and len(source_landmarks) >= 3
    if use_lm and source_landmarks is not None and tgt_lm is not None:
        if len(source_landmarks) != tgt_lm.shape[0]:
            raise ValueError(f"{len(source_landmarks)} source landmarks but {tgt_lm.shape[0]} target points")
        a_lm = _barycentric_matrix(
            source.triangles, source_landmarks.triangles, source_landmarks.barycentric, source.n_vertices
        )
        sim = fit_similarity(a_lm @ source.vertices, tgt_lm)
    else:
        a_lm = None
        sim = bbox_similarity(source.vertices, target.vertices)

    tq = SurfaceQuery(target)
    t_normals = target.triangle_normals()
    t_boundary_tri = target.boundary_vertices()[target.triangles].any(axis=1)
    diag = float(np.linalg.norm(target.vertices.max(axis=0) - target.vertices.min(axis=0)))
    caps = diag * np.geomspace(opts.max_distance, opts.min_distance, max(len(opts.stiffness), 1))

    x = sim.apply(source.vertices)
    if not use_lm:
        # similarity ICP on trimmed closest points refines the bounding-box guess
        for it in range(opts.rigid_iterations):
            sp_ = tq.closest(x)
            keep = sp_.distances <= np.quantile(sp_.distances, 0.8)
            step = fit_similarity(x[keep], sp_.points[keep])
            sim = sim.then(step)
            x = sim.apply(source.vertices)
            if abs(step.scale - 1) < 1e-4 and np.linalg.norm(step.translation) < 1e-5 * diag and it > 2:
                break

    n = source.n_vertices
    # per-vertex affine transforms (Amberg et al. 2007), in coordinates normalised by the target's
    # centroid and RMS radius so the linear and translational parts weigh alike
    centre = target.vertices.mean(axis=0)
    radius = float(np.sqrt(((target.vertices - centre) ** 2).sum(axis=1).mean()))
    v0 = (x - centre) / radius
    d_mat = sp.csr_matrix(
        (
            np.concatenate([v0, np.ones((n, 1))], axis=1).ravel(),
            (np.repeat(np.arange(n), 4), np.arange(4 * n)),
        ),
        shape=(n, 4 * n),
    )
    t = source.triangles
    edges = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1), axis=0)
    inc = sp.csr_matrix(
        (
            np.r_[np.ones(len(edges)), -np.ones(len(edges))],
            (np.r_[np.arange(len(edges)), np.arange(len(edges))], edges.T.ravel()),
        ),
        shape=(len(edges), n),
    )
    stiff = sp.kron((inc.T @ inc).tocsr(), sp.identity(4)).tocsr()
    xa = np.tile(np.vstack([np.eye(3), np.zeros((1, 3))]), (n, 1))  # identity transforms
    a_lm_d = None if a_lm is None else (a_lm @ d_mat).tocsr()
    tgt_lm_n = None if tgt_lm is None else (tgt_lm - centre) / radius
    s_boundary = source.boundary_vertices()
    rng = np.random.default_rng(0)
    t_ids = np.flatnonzero(
        ~target.boundary_vertices() & (np.bincount(target.triangles.ravel(), minlength=target.n_vertices) > 0)
    )
    if t_ids.size > opts.reverse_samples:
        t_ids = np.sort(rng.choice(t_ids, opts.reverse_samples, replace=False))
    t_vn = target.vertex_normals()
    eye = sp.identity(4 * n, format="csr")
    n_solves = 0
    stages = opts.stiffness
    for si, alpha in enumerate(stages):
        dist_cap = caps[si]
        for _ in range(opts.iterations_per_stage):
            mesh_x = source.with_vertices(x)
            s_vn = mesh_x.vertex_normals()
            fwd = tq.closest(x)
            w_f = (
                (fwd.distances < dist_cap)
                & (np.einsum("ij,ij->i", s_vn, t_normals[fwd.triangles]) > opts.normal_cos)
                & ~t_boundary_tri[fwd.triangles]
                & ~s_boundary
            ).astype(np.float64)
            sq = SurfaceQuery(mesh_x)
            rev = sq.closest(target.vertices[t_ids])
            s_tn = mesh_x.triangle_normals()
            ok_r = (
                (rev.distances < dist_cap)
                & (np.einsum("ij,ij->i", t_vn[t_ids], s_tn[rev.triangles]) > opts.normal_cos)
                & ~s_boundary[source.triangles[rev.triangles]].any(axis=1)
            )
            b_r = _barycentric_matrix(source.triangles, rev.triangles[ok_r], rev.barycentric[ok_r], n) @ d_mat
            y_r = (target.vertices[t_ids][ok_r] - centre) / radius
            r_w = opts.reverse_weight * n / max(int(ok_r.sum()), 1)
            dw = d_mat.T @ sp.diags(w_f)
            mat = alpha * stiff + dw @ d_mat + r_w * (b_r.T @ b_r) + 1e-9 * eye
            rhs = dw @ ((fwd.points - centre) / radius) + r_w * (b_r.T @ y_r) + 1e-9 * xa
            if a_lm_d is not None and tgt_lm_n is not None:
                l_w = opts.landmark_weight * n / a_lm_d.shape[0] * max(alpha / stages[0], 0.1)
                mat = mat + l_w * (a_lm_d.T @ a_lm_d)
                rhs = rhs + l_w * (a_lm_d.T @ tgt_lm_n)
            lu = spla.splu(mat.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
            xa = np.asarray(lu.solve(rhs))
            x = np.asarray(d_mat @ xa) * radius + centre
            n_solves += 1

    reg = Registration(source, target, x, sim)
    fwd = tq.closest(x)
    interior = ~s_boundary
    rev = reg.query().closest(target.vertices[t_ids])
    reg.stats = {
        "seconds": time.perf_counter() - t0,
        "solves": float(n_solves),
        "scale": sim.scale,
        "source_to_target_mean": float(fwd.distances[interior].mean()),
        "source_to_target_p95": float(np.quantile(fwd.distances[interior], 0.95)),
        "target_to_source_mean": float(rev.distances.mean()),
        "target_to_source_p95": float(np.quantile(rev.distances, 0.95)),
        "target_diagonal": diag,
    }
    if a_lm is not None and tgt_lm is not None:
        reg.stats["landmark_rms"] = float(np.sqrt(((a_lm @ x - tgt_lm) ** 2).sum(axis=1).mean()))
    return reg


# --- carrying things across ---------------------------------------------------------


def landmark_points(mesh: TriMesh, landmarks: Landmarks) -> F64:
    corners = mesh.vertices[mesh.triangles[np.asarray(landmarks.triangles, dtype=np.int64)]]
    result: F64 = np.einsum("nk,nkd->nd", np.asarray(landmarks.barycentric, dtype=np.float64), corners)
    return result


def transfer_landmarks(
    landmarks: Landmarks, registration: Registration, target_query: Optional[SurfaceQuery] = None
) -> Landmarks:
    """Source landmarks -> the same points on the target surface (triangle + barycentric of the target)."""
    pts = landmark_points(registration.mesh, landmarks)
    q = target_query if target_query is not None else SurfaceQuery(registration.target)
    return q.closest(pts).landmarks()


def transfer_vertex_data(values: npt.NDArray[Any], registration: Registration) -> npt.NDArray[Any]:
    """Per-source-vertex values (Vs, ...) -> per-target-vertex values (Vt, ...), interpolated on the fit."""
    corr = registration.correspondence(registration.target.vertices)
    return corr.interpolate(registration.source.triangles, values)


def _frames(a: F64, b: F64, c: F64) -> F64:
    """Sumner's per-triangle frame [v2-v1, v3-v1, n/sqrt|n|] as (F, 3, 3) column matrices."""
    e1, e2 = b - a, c - a
    n = np.cross(e1, e2)
    n = n / np.sqrt(np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300))
    return np.stack([e1, e2, n], axis=2)


class DeformationTransfer:
    """Sumner & Popovic deformation transfer from the registered source onto the target, one factorisation.

    Each source expression gives per-triangle deformation gradients S (the affine map
    taking the neutral triangle, with Sumner's fourth normal vertex, to the expressed
    one). Every target triangle takes the gradient of the source triangle under its
    centroid in the registration (rotated by the similarity), and the target vertex
    offsets D solve the least-squares system sum_t area_t |(E_t + D_t) - S_t E_t|^2 in
    the triangle's metric (a cotangent-Laplacian system), plus a weak pull
    ``anchor_weight / length^2`` towards the offsets read directly through the
    correspondence, which fixes the free translation and keeps the large-scale motion.
    """

    def __init__(
        self,
        registration: Registration,
        *,
        anchor_length: Optional[float] = None,
    ) -> None:
        reg = registration
        self.registration = reg
        src, tgt = reg.source, reg.target
        self.rotation = reg.similarity.rotation
        self.scale = reg.similarity.scale
        a, b, c = src.corners()
        frames = _frames(a, b, c)
        det = np.linalg.det(frames)
        self._src_ok = np.abs(det) > 1e-12 * np.maximum(np.abs(det).max(), 1e-300)
        safe = frames.copy()
        safe[~self._src_ok] = np.eye(3)
        self._src_inv = np.linalg.inv(safe)

        query = reg.query()
        ta, tb, tc = tgt.corners()
        self.tri_map = query.closest((ta + tb + tc) / 3.0).triangles
        self.vertex_corr = query.closest(tgt.vertices)

        # G: 2 rows per target triangle, E' L_t with L_t L_t^T = (E^T E)^-1
        e1, e2 = tb - ta, tc - ta
        g = np.stack(
            [
                np.stack([np.einsum("ij,ij->i", e1, e1), np.einsum("ij,ij->i", e1, e2)], axis=1),
                np.stack([np.einsum("ij,ij->i", e1, e2), np.einsum("ij,ij->i", e2, e2)], axis=1),
            ],
            axis=1,
        )  # (F, 2, 2) Gram matrices
        area = tgt.triangle_areas()
        good = area > 1e-14 * max(float(area.max()), 1e-300)
        g[~good] = np.eye(2)
        chol = np.linalg.cholesky(np.linalg.inv(g))  # (F, 2, 2) lower
        chol[~good] = 0.0
        self._edges = np.stack([e1, e2], axis=2)  # (F, 3, 2)
        self._chol = chol
        nf = tgt.triangles.shape[0]
        rows, cols, vals = [], [], []
        tri = tgt.triangles
        for j in range(2):
            r = 2 * np.arange(nf) + j
            rows += [r, r, r]
            cols += [tri[:, 1], tri[:, 2], tri[:, 0]]
            vals += [chol[:, 0, j], chol[:, 1, j], -(chol[:, 0, j] + chol[:, 1, j])]
        self._g = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(2 * nf, tgt.n_vertices),
        )
        self._w = np.repeat(area, 2)
        diag = float(np.linalg.norm(tgt.vertices.max(axis=0) - tgt.vertices.min(axis=0)))
        length = anchor_length if anchor_length is not None else 0.5 * diag
        self._mass = tgt.vertex_areas() / max(length, 1e-12) ** 2
        gtw = self._g.T @ sp.diags(self._w)
        system = (gtw @ self._g + sp.diags(self._mass + 1e-12)).tocsc()
        self._gtw = gtw.tocsr()
        self._solve = spla.splu(system)

    def source_gradients(self, deltas: F64) -> F64:
        """(K, Fs, 3, 3) deformation gradients of the source expressions (identity where degenerate)."""
        src = self.registration.source
        t = src.triangles
        out = np.empty((deltas.shape[0], t.shape[0], 3, 3))
        for k in range(deltas.shape[0]):
            v = src.vertices + deltas[k]
            frames = _frames(v[t[:, 0]], v[t[:, 1]], v[t[:, 2]])
            s = frames @ self._src_inv
            s[~self._src_ok] = np.eye(3)
            out[k] = s
        return out

    def transfer(self, source_deltas: npt.ArrayLike, chunk: int = 8) -> F64:
        """Source vertex offsets (K, Vs, 3) -> target vertex offsets (K, Vt, 3)."""
        deltas = np.asarray(source_deltas, dtype=np.float64)
        if deltas.ndim == 2:
            deltas = deltas[None]
        k_all = deltas.shape[0]
        nt = self.registration.target.n_vertices
        out = np.zeros((k_all, nt, 3))
        active = np.flatnonzero(np.abs(deltas).reshape(k_all, -1).max(axis=1) > 0)
        rot = self.rotation
        for s in range(0, active.size, chunk):
            ks = active[s : s + chunk]
            grads = self.source_gradients(deltas[ks])[:, self.tri_map]  # (k, Ft, 3, 3)
            grads = rot @ grads @ rot.T - np.eye(3)
            rhs_tri = grads @ self._edges @ self._chol  # (k, Ft, 3, 2)
            # rows 2t+j of G, per coordinate c: rhs_tri[..., c, j]
            r = np.transpose(rhs_tri, (0, 1, 3, 2)).reshape(len(ks), -1, 3)  # (k, 2Ft, 3)
            direct = self.vertex_corr.interpolate(
                self.registration.source.triangles, np.moveaxis(deltas[ks], 0, 1)
            )
            direct = self.scale * np.einsum("ij,vkj->vki", rot, direct)  # (Vt, k, 3)
            b = np.concatenate(
                [self._gtw @ r[i] + self._mass[:, None] * direct[:, i] for i in range(len(ks))], axis=1
            )
            x = self._solve.solve(b)
            out[ks] = np.transpose(x.reshape(nt, len(ks), 3), (1, 0, 2))
        return out


# --- UV space -----------------------------------------------------------------------


def auto_uvs(
    vertices: npt.ArrayLike, triangles: npt.ArrayLike, separate: Sequence[npt.ArrayLike] = ()
) -> F64:
    """A fallback per-corner UV layout (F, 3, 2) for a head without one (Blender axes: Z up, face -Y).

    The skin wraps around the vertical axis with the face in the middle (u = 0.5) and
    the seam at the back, v from the lowest to the highest vertex, in v in [0.12, 1].
    Each ``separate`` vertex set (eyeballs) gets a spherical map in a small square
    below, and triangles facing the axis (a mouth bag, nostrils) are tucked into a
    strip there too, so they do not overlap the face. Good enough for region masks;
    displacement detail wants the model's own UVs.
    """
    v = np.asarray(vertices, dtype=np.float64)
    tri = np.asarray(triangles, dtype=np.int64)
    group = np.full(v.shape[0], -1, dtype=np.int64)
    for i, idx in enumerate(separate):
        group[np.asarray(idx, dtype=np.int64)] = i
    skin = group < 0
    centre = v[skin].mean(axis=0)
    zmin, zmax = v[skin, 2].min(), v[skin, 2].max()

    def cylinder(points: F64, u0: float, u1: float, v0: float, v1: float) -> F64:
        ang = np.arctan2(points[:, 0] - centre[0], -(points[:, 1] - centre[1]))  # 0 at the front (-Y)
        u = u0 + (u1 - u0) * (0.5 + ang / (2 * np.pi))
        w = v0 + (v1 - v0) * (points[:, 2] - zmin) / max(zmax - zmin, 1e-12)
        return np.stack([u, w], axis=1)

    uv = cylinder(v, 0.0, 1.0, 0.12, 1.0)[tri]  # (F, 3, 2)
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    radial = (a + b + c) / 3.0 - centre
    radial[:, 2] = 0.0
    normal = np.cross(b - a, c - a)
    facing = np.einsum("ij,ij->i", normal, radial) / np.maximum(
        np.linalg.norm(normal, axis=1) * np.linalg.norm(radial, axis=1), 1e-30
    )
    inner = (group[tri[:, 0]] < 0) & (facing < -0.3)
    uv[inner] = cylinder(v, 0.5, 0.98, 0.02, 0.1)[tri[inner]]
    # triangles across the seam at the back: unwrap u next to the triangle's largest
    for lo, hi in ((0.0, 1.0), (0.5, 0.98)):
        sel = inner if lo > 0 else ~inner
        u = uv[sel, :, 0]
        width = hi - lo
        span = u.max(axis=1, keepdims=True)
        u = np.where(span - u > 0.5 * width, u + width, u)
        u = np.where(u.min(axis=1, keepdims=True) > hi, u - width, u)
        uv[sel, :, 0] = np.clip(u, lo, hi)
    tri_group = group[tri[:, 0]]
    for i, idx in enumerate(separate):
        ids = np.asarray(idx, dtype=np.int64)
        cen = v[ids].mean(axis=0)
        d = v - cen
        lon = np.arctan2(d[:, 0], -d[:, 1])
        lat = np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1]))
        eu = 0.02 + 0.12 * i + 0.08 * (0.5 + lon / (2 * np.pi))
        ev = 0.02 + 0.08 * (0.5 + lat / np.pi)
        sel = tri_group == i
        uv[sel] = np.stack([eu, ev], axis=1)[tri[sel]]
    result: F64 = np.clip(uv, 0.0, 1.0)
    return result


def rasterize_uv(corner_uvs: npt.ArrayLike, resolution: int) -> tuple[I64, F64]:
    """Which triangle covers each texel centre of an (R, R) image over UV space (row 0 = v=1).

    Returns (triangle index per texel, -1 where none; barycentric (R, R, 3)). Where
    UV triangles overlap, the one drawn last wins.
    """
    uv = np.asarray(corner_uvs, dtype=np.float64).reshape(-1, 3, 2)
    r = int(resolution)
    px = uv[..., 0] * r - 0.5  # texel-centre coordinates: column
    py = (1.0 - uv[..., 1]) * r - 0.5  # row
    x0 = np.clip(np.floor(px.min(axis=1)).astype(np.int64), 0, r - 1)
    x1 = np.clip(np.ceil(px.max(axis=1)).astype(np.int64), 0, r - 1)
    y0 = np.clip(np.floor(py.min(axis=1)).astype(np.int64), 0, r - 1)
    y1 = np.clip(np.ceil(py.max(axis=1)).astype(np.int64), 0, r - 1)
    w = x1 - x0 + 1
    h = y1 - y0 + 1
    counts = w * h
    tri_of = np.repeat(np.arange(uv.shape[0]), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    col = x0[tri_of] + local % w[tri_of]
    row = y0[tri_of] + local // w[tri_of]
    ax, ay = px[tri_of, 0], py[tri_of, 0]
    bx, by = px[tri_of, 1] - ax, py[tri_of, 1] - ay
    cx, cy = px[tri_of, 2] - ax, py[tri_of, 2] - ay
    qx, qy = col - ax, row - ay
    den = bx * cy - by * cx
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    v = (qx * cy - qy * cx) / den
    wgt = (bx * qy - by * qx) / den
    u = 1.0 - v - wgt
    eps = -1e-9
    inside = ok & (u >= eps) & (v >= eps) & (wgt >= eps)
    tri_img = np.full((r, r), -1, dtype=np.int64)
    bary_img = np.zeros((r, r, 3))
    sel = np.flatnonzero(inside)
    tri_img[row[sel], col[sel]] = tri_of[sel]
    bary_img[row[sel], col[sel]] = np.clip(np.stack([u[sel], v[sel], wgt[sel]], axis=1), 0.0, 1.0)
    return tri_img, bary_img


def sample_image(image: npt.ArrayLike, uv: npt.ArrayLike) -> F64:
    """Bilinear samples of an (R, R) image over UV space (row 0 = v=1) at uv (N, 2)."""
    img = np.asarray(image, dtype=np.float64)
    r = img.shape[0]
    p = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    x = np.clip(p[:, 0] * img.shape[1] - 0.5, 0, img.shape[1] - 1)
    y = np.clip((1.0 - p[:, 1]) * r - 0.5, 0, r - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, img.shape[1] - 1)
    y1 = np.minimum(y0 + 1, r - 1)
    fx, fy = x - x0, y - y0
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    result: F64 = top * (1 - fy) + bottom * fy
    return result


def _dilate(image: F64, covered: npt.NDArray[np.bool_], pixels: int = 2) -> F64:
    """Copy the nearest covered texel into up to ``pixels`` texels around the islands (seams stay clean)."""
    if covered.all() or not covered.any():
        return image
    dist, idx = ndimage.distance_transform_edt(~covered, return_indices=True)
    out = image.copy()
    fill = (~covered) & (dist <= pixels)
    out[fill] = image[idx[0][fill], idx[1][fill]]
    return out


def transfer_uv_masks(
    masks: Mapping[str, npt.ArrayLike],
    registration: Registration,
    source_corner_uvs: npt.ArrayLike,
    target_corner_uvs: npt.ArrayLike,
    resolution: Optional[int] = None,
    max_resolution: int = 512,
) -> dict[str, npt.NDArray[np.float32]]:
    """UV-space images of the source (e.g. region masks) -> the same regions in the target's UV layout.

    Each target texel is placed on the target surface, carried to the registered
    source surface, looked up in the source UV layout and sampled there. Work is done
    at up to ``max_resolution`` and resized to ``resolution`` (default: the masks').
    """
    if not masks:
        return {}
    first = np.asarray(next(iter(masks.values())))
    out_res = int(resolution or first.shape[0])
    work = min(out_res, max_resolution)
    tri_img, bary_img = rasterize_uv(target_corner_uvs, work)
    covered = tri_img >= 0
    tgt = registration.target
    t_tri = tri_img[covered]
    corners = tgt.vertices[tgt.triangles[t_tri]]
    pts = np.einsum("nk,nkd->nd", bary_img[covered], corners)
    corr = registration.correspondence(pts)
    suv = np.asarray(source_corner_uvs, dtype=np.float64).reshape(-1, 3, 2)[corr.triangles]
    src_uv = np.einsum("nk,nkd->nd", corr.barycentric, suv)
    result: dict[str, npt.NDArray[np.float32]] = {}
    for name, mask in masks.items():
        img = np.zeros((work, work))
        img[covered] = sample_image(mask, src_uv)
        img = _dilate(img, covered)
        if work != out_res:
            img = ndimage.zoom(img, out_res / work, order=1)[:out_res, :out_res]
        result[name] = np.clip(img, 0.0, 1.0).astype(np.float32)
    return result


# --- a whole head ---------------------------------------------------------------------


@dataclass
class HeadTransfer:
    """What a target mesh gets from a HeadModel: ARKit deltas, landmarks and region masks."""

    registration: Registration
    expression_basis: npt.NDArray[np.float32]  # (52, Vt, 3); rows outside the target skin are zero
    landmarks68: Landmarks  # on the target's full triangle list
    landmarks478: Landmarks
    region_masks: dict[str, npt.NDArray[np.float32]]
    target_skin_vertices: I64
    target_skin_triangles: I64
    stats: dict[str, float]


def _known(
    given: Optional[tuple[npt.ArrayLike, Landmarks]], n: int, tri_remap: I64
) -> tuple[I64, Optional[Landmarks]]:
    """Landmarks given for some of n ids, restricted to those on the skin submesh (triangles remapped)."""
    if given is None:
        return np.zeros(0, dtype=np.int64), None
    ids = np.asarray(given[0], dtype=np.int64)
    lm = given[1]
    tri = tri_remap[np.asarray(lm.triangles, dtype=np.int64)]
    ok = (tri >= 0) & (ids >= 0) & (ids < n)
    return ids[ok], Landmarks(tri[ok].astype(np.int32), np.asarray(lm.barycentric)[ok].astype(np.float32))


def transfer_from_head(
    head: Any,
    target_vertices: npt.ArrayLike,
    target_triangles: npt.ArrayLike,
    *,
    target_skin: Optional[npt.ArrayLike] = None,
    target_corner_uvs: Optional[npt.ArrayLike] = None,
    target_landmarks68: Optional[tuple[npt.ArrayLike, Landmarks]] = None,
    target_landmarks478: Optional[tuple[npt.ArrayLike, Landmarks]] = None,
    options: Optional[RegistrationOptions] = None,
    use_landmarks: bool = True,
) -> HeadTransfer:
    """Register ``head``'s skin onto a target mesh (same axes and units) and carry its ARKit shapes over.

    ``head`` is a HeadModel. ``target_skin``: the target vertices the skin maps to
    (default: all); eyeballs and other separate parts should be left out, their
    rows stay zero. ``target_landmarks68``/``478``: (ids, Landmarks on the target's
    triangles) for whichever landmarks the target already has (e.g. FLAME's
    embedding); the 68 guide the registration, and every landmark not given is
    carried over from ``head``. ``target_corner_uvs`` (F, 3, 2): the target's UV
    layout; region masks are only transferred when it is given.
    """
    from .arkit import ARKIT_NAMES

    t0 = time.perf_counter()
    target = TriMesh.of(target_vertices, target_triangles)
    skin_ids = (
        np.arange(target.n_vertices) if target_skin is None else np.asarray(target_skin, dtype=np.int64)
    )
    tgt_skin, tgt_vids, tgt_tids = target.submesh(skin_ids)
    tri_remap = np.full(target.triangles.shape[0], -1, dtype=np.int64)
    tri_remap[tgt_tids] = np.arange(tgt_tids.size)

    src_full = TriMesh.of(head.vertices, head.triangles)
    src_parts = head.parts.get("skin")
    src_skin, src_vids, src_tids = src_full.submesh(
        src_parts if src_parts is not None else np.arange(src_full.n_vertices)
    )
    src_query = SurfaceQuery(src_skin)
    src_lm68 = src_query.closest(head.landmark_positions(head.vertices, "68")).landmarks()
    src_lm478 = src_query.closest(head.landmark_positions(head.vertices, "478")).landmarks()

    ids68, known68 = _known(target_landmarks68, 68, tri_remap)
    ids478, known478 = _known(target_landmarks478, 478, tri_remap)
    src_guide = tgt_guide = None
    if use_landmarks and known68 is not None and ids68.size >= 3 and len(src_lm68) == 68:
        src_guide = Landmarks(src_lm68.triangles[ids68], src_lm68.barycentric[ids68])
        tgt_guide = landmark_points(tgt_skin, known68)
    reg = register(
        src_skin, tgt_skin, source_landmarks=src_guide, target_landmarks=tgt_guide, options=options
    )
    t_reg = time.perf_counter()

    dt = DeformationTransfer(reg)
    deltas = dt.transfer(np.asarray(head.expression_basis, dtype=np.float64)[:, src_vids])
    basis = np.zeros((len(ARKIT_NAMES), target.n_vertices, 3), dtype=np.float32)
    basis[:, tgt_vids] = deltas.astype(np.float32)
    t_dt = time.perf_counter()

    tq = SurfaceQuery(tgt_skin)
    lm68 = _merge_landmarks(transfer_landmarks(src_lm68, reg, tq), ids68, known68, tgt_tids, 68)
    lm478 = _merge_landmarks(transfer_landmarks(src_lm478, reg, tq), ids478, known478, tgt_tids, 478)

    masks: dict[str, npt.NDArray[np.float32]] = {}
    if target_corner_uvs is not None and head.region_masks:
        src_uv = np.asarray(head.uvs, dtype=np.float64)[np.asarray(head.triangle_loops)[src_tids]]
        tgt_uv = np.asarray(target_corner_uvs, dtype=np.float64).reshape(-1, 3, 2)[tgt_tids]
        masks = transfer_uv_masks(head.region_masks, reg, src_uv, tgt_uv)
    stats = dict(reg.stats)
    stats.update(
        {
            "registration_seconds": t_reg - t0,
            "transfer_seconds": t_dt - t_reg,
            "total_seconds": time.perf_counter() - t0,
            "landmarks_guiding": float(0 if src_guide is None else len(src_guide)),
        }
    )
    return HeadTransfer(reg, basis, lm68, lm478, masks, tgt_vids, tgt_tids, stats)


def _merge_landmarks(
    carried: Landmarks, ids: I64, known: Optional[Landmarks], sub_to_full_tri: I64, n: int
) -> Landmarks:
    """Carried-over landmarks with the target's own ones put back, as indices into the full triangle list.

    When the source head has no such landmarks, only the target's own survive, and
    only if they are the complete set (otherwise the set stays empty).
    """
    if len(carried) != n:
        if known is None or np.unique(ids).size != n:
            return Landmarks(np.zeros(0, np.int32), np.zeros((0, 3), np.float32))
        carried = Landmarks(np.zeros(n, np.int32), np.tile(np.array([1, 0, 0], np.float32), (n, 1)))
    tri = sub_to_full_tri[np.asarray(carried.triangles, dtype=np.int64)].astype(np.int32)
    bary = np.asarray(carried.barycentric, dtype=np.float32).copy()
    if known is not None and ids.size:
        tri[ids] = sub_to_full_tri[np.asarray(known.triangles, dtype=np.int64)]
        bary[ids] = known.barycentric
    return Landmarks(tri, bary)
