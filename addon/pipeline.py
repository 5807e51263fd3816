"""Headless runs as a pipeline of steps, each calling the add-on's real operators.

``python -m furrow render`` runs ``build_pipeline(request)``: NewScene ->
AddHead (or HeadFromPhoto) -> AnimateFromAudio -> (ExportCurves) -> (BakeDetails) -> RenderClip. A
step is a small object with a label, a weight (its share of the progress bar),
``run`` and ``close`` (called when the whole run ends, to remove what the step
kept for later steps); later features slot in as steps of their own (e.g. Head
from Photo before AnimateFromAudio) without touching the others.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import bpy

from ..furrow.render.settings import RenderRequest, RenderSettings
from .properties import head_settings
from .scene import render as render_scene

Progress = Callable[[float, str], None]
OPS: Any = bpy.ops  # the stubs know only Blender's own operator modules


class StepError(Exception):
    """A step failed; the message is one line for the person at the terminal."""


def call(op: Any, **props: Any) -> None:
    """Run an operator from a script; its reported error becomes a one-line StepError."""
    label = op.idname_py()
    try:
        result = op(**props)
    except RuntimeError as exc:  # Blender turns an operator's ERROR report into this
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        text = next((ln for ln in lines if ln.startswith("Error:")), lines[0] if lines else label)
        raise StepError(text.removeprefix("Error:").strip()) from None
    if "FINISHED" not in (result or set()):
        raise StepError(f"{label} did not finish")


class Step:
    """One stage of a headless run."""

    label: ClassVar[str] = "step"
    weight: ClassVar[float] = 1.0  # share of the whole run's progress

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        """Do the work; ``progress(fraction within this step, message)`` as it goes."""
        raise NotImplementedError

    def close(self) -> None:
        """The whole run is over (done or failed): remove what this step kept for later steps."""


@dataclass
class NewScene(Step):
    """An empty scene at the clip's frame rate (the speech keys at the scene's fps)."""

    fps: float = 25.0
    label: ClassVar[str] = "new scene"
    weight: ClassVar[float] = 0.2

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        call(OPS.wm.read_homefile, use_empty=True)
        scene = bpy.context.scene
        assert scene is not None
        whole = max(1, round(self.fps))  # Blender's rate is fps / fps_base: 29.97 = 30 / 1.001
        scene.render.fps, scene.render.fps_base = whole, whole / self.fps
        scene.frame_start = scene.frame_end = 1


@dataclass
class AddHead(Step):
    source: str = "DEFAULT"
    label: ClassVar[str] = "add head"
    weight: ClassVar[float] = 0.5

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        call(OPS.furrow.add_head, source=self.source)


@dataclass
class HeadFromPhoto(Step):
    """The head fitted to a photo, its albedo and detail (no camera: Render Clip frames the face)."""

    photo: str = ""
    label: ClassVar[str] = "head from photo"
    weight: ClassVar[float] = 1.0

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        call(OPS.furrow.head_from_photo, filepath=self.photo, add_camera=False)


@dataclass
class AnimateFromAudio(Step):
    audio: str = ""
    transcript: str = ""
    seed: int = 0
    label: ClassVar[str] = "animate from audio"
    weight: ClassVar[float] = 1.0

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        call(OPS.furrow.animate_from_audio, filepath=self.audio, transcript=self.transcript, seed=self.seed)


@dataclass
class ExportCurves(Step):
    """The ARKit curves the head now carries, as Furrow JSON (or Live Link Face CSV)."""

    path: str = ""
    label: ClassVar[str] = "export curves"
    weight: ClassVar[float] = 0.1

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        call(OPS.furrow.export_curves, filepath=self.path)


@dataclass
class BakeDetails(Step):
    """Wrinkles and pores for the head's animation (Bake Details), in a temporary folder that lives
    as long as the run: a headless run has no saved .blend to bake next to."""

    resolution: int = 512
    identity: dict[str, Any] = field(default_factory=dict)
    label: ClassVar[str] = "bake details"
    weight: ClassVar[float] = 0.5
    folder: str = field(default="", init=False)

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        settings = head_settings(bpy.context.active_object)
        if settings is None:
            raise StepError("Bake Details needs the head selected")
        for name, value in self.identity.items():
            if not hasattr(settings.details, name):
                raise StepError(f"unknown detail identity control {name!r}")
            setattr(settings.details, name, value)
        self.folder = tempfile.mkdtemp(prefix="furrow-bake-")
        call(
            OPS.furrow.bake_details,
            resolution=str(self.resolution),
            folder=os.path.join(self.folder, "details"),
        )

    def close(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = ""


@dataclass
class RenderClip(Step):
    out: str = ""
    settings: RenderSettings = field(default_factory=RenderSettings)
    label: ClassVar[str] = "render"
    weight: ClassVar[float] = 8.0

    def run(self, context: bpy.types.Context, progress: Progress) -> None:
        s = self.settings
        render_scene.progress_hooks.append(progress)
        try:
            call(
                OPS.furrow.render_clip,
                filepath=self.out,
                resolution=s.resolution,
                aspect=s.aspect,
                samples=s.samples,
                denoise=s.denoise,
                quality=s.quality,
                seconds=s.seconds or 0.0,
            )
        finally:
            render_scene.progress_hooks.remove(progress)


def build_pipeline(request: RenderRequest) -> list[Step]:
    """The steps for audio -> MP4 (with a photo, Head from Photo replaces Add Head)."""
    steps: list[Step] = [
        NewScene(fps=request.settings.fps),
        HeadFromPhoto(photo=request.photo) if request.photo else AddHead(),
        AnimateFromAudio(audio=request.audio, transcript=request.transcript or "", seed=request.seed),
    ]
    if request.curves_out:
        steps.append(ExportCurves(path=request.curves_out))
    if request.details:
        steps.append(
            BakeDetails(resolution=request.detail_resolution, identity=dict(request.detail_identity))
        )
    steps.append(RenderClip(out=request.out, settings=request.settings))
    return steps


def run_pipeline(context: bpy.types.Context, steps: Sequence[Step], progress: Progress) -> None:
    """Run ``steps`` in order; progress is over the whole run (each step by its weight)."""
    total = sum(s.weight for s in steps) or 1.0
    done = 0.0
    try:
        for step in steps:
            start = done

            def report(fraction: float, message: str, start: float = start, step: Step = step) -> None:
                share = step.weight * min(max(fraction, 0.0), 1.0)
                progress((start + share) / total, f"{step.label}: {message}")

            report(0.0, "started")
            step.run(context, report)
            done += step.weight
            report(1.0, "done")
    finally:
        for step in steps:
            step.close()
