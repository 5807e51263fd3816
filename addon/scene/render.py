"""Render the scene to a lip-synced MP4: Cycles frames to PNGs, the sound mixed down, ffmpeg muxes.

``ClipRender`` renders one frame per ``step()`` so the operator can run it from
a timer (the UI stays responsive between frames, Esc works) or in a loop when
called from a script. The scene's render settings are changed only while it
runs and restored afterwards; frames live in a temporary folder that is
always removed; the MP4 appears under its name only when it is complete.
"""

from __future__ import annotations

import importlib
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import bpy

from ...furrow.render.errors import EncodeError, RenderCancelled, RenderError
from ...furrow.render.mux import FRAME_PATTERN, check_output, encode_mp4, find_tool
from ...furrow.render.settings import RenderSettings
from . import stage
from .animation import find_head, scene_fps

HEAD_MISSING = "Add a Furrow head first (Furrow panel > Head > Add Head)"

progress_hooks: list[Callable[[float, str], None]] = []
"""Called with (fraction, message) after every frame: the headless runner prints them."""


def is_head(obj: Optional[bpy.types.Object]) -> bool:
    if obj is None or obj.type != "MESH":
        return False
    mesh = obj.data
    keys = mesh.shape_keys if isinstance(mesh, bpy.types.Mesh) else None
    return keys is not None and "jawOpen" in keys.key_blocks and "mouthClose" in keys.key_blocks


def any_head(context: bpy.types.Context) -> Optional[bpy.types.Object]:
    """The selected head, else the first head in the scene (a render needs no selection)."""
    head = find_head(context)
    if head is not None or context.scene is None:
        return head
    return next((o for o in context.scene.objects if is_head(o)), None)


def render_problem(context: bpy.types.Context) -> str:
    """Why the scene cannot be rendered as a clip ('' when it can)."""
    scene = context.scene
    if scene is None:
        return "No scene to render"
    if scene.camera is None and any_head(context) is None:
        return HEAD_MISSING
    try:
        find_tool("ffmpeg")
    except RenderError as exc:
        return str(exc)
    return ""


def denoiser_available() -> bool:
    """OpenImageDenoise is compiled into this Blender's Cycles (it is not in every build)."""
    try:
        cycles_native: Any = importlib.import_module("_cycles")
    except ImportError:
        return False
    return bool(getattr(cycles_native, "with_openimagedenoise", False))


def sound_strips(scene: bpy.types.Scene) -> list[Any]:
    editor: Any = scene.sequence_editor
    if editor is None:
        return []
    strips = editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all
    return [s for s in strips if s.type == "SOUND" and not s.mute]


def scene_materials(scene: bpy.types.Scene) -> list[bpy.types.Material]:
    """The materials on the scene's objects (each object's slots; repeats possible)."""
    slots = [slot for obj in scene.objects for slot in obj.material_slots]
    return [slot.material for slot in slots if slot.material is not None]


class _Saved:
    """Attributes changed for the render, put back afterwards (last changed, first restored)."""

    def __init__(self) -> None:
        self._items: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, attr: str, value: Any) -> bool:
        """Set ``owner.attr`` (remembering the old value); False if this Blender refuses the value."""
        old = getattr(owner, attr)
        try:
            setattr(owner, attr, value)
        except (TypeError, ValueError, AttributeError):
            return False
        self._items.append((owner, attr, old))
        return True

    def restore(self) -> None:
        for owner, attr, old in reversed(self._items):
            try:
                setattr(owner, attr, old)
            except (TypeError, ValueError, AttributeError, ReferenceError):
                pass
        self._items.clear()


