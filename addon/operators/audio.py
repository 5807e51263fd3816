"""Animate a head from a voice recording; Live Link Face CSV in and ARKit curves out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from ...furrow.curves import Curves, CurvesFileError
from ...furrow.protocol import Result
from ..jobs import JobOperator, OpResult
from ..scene import animation
from .filebrowser import open_browser

AUDIO_GLOB = "*.wav;*.flac;*.ogg;*.mp3;*.m4a;*.aiff;*.aif"


def _head_or_report(op: bpy.types.Operator, context: bpy.types.Context) -> bpy.types.Object | None:
    obj = animation.find_head(context)
    if obj is None:
        op.report({"ERROR"}, "Select a head with ARKit shape keys (Add Head makes one)")
    return obj


def _transcript_text(value: str) -> str:
    """The transcript field holds text, or the path of a .txt file with the text."""
    path = bpy.path.abspath(value) if value else ""
    if path and len(value) < 1024 and os.path.isfile(path):
        return Path(path).read_text(encoding="utf-8", errors="replace")
    return value


def _apply(
    op: bpy.types.Operator,
    context: bpy.types.Context,
    obj: bpy.types.Object,
    curves: Curves,
    start: int,
    name: str,
) -> None:
    scene = context.scene
    assert scene is not None
    curves = curves.resample(animation.scene_fps(scene))
    _action, previous = animation.apply_curves(obj, curves, start, name)
    animation.cover_frames(scene, start, curves.n_frames)
    if previous is not None:
        op.report({"INFO"}, f"The previous animation is kept as action {previous.name!r}")
    return None


class FURROW_OT_animate_from_audio(JobOperator):
    """Animate the selected head from a voice recording: lips, jaw, blinks and brows on its ARKit
    shape keys, the sound in the sequencer, the scene long enough to hold it"""

    bl_idname = "furrow.animate_from_audio"
    bl_label = "Animate from Audio"
    job_name = "animate_from_audio"
    browse_first = True

    filepath: StringProperty(  # type: ignore[valid-type]
        name="Audio", description="A voice recording: wav, flac, ogg or mp3", subtype="FILE_PATH"
    )
    filter_glob: StringProperty(default=AUDIO_GLOB, options={"HIDDEN"})  # type: ignore[valid-type]
    transcript: StringProperty(  # type: ignore[valid-type]
        name="Transcript",
        description="Optional: what is said (or a .txt file with it); gives exact timing on clean speech",
    )
    start_frame: IntProperty(  # type: ignore[valid-type]
        name="Start Frame", description="Frame where the audio starts; -1 = the scene's start", default=-1
    )
    add_sound: BoolProperty(  # type: ignore[valid-type]
        name="Add Sound Strip",
        description="Put the audio in the sequencer so it plays and renders",
        default=True,
    )
    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed",
        description="Blinks and head motion vary with this; same seed, same take",
        default=0,
        min=0,
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if animation.find_head(context) is None:
            cls.poll_message_set("Select a head with ARKit shape keys (Add Head makes one)")
            return False
        return bool(super().poll(context))

    def job_params(self, context: bpy.types.Context) -> dict[str, Any]:
        scene = context.scene
        assert scene is not None
        path = bpy.path.abspath(self.filepath)
        if not self.filepath:
            raise ValueError("Choose an audio file (wav, flac, ogg or mp3)")
        if not os.path.isfile(path):
            raise ValueError(f"Audio file not found: {path}")
        return {
            "audio": path,
            "fps": animation.scene_fps(scene),
            "transcript": _transcript_text(self.transcript),
            "seed": self.seed,
        }

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        scene = context.scene
        assert scene is not None
        obj = animation.find_head(context)
        if obj is None:
            self.report({"ERROR"}, "The head is no longer selected; nothing was changed")
            return {"CANCELLED"}
        curves = Curves.load_json(Path(result.files[0]))
        start = scene.frame_start if self.start_frame < 0 else self.start_frame
        name = f"{obj.name} Speech"
        _apply(self, context, obj, curves, start, name)
        if self.add_sound:
            animation.add_sound(scene, bpy.path.abspath(self.filepath), start)
        self.report(
            {"INFO"},
            f"Animated {obj.name}: {curves.duration:.1f} s from {os.path.basename(self.filepath)}",
        )
        return {"FINISHED"}


class _HeadKeysOperator(bpy.types.Operator):
    """Base for operators on the selected head's ARKit shape keys."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if animation.find_head(context) is None:
            cls.poll_message_set("Select a head with ARKit shape keys (Add Head makes one)")
            return False
        return True


class FURROW_OT_import_livelink(_HeadKeysOperator):
    """Key the selected head's ARKit shape keys from a Live Link Face CSV (iPhone capture)"""

    bl_idname = "furrow.import_livelink"
    bl_label = "Import Live Link Face CSV"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(  # type: ignore[valid-type]
        name="CSV", subtype="FILE_PATH", description="A Live Link Face CSV recorded on an iPhone"
    )
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]
    start_frame: IntProperty(  # type: ignore[valid-type]
        name="Start Frame",
        default=-1,
        description="Frame where the take starts (-1: the scene's start frame)",
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        return open_browser(self, context)

    def execute(self, context: bpy.types.Context) -> OpResult:
        from ...furrow.io.livelink import read_livelink_csv

        obj = _head_or_report(self, context)
        scene = context.scene
        if obj is None or scene is None:
            return {"CANCELLED"}
        try:
            curves = read_livelink_csv(Path(bpy.path.abspath(self.filepath)))
        except (CurvesFileError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        start = scene.frame_start if self.start_frame < 0 else self.start_frame
        _apply(self, context, obj, curves, start, f"{obj.name} Live Link")
        self.report({"INFO"}, f"Imported {curves.n_frames} frames ({curves.fps:g} fps) onto {obj.name}")
        return {"FINISHED"}


class FURROW_OT_export_curves(_HeadKeysOperator):
    """Write the selected head's ARKit animation over the scene's frame range:
    .json (Furrow curves) or .csv (Live Link Face)"""

    bl_idname = "furrow.export_curves"
    bl_label = "Export ARKit Curves"
    bl_options = {"REGISTER"}

    filepath: StringProperty(  # type: ignore[valid-type]
        name="File",
        subtype="FILE_PATH",
        description="Where to write the curves: .json (Furrow) or .csv (Live Link Face, for Unreal)",
    )
    filter_glob: StringProperty(default="*.json;*.csv", options={"HIDDEN"})  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        return open_browser(self, context, "arkit_curves.json")

    def execute(self, context: bpy.types.Context) -> OpResult:
        obj = _head_or_report(self, context)
        scene = context.scene
        if obj is None or scene is None:
            return {"CANCELLED"}
        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() not in (".json", ".csv"):
            self.report({"ERROR"}, f"Export needs a .json or .csv file name, not {path.name!r}")
            return {"CANCELLED"}
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            self.report({"ERROR"}, f"Cannot write to {path.parent}: choose a folder you can write to")
            return {"CANCELLED"}
        curves = animation.read_curves(obj, animation.scene_fps(scene), scene.frame_start, scene.frame_end)
        try:
            if path.suffix.lower() == ".csv":
                from ...furrow.io.livelink import write_livelink_csv

                write_livelink_csv(curves, path)
            else:
                curves.save_json(path)
        except OSError as exc:
            self.report({"ERROR"}, f"Could not write {path}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {curves.n_frames} frames of ARKit curves to {path}")
        return {"FINISHED"}


CLASSES = (FURROW_OT_animate_from_audio, FURROW_OT_import_livelink, FURROW_OT_export_curves)
