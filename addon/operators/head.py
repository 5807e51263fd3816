"""Head operators: add a head, change its identity, export it."""

from __future__ import annotations

import os
import random
from typing import Any

import bpy
import numpy as np
import numpy.typing as npt
from bpy.props import EnumProperty, IntProperty, StringProperty

from ...furrow.protocol import Result
from .. import preferences
from ..jobs import JobOperator, OpResult
from ..properties import HEAD_SOURCES, head_settings
from ..scene import head_mesh
from .filebrowser import open_browser

_PREF_FOR_SOURCE = {"FLAME": "flame_model", "FACESCAPE": "facescape_model"}
_NAMES = {"DEFAULT": "Furrow Head", "FLAME": "FLAME Head", "FACESCAPE": "FaceScape Head"}


def source_problem(context: bpy.types.Context, source: str) -> str:
    """Why a head source cannot be used right now ('' if it can)."""
    attr = _PREF_FOR_SOURCE.get(source)
    if attr is None:
        return ""
    path = getattr(preferences.get(context), attr)
    label = dict((k, n) for k, n, _ in HEAD_SOURCES)[source]
    if not path:
        return f"Set the {label} model file in Furrow's preferences first"
    if not os.path.isfile(bpy.path.abspath(path)):
        return f"{label} model file not found: {path}"
    return ""


class FURROW_OT_add_head(JobOperator):
    """Add a head with the 52 ARKit shape keys, parts, materials and a detail-ready modifier stack"""

    bl_idname = "furrow.add_head"
    bl_label = "Add Head"
    job_name = "prepare_head"

    source: EnumProperty(  # type: ignore[valid-type]
        name="Model", description="Which head model to start from", items=HEAD_SOURCES, default="DEFAULT"
    )

    @classmethod
    def description(cls, context: bpy.types.Context, properties: Any) -> str:
        problem = source_problem(context, properties.source)
        base = "Add a head with the 52 ARKit shape keys, parts, materials and a detail-ready modifier stack"
        return f"{base}.\n{problem}" if problem else base

    def job_params(self, context: bpy.types.Context) -> dict[str, Any]:
        problem = source_problem(context, self.source)
        if problem:
            raise ValueError(problem)
        prefs = preferences.get(context)
        attr = _PREF_FOR_SOURCE.get(self.source)
        return {
            "source": self.source.lower(),
            "path": bpy.path.abspath(getattr(prefs, attr)) if attr else "",
            "cache_dir": preferences.cache_dir(prefs),
        }

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        path = str(result.data["head"])
        model = head_mesh.load_model(path)
        is_default = self.source == "DEFAULT"
        prefs = preferences.get(context)
        attr = _PREF_FOR_SOURCE.get(self.source)
        obj = head_mesh.create_head(
            context,
            model,
            name=_NAMES[self.source],
            source=self.source,
            source_path=getattr(prefs, attr) if attr else "",
            head_file="" if is_default else path,
        )
        self.report(
            {"INFO"},
            f"Added {obj.name}: {model.n_vertices} vertices, 52 ARKit shape keys, "
            f"{len(model.identity_names)} identity sliders",
        )
        return {"FINISHED"}


class _HeadOperator(bpy.types.Operator):
    """Base for operators that work on the active Furrow head."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if head_settings(context.active_object) is None:
            cls.poll_message_set("Select a head made with Add Head")
            return False
        return True

    def _set_identity(self, context: bpy.types.Context, values: npt.NDArray[np.float32]) -> OpResult:
        obj = context.active_object
        assert obj is not None
        settings = head_settings(obj)
        assert settings is not None
        try:
            model = head_mesh.load_model(head_mesh.head_path(settings))
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, f"Cannot load the head model of {obj.name}: {exc}")
            return {"CANCELLED"}
        try:
            head_mesh.set_identity(obj, model, values)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class FURROW_OT_random_identity(_HeadOperator):
    """Give the selected head a random, plausible identity (Basis and all shape keys follow)"""

    bl_idname = "furrow.random_identity"
    bl_label = "Random Identity"
    bl_options = {"REGISTER", "UNDO"}

    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed", description="Same seed, same face; 0 picks a new one each time", default=0, min=0
    )

    def execute(self, context: bpy.types.Context) -> OpResult:
        from ...furrow.heads.identity import random_identity

        obj = context.active_object
        assert obj is not None
        settings = head_settings(obj)
        assert settings is not None
        model = head_mesh.load_model(head_mesh.head_path(settings))
        seed = self.seed or random.SystemRandom().randrange(1, 2**31)
        values = random_identity(model, np.random.default_rng(seed))
        return self._set_identity(context, values)


class FURROW_OT_reset_identity(_HeadOperator):
    """Set every identity slider of the selected head back to 0"""

    bl_idname = "furrow.reset_identity"
    bl_label = "Reset Identity"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> OpResult:
        obj = context.active_object
        assert obj is not None
        settings = head_settings(obj)
        assert settings is not None
        return self._set_identity(context, np.zeros(len(settings.identity), dtype=np.float32))


class FURROW_OT_export_head(_HeadOperator):
    """Export the selected head with Blender's own exporters (.glb keeps the ARKit keys as morph targets)"""

    bl_idname = "furrow.export_head"
    bl_label = "Export Head"
    bl_options = {"REGISTER"}

    filepath: StringProperty(  # type: ignore[valid-type]
        name="File",
        description="Where to write the head: .glb (with the ARKit morph targets) or .obj",
        subtype="FILE_PATH",
    )
    filter_glob: StringProperty(default="*.glb;*.obj", options={"HIDDEN"})  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        obj = context.active_object
        stem = bpy.path.clean_name(obj.name if obj else "head")
        return open_browser(self, context, stem + ".glb")

    def execute(self, context: bpy.types.Context) -> OpResult:
        obj = context.active_object
        assert obj is not None
        path = bpy.path.abspath(self.filepath)
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".glb", ".obj"):
            self.report({"ERROR"}, f"Export needs a .glb or .obj file name, not {os.path.basename(path)!r}")
            return {"CANCELLED"}
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            self.report({"ERROR"}, f"Cannot write to {folder}: choose a folder you can write to")
            return {"CANCELLED"}
        selected = list(context.selected_objects)
        for other in selected:
            other.select_set(False)
        obj.select_set(True)
        try:
            if ext == ".obj":
                result = bpy.ops.wm.obj_export(
                    filepath=path, export_selected_objects=True, export_materials=True, apply_modifiers=False
                )
            else:
                result = bpy.ops.export_scene.gltf(
                    filepath=path,
                    export_format="GLB",
                    use_selection=True,
                    export_morph=True,
                    export_apply=False,
                )
        except RuntimeError as exc:
            self.report({"ERROR"}, f"Export failed: {exc}")
            return {"CANCELLED"}
        finally:
            obj.select_set(False)
            for other in selected:
                other.select_set(True)
        if result is None or "FINISHED" not in result:
            self.report({"ERROR"}, f"Blender's exporter did not finish writing {path}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {obj.name} to {path}")
        return {"FINISHED"}


CLASSES = (FURROW_OT_add_head, FURROW_OT_random_identity, FURROW_OT_reset_identity, FURROW_OT_export_head)
