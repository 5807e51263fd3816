"""Animate from Audio in real Blender on a real TTS utterance (flite, exact phone timings)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from furrow.heads.arkit import ARKIT_NAMES
from furrow.heads.default import load_default_head
from furrow.speech.corpus import flite
from tests.blender.conftest import MODULE

TEXT = "Mama made a big map. Papa ate a banana."


@pytest.fixture(scope="module")
def utterance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], float]:
    audio, rate, segments = flite.synthesize(TEXT, voice="slt", rate=0.85)
    path = tmp_path_factory.mktemp("speech") / "mama.wav"
    soundfile.write(path, audio, rate)
    return path, segments, len(audio) / rate


def _gap_at(blender: Any, obj: Any, frame: int) -> float:
    """Inner-lip gap (landmarks 62-66, m) of the evaluated mesh at ``frame``."""
    blender.context.scene.frame_set(frame)
    depsgraph = blender.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    obj.evaluated_get(depsgraph).to_mesh_clear()
    lm = load_default_head().landmark_positions(co.reshape(-1, 3), "68")
    return float(np.linalg.norm(lm[62] - lm[66]))


def _strips(scene: Any) -> list[Any]:
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def test_a_tts_utterance_animates_the_default_head(
    blender: Any, utterance: tuple[Path, list[Any], float]
) -> None:
    path, segments, seconds = utterance
    scene = blender.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.001  # 29.97: fractional rates are respected
    fps = 30 / 1.001
    scene.frame_start, scene.frame_end = 1, 10
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    for mod in head.modifiers:  # look at the shape-key mix itself, vertex for vertex
        mod.show_viewport = False

    assert blender.ops.furrow.animate_from_audio(filepath=str(path)) == {"FINISHED"}

    # keyframes on the ARKit keys, one per frame of audio
    action = head.data.shape_keys.animation_data.action
    animation = importlib.import_module(f"{MODULE}.addon.scene.animation")
    fcurves = animation._fcurves(action, head.data.shape_keys)
    assert {f'key_blocks["{n}"].value' for n in ("jawOpen", "mouthClose", "eyeBlinkLeft")} <= set(fcurves)
    n_frames = round(seconds * fps)
    assert len(fcurves['key_blocks["jawOpen"].value'].keyframe_points) == n_frames
    # the sound strip and the scene length
    (strip,) = _strips(scene)
    assert Path(blender.path.abspath(strip.sound.filepath)) == path and strip.frame_start == 1
    assert scene.frame_end == n_frames  # extended from 10 to hold the clip
    # the mouth: closed on the bilabials, open on the open vowels
    bilabials = [s for s in segments if s.phone in {"M", "B", "P"} and s.end - s.start >= 0.05]
    vowels = [s for s in segments if s.phone in {"AA", "AE"} and s.end - s.start >= 0.08]
    assert len(bilabials) >= 5 and len(vowels) >= 4
    closed = [_gap_at(blender, head, 1 + round((s.start + s.end) / 2 * fps - 0.5)) for s in bilabials]
    opened = [_gap_at(blender, head, 1 + round((s.start + s.end) / 2 * fps - 0.5)) for s in vowels]
    assert np.median(closed) < 0.003, closed  # lips (nearly) together: under 3 mm
    assert np.median(opened) > 0.006, opened  # open: over 6 mm
    assert np.median(opened) > 2.5 * np.median(closed)


def test_a_second_take_keeps_the_first(blender: Any, utterance: tuple[Path, list[Any], float]) -> None:
    path, _, _ = utterance
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    assert blender.ops.furrow.animate_from_audio(filepath=str(path), seed=1) == {"FINISHED"}
    first = head.data.shape_keys.animation_data.action
    assert blender.ops.furrow.animate_from_audio(filepath=str(path), seed=2) == {"FINISHED"}
    second = head.data.shape_keys.animation_data.action
    assert second != first and first.name in blender.data.actions and first.use_fake_user


def test_export_and_reimport_curves(
    blender: Any, utterance: tuple[Path, list[Any], float], tmp_path: Path
) -> None:
    path, _, _ = utterance
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    assert blender.ops.furrow.animate_from_audio(filepath=str(path), add_sound=False) == {"FINISHED"}
    for ext in ("json", "csv"):
        out = tmp_path / f"take.{ext}"
        assert blender.ops.furrow.export_curves(filepath=str(out)) == {"FINISHED"}
        assert out.stat().st_size > 1000
    animation = importlib.import_module(f"{MODULE}.addon.scene.animation")
    scene = blender.context.scene
    before = animation.read_curves(head, animation.scene_fps(scene), scene.frame_start, scene.frame_end)
    assert blender.ops.furrow.import_livelink(filepath=str(tmp_path / "take.csv")) == {"FINISHED"}
    after = animation.read_curves(head, animation.scene_fps(scene), scene.frame_start, scene.frame_end)
    np.testing.assert_allclose(after.weights, before.weights, atol=2e-3)  # CSV keeps 3+ decimals
    assert after.weights[:, ARKIT_NAMES.index("jawOpen")].max() > 0.1


def test_bad_audio_is_one_line_and_changes_nothing(blender: Any, tmp_path: Path) -> None:
    assert blender.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    head = blender.context.active_object
    bad = tmp_path / "voice.wav"
    bad.write_text("not audio")
    with pytest.raises(RuntimeError, match=r"voice\.wav"):
        blender.ops.furrow.animate_from_audio(filepath=str(bad))
    assert head.data.shape_keys.animation_data is None or head.data.shape_keys.animation_data.action is None
    assert blender.context.scene.sequence_editor is None or not _strips(blender.context.scene)
    with pytest.raises(RuntimeError, match="Audio file not found"):
        blender.ops.furrow.animate_from_audio(filepath=str(tmp_path / "missing.wav"))
