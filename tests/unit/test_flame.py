"""FLAME: reading the chumpy pickles without chumpy, the forward pass, the HeadModel built from it.

The model file is synthetic but written the way FLAME's Python 2 pickles are
(tests/heads_fixtures.py), with FLAME's real array shapes.
"""

from __future__ import annotations

import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from furrow.heads._pickle_compat import load_npy_or_pickle
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.flame import (
    FLAME_TO_BLENDER,
    FlameModel,
    blender_to_flame,
    flame_head_model,
    flame_to_blender,
    load_flame,
    load_flame_landmarks,
    load_flame_masks,
    load_flame_uvs,
)
from furrow.heads.model import REGION_NAMES, HeadFileError, HeadModel
from tests import heads_fixtures as hf


@pytest.fixture(scope="module")
def flame_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flame")


@pytest.fixture(scope="module")
def arrays() -> hf.FlameArrays:
    return hf.flame_arrays()


@pytest.fixture(scope="module")
def pkl(flame_dir: Path, arrays: hf.FlameArrays) -> Path:
    return hf.write_flame(flame_dir / "generic_model.pkl", arrays)


@pytest.fixture(scope="module")
def companions(flame_dir: Path, arrays: hf.FlameArrays) -> dict[str, Path]:
    folder = flame_dir / "assets"
    folder.mkdir()
    return hf.write_flame_companions(folder, arrays)


@pytest.fixture(scope="module")
def flame(pkl: Path) -> FlameModel:
    return load_flame(pkl)


@pytest.fixture(scope="module")
def default_head() -> hf.SyntheticHead:
    return hf.synthetic_default_head()


@pytest.fixture(scope="module")
def head(pkl: Path, companions: dict[str, Path], default_head: hf.SyntheticHead) -> HeadModel:
    return flame_head_model(
        pkl,
        uv_path=companions["obj"],
        landmark_path=[companions["deca"], companions["mediapipe"]],
        masks_path=companions["masks"],
        default_head=default_head.model,
    )


# --- the file ---------------------------------------------------------------------------------------


def test_the_synthetic_file_is_a_python2_chumpy_pickle(pkl: Path) -> None:
    ops = list(pickletools.genops(pkl.read_bytes()))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    globals_ = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
    assert {"chumpy.ch Ch", "scipy.sparse.csc csc_matrix", "numpy.core.multiarray _reconstruct"} <= globals_
    assert "__builtin__ set" in globals_
    names = {op.name for op, _, _ in ops}
    assert "BINUNICODE" not in names and "SHORT_BINUNICODE" not in names  # Python 2 str, not unicode
    with warnings.catch_warnings(), pytest.raises(ModuleNotFoundError):  # plain pickle would need chumpy
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy.sparse.csc, imported on the way
        pickle.loads(pkl.read_bytes(), encoding="latin1")


def test_load_round_trips_every_array(flame: FlameModel, arrays: hf.FlameArrays) -> None:
    a = arrays.arrays
    assert flame.v_template.shape == (5023, 3) and flame.faces.shape == (9976, 3)
    assert flame.shapedirs.shape == (5023, 3, 400) and flame.posedirs.shape == (5023, 3, 36)
    assert (flame.n_shape, flame.n_expression, flame.n_joints) == (300, 100, 5)
    np.testing.assert_array_equal(flame.v_template, a["v_template"].x)
    np.testing.assert_array_equal(flame.shapedirs, a["shapedirs"].x)
    np.testing.assert_array_equal(flame.posedirs, a["posedirs"].x)
    np.testing.assert_array_equal(flame.weights, a["weights"].x)
    np.testing.assert_array_equal(flame.faces, a["f"].astype(np.int64))
    np.testing.assert_allclose(flame.j_regressor @ flame.v_template, a["J"].x, atol=1e-12)
    assert flame.parents.tolist() == [-1, 0, 1, 1, 1]
    assert flame.extra == {"bs_style": "lbs", "bs_type": "lrotmin"}


# --- the forward pass -------------------------------------------------------------------------------


