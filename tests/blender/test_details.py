"""Bake Details in real Blender: a brow raise keyed by hand is baked in the worker, wired into the
Displace modifier and the skin material, and moves the forehead (not the nose) on the right frames."""

from __future__ import annotations

import importlib
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from furrow.details import load_displacement_png
from furrow.heads.default import load_default_head
from furrow.heads.regions import region_masks
from tests.blender.conftest import MODULE, RecordingLayout
from tests.unit.test_render_mux import unwritable_folder

BROWS = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")
START, PEAK, END = 3, 8, 12  # the scene's range; brows up (held) from PEAK to END - 1
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
F32 = npt.NDArray[np.float32]


def _addon(name: str) -> Any:
    return importlib.import_module(f"{MODULE}.addon.{name}")


def _key_brows(bpy: Any, head: Any, keys: list[tuple[int, float]], interpolation: str = "CONSTANT") -> None:
    blocks = head.data.shape_keys.key_blocks
    for frame, value in keys:
        for name in BROWS:
            blocks[name].value = value
            blocks[name].keyframe_insert("value", frame=frame)
    key = head.data.shape_keys
    for fc in _addon("scene.animation")._fcurves(key.animation_data.action, key).values():
        for point in fc.keyframe_points:
            point.interpolation = interpolation


@pytest.fixture
def brow_head(blender: Any, tmp_path: Path) -> Any:
    """The default head in a saved .blend, brows up on frames PEAK..END-1 and down elsewhere."""
    scene = blender.context.scene
    scene.frame_start, scene.frame_end = START, END
    scene.render.fps, scene.render.fps_base = 30, 1.001  # 29.97: the bake keeps fractional rates
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    _key_brows(blender, head, [(START, 0.0), (PEAK, 1.0), (END, 0.0)])
    blender.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    return head


@pytest.fixture(scope="module")
def masks() -> dict[str, F32]:
    return region_masks(load_default_head(), 256)


def _sample(image: F32, uv: F32) -> F32:
    """Bilinear lookup of an (R, R) map (row 0 = v = 1, as bakes and masks are stored) at UVs."""
    r = image.shape[0]
    x = np.clip(uv[:, 0] * r - 0.5, 0, r - 1)
    y = np.clip((1.0 - uv[:, 1]) * r - 0.5, 0, r - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, r - 1), np.minimum(y0 + 1, r - 1)
    fx, fy = x - x0, y - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    result: F32 = (top * (1 - fy) + bottom * fy).astype(np.float32)
    return result


def _evaluated(bpy: Any, head: Any) -> tuple[F32, F32, F32]:
    """Vertex positions, normals and UVs of the evaluated (subdivided, displaced) mesh."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = head.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    n = len(mesh.vertices)
    co, normal = np.empty(3 * n, np.float32), np.empty(3 * n, np.float32)
    mesh.vertices.foreach_get("co", co)
    mesh.vertices.foreach_get("normal", normal)
    corner_vertex = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", corner_vertex)
    corner_uv = np.empty(2 * len(mesh.loops), np.float32)
    mesh.uv_layers.active.data.foreach_get("uv", corner_uv)
    uv = np.zeros((n, 2), np.float32)
    uv[corner_vertex] = corner_uv.reshape(-1, 2)
    evaluated.to_mesh_clear()
    return co.reshape(-1, 3), normal.reshape(-1, 3), uv


def _displacement(bpy: Any, head: Any, frame: int) -> tuple[F32, F32]:
    """How far the Displace modifier moves each evaluated vertex along its normal (m) at ``frame``,
    and the vertices' UVs."""
    bpy.context.scene.frame_set(frame)
    displace = head.modifiers["Furrow Displace"]
    on, _, _ = _evaluated(bpy, head)
    displace.show_viewport = False
    try:
        off, normal, uv = _evaluated(bpy, head)
    finally:
        displace.show_viewport = True
    along: F32 = ((on - off) * normal).sum(axis=1)
    return along, uv


def _wiring(bpy: Any, head: Any) -> tuple[Any, Any, Any]:
    """(the Displace modifier, the skin material's image node, its displacement node)."""
    details = _addon("scene.details")
    material = details.skin_material(head)
    nodes = material.node_tree.nodes
    return (
        head.modifiers["Furrow Displace"],
        nodes.get(details.IMAGE_NODE),
        nodes.get(details.DISPLACEMENT_NODE),
    )


def _counts(bpy: Any, head: Any) -> tuple[int, int, int]:
    material = _addon("scene.details").skin_material(head)
    return len(bpy.data.images), len(bpy.data.textures), len(material.node_tree.nodes)


