"""Add Head in real Blender: the mesh, its ARKit keys, identity sliders, undo, export, a Cycles render."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial import cKDTree

from furrow.heads.arkit import ARKIT_NAMES, mirror_name
from furrow.heads.default import load_default_head
from furrow.heads.model import HeadModel
from tests.blender.conftest import MODULE, RecordingLayout

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# iBUG 68: 8 chin, 37/38 right upper lid, 43/44 left upper lid, 48 right / 54 left mouth corner.
# The subject's left is +X (Blender axes: Z up, the face looks toward -Y).
CHIN, R_LID, L_LID, R_MOUTH, L_MOUTH = 8, (37, 38), (43, 44), 48, 54


@pytest.fixture(scope="module")
def model() -> HeadModel:
    return load_default_head()


@pytest.fixture
def head(blender: Any) -> Iterator[Any]:
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    yield blender.context.active_object


def _co(data: Any) -> np.ndarray:
    co = np.empty(len(data) * 3, dtype=np.float32)
    data.foreach_get("co", co)
    return co.reshape(-1, 3)


def _key_delta(obj: Any, name: str) -> np.ndarray:
    keys = obj.data.shape_keys.key_blocks
    return _co(keys[name].data) - _co(keys["Basis"].data)


def _lm(model: HeadModel, delta: np.ndarray, index: int) -> np.ndarray:
    """Displacement of 68-landmark ``index`` under a per-vertex delta."""
    return model.landmark_positions(delta, "68")[index]


def test_one_object_with_parts_uvs_groups_and_materials(head: Any, model: HeadModel) -> None:
    mesh = head.data
    assert len(mesh.vertices) == model.n_vertices and len(mesh.polygons) == model.n_polygons
    assert [uv.name for uv in mesh.uv_layers] == ["UVMap"]
    uv = np.empty(len(mesh.loops) * 2, dtype=np.float32)
    mesh.uv_layers["UVMap"].data.foreach_get("uv", uv)
    np.testing.assert_allclose(uv.reshape(-1, 2), model.uvs, atol=1e-6)
    groups = {g.name for g in head.vertex_groups}
    assert {"skin", "eyes", "teeth_upper", "teeth_lower", "tongue"} <= groups
    slots = [m.material.name for m in head.material_slots]
    assert slots[0] == "Furrow Head Skin" and "Furrow Head Eyes" in slots
    skin = head.material_slots[0].material
    assert skin.node_tree.nodes.get("Albedo").bl_idname == "ShaderNodeTexImage"
    assert not mesh.validate(verbose=False)  # Blender finds nothing to fix


def test_modifier_stack_is_ready_for_detail(head: Any) -> None:
    subdiv, displace = head.modifiers
    assert (subdiv.type, displace.type) == ("SUBSURF", "DISPLACE")
    assert displace.vertex_group == "skin" and displace.texture_coords == "UV"
    assert displace.uv_layer == "UVMap" and displace.mid_level == 0.5
    assert displace.texture is None and displace.strength == 0.0  # nothing until a bake


def test_53_keys_with_the_exact_arkit_names(head: Any) -> None:
    keys = head.data.shape_keys.key_blocks
    names = [k.name for k in keys]
    assert names == ["Basis", *ARKIT_NAMES]
    assert len(names) == 53
    assert all(k.value == 0.0 for k in keys[1:])  # a new head is neutral
    assert {k.relative_key.name for k in keys} == {"Basis"}


def test_jaw_open_lowers_chin_and_lower_teeth_only(head: Any, model: HeadModel) -> None:
    delta = _key_delta(head, "jawOpen")
    chin = _lm(model, delta, CHIN)[2]
    assert chin < -0.005  # the chin drops by more than 5 mm
    lower = model.parts["teeth_lower"]
    assert delta[lower, 2].mean() < -0.003
    assert np.abs(delta[model.parts["teeth_upper"]]).max() < 1e-4
    top = model.vertices[:, 2] > np.percentile(model.vertices[model.parts["skin"], 2], 90)
    assert np.abs(delta[top]).max() < 0.05 * abs(chin)  # the top of the head stays put


def test_blink_left_closes_the_left_upper_lid(head: Any, model: HeadModel) -> None:
    delta = _key_delta(head, "eyeBlinkLeft")
    for i in L_LID:
        assert _lm(model, delta, i)[2] < -0.002
    for i in R_LID:
        assert np.linalg.norm(_lm(model, delta, i)) < 2e-4
    # the visible right eye and brow stay still (MakeHuman's data has a little
    # motion hidden inside the eye socket, which no render shows)
    lid_drop = abs(_lm(model, delta, L_LID[0])[2])
    for i in (*range(36, 42), *range(17, 22)):
        assert np.linalg.norm(_lm(model, delta, i)) < 0.05 * lid_drop, i


def test_smile_left_raises_the_left_mouth_corner(head: Any, model: HeadModel) -> None:
    delta = _key_delta(head, "mouthSmileLeft")
    corner = _lm(model, delta, L_MOUTH)
    assert corner[2] > 0.002 and corner[0] > 0.0  # up and outward
    assert np.linalg.norm(_lm(model, delta, R_MOUTH)) < 0.1 * np.linalg.norm(corner)


def test_left_right_pairs_mirror(head: Any, model: HeadModel) -> None:
    rest = model.vertices
    mirrored = rest * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    dist, partner = cKDTree(rest).query(mirrored)
    paired = dist < 1e-3  # vertices with a mirror partner
    assert paired.mean() > 0.9
    flip = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    for name in ARKIT_NAMES:
        if not name.endswith("Left"):
            continue
        left, right = _key_delta(head, name), _key_delta(head, mirror_name(name))
        expect = left[partner[paired]] * flip
        err = np.linalg.norm(right[paired] - expect, axis=1)
        scale = np.linalg.norm(left, axis=1).max()
        assert np.percentile(err, 99) < 0.2 * scale, name


def test_identity_slider_moves_basis_and_keys_and_undo_restores_it(
    blender: Any, head: Any, model: HeadModel
) -> None:
    name = head.name
    basis0 = _co(head.data.shape_keys.key_blocks["Basis"].data)
    smile0 = _key_delta(head, "mouthSmileLeft")
    blender.ops.ed.undo_push(message="before slider")
    slider = head.furrow.identity[0]
    slider.value = 1.0  # the UI's slider drag: the update callback applies it
    blender.ops.ed.undo_push(message="slider")
    obj = blender.data.objects[name]
    basis1 = _co(obj.data.shape_keys.key_blocks["Basis"].data)
    expected = model.identity_delta(model.identity_vector({model.identity_names[0]: 1.0}))
    np.testing.assert_allclose(basis1 - basis0, expected, atol=2e-6)
    assert np.abs(expected).max() > 1e-4
    np.testing.assert_allclose(_key_delta(obj, "mouthSmileLeft"), smile0, atol=2e-6)  # keys moved along
    np.testing.assert_allclose(_co(obj.data.vertices), basis1, atol=2e-6)
    blender.ops.ed.undo()
    obj = blender.data.objects[name]
    np.testing.assert_allclose(_co(obj.data.shape_keys.key_blocks["Basis"].data), basis0, atol=1e-7)
    assert obj.furrow.identity[0].value == 0.0 and obj.furrow.identity[0].applied == 0.0


def test_random_and_reset_identity(blender: Any, head: Any) -> None:
    basis0 = _co(head.data.shape_keys.key_blocks["Basis"].data)
    assert blender.ops.furrow.random_identity(seed=7) == {"FINISHED"}
    values = np.array([s.value for s in head.furrow.identity])
    assert np.count_nonzero(values) > len(values) // 2 and np.abs(values).max() <= 1.0
    moved = _co(head.data.shape_keys.key_blocks["Basis"].data)
    assert np.abs(moved - basis0).max() > 1e-3
    assert blender.ops.furrow.reset_identity() == {"FINISHED"}
    np.testing.assert_allclose(_co(head.data.shape_keys.key_blocks["Basis"].data), basis0, atol=2e-6)


def test_flame_and_facescape_say_what_is_missing(blender: Any) -> None:
    before = len(blender.data.objects)
    with pytest.raises(RuntimeError, match="Set the FLAME model file in Furrow's preferences first"):
        blender.ops.furrow.add_head(source="FLAME")
    assert len(blender.data.objects) == before
    layout = RecordingLayout()
    importlib.import_module(f"{MODULE}.addon.panels").draw_head(layout, blender.context)
    texts = layout.texts()
    assert "Set the FaceScape model file in Furrow's preferences first" in texts


def test_export_glb_keeps_the_arkit_keys(blender: Any, head: Any, tmp_path: Path) -> None:
    out = tmp_path / "head.glb"
    assert blender.ops.furrow.export_head(filepath=str(out)) == {"FINISHED"}
    assert out.stat().st_size > 100_000
    blender.ops.wm.read_homefile(use_empty=True)
    blender.ops.import_scene.gltf(filepath=str(out))
    meshes = [o for o in blender.data.objects if o.type == "MESH"]
    keyed = [o for o in meshes if o.data.shape_keys is not None]
    assert keyed, "no shape keys came back"
    names = {k.name for o in keyed for k in o.data.shape_keys.key_blocks}
    assert set(ARKIT_NAMES) <= names


def test_export_refuses_other_formats(blender: Any, head: Any, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"needs a \.glb or \.obj file name"):
        blender.ops.furrow.export_head(filepath=str(tmp_path / "head.fbx"))
    assert not (tmp_path / "head.fbx").exists()


def test_cycles_render_shows_the_face(blender: Any, head: Any, tmp_path: Path) -> None:
    import bpy
    from PIL import Image

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 8
    scene.cycles.device = "CPU"
    scene.render.resolution_x = scene.render.resolution_y = 256
    importlib.import_module(f"{MODULE}.addon.scene.stage").stage_head(bpy.context, head)
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "default_head_cycles_256.png"
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    img = np.asarray(Image.open(out).convert("L"), dtype=np.float32) / 255.0
    face = img > 0.08
    assert face.mean() > 0.15, f"the head fills only {face.mean():.0%} of the frame"
    rows, cols = np.nonzero(face)
    assert rows.max() - rows.min() > 0.5 * img.shape[0] and cols.max() - cols.min() > 0.35 * img.shape[1]
    centre_px = img[img.shape[0] // 3 : 2 * img.shape[0] // 3, img.shape[1] // 3 : 2 * img.shape[1] // 3]
    assert (centre_px > 0.08).mean() > 0.9  # the face, not background, is in the middle


def test_flame_head_through_the_worker_then_from_the_cache(blender: Any, tmp_path: Path) -> None:
    """A FLAME file in the preferences: the worker fits the default head to it and transfers
    the ARKit shapes (seconds); the second Add Head reuses the cached result."""
    import time

    from tests.heads_fixtures import write_flame

    pkl = write_flame(tmp_path / "generic_model.pkl")
    prefs = blender.context.preferences.addons[MODULE].preferences
    prefs.flame_model = str(pkl)
    try:
        assert blender.ops.furrow.add_head(source="FLAME") == {"FINISHED"}
        first = blender.context.active_object
        assert first.name == "FLAME Head" and first.furrow.source == "FLAME"
        assert len(first.data.vertices) == 5023
        assert [k.name for k in first.data.shape_keys.key_blocks] == ["Basis", *ARKIT_NAMES]
        jaw = _key_delta(first, "jawOpen")
        assert jaw[:, 2].min() < -0.003  # the jaw really opens
        assert [s.name for s in first.furrow.identity][:2] == ["shape000", "shape001"]
        t0 = time.monotonic()
        assert blender.ops.furrow.add_head(source="FLAME") == {"FINISHED"}
        assert time.monotonic() - t0 < 3.0  # cached: no registration this time
        second = blender.context.active_object
        np.testing.assert_allclose(_co(second.data.vertices), _co(first.data.vertices), atol=1e-6)
        # identity sliders work on a FLAME head too
        second.furrow.identity[0].value = 1.0
        assert np.abs(_co(second.data.vertices) - _co(first.data.vertices)).max() > 1e-4
        assert second.furrow.identity_error == ""
    finally:
        prefs.flame_model = ""


def test_a_broken_flame_file_is_one_line_and_adds_nothing(blender: Any, tmp_path: Path) -> None:
    bad = tmp_path / "generic_model.pkl"
    bad.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00")  # a pickle cut short
    prefs = blender.context.preferences.addons[MODULE].preferences
    prefs.flame_model = str(bad)
    before = len(blender.data.objects)
    try:
        with pytest.raises(RuntimeError, match=r"generic_model\.pkl"):
            blender.ops.furrow.add_head(source="FLAME")
    finally:
        prefs.flame_model = ""
    assert len(blender.data.objects) == before