def test_zero_parameters_give_the_template_and_blends_are_linear(flame: FlameModel) -> None:
    np.testing.assert_allclose(flame.vertices_np(), flame.v_template, atol=1e-15)
    shape = np.zeros(300)
    shape[3] = 1.5
    expr = np.zeros(100)
    expr[7] = -2.0
    got = flame.vertices_np(shape=shape, expression=expr)
    want = flame.v_template + 1.5 * flame.shapedirs[:, :, 3] - 2.0 * flame.shapedirs[:, :, 307]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_jaw_rotation_moves_only_jaw_vertices_and_opens_downward(flame: FlameModel) -> None:
    pose = np.zeros(15)
    pose[6] = 0.3  # jaw, about FLAME's x axis
    moved = np.linalg.norm(flame.vertices_np(pose=pose) - flame.v_template, axis=1)
    jawish = (flame.weights[:, 2] > 0) | (np.abs(flame.posedirs[:, :, 9:18]).max(axis=(1, 2)) > 0)
    assert moved[~jawish].max() < 1e-12
    assert moved[flame.weights[:, 2] > 0.9].min() > 1e-3
    chin = np.argmin(flame.v_template[:, 1] - 10 * flame.weights[:, 2])  # the lowest fully jaw-bound point
    assert flame.vertices_np(pose=pose)[chin, 1] < flame.v_template[chin, 1]


def test_eye_rotation_turns_only_the_eyeball_rigidly(flame: FlameModel, arrays: hf.FlameArrays) -> None:
    pose = np.zeros(15)
    pose[9:12] = [0.0, 0.4, 0.0]  # left eye, about the vertical
    out = flame.vertices_np(pose=pose)
    eye = arrays.eyeballs["left"]
    others = np.setdiff1d(np.arange(flame.n_vertices), eye)
    assert np.abs(out[others] - flame.v_template[others]).max() < 1e-12
    centre = flame.rest_joints()[3]
    np.testing.assert_allclose(
        np.linalg.norm(out[eye] - centre, axis=1),
        np.linalg.norm(flame.v_template[eye] - centre, axis=1),
        atol=1e-12,
    )
    assert np.abs(out[eye] - flame.v_template[eye]).max() > 1e-3


def test_forward_is_batched_and_differentiable(flame: FlameModel) -> None:
    shape = torch.zeros(3, 10, dtype=torch.float64, requires_grad=True)
    pose = torch.zeros(3, 15, dtype=torch.float64)
    pose[1, 6] = 0.2
    verts, joints = flame.forward(shape=shape, pose=pose)
    assert verts.shape == (3, 5023, 3) and joints.shape == (3, 5, 3)
    np.testing.assert_allclose(verts[1].detach().numpy(), flame.vertices_np(pose=pose[1].numpy()), atol=1e-12)
    verts[:, :, 1].sum().backward()
    assert shape.grad is not None and torch.all(torch.isfinite(shape.grad)) and shape.grad.abs().sum() > 0


def test_axis_conversion_to_blender() -> None:
    assert np.linalg.det(FLAME_TO_BLENDER) == pytest.approx(1.0)
    np.testing.assert_allclose(flame_to_blender([0, 0, 1.0]), [0, -1.0, 0])  # face forward -> -Y
    np.testing.assert_allclose(flame_to_blender([0, 1.0, 0]), [0, 0, 1.0])  # up -> +Z
    np.testing.assert_allclose(flame_to_blender([1.0, 0, 0]), [1.0, 0, 0])  # head's left stays +X
    p = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(blender_to_flame(flame_to_blender(p)), p, atol=1e-15)


# --- wrong files ------------------------------------------------------------------------------------


def _message(path: Path) -> str:
    with pytest.raises(HeadFileError) as info:
        load_flame(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_wrong_and_damaged_files_are_named_with_the_reason(
    tmp_path: Path, pkl: Path, arrays: hf.FlameArrays
) -> None:
    missing = {k: v for k, v in arrays.arrays.items() if k != "shapedirs"}
    assert "generic_model.pkl: not a FLAME model: missing 'shapedirs'" in _message(
        hf.write_py2_pickle(tmp_path / "generic_model.pkl", missing)
    )
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pkl.read_bytes()[:1_000_000])
    assert "truncated pickle" in _message(cut)
    text = tmp_path / "notes.pkl"
    text.write_text("FLAME model, see website\n")
    assert "not a pickle" in _message(text)
    wrong = dict(arrays.arrays, shapedirs=hf.Ch(np.zeros((5023, 3))))
    assert "'shapedirs' has shape (5023, 3), expected (5023, 3, components)" in _message(
        hf.write_py2_pickle(tmp_path / "wrong.pkl", wrong)
    )
    short_w = dict(arrays.arrays, weights=hf.Ch(np.zeros((5023, 4))))
    assert "'weights' has shape (5023, 4), expected (5023, 5)" in _message(
        hf.write_py2_pickle(tmp_path / "w.pkl", short_w)
    )
    assert "expected a dict" in _message(hf.write_py2_pickle(tmp_path / "list.pkl", [1, 2, 3]))
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    assert "os.system" in _message(evil)
    assert "no such FLAME model file" in _message(tmp_path / "absent.pkl")