class ClipRender:
    """One clip render in progress. Raises RenderError (one line) for anything the artist can fix."""

    def __init__(self, context: bpy.types.Context, out: Path, settings: RenderSettings) -> None:
        scene = context.scene
        if scene is None:
            raise RenderError("No scene to render")
        problem = settings.problem()
        if problem:
            raise RenderError(problem)
        self.out = check_output(Path(out))
        find_tool("ffmpeg")  # fail now, not after every frame has rendered
        if scene.camera is None:
            head = any_head(context)
            if head is None:
                raise RenderError(HEAD_MISSING)
            stage.stage_head(context, head)
        self.scene = scene
        self.settings = settings
        self.fps = scene_fps(scene)
        first, last = scene.frame_start, scene.frame_end
        if settings.seconds is not None:
            last = min(last, first + max(1, math.floor(settings.seconds * self.fps + 1e-6)) - 1)
        if last < first:
            raise RenderError(f"The scene's frame range {first}-{last} is empty")
        self.frames = list(range(first, last + 1))
        self.done = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="furrow-render-"))
        self._saved = _Saved()
        self._saved.set(scene, "frame_current", scene.frame_current)
        self._configure()

    # --- set-up --------------------------------------------------------------------

    def _configure(self) -> None:
        scene, s, saved = self.scene, self.settings, self._saved
        render: Any = scene.render
        cycles: Any = getattr(scene, "cycles", None)
        if not saved.set(render, "engine", "CYCLES") or cycles is None:
            raise RenderError("This Blender has no Cycles: Render Clip needs it")
        saved.set(cycles, "device", "CPU")
        saved.set(cycles, "samples", s.samples)
        denoise = s.denoise and denoiser_available()
        saved.set(cycles, "use_denoising", denoise)
        if denoise:
            saved.set(cycles, "denoiser", "OPENIMAGEDENOISE")
        if s.quality == "preview":
            self._preview(cycles, denoise)
        width, height = s.size
        saved.set(render, "resolution_x", width)
        saved.set(render, "resolution_y", height)
        saved.set(render, "resolution_percentage", 100)
        saved.set(render, "pixel_aspect_x", 1.0)
        saved.set(render, "pixel_aspect_y", 1.0)
        saved.set(render, "use_sequencer", False)  # the picture is the 3D scene; the sound goes in apart
        saved.set(render, "use_file_extension", True)
        saved.set(render, "filepath", render.filepath)  # step() points it at each frame
        # Keep Cycles' scene between frames: only the deforming head is re-synced (~4x faster at 96 px)
        saved.set(render, "use_persistent_data", True)
        image: Any = render.image_settings
        if hasattr(image, "media_type"):  # Blender 5.0 splits images from video containers
            saved.set(image, "media_type", "IMAGE")
        saved.set(image, "file_format", "PNG")
        saved.set(image, "color_mode", "RGB")
        saved.set(image, "color_depth", "8")
        view: Any = scene.view_settings
        for transform in ("AgX", "Filmic"):  # AgX from Blender 4.0, Filmic before
            if saved.set(view, "view_transform", transform):
                break
        saved.set(view, "look", "None")

    def _preview(self, cycles: Any, denoise: bool) -> None:
        """Cheaper per frame where it shows least (measured on a 2-core CPU, 384 px, 8 samples:
        ~2.3x faster than the final settings). Everything changed here is restored by close()."""
        saved = self._saved
        saved.set(cycles, "use_adaptive_sampling", True)
        if denoise:  # the HIGH filter and prefiltered albedo/normal cost more than the path tracing
            saved.set(cycles, "denoising_quality", "FAST")
            saved.set(cycles, "denoising_prefilter", "FAST")
        for material in set(scene_materials(self.scene)):
            nodes: Any = material.node_tree.nodes if material.node_tree is not None else []
            for node in nodes:
                # Random walk traces each subsurface path; Burley's diffusion profile is still skin
                if node.type == "BSDF_PRINCIPLED" and node.subsurface_method != "BURLEY":
                    saved.set(node, "subsurface_method", "BURLEY")
        for obj in self.scene.objects:
            for mod in obj.modifiers:
                # Level 2 looks the same as 1 at preview sizes and costs a bigger BVH every frame
                if isinstance(mod, bpy.types.SubsurfModifier) and mod.render_levels > 1:
                    saved.set(mod, "render_levels", 1)

    # --- progress ------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.frames)

    @property
    def finished_frames(self) -> bool:
        return self.done >= self.total

    @property
    def fraction(self) -> float:
        """Frames count for 95%; encoding the MP4 is the rest."""
        return 0.95 * self.done / self.total

    @property
    def message(self) -> str:
        return f"Rendering frame {min(self.done + 1, self.total)}/{self.total}"

    # --- work ----------------------------------------------------------------------

    def step(self) -> bool:
        """Render the next frame; True once every frame is rendered."""
        if self.finished_frames:
            return True
        frame = self.frames[self.done]
        self.scene.frame_set(frame)
        self.scene.render.filepath = str(self.tmp / (FRAME_PATTERN % (self.done + 1)))
        result = bpy.ops.render.render(write_still=True, scene=self.scene.name)
        if "CANCELLED" in (result or set()):  # Esc pressed while Blender itself was rendering
            raise RenderCancelled("Render Clip: cancelled; no file was written")
        if "FINISHED" not in (result or set()) or not Path(self.scene.render.filepath).is_file():
            raise RenderError(f"Cycles did not render frame {frame}")
        self.done += 1
        for hook in progress_hooks:
            hook(self.fraction, f"rendered frame {self.done}/{self.total}")
        return self.finished_frames

    def _mixdown(self) -> Optional[Path]:
        """The sound strips over the rendered frames as one WAV (None if the scene is silent)."""
        if not sound_strips(self.scene):
            return None
        wav = self.tmp / "sound.wav"
        saved = _Saved()
        saved.set(self.scene, "frame_start", self.frames[0])
        saved.set(self.scene, "frame_end", self.frames[-1])
        try:
            result = bpy.ops.sound.mixdown(
                filepath=str(wav),
                check_existing=False,
                relative_path=False,
                container="WAV",
                codec="PCM",
                format="S16",
                mixrate=48000,
            )
        except RuntimeError as exc:
            raise RenderError(f"Could not mix down the sound: {str(exc).strip()}") from None
        finally:
            saved.restore()
        if "FINISHED" not in (result or set()) or not wav.is_file():
            raise RenderError("Could not mix down the sound")
        return wav

    def finish(self) -> Path:
        """Mix the sound, encode the MP4 (atomically), clean up. Returns the file written."""
        try:
            while not self.step():
                pass
            audio = self._mixdown()
            for hook in progress_hooks:
                hook(0.96, "encoding the MP4")
            encode_mp4(self.tmp, self.fps, self.out, audio=audio, n_frames=self.total)
        finally:
            self.close()
        return self.out

    def close(self) -> None:
        """Put the scene's settings back and delete the frames (also after a cancel or an error)."""
        self._saved.restore()
        shutil.rmtree(self.tmp, ignore_errors=True)


__all__ = [
    "HEAD_MISSING",
    "ClipRender",
    "EncodeError",
    "RenderCancelled",
    "RenderError",
    "any_head",
    "render_problem",
]
