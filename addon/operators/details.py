"""Bake Details: the head's ARKit animation -> per-frame displacement maps (in the worker), wired
into its Displace modifier and skin material when the bake succeeds."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Optional

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ...furrow.protocol import Result
from .. import preferences
from ..jobs import JobOperator, OpResult
from ..properties import DETAIL_RESOLUTIONS, FurrowDetails, head_settings
from ..scene import animation, head_mesh
from ..scene import details as wiring

NOT_A_HEAD = "Select a Furrow head (Add Head makes one): details are baked in its UV layout"
FRAME_RANGES = [
    ("SCENE", "Scene", "Every frame of the scene's frame range (what Render Clip renders)"),
    ("ANIMATION", "Animation", "The frames the shape keys' action spans"),
]


def no_animation_message(obj_name: str) -> str:
    return (
        f"{obj_name} has no shape-key animation to bake: animate it first (Animate from Audio, "
        "Import Live Link Face CSV, or keyframes on its ARKit shape keys), "
        "or use Bake Still Pose for the pose it shows now"
    )


def furrow_head(context: bpy.types.Context) -> Optional[bpy.types.Object]:
    """The active object if it is a Furrow head with ARKit shape keys."""
    obj = animation.find_head(context)
    return obj if head_settings(obj) is not None else None


def identity_params(details: FurrowDetails) -> dict[str, Any]:
    """The job's ``identity``: the head's detail controls."""
    return {
        "age": float(details.age),
        "pore_size": float(details.pore_size),
        "pore_depth": float(details.pore_depth),
        "roughness": float(details.roughness),
        "wrinkle_depth": float(details.wrinkle_depth),
        "seed": int(details.seed),
    }


class FURROW_OT_bake_details(JobOperator):
    """Bake the head's wrinkles, folds and pores for every frame of its shape-key animation (or one
    still pose) into displacement maps next to the .blend, and wire them into its Displace modifier
    and skin material"""

    bl_idname = "furrow.bake_details"
    bl_label = "Bake Details"
    job_name = "bake_details"

    resolution: EnumProperty(  # type: ignore[valid-type]
        name="Resolution",
        description="Size of each displacement map in pixels: more shows finer detail, costs time and disk",
        items=DETAIL_RESOLUTIONS,
        default="512",
    )
    bake_name: StringProperty(  # type: ignore[valid-type]
        name="Bake Name",
        description="Folder name under //furrow/<object>/ next to the .blend; "
        "baking again under the same name replaces that bake",
        default="details",
    )
    static: BoolProperty(  # type: ignore[valid-type]
        name="Still Pose",
        description="Bake one map for the pose the head shows now (no animation needed), not a sequence",
        default=False,
    )
    frames: EnumProperty(  # type: ignore[valid-type]
        name="Frames",
        description="Which frames an animation bake covers",
        items=FRAME_RANGES,
        default="SCENE",
    )
    folder: StringProperty(  # type: ignore[valid-type]
        name="Folder",
        description="Bake into this folder instead of //furrow/<object>/<bake name>/ (scripts, pipelines); "
        "only an empty folder or an earlier Furrow bake is replaced",
        subtype="DIR_PATH",
        options={"SKIP_SAVE"},
    )

    _obj_name = ""
    _out_dir = ""
    _temporary = False
    _curves_path = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if furrow_head(context) is None:
            cls.poll_message_set(NOT_A_HEAD)
            return False
        return bool(super().poll(context))

    def _curves_file(self, context: bpy.types.Context) -> Path:
        folder = Path(preferences.cache_dir(preferences.get(context))) / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"bake-curves-{os.getpid()}-{secrets.token_hex(4)}.json"

    def job_params(self, context: bpy.types.Context) -> dict[str, Any]:
        scene = context.scene
        obj = furrow_head(context)
        settings = head_settings(obj)
        if obj is None or settings is None or scene is None:
            raise ValueError(NOT_A_HEAD)
        if not self.static and not animation.animation_sources(obj):
            raise ValueError(no_animation_message(obj.name))
        # Unless a caller set them, the head's own settings (the panel's) decide size and name.
        details: FurrowDetails = settings.details
        chosen = self.properties.is_property_set
        resolution = self.resolution if chosen("resolution") else details.resolution
        bake_name = self.bake_name if chosen("bake_name") else details.bake_name
        if self.folder:
            out_dir, temporary = Path(bpy.path.abspath(self.folder)), False
        else:
            out_dir, temporary = wiring.bake_folder(obj.name, bake_name)
        problem = wiring.folder_problem(out_dir)
        if problem:
            raise ValueError(problem)
        params: dict[str, Any] = {
            "out_dir": str(out_dir),
            "identity": identity_params(details),
            "resolution": int(resolution),
            "fps": animation.scene_fps(scene),
        }
        if settings.head_file:  # FLAME / FaceScape: their own UV layout
            params["head"] = head_mesh.head_path(settings)
        if self.static:
            params["weights"] = animation.current_pose(obj)
            params["frame_start"] = scene.frame_current
        else:
            start, end = scene.frame_start, scene.frame_end
            if self.frames == "ANIMATION":
                start, end = animation.animation_range(obj) or (start, end)
            curves = animation.sample_curves(scene, obj, start, end)
            path = self._curves_file(context)
            curves.save_json(path)
            self._curves_path = str(path)
            params["curves"] = str(path)
            params["frame_start"] = start
        self._obj_name, self._out_dir, self._temporary = obj.name, str(out_dir), temporary
        return params

    def _forget_curves(self) -> None:
        if self._curves_path:
            Path(self._curves_path).unlink(missing_ok=True)
            self._curves_path = ""

    def _start(self, context: bpy.types.Context) -> bool:
        started = super()._start(context)
        if not started:
            self._forget_curves()
        return started

    def _conclude(self, context: bpy.types.Context, job: Any) -> OpResult:
        try:
            return super()._conclude(context, job)
        finally:
            self._forget_curves()

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        obj = bpy.data.objects.get(self._obj_name)
        settings = head_settings(obj)
        if obj is None or settings is None:
            self.report({"ERROR"}, f"The head {self._obj_name!r} is gone; the bake is in {self._out_dir}")
            return {"CANCELLED"}
        try:
            bake = wiring.read_bake(Path(self._out_dir), result.data)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        has_material = wiring.wire(obj, bake, head_mesh.UV_NAME)
        details: FurrowDetails = settings.details
        details.last_folder = wiring.blend_path(bake.folder)
        details.last_frames = bake.frame_count
        details.last_frame_start = bake.frame_start
        details.last_resolution = bake.resolution
        details.last_static = bake.static
        details.last_model = bake.model
        if not has_material:
            self.report(
                {"WARNING"}, f"{obj.name} has no node material: only the Displace modifier shows the bake"
            )
        if self._temporary:
            self.report(
                {"WARNING"},
                f"The .blend is not saved, so the bake went to a temporary folder ({bake.folder}); "
                "save the .blend and bake again to keep it next to it",
            )
        what = "a still pose" if bake.static else f"{bake.frame_count} frames"
        self.report(
            {"INFO"}, f"Baked details for {obj.name}: {what} at {bake.resolution} px into {bake.folder}"
        )
        return {"FINISHED"}


CLASSES = (FURROW_OT_bake_details,)