# --- companion files --------------------------------------------------------------------------------


def test_landmark_embeddings_in_all_three_formats(
    companions: dict[str, Path], arrays: hf.FlameArrays
) -> None:
    lm68, lm_mp, mp_ids = hf.flame_landmarks(arrays)
    deca = load_flame_landmarks([companions["deca"]], 9976)
    assert deca.ibug68 is not None and deca.ibug68[0].tolist() == list(range(68))
    np.testing.assert_array_equal(deca.ibug68[1].triangles, lm68.triangles)
    raw = load_npy_or_pickle(companions["deca"])  # DECA's file holds torch tensors: read as inert stand-ins
    assert "dynamic_lmk_faces_idx" in raw and not isinstance(raw["dynamic_lmk_faces_idx"], torch.Tensor)
    static = load_flame_landmarks([companions["static"]], 9976)
    assert static.ibug68 is not None and static.ibug68[0].tolist() == list(range(17, 68))
    np.testing.assert_allclose(static.ibug68[1].barycentric, lm68.barycentric[17:], atol=1e-7)
    mp = load_flame_landmarks([companions["mediapipe"]], 9976)
    assert mp.mediapipe478 is not None and mp.mediapipe478[0].tolist() == mp_ids.tolist()
    np.testing.assert_array_equal(mp.mediapipe478[1].triangles, lm_mp.triangles)
    with pytest.raises(HeadFileError, match="landmark triangles reach"):
        load_flame_landmarks([companions["deca"]], 100)


def test_masks_and_uv_files(companions: dict[str, Path], arrays: hf.FlameArrays) -> None:
    masks = load_flame_masks(companions["masks"], 5023)
    assert {"face", "lips", "left_eyeball", "right_eyeball", "boundary"} <= set(masks)
    np.testing.assert_array_equal(masks["left_eyeball"], arrays.eyeballs["left"])
    from_obj = load_flame_uvs(companions["obj"], 9976)
    from_npz = load_flame_uvs(companions["texture"], 9976)
    np.testing.assert_allclose(from_obj, from_npz, atol=2e-6)
    np.testing.assert_allclose(from_npz, np.load(companions["vt_ft"]), atol=1e-12)
    with pytest.raises(HeadFileError, match=r"expected \(100, 3\)"):
        load_flame_uvs(companions["texture"], 100)


# --- the HeadModel ----------------------------------------------------------------------------------


def test_head_model_contract(
    head: HeadModel, flame: FlameModel, arrays: hf.FlameArrays, tmp_path: Path
) -> None:
    assert head.n_vertices == 5023 and head.triangles.shape == (9976, 3) and head.n_polygons == 9976
    np.testing.assert_allclose(head.vertices, flame_to_blender(flame.v_template), atol=1e-7)
    assert head.uvs.shape == (3 * 9976, 2) and head.uvs.min() >= 0 and head.uvs.max() <= 1
    assert set(head.parts) == {"skin", "eyes"}
    eyes = np.concatenate([arrays.eyeballs["left"], arrays.eyeballs["right"]])
    assert sorted(head.parts["eyes"].tolist()) == sorted(eyes.tolist())
    assert len(head.parts["skin"]) + len(head.parts["eyes"]) == 5023
    assert head.identity_names[:3] == ["shape000", "shape001", "shape002"] and len(head.identity_names) == 20
    np.testing.assert_allclose(
        head.identity_pos[4], flame_to_blender(2.0 * flame.shapedirs[:, :, 4]).astype(np.float32), atol=1e-7
    )
    np.testing.assert_array_equal(head.identity_neg, -head.identity_pos)
    assert head.expression_basis.shape == (52, 5023, 3) and np.all(np.isfinite(head.expression_basis))
    assert set(head.region_masks) == set(REGION_NAMES)
    assert all(0 <= m.min() and m.max() <= 1 for m in head.region_masks.values())
    lm68, lm_mp, mp_ids = hf.flame_landmarks(arrays)
    np.testing.assert_array_equal(head.landmarks68.triangles, lm68.triangles)  # the embedding's own
    np.testing.assert_array_equal(head.landmarks478.triangles[mp_ids], lm_mp.triangles)
    assert head.meta["uv"] == "FLAME texture space" and head.meta["landmarks68"] == "FLAME embedding"
    head.save(tmp_path / "flame_head.npz")
    back = HeadModel.load(tmp_path / "flame_head.npz")
    assert back.identity_names == head.identity_names and back.parts.keys() == head.parts.keys()
    np.testing.assert_allclose(back.expression_basis, head.expression_basis, atol=2e-4)