def test_a_brow_raise_bakes_into_a_sequence_that_moves_the_forehead_on_its_frames(
    blender: Any, brow_head: Any, tmp_path: Path, masks: dict[str, F32]
) -> None:
    head = brow_head
    assert blender.ops.furrow.bake_details(resolution="256") == {"FINISHED"}

    # the bake folder next to the .blend: one map per frame of the scene's range, and bake.json
    folder = tmp_path / "furrow" / "Furrow Head" / "details"
    n = END - START + 1
    assert sorted(p.name for p in folder.iterdir()) == ["bake.json"] + [
        f"disp_{i:05d}.png" for i in range(1, n + 1)
    ]
    info = json.loads((folder / "bake.json").read_text())
    assert (info["frame_start"], info["frame_count"], info["resolution"], info["static"]) == (
        START,
        n,
        256,
        False,
    )
    assert info["fps"] == pytest.approx(30 / 1.001) and info["identity"]["age"] == 35.0
    assert not list((tmp_path / "furrow" / "Furrow Head").glob(".*"))  # no staging left behind

    # the modifier: an image sequence starting at the bake's first frame, strength from its scale
    displace, image_node, disp_node = _wiring(blender, head)
    assert [m.type for m in head.modifiers] == ["SUBSURF", "DISPLACE"]
    texture = displace.texture
    image = texture.image
    assert (texture.type, texture.extension) == ("IMAGE", "EXTEND")
    assert image.source == "SEQUENCE" and image.filepath == "//furrow/Furrow Head/details/disp_00001.png"
    assert image.colorspace_settings.name == "Non-Color"
    for user in (texture.image_user, image_node.image_user):
        assert (user.frame_start, user.frame_duration, user.frame_offset, user.use_cyclic) == (
            START,
            n,
            0,
            False,
        )
    assert displace.strength == pytest.approx(info["scale_mm"] / 1000) and displace.mid_level == 0.5
    # the material: the same image as bump through a Displacement node into the output
    assert image_node.image == image and image_node.interpolation == "Cubic"
    assert disp_node.inputs["Midlevel"].default_value == 0.5
    assert disp_node.inputs["Scale"].default_value == pytest.approx(info["scale_mm"] / 1000)
    assert disp_node.inputs["Height"].links[0].from_node == image_node
    assert disp_node.outputs["Displacement"].links[0].to_node.type == "OUTPUT_MATERIAL"
    assert _addon("scene.details").skin_material(head).displacement_method == "BUMP"

    # the evaluated mesh: the forehead changes exactly on the raised frames, the nose never does
    neutral, uv = _displacement(blender, head, START)
    forehead, nose = _sample(masks["forehead"], uv) > 0.5, _sample(masks["nose"], uv) > 0.5
    assert forehead.sum() > 100 and nose.sum() > 100
    change = {f: _displacement(blender, head, f)[0] - neutral for f in (PEAK - 1, PEAK, END - 1, END)}
    for frame in (PEAK - 1, END):  # brows down: the same maps as the neutral frame, to within a
        # few steps of the 16-bit PNG (0.12 um): the network's batches of other sizes round apart
        assert np.abs(change[frame]).max() < 5e-7, frame
    for frame in (PEAK, END - 1):  # brows up: forehead lines a tenth of a millimetre and more deep
        lines = np.abs(change[frame][forehead]).max()
        assert lines > 1e-4, frame
        # the procedural source leaves the nose exactly alone; a learned one may leak a little
        assert np.abs(change[frame][nose]).max() < 0.1 * lines, frame
    # ... and they are the bake's map of that frame, the right way up, at the right strength
    maps = [load_displacement_png(folder / f"disp_{i:05d}.png") / 1000 for i in (1, PEAK - START + 1)]
    expected = _sample(maps[1] - maps[0], uv)[forehead]
    assert np.corrcoef(expected, change[PEAK][forehead])[0, 1] > 0.99
    assert np.linalg.norm(change[PEAK][forehead]) / np.linalg.norm(expected) == pytest.approx(1.0, abs=0.05)

    # the panel sums it up
    layout = RecordingLayout()
    _addon("panels").draw_details(layout, blender.context)
    assert f"Last bake: {n} frames from {START}, 256 px" in layout.texts()
    assert "//furrow/Furrow Head/details" in layout.texts()
    # the curves handed to the worker are gone
    prefs = _addon("preferences")
    inputs = Path(prefs.cache_dir(prefs.get(blender.context))) / "inputs"
    assert not list(inputs.glob("bake-curves-*.json"))


