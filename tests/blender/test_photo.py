"""Head from Photo in real Blender: skimage's astronaut becomes a fitted, textured head with the
photo's camera, rendered with Cycles (tests/artifacts/photo_astronaut.png)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from furrow.heads.arkit import ARKIT_NAMES
from furrow.heads.default import load_default_head
from furrow.photo.samples import sample_photo

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_head_from_photo_builds_a_textured_head_with_the_photos_camera(blender: Any, tmp_path: Path) -> None:
    blender.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    scene = blender.context.scene
    before = set(blender.data.objects.keys())
    photo = str(sample_photo("astronaut"))
    assert blender.ops.furrow.head_from_photo(filepath=photo, add_camera=True) == {"FINISHED"}
    added = set(blender.data.objects.keys()) - before
    head = blender.context.active_object
    assert head.name == "Astronaut Head" and head.name in added
    camera = blender.data.objects["Astronaut Head Camera"]
    assert added == {head.name, camera.name}

    folder = tmp_path / "furrow" / "Astronaut Head" / "photo"
    params = json.loads((folder / "params.json").read_text())
    model = load_default_head()
    # Identity in Basis: the sliders hold the fit, and the mesh moved with them.
    sliders = {s.name: s.value for s in head.furrow.identity}
    assert all(abs(sliders[n] - v) < 1e-6 for n, v in params["identity"].items())
    assert max(abs(v) for v in sliders.values()) > 0.05
    # The detail model's age: the operator's Age (40 by default), also in the head's detail settings.
    assert (params["detail"]["age"], params["detail"]["age_source"]) == (40.0, "given")
    assert head.furrow.details.age == pytest.approx(40.0)
    keys = head.data.shape_keys.key_blocks
    assert [k.name for k in keys][1:] == list(ARKIT_NAMES)
    basis = np.array([v.co[:] for v in keys["Basis"].data])
    expected = model.evaluate_np(np.array([params["identity"][n] for n in model.identity_names]))
    assert np.abs(basis - expected).max() < 1e-5

    # The photo's expression is an action of its own, kept but not applied (neutral by default).
    pose = blender.data.actions["Astronaut Head Photo Pose"]
    assert pose.use_fake_user
    anim = head.data.shape_keys.animation_data
    assert anim is None or anim.action is None
    assert all(k.value == 0.0 for k in list(keys)[1:])

    # Albedo on the skin, detail on the Displace modifier and in the material.
    skin = next(
        s.material for s in head.material_slots if s.material and "Albedo" in s.material.node_tree.nodes
    )
    albedo = skin.node_tree.nodes["Albedo"]
    assert albedo.image is not None and Path(albedo.image.filepath).name == "albedo.png"
    bsdf = skin.node_tree.nodes["Principled BSDF"]
    assert bsdf.inputs["Base Color"].links[0].from_node == albedo
    displace = next(m for m in head.modifiers if m.type == "DISPLACE")
    assert Path(displace.texture.image.filepath).name == "displacement.png"

    # The camera sees the head where the photo did: the nose tip projects onto the photo's nose.
    assert camera.data.background_images[0].image is not None
    assert (scene.render.resolution_x, scene.render.resolution_y) == (512, 512)
    from bpy_extras.object_utils import world_to_camera_view

    nose = model.landmark_positions(basis.astype(np.float32), "68")[30]
    from mathutils import Vector

    ndc = world_to_camera_view(scene, camera, head.matrix_world @ Vector(nose.tolist()))
    px = np.array([ndc.x * 512, (1 - ndc.y) * 512])
    assert np.linalg.norm(px - np.array(params["landmarks68"][30])) < 6.0

    # A Cycles render through the photo's camera: a skin-toned face where the photo has one.
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, True
    scene.render.resolution_percentage = 50
    world = blender.data.worlds.new("photo world") if scene.world is None else scene.world
    scene.world = world
    sun = blender.data.lights.new("key", "SUN")
    sun.energy = 3.0
    light = blender.data.objects.new("key", sun)
    light.rotation_euler = (1.1, 0.0, 0.3)
    scene.collection.objects.link(light)
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "photo_astronaut.png"
    scene.render.filepath = str(out)
    blender.ops.render.render(write_still=True)
    render = np.asarray(Image.open(out).convert("RGB"), np.float64)
    lm = np.array(params["landmarks68"]) / 2.0  # the render is at 50 %
    x0, y0 = lm[:, 0].min(), lm[17:, 1].min()
    x1, y1 = lm[:, 0].max(), lm[:, 1].max()
    face = render[int(y0) : int(y1), int(x0) : int(x1)].reshape(-1, 3)
    r, g, b = face.mean(axis=0)
    assert r > g > b and r > 60, (r, g, b)
    assert face.std(axis=0).mean() > 8.0


def test_a_file_that_is_not_a_photo_changes_nothing(blender: Any, tmp_path: Path) -> None:
    blender.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    before = (
        set(blender.data.objects.keys()),
        set(blender.data.meshes.keys()),
        set(blender.data.images.keys()),
    )
    with pytest.raises(RuntimeError, match=r"notes\.jpg: not an image"):
        blender.ops.furrow.head_from_photo(filepath=str(bad))
    after = (
        set(blender.data.objects.keys()),
        set(blender.data.meshes.keys()),
        set(blender.data.images.keys()),
    )
    assert after == before
    assert not (tmp_path / "furrow").exists() or not any((tmp_path / "furrow").rglob("*.png"))


def test_apply_photo_expression_poses_the_head(blender: Any, tmp_path: Path) -> None:
    blender.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    photo = str(sample_photo("astronaut"))
    done = blender.ops.furrow.head_from_photo(
        filepath=photo, use_expression=True, add_camera=False, age=55.0, estimate_age=True
    )
    assert done == {"FINISHED"}
    head = blender.context.active_object
    params = json.loads((tmp_path / "furrow" / head.name / "photo" / "params.json").read_text())
    # Age from Photo on her 99 px face: too small to read an age from, so the artist's 55 is used.
    assert params["detail"]["age"] == 55.0 and head.furrow.details.age == pytest.approx(55.0)
    assert params["detail"]["age_source"] == "given: the photo is too degraded to estimate an age from"
    anim = head.data.shape_keys.animation_data
    assert anim is not None and anim.action is not None and anim.action.name.endswith("Photo Pose")
    blender.context.scene.frame_set(blender.context.scene.frame_current)
    keys = head.data.shape_keys.key_blocks
    # She smiles in the photo: the posed head smiles by the fitted amount.
    assert params["expression"]["mouthSmileLeft"] > 0.3
    for name in ("mouthSmileLeft", "mouthSmileRight", "jawOpen"):
        assert abs(keys[name].value - params["expression"][name]) < 1e-4
    assert not [o for o in blender.data.objects if o.type == "CAMERA" and o.name.startswith(head.name)]


def test_a_failure_while_building_the_head_leaves_no_data_behind(
    blender: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step fails (wiring the detail is made to raise here: nothing real fails on demand);
    the head, its mesh, materials, images and the Photo Pose action all go again."""
    import importlib

    from tests.blender.conftest import MODULE

    blender.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    names = ("objects", "meshes", "materials", "images", "textures", "actions", "cameras")
    before = {n: set(getattr(blender.data, n).keys()) for n in names}
    details = importlib.import_module(f"{MODULE}.addon.scene.details")

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise OSError("disk went away")

    monkeypatch.setattr(details, "wire", broken)
    with pytest.raises(RuntimeError, match="could not apply its result"):
        blender.ops.furrow.head_from_photo(filepath=str(sample_photo("astronaut")))
    after = {n: set(getattr(blender.data, n).keys()) for n in names}
    assert after == before