def test_expressions_move_what_they_should(head: HeadModel, arrays: hf.FlameArrays) -> None:
    eyes = head.parts["eyes"]
    lms = head.landmark_positions(head.vertices)

    def landmark_delta(name: str) -> np.ndarray:
        moved = head.evaluate_np(expression=np.eye(52)[ARKIT_INDEX[name]])
        return head.landmark_positions(moved) - lms

    jaw = landmark_delta("jawOpen")
    assert jaw[8, 2] < -0.01, "jawOpen should drop the chin by a centimetre or more"
    assert np.abs(head.expression_basis[ARKIT_INDEX["jawOpen"], eyes]).max() == 0.0
    assert np.abs(jaw[19, 2]) < 1e-4  # the brows stay
    smile = landmark_delta("mouthSmileLeft")
    assert smile[54, 2] > 0.002 and smile[54, 2] > 3 * abs(
        smile[48, 2]
    )  # the left corner rises, not the right
    up = head.expression_basis[ARKIT_INDEX["eyeLookUpLeft"]]
    left, right = arrays.eyeballs["left"], arrays.eyeballs["right"]
    assert np.abs(up[right]).max() == 0.0
    front = left[np.argmin(head.vertices[left, 1])]  # the pupil: the eyeball's most forward vertex
    assert up[front, 2] > 0.002  # the eye looks up
    blink = head.expression_basis[ARKIT_INDEX["eyeBlinkLeft"]]
    assert np.abs(blink[eyes]).max() == 0.0 and blink[:, 2].min() < -0.002
    assert "jawOpen = FLAME jaw rotation" in head.meta["expression"]
    quiet = [
        n
        for n in ARKIT_NAMES
        if n
        not in (
            "jawOpen",
            "mouthSmileLeft",
            "mouthSmileRight",
            "eyeBlinkLeft",
            "eyeBlinkRight",
            "browInnerUp",
            "cheekPuff",
        )
        and not n.startswith("eyeLook")
    ]
    assert np.abs(head.expression_basis[[ARKIT_INDEX[n] for n in quiet]]).max() == 0.0


def test_without_companion_files(pkl: Path, default_head: hf.SyntheticHead, arrays: hf.FlameArrays) -> None:
    head = flame_head_model(pkl, default_head=default_head.model, discover=False, n_shape=5)
    assert (
        head.meta["uv"].startswith("automatic")
        and head.meta["landmarks68"] == "transferred from the default head"
    )
    assert head.uvs.min() >= 0 and head.uvs.max() <= 1
    assert len(head.identity_names) == 5 and set(head.region_masks) == set(REGION_NAMES)
    # eyeballs found from the skinning weights alone
    assert sorted(head.parts["eyes"].tolist()) == sorted(
        np.concatenate(list(arrays.eyeballs.values())).tolist()
    )
    # transferred landmarks sit where the parametric truth puts them
    p68, _ = hf.landmark_params()
    truth = hf.head_points(p68[:, 0], p68[:, 1], hf.FLAME_SHAPE)
    err = np.linalg.norm(head.landmark_positions(head.vertices) - truth, axis=1)
    assert err.mean() < 2e-3, f"transferred 68 landmarks are {err.mean() * 1e3:.2f} mm off"


def test_companions_are_discovered_beside_the_model(
    tmp_path: Path, arrays: hf.FlameArrays, default_head: hf.SyntheticHead
) -> None:
    pkl = hf.write_flame(tmp_path / "flame2023.pkl", arrays)
    hf.write_flame_companions(tmp_path, arrays)
    head = flame_head_model(pkl, default_head=default_head.model, n_shape=2)
    assert head.meta["version"] == "2023"
    used = head.meta["companion_files"]
    assert Path(used["uv"][0]).name == "head_template.obj"
    assert {Path(p).name for p in used["landmarks"]} >= {
        "landmark_embedding.npy",
        "mediapipe_landmark_embedding.npz",
    }
    assert Path(used["masks"][0]).name == "FLAME_masks.pkl"
