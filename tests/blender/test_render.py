"""Render Clip in real Blender: what it refuses, what a cancel leaves behind, what it writes."""

from __future__ import annotations

import importlib
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from furrow.render.probe import probe
from tests.blender.conftest import MODULE, RecordingLayout
from tests.unit.test_render_mux import unwritable_folder

HEAD_MISSING = "Add a Furrow head first (Furrow panel > Head > Add Head)"
FAST = {"resolution": 32, "samples": 1, "denoise": False}


def _render_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("furrow-render-*"))


def _settings(scene: Any) -> tuple[Any, ...]:
    r = scene.render
    return (r.engine, r.resolution_x, r.resolution_y, r.filepath, r.use_persistent_data, scene.frame_current)


@pytest.fixture
def head_scene(blender: Any) -> Any:
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    scene = blender.context.scene
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 3, 2
    return scene


def test_without_a_head_it_says_to_add_one(blender: Any, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    assert not blender.ops.furrow.render_clip.poll()
    with pytest.raises(RuntimeError, match=re.escape(HEAD_MISSING)):
        blender.ops.furrow.render_clip(filepath=str(out))
    assert not out.exists()
    panels = importlib.import_module(f"{MODULE}.addon.panels")
    layout = RecordingLayout()
    panels.draw_render(layout, blender.context)
    assert HEAD_MISSING in layout.texts()


def test_an_unwritable_output_is_refused_before_rendering(
    head_scene: Any, blender: Any, tmp_path: Path
) -> None:
    before = _settings(head_scene)
    for out, words in [
        (unwritable_folder(tmp_path) / "clip.mp4", "cannot write to the folder"),
        (tmp_path / "missing" / "clip.mp4", "does not exist"),
    ]:
        with pytest.raises(RuntimeError, match=words) as info:
            blender.ops.furrow.render_clip(filepath=str(out), **FAST)
        assert "Traceback" not in str(info.value)
        assert not out.exists()
    assert _settings(head_scene) == before
    assert head_scene.camera is None  # refused before staging anything


def test_cancel_leaves_no_file_and_the_scene_as_it_was(head_scene: Any, blender: Any, tmp_path: Path) -> None:
    render = importlib.import_module(f"{MODULE}.addon.scene.render")
    jobs = importlib.import_module(f"{MODULE}.addon.jobs")
    out = tmp_path / "clip.mp4"
    before, dirs = _settings(head_scene), _render_dirs()
    seen: list[str] = []

    def cancel_after_the_first_frame(fraction: float, message: str) -> None:
        seen.append(message)
        blender.ops.furrow.cancel_job()  # what the panel's X button and Esc do

    render.progress_hooks.append(cancel_after_the_first_frame)
    try:
        assert blender.ops.furrow.render_clip(filepath=str(out), **FAST) == {"CANCELLED"}
    finally:
        render.progress_hooks.remove(cancel_after_the_first_frame)
    assert seen == ["rendered frame 1/3"]
    assert list(tmp_path.iterdir()) == []  # no clip, no temporary file
    assert _render_dirs() == dirs  # the frames are gone too
    assert _settings(head_scene) == before
    assert jobs.manager.local is None and not jobs.manager.busy


def test_a_short_render_writes_the_clip_and_restores_the_settings(
    head_scene: Any, blender: Any, tmp_path: Path
) -> None:
    out = tmp_path / "clip.mp4"
    before = _settings(head_scene)
    assert blender.ops.furrow.render_clip(filepath=str(out), aspect="portrait", **FAST) == {"FINISHED"}
    (video,) = probe(out).streams  # no sound strip: picture only
    assert (video.codec, video.width, video.height, video.n_frames) == ("h264", 32, 40, 3)
    assert head_scene.camera is not None and head_scene.camera.name == "Furrow Camera"
    assert _settings(head_scene) == before
    panels = importlib.import_module(f"{MODULE}.addon.panels")
    layout = RecordingLayout()
    panels.draw_render(layout, blender.context)
    assert layout.operators() == ["furrow.render_clip"]
    assert "Through Furrow Camera" in layout.texts()


def test_a_preview_render_puts_the_skin_and_subdivision_back(
    head_scene: Any, blender: Any, tmp_path: Path
) -> None:
    def looks(scene: Any) -> list[Any]:
        objs = [o for o in scene.objects if o.type == "MESH"]
        mods = [m.render_levels for o in objs for m in o.modifiers if m.type == "SUBSURF"]
        slots = [s.material for o in objs for s in o.material_slots if s.material is not None]
        nodes = [n.subsurface_method for m in slots for n in m.node_tree.nodes if n.type == "BSDF_PRINCIPLED"]
        c = scene.cycles
        return [mods, nodes, c.denoising_quality, c.denoising_prefilter, c.use_adaptive_sampling]

    before = looks(head_scene)
    assert 2 in before[0] and "BURLEY" not in before[1]  # the head renders at Subdivision 2, random walk
    render = importlib.import_module(f"{MODULE}.addon.scene.render")
    during: list[list[Any]] = []
    hook = lambda fraction, message: during.append(looks(head_scene))  # noqa: E731
    out = tmp_path / "clip.mp4"
    render.progress_hooks.append(hook)
    try:
        assert blender.ops.furrow.render_clip(filepath=str(out), quality="preview", **FAST) == {"FINISHED"}
    finally:
        render.progress_hooks.remove(hook)
    assert max(during[0][0]) == 1 and set(during[0][1]) == {"BURLEY"}
    assert probe(out).streams[0].n_frames == 3
    assert looks(head_scene) == before


def test_every_property_says_what_it_does(blender: Any) -> None:
    op = blender.ops.furrow.render_clip.get_rna_type()
    assert op.description
    for prop in op.properties:
        if prop.identifier not in {"rna_type", "filter_glob"}:
            assert prop.description, prop.identifier


def test_without_ffmpeg_the_button_says_what_to_install(
    head_scene: Any, blender: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("FURROW_FFMPEG", raising=False)
    assert not blender.ops.furrow.render_clip.poll()
    with pytest.raises(RuntimeError, match="ffmpeg was not found: install ffmpeg"):
        blender.ops.furrow.render_clip(filepath=str(tmp_path / "clip.mp4"), **FAST)
    assert list(tmp_path.iterdir()) == []