def test_a_rebake_replaces_its_folder_and_reuses_the_wiring_a_cancel_keeps_the_last_bake(
    blender: Any, brow_head: Any, tmp_path: Path
) -> None:
    head = brow_head
    jobs = _addon("jobs")
    folder = tmp_path / "furrow" / "Furrow Head" / "details"
    other = tmp_path / "furrow" / "Furrow Head" / "other"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    assert blender.ops.furrow.bake_details(resolution="256") == {"FINISHED"}
    counts = _counts(blender, head)
    first, _ = _displacement(blender, head, START)

    # a cancelled re-bake changes nothing: not the folder, not the wiring
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    head.furrow.details.age = 80.0
    scene = blender.context.scene
    scene.frame_end = (
        START + 4000
    )  # seconds of baking: the cancel at 0.3 s lands mid-bake (sources are cached)
    threading.Timer(0.3, jobs.manager.cancel).start()
    assert blender.ops.furrow.bake_details(resolution="256") == {"CANCELLED"}
    scene.frame_end = END
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert _counts(blender, head) == counts

    # a re-bake under the same name: the folder is replaced, the image reloaded, nothing piles up
    assert blender.ops.furrow.bake_details(resolution="256") == {"FINISHED"}
    info = json.loads((folder / "bake.json").read_text())
    assert info["identity"]["age"] == 80.0 and info["frame_count"] == END - START + 1
    assert _counts(blender, head) == counts
    again, _ = _displacement(blender, head, START)
    assert np.abs(again - first).max() > 1e-5  # the older skin shows: the image was reloaded
    assert (other / "notes.txt").read_text() == "mine"  # its neighbours are never touched
    visible = sorted(p.name for p in folder.parent.iterdir() if not p.name.startswith("."))
    assert visible == ["details", "other"]


def test_without_animation_it_offers_the_still_pose_which_bakes_one_map(blender: Any) -> None:
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    head.data.shape_keys.key_blocks["browInnerUp"].value = 1.0
    with pytest.raises(RuntimeError, match=r"no shape-key animation to bake.*Bake Still Pose") as error:
        blender.ops.furrow.bake_details()
    assert "Traceback" not in str(error.value)
    displace, image_node, _ = _wiring(blender, head)
    assert displace.texture is None and image_node is None and len(blender.data.images) == 0
    layout = RecordingLayout()
    _addon("panels").draw_details(layout, blender.context)
    assert "No shape-key animation yet:" in layout.texts()

    # unsaved .blend: a temporary folder (and a warning), one map of the pose it shows now, at the
    # size and under the name the head's Details settings give
    details = head.furrow.details
    details.resolution, details.bake_name = "256", "raised"
    assert blender.ops.furrow.bake_details(static=True) == {"FINISHED"}
    folder = Path(details.last_folder)
    assert folder.is_relative_to(tempfile.gettempdir()) and folder.name == "raised"
    assert sorted(p.name for p in folder.iterdir()) == ["bake.json", "disp_00001.png"]
    info = json.loads((folder / "bake.json").read_text())
    assert info["static"] and info["frame_count"] == 1 and info["resolution"] == 256
    assert (details.last_frames, details.last_static) == (1, True)
    image = displace.texture.image
    assert image.source == "FILE" and Path(image.filepath) == folder / "disp_00001.png"
    still = load_displacement_png(folder / "disp_00001.png")
    assert still.min() < -0.1  # the raised brows' forehead lines are in it


@pytest.mark.parametrize("where", ["a file in the way", "an unwritable folder"])
def test_an_unwritable_bake_folder_is_one_clear_line_and_wires_nothing(
    blender: Any, brow_head: Any, tmp_path: Path, where: str
) -> None:
    head = brow_head
    props: dict[str, Any] = {"resolution": "256"}
    if where == "a file in the way":
        (tmp_path / "furrow").write_text("not a folder")
        words = "is a file, not a folder"
    else:
        props["folder"] = str(unwritable_folder(tmp_path) / "bake")
        words = "[Cc]annot write"
    with pytest.raises(RuntimeError, match=words) as error:
        blender.ops.furrow.bake_details(**props)
    assert "Traceback" not in str(error.value)
    displace, image_node, disp_node = _wiring(blender, head)
    assert displace.texture is None and displace.strength == 0.0
    assert image_node is None and disp_node is None and len(blender.data.images) == 0
    assert head.furrow.details.last_frames == 0


