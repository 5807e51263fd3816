"""Registration, deformation transfer and carrying data across meshes (furrow.heads.transfer).

The meshes are one parametric head sampled with different tessellations and
proportions (tests/heads_fixtures.py), so every vertex's true counterpart on the
other mesh is known and errors are measured against it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from furrow.heads.arkit import ARKIT_INDEX
from furrow.heads.model import Landmarks
from furrow.heads.transfer import (
    DeformationTransfer,
    Registration,
    RegistrationOptions,
    Similarity,
    SurfaceQuery,
    TriMesh,
    fit_similarity,
    landmark_points,
    rasterize_uv,
    register,
    sample_image,
    transfer_from_head,
    transfer_landmarks,
    transfer_uv_masks,
    transfer_vertex_data,
)
from tests import heads_fixtures as hf

SOURCE_SHAPE = hf.HeadShape()
QUICK = RegistrationOptions(stiffness=(100.0, 10.0, 1.0), iterations_per_stage=2)  # meshes already aligned
TARGET_SHAPE = hf.HeadShape(radii=(0.082, 0.1, 0.121), nose=0.018, lips=0.008, chin=0.011, neck=0.35)


@pytest.fixture(scope="module")
def source() -> tuple[TriMesh, np.ndarray]:
    v, params, tri, _ = hf.grid_mesh(36, 48, SOURCE_SHAPE)
    return TriMesh.of(v, tri), params


@pytest.fixture(scope="module")
def target() -> tuple[TriMesh, np.ndarray]:
    v, params, tri, _ = hf.grid_mesh(52, 64, TARGET_SHAPE)
    return TriMesh.of(v, tri), params


@pytest.fixture(scope="module")
def fitted(
    source: tuple[TriMesh, np.ndarray], target: tuple[TriMesh, np.ndarray]
) -> tuple[Registration, float]:
    """The source fitted onto the target, guided by their 68 landmarks, and the seconds it took."""
    (smesh, _), (tmesh, _) = source, target
    t0 = time.perf_counter()
    reg = register(
        smesh,
        tmesh,
        source_landmarks=_landmarks(smesh, SOURCE_SHAPE),
        target_landmarks=landmark_points(tmesh, _landmarks(tmesh, TARGET_SHAPE)),
    )
    return reg, time.perf_counter() - t0


def _landmarks(mesh: TriMesh, shape: hf.HeadShape) -> Landmarks:
    p68, _ = hf.landmark_params()
    return SurfaceQuery(mesh).closest(hf.head_points(p68[:, 0], p68[:, 1], shape)).landmarks()


def _expression(name: str, mesh: TriMesh, params: np.ndarray, shape: hf.HeadShape) -> np.ndarray:
    return hf.skin_expression(name, params, mesh.vertices, shape)


# --- closest points and similarity ------------------------------------------------------------------


def test_closest_points_match_brute_force(source: tuple[TriMesh, np.ndarray]) -> None:
    mesh, _ = source
    rng = np.random.default_rng(0)
    pts = mesh.vertices[rng.choice(mesh.n_vertices, 300)] + rng.normal(scale=0.004, size=(300, 3))
    got = SurfaceQuery(mesh).closest(pts)
    from furrow.heads.transfer import _closest_on_triangles

    a, b, c = mesh.corners()
    best = np.full(len(pts), np.inf)
    for i, p in enumerate(pts):
        _, _, d2 = _closest_on_triangles(np.repeat(p[None], len(a), 0), a, b, c)
        best[i] = np.sqrt(d2.min())
    np.testing.assert_allclose(got.distances, best, atol=1e-9)
    # the barycentric weights rebuild the reported point
    rebuilt = landmark_points(
        mesh, Landmarks(got.triangles.astype(np.int32), got.barycentric.astype(np.float32))
    )
    np.testing.assert_allclose(rebuilt, got.points, atol=1e-6)
    np.testing.assert_allclose(got.barycentric.sum(axis=1), 1.0, atol=1e-9)


def test_fit_similarity_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    truth = Similarity(1.7, q, np.array([0.3, -2.0, 0.5]))
    fit = fit_similarity(x, truth.apply(x))
    assert fit.scale == pytest.approx(1.7, rel=1e-9)
    np.testing.assert_allclose(fit.rotation, q, atol=1e-9)
    np.testing.assert_allclose(fit.apply(x), truth.apply(x), atol=1e-9)


# --- registration -----------------------------------------------------------------------------------


def test_registering_a_mesh_onto_itself_is_near_identity(source: tuple[TriMesh, np.ndarray]) -> None:
    mesh, _ = source
    lm = _landmarks(mesh, SOURCE_SHAPE)
    reg = register(mesh, mesh, source_landmarks=lm, target_landmarks=landmark_points(mesh, lm), options=QUICK)
    err = np.linalg.norm(reg.vertices - mesh.vertices, axis=1)
    assert err.max() < 2e-4, f"self-registration moved a vertex {err.max() * 1e3:.3f} mm"
    corr = reg.correspondence(mesh.vertices)
    # each vertex lands on (a triangle corner of) itself
    own = mesh.triangles[corr.triangles, corr.barycentric.argmax(axis=1)]
    assert (own == np.arange(mesh.n_vertices)).mean() > 0.99
    assert reg.similarity.scale == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("with_landmarks", [True, False])
def test_registration_accuracy_between_different_heads(
    source: tuple[TriMesh, np.ndarray],
    target: tuple[TriMesh, np.ndarray],
    fitted: tuple[Registration, float],
    with_landmarks: bool,
) -> None:
    (smesh, sparams), (tmesh, _) = source, target
    if with_landmarks:
        reg, seconds = fitted
    else:
        t0 = time.perf_counter()
        reg = register(smesh, tmesh)
        seconds = time.perf_counter() - t0
    truth = hf.head_points(sparams[:, 0], sparams[:, 1], TARGET_SHAPE)
    err = np.linalg.norm(reg.vertices - truth, axis=1)
    face = (np.cos(sparams[:, 0]) > 0.3) & (sparams[:, 1] > 1.0) & (sparams[:, 1] < 2.2)
    summary = (
        f"{smesh.n_vertices}->{tmesh.n_vertices} vertices, landmarks={with_landmarks}: "
        f"{seconds:.2f} s, correspondence error mean {err.mean() * 1e3:.2f} mm "
        f"(face {err[face].mean() * 1e3:.2f} mm, p95 {np.quantile(err, 0.95) * 1e3:.2f} mm), "
        f"surface distance mean {reg.stats['source_to_target_mean'] * 1e3:.3f} mm"
    )
    print(summary)
    assert reg.stats["source_to_target_mean"] < 3e-4, summary
    assert reg.stats["target_to_source_mean"] < 3e-4, summary
    # off the face (crown, neck) the surfaces have no features: points may slide along them
    assert err.mean() < (2e-3 if with_landmarks else 3e-3), summary
    assert err[face].mean() < (0.6e-3 if with_landmarks else 1.2e-3), summary


# --- deformation transfer ---------------------------------------------------------------------------


def _self_like_registration(mesh: TriMesh, moved: TriMesh) -> DeformationTransfer:
    lm = _landmarks(mesh, SOURCE_SHAPE)
    reg = register(
        mesh, moved, source_landmarks=lm, target_landmarks=landmark_points(moved, lm), options=QUICK
    )
    return DeformationTransfer(reg)


def test_transfer_onto_a_scaled_rotated_copy_is_exact(source: tuple[TriMesh, np.ndarray]) -> None:
    mesh, params = source
    rot = Similarity(1.3, np.eye(3), np.zeros(3))
    c, s = np.cos(0.5), np.sin(0.5)
    rot = Similarity(1.3, np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), np.array([0.1, 0.2, -0.05]))
    moved = mesh.with_vertices(rot.apply(mesh.vertices))
    dt = _self_like_registration(mesh, moved)
    names = ("jawOpen", "mouthSmileLeft", "browInnerUp")
    deltas = np.stack([_expression(n, mesh, params, SOURCE_SHAPE) for n in names])
    got = dt.transfer(deltas)
    for k, name in enumerate(names):
        want = 1.3 * deltas[k] @ rot.rotation.T
        rel = np.linalg.norm(got[k] - want) / np.linalg.norm(want)
        assert rel < 2e-3, f"{name}: relative error {rel:.4f} on a scaled, rotated copy"


def test_transfer_onto_another_head(
    source: tuple[TriMesh, np.ndarray], target: tuple[TriMesh, np.ndarray], fitted: tuple[Registration, float]
) -> None:
    (smesh, sparams), (tmesh, tparams) = source, target
    reg = fitted[0]
    t0 = time.perf_counter()
    dt = DeformationTransfer(reg)
    names = ("jawOpen", "mouthSmileLeft", "browInnerUp", "cheekPuff")
    got = dt.transfer(np.stack([_expression(n, smesh, sparams, SOURCE_SHAPE) for n in names]))
    seconds = time.perf_counter() - t0
    # with the true correspondence the errors are 0.09 / 0.17 / 0.11 / 0.12: the tessellations' share
    limits = {"jawOpen": 0.13, "mouthSmileLeft": 0.2, "browInnerUp": 0.15, "cheekPuff": 0.14}
    for k, name in enumerate(names):
        want = _expression(name, tmesh, tparams, TARGET_SHAPE)
        rel = np.linalg.norm(got[k] - want) / np.linalg.norm(want)
        print(f"{name}: relative error {rel:.3f} ({seconds:.2f} s for factorisation + {len(names)} shapes)")
        assert rel < limits[name], f"{name}: relative error {rel:.3f}"
    # a shape that moves nothing transfers as nothing; unmoved regions stay still
    assert np.abs(dt.transfer(np.zeros((1, smesh.n_vertices, 3)))).max() == 0.0
    back = tparams[:, 1] < 0.6  # the crown: far from every synthetic expression
    assert np.abs(got[:, back]).max() < 2e-4


# --- carrying points, values and maps ---------------------------------------------------------------


def test_landmarks_and_vertex_data_follow_the_correspondence(
    source: tuple[TriMesh, np.ndarray], target: tuple[TriMesh, np.ndarray], fitted: tuple[Registration, float]
) -> None:
    (smesh, sparams), (tmesh, tparams) = source, target
    reg = fitted[0]
    _, p478 = hf.landmark_params()
    src478 = SurfaceQuery(smesh).closest(hf.head_points(p478[:, 0], p478[:, 1], SOURCE_SHAPE)).landmarks()
    moved = transfer_landmarks(src478, reg)
    err = np.linalg.norm(
        landmark_points(tmesh, moved) - hf.head_points(p478[:, 0], p478[:, 1], TARGET_SHAPE), axis=1
    )
    assert err.mean() < 1e-3, f"478 landmarks land {err.mean() * 1e3:.2f} mm from where they belong"
    # per-vertex data: the source's own parameter v (smooth) arrives as the target's
    got = transfer_vertex_data(sparams[:, 1], reg)
    face = (np.cos(tparams[:, 0]) > 0.3) & (tparams[:, 1] > 1.0) & (tparams[:, 1] < 2.2)
    assert np.abs(got[face] - tparams[face, 1]).mean() < 0.02


def test_rasterize_uv_orientation_and_coverage() -> None:
    uv = np.array([[[0.0, 0.5], [1.0, 0.5], [0.0, 1.0]]])  # the upper-left half of the top half
    tri, bary = rasterize_uv(uv, 64)
    covered = tri >= 0
    assert covered[:32].sum() == pytest.approx(0.5 * 32 * 64, rel=0.05)
    assert not covered[33:].any()  # row 0 is v = 1: nothing in the lower half
    assert covered[2, 2] and not covered[30, 62]
    np.testing.assert_allclose(bary[covered].sum(axis=1), 1.0, atol=1e-9)
    img = np.zeros((64, 64))
    img[:32] = 1.0
    assert sample_image(img, np.array([[0.5, 0.9], [0.5, 0.1]])).tolist() == [1.0, 0.0]


def test_uv_masks_survive_a_transfer_onto_the_same_layout(source: tuple[TriMesh, np.ndarray]) -> None:
    mesh, params = source
    uv = np.stack([0.5 + params[:, 0] / (2 * np.pi), 1.0 - params[:, 1] / hf.V_MAX], axis=1)[mesh.triangles]
    seam = uv[:, :, 0].max(axis=1) - uv[:, :, 0].min(axis=1) > 0.5
    uv[seam] = np.where(uv[seam] < 0.5, uv[seam] + [1.0, 0.0], uv[seam])
    uv = np.clip(uv, 0, 1)
    lm = _landmarks(mesh, SOURCE_SHAPE)
    reg = register(mesh, mesh, source_landmarks=lm, target_landmarks=landmark_points(mesh, lm), options=QUICK)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    mask = np.exp(-(((xx - 0.5) / 0.15) ** 2 + ((yy - 0.6) / 0.1) ** 2))
    out = transfer_uv_masks({"blob": mask}, reg, uv, uv)["blob"]
    covered = rasterize_uv(uv, 64)[0] >= 0
    assert out.dtype == np.float32 and out.shape == (64, 64)
    assert np.abs(out - mask)[covered].max() < 0.08


def test_transfer_from_head_fills_only_the_skin_and_keeps_given_landmarks() -> None:
    head = hf.synthetic_default_head(rings=24, cols=32).model
    verts, _, tri, _ = hf.grid_mesh(40, 48, TARGET_SHAPE)
    eye_v, eye_t = hf.sphere_mesh(np.array([0.03, -0.07, 0.03]), 0.01, 6, 8)
    allv = np.concatenate([verts, eye_v])
    allt = np.concatenate([tri, eye_t + len(verts)])
    tmesh = TriMesh.of(allv, allt)
    given = _landmarks(TriMesh.of(verts, tri), TARGET_SHAPE)
    tr = transfer_from_head(
        head,
        allv,
        allt,
        target_skin=np.arange(len(verts)),
        target_landmarks68=(np.arange(68), given),
    )
    assert tr.expression_basis.shape == (52, tmesh.n_vertices, 3)
    assert np.abs(tr.expression_basis[:, len(verts) :]).max() == 0.0
    assert np.abs(tr.expression_basis[ARKIT_INDEX["jawOpen"], : len(verts)]).max() > 0.01
    np.testing.assert_array_equal(tr.landmarks68.triangles, given.triangles)
    np.testing.assert_allclose(tr.landmarks68.barycentric, given.barycentric, atol=1e-7)
    assert len(tr.landmarks478) == 478 and tr.landmarks478.triangles.max() < len(tri)
    assert tr.region_masks == {}  # no target UVs given: no masks
    assert tr.stats["landmarks_guiding"] == 68
