"""Render Clip: the scene through its camera (or a portrait of the head) to a lip-synced MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ...furrow.render.errors import RenderCancelled, RenderError
from ...furrow.render.settings import RenderSettings
from ..jobs import LocalTask, OpResult, _redraw_all, manager
from ..scene.animation import scene_fps
from ..scene.render import ClipRender, render_problem
from .filebrowser import open_browser

CANCELLED = "Render Clip: cancelled; no file was written"
TICK_SECONDS = 0.01  # the timer only hands control back between frames; a frame takes far longer


class FURROW_OT_render_clip(bpy.types.Operator):
    """Render the scene's frame range with Cycles into an MP4 (H.264 + AAC) with the sequencer's sound.
    Uses the scene camera, or frames the head with a portrait camera and lights if there is none"""

    bl_idname = "furrow.render_clip"
    bl_label = "Render Clip"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(  # type: ignore[valid-type]
        name="Clip", description="The MP4 file to write", subtype="FILE_PATH"
    )
    filter_glob: StringProperty(default="*.mp4", options={"HIDDEN"})  # type: ignore[valid-type]
    resolution: IntProperty(  # type: ignore[valid-type]
        name="Resolution",
        description="Width of the clip in pixels (the height follows the aspect)",
        default=512,
        min=16,
        max=8192,
    )
    aspect: EnumProperty(  # type: ignore[valid-type]
        name="Aspect",
        description="Shape of the frame",
        items=[
            ("square", "Square 1:1", "As wide as high"),
            ("portrait", "Portrait 4:5", "Taller than wide, as social feeds show portraits"),
        ],
        default="square",
    )
    samples: IntProperty(  # type: ignore[valid-type]
        name="Samples",
        description="Cycles samples per pixel: more is cleaner and slower (the denoiser cleans up the rest)",
        default=32,
        min=1,
        max=4096,
    )
    denoise: BoolProperty(  # type: ignore[valid-type]
        name="Denoise",
        description="Clean each frame with OpenImageDenoise (skipped if this Blender lacks it)",
        default=True,
    )
    quality: EnumProperty(  # type: ignore[valid-type]
        name="Quality",
        description="How the frames are rendered (the scene's own settings are put back afterwards)",
        items=[
            ("final", "Final", "Path-traced skin, the best denoising, full Subdivision"),
            (
                "preview",
                "Preview",
                "About 2-3x faster: Burley skin, fast denoising, Subdivision capped at 1 (drafts, CPU)",
            ),
        ],
        default="final",
    )
    seconds: FloatProperty(  # type: ignore[valid-type]
        name="Seconds",
        description="Render at most this many seconds from the scene's start; 0 = the whole frame range",
        default=0.0,
        min=0.0,
        unit="TIME_ABSOLUTE",
    )

    _modal_after_browser = False
    _render: Optional[ClipRender] = None
    _timer: Any = None
    _task: Optional[LocalTask] = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        problem = render_problem(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        if manager.busy:
            cls.poll_message_set(f"Furrow is busy: {manager.busy_name} is running")
            return False
        return True

    def _settings(self, context: bpy.types.Context) -> RenderSettings:
        assert context.scene is not None
        return RenderSettings(
            resolution=self.resolution,
            aspect=self.aspect,
            samples=self.samples,
            denoise=self.denoise,
            quality=self.quality,
            fps=scene_fps(context.scene),
            seconds=self.seconds or None,
        )

    def _begin(self, context: bpy.types.Context) -> bool:
        if not self.filepath:
            self.report({"ERROR"}, "Choose the MP4 file to write")
            return False
        try:
            self._render = ClipRender(context, Path(bpy.path.abspath(self.filepath)), self._settings(context))
        except RenderError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        self._task = LocalTask(self.bl_label)
        manager.local = self._task
        return True

    def _end(self) -> None:
        if manager.local is self._task:
            manager.local = None
        self._task = None
        self._render = None
        _redraw_all()

    def _conclude(self) -> OpResult:
        """Encode the MP4 (the frames are done); report the outcome in one line."""
        render = self._render
        assert render is not None
        try:
            out = render.finish()
        except RenderError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # a bug: one line for the artist, never a traceback
            render.close()
            self.report({"ERROR"}, f"Render Clip failed: {type(exc).__name__}: {exc}")
            return {"CANCELLED"}
        finally:
            self._end()
        seconds = render.total / render.fps
        self.report({"INFO"}, f"Wrote {out} ({render.total} frames, {seconds:.1f} s)")
        return {"FINISHED"}

    def _abort(self, message: str, level: str = "ERROR") -> OpResult:
        if self._render is not None:
            self._render.close()
        self._end()
        self.report({level}, message)  # type: ignore[arg-type]
        return {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        if context.window is None:
            return self.execute(context)
        self._modal_after_browser = True
        if not self.filepath:
            return open_browser(self, context, "furrow_clip.mp4")
        return self._go_modal(context)

    def execute(self, context: bpy.types.Context) -> OpResult:
        if self._modal_after_browser and context.window is not None:
            return self._go_modal(context)  # the browser was confirmed: render in the background
        if not self._begin(context):
            return {"CANCELLED"}
        assert self._render is not None
        task = self._task
        assert task is not None
        try:
            while not self._render.step():
                if task.cancel_requested:  # Cancel Furrow Job, e.g. from a progress hook
                    return self._abort(CANCELLED, "WARNING")
        except RenderCancelled:
            return self._abort(CANCELLED, "WARNING")
        except RenderError as exc:
            return self._abort(str(exc))
        except KeyboardInterrupt:
            self._abort("Render Clip: interrupted; no file was written", "WARNING")
            raise
        return self._conclude()

    def _go_modal(self, context: bpy.types.Context) -> OpResult:
        if not self._begin(context):
            return {"CANCELLED"}
        wm = context.window_manager
        assert wm is not None and self._task is not None and self._render is not None
        self._task.message = self._render.message
        self._timer = wm.event_timer_add(TICK_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        _redraw_all()
        return {"RUNNING_MODAL"}

    def _stop_timer(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        if wm is not None and self._timer is not None:
            wm.event_timer_remove(self._timer)
        self._timer = None

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        task, render = self._task, self._render
        assert task is not None and render is not None
        if event.type == "ESC" and event.value == "PRESS":
            task.cancel_requested = True
        if task.cancel_requested:
            self._stop_timer(context)
            return self._abort(CANCELLED, "WARNING")
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            done = render.step()
        except RenderCancelled:
            self._stop_timer(context)
            return self._abort(CANCELLED, "WARNING")
        except RenderError as exc:
            self._stop_timer(context)
            return self._abort(str(exc))
        task.fraction, task.message = render.fraction, render.message
        _redraw_all()
        if not done:
            return {"RUNNING_MODAL"}
        self._stop_timer(context)
        return self._conclude()

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (window closed, file loaded): no file, settings restored."""
        self._stop_timer(context)
        if self._render is not None:
            self._render.close()
        self._end()


CLASSES = (FURROW_OT_render_clip,)