def test_nla_strips_are_sampled_as_the_scene_plays_them(blender: Any) -> None:
    """Keys pushed down into an NLA strip (no active action) bake as they play, shifted with the strip."""
    animation = _addon("scene.animation")
    scene = blender.context.scene
    scene.frame_start, scene.frame_end = 1, 12
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    _key_brows(blender, head, [(1, 0.0), (4, 1.0), (6, 0.0)])
    direct = animation.read_curves(head, 25.0, 1, 12)
    anim = head.data.shape_keys.animation_data
    action = anim.action
    track = anim.nla_tracks.new()
    track.strips.new("brows", 4, action)  # the same keys, 3 frames later
    anim.action = None
    assert animation.animation_sources(head) == ["nla"]
    scene.frame_set(5)
    sampled = animation.sample_curves(scene, head, 1, 12)
    assert sampled.fps == 24.0 and scene.frame_current == 5
    i = animation.ARKIT_NAMES.index("browInnerUp")
    np.testing.assert_allclose(sampled.weights[3:, i], direct.weights[:-3, i], atol=1e-6)
    assert sampled.weights[6, i] == 1.0 and all(m.show_viewport for m in head.modifiers)


def test_a_cycles_render_shows_forehead_lines_on_the_brow_raise(blender: Any, brow_head: Any) -> None:
    """A small close-up (160 px) of the neutral and the raised frame, with the bake and without it,
    saved for a look; the lines must add to what the brow raise alone changes on the forehead."""
    from bpy_extras.object_utils import world_to_camera_view
    from PIL import Image

    from furrow.heads.regions import region_weights

    head, scene = brow_head, blender.context.scene
    head.furrow.details.age = 60.0
    assert blender.ops.furrow.bake_details(resolution="512") == {"FINISHED"}
    camera = _addon("scene.stage").stage_head(blender.context, head, zoom=2.4)
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, True
    scene.render.resolution_x = scene.render.resolution_y = 160
    displace, _, disp_node = _wiring(blender, head)
    strength = displace.strength
    shots: dict[tuple[bool, int], F32] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for with_details in (True, False):
            displace.strength = strength if with_details else 0.0
            disp_node.inputs["Scale"].default_value = strength if with_details else 0.0
            for frame in (START, PEAK):
                scene.frame_set(frame)
                scene.render.filepath = str(Path(tmp) / f"{with_details}_{frame}.png")
                blender.ops.render.render(write_still=True)
                shots[with_details, frame] = np.asarray(
                    Image.open(scene.render.filepath).convert("RGB"), np.float32
                )
    ARTIFACTS.mkdir(exist_ok=True)
    row = np.concatenate([shots[True, START], shots[True, PEAK], shots[False, PEAK]], axis=1)
    Image.fromarray(row.astype(np.uint8)).save(ARTIFACTS / "details_brow_raise.png")

    model = load_default_head()
    forehead_points = model.vertices[region_weights(model)["forehead"] > 0.5]
    from mathutils import Vector

    xy = np.array([world_to_camera_view(scene, camera, Vector(p))[:2] for p in forehead_points])
    cols = (xy[:, 0] * 160).astype(int)
    rows = ((1 - xy[:, 1]) * 160).astype(int)
    box = (slice(max(rows.min(), 0), rows.max()), slice(max(cols.min(), 0), cols.max()))

    def raise_change(with_details: bool) -> float:
        return float(np.abs(shots[with_details, PEAK] - shots[with_details, START])[box].mean())

    assert raise_change(True) > 2.0 * raise_change(False), (raise_change(True), raise_change(False))


def test_the_headless_chain_bakes_before_rendering_and_cleans_up_even_when_a_step_fails(blender: Any) -> None:
    pipeline = _addon("pipeline")
    settings = importlib.import_module(f"{MODULE}.furrow.render.settings")
    request = settings.RenderRequest(
        audio="a.wav", out="c.mp4", detail_resolution=1024, detail_identity={"age": 60}
    )
    steps = pipeline.build_pipeline(request)
    assert [type(s).__name__ for s in steps] == [
        "NewScene",
        "AddHead",
        "AnimateFromAudio",
        "BakeDetails",
        "RenderClip",
    ]
    assert (steps[3].resolution, steps[3].identity) == (1024, {"age": 60})
    plain = pipeline.build_pipeline(settings.RenderRequest(audio="a.wav", out="c.mp4", details=False))
    assert "BakeDetails" not in [type(s).__name__ for s in plain]

    closed: list[str] = []

    class Keeps(pipeline.Step):
        def run(self, context: Any, progress: Any) -> None:
            pass

        def close(self) -> None:
            closed.append("keeps")

    class Fails(pipeline.Step):
        def run(self, context: Any, progress: Any) -> None:
            raise pipeline.StepError("boom")

    with pytest.raises(pipeline.StepError, match="boom"):
        pipeline.run_pipeline(blender.context, [Keeps(), Fails()], lambda fraction, message: None)
    assert closed == ["keeps"]
