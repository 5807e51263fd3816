"""The "Furrow" tab in the 3D viewport sidebar, read top to bottom as the workflow."""

from __future__ import annotations

import textwrap
from typing import Any

import bpy

from . import deps, jobs
from .operators.head import source_problem
from .properties import head_settings, session


class _SidebarPanel(bpy.types.Panel):
    """Where every Furrow panel lives: the 3D viewport's sidebar, tab "Furrow"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Furrow"


class FURROW_PT_main(_SidebarPanel):
    bl_label = "Furrow"
    bl_idname = "FURROW_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_main(self.layout, context)


def draw_main(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    problem = deps.problem()
    if problem:
        box = layout.box()
        box.alert = True
        box.label(text="Furrow cannot run", icon="ERROR")
        for line in textwrap.wrap(problem, 40):
            box.label(text=line)
    if not jobs.draw_progress(layout):
        job = jobs.manager.job
        if job is not None and job.state == "failed" and job.error is not None:
            box = layout.box()
            box.label(text=f"Last job failed: {job.name}", icon="ERROR")
            for line in textwrap.wrap(job.error.message, 40):
                box.label(text=line)


class FURROW_UL_identity(bpy.types.UIList):
    """Identity sliders; the list's filter box finds one among many by name."""

    def draw_item(
        self,
        context: bpy.types.Context,
        layout: bpy.types.UILayout,
        data: Any,
        item: Any,
        icon: int | None,
        active_data: Any,
        active_property: str | None,
        index: int | None = 0,
        flt_flag: int | None = 0,
    ) -> None:
        layout.prop(item, "value", text=item.name.replace("_", " "), slider=True)


class FURROW_PT_head(_SidebarPanel):
    bl_label = "Head"
    bl_idname = "FURROW_PT_head"
    bl_parent_id = "FURROW_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_head(self.layout, context)


def draw_head(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    col = layout.column(align=True)
    col.label(text="Add Head")
    for source, label in (("DEFAULT", "Default"), ("FLAME", "FLAME"), ("FACESCAPE", "FaceScape")):
        problem = source_problem(context, source)
        row = col.row(align=True)
        row.enabled = not problem
        op = row.operator("furrow.add_head", text=label, icon="USER" if source == "DEFAULT" else "IMPORT")
        op.source = source
        if problem:
            hint = col.row()
            hint.enabled = False
            hint.label(text=problem, icon="INFO")
    col.operator("furrow.head_from_photo", text="From Photo...", icon="IMAGE_DATA")

    obj = context.active_object
    settings = head_settings(obj)
    if settings is None or obj is None:
        layout.label(text="Select a Furrow head to shape it", icon="INFO")
        return
    box = layout.box()
    box.label(text=f"Identity: {obj.name}", icon="SHAPEKEY_DATA")
    if settings.identity_error:
        warn = box.column()
        warn.alert = True
        for line in textwrap.wrap(settings.identity_error, 40):
            warn.label(text=line)
    row = box.row(align=True)
    row.operator("furrow.random_identity", icon="FILE_REFRESH")
    row.operator("furrow.reset_identity", icon="LOOP_BACK")
    box.template_list("FURROW_UL_identity", "", settings, "identity", settings, "identity_index", rows=8)
    layout.operator("furrow.export_head", icon="EXPORT")


class FURROW_PT_animate(_SidebarPanel):
    bl_label = "Animate"
    bl_idname = "FURROW_PT_animate"
    bl_parent_id = "FURROW_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_animate(self.layout, context)


def draw_animate(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    from .scene.animation import find_head, scene_fps

    col = layout.column(align=True)
    col.enabled = find_head(context) is not None
    col.operator("furrow.animate_from_audio", text="Animate from Audio...", icon="SPEAKER")
    col.operator("furrow.import_livelink", text="Import Live Link Face CSV...", icon="IMPORT")
    col.operator("furrow.export_curves", text="Export ARKit Curves...", icon="EXPORT")
    if not col.enabled:
        layout.label(text="Select a head with ARKit shape keys", icon="INFO")
    elif context.scene is not None:
        layout.label(text=f"Keys at the scene's {scene_fps(context.scene):g} fps", icon="TIME")


class FURROW_PT_details(_SidebarPanel):
    bl_label = "Details"
    bl_idname = "FURROW_PT_details"
    bl_parent_id = "FURROW_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_details(self.layout, context)


def draw_details(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    from .operators.details import furrow_head
    from .scene.animation import animation_sources

    obj = furrow_head(context)
    settings = head_settings(obj)
    if obj is None or settings is None:
        layout.label(text="Select a Furrow head to bake its details", icon="INFO")
        return
    details = settings.details
    col = layout.column(align=True)
    col.label(text="Skin", icon="MOD_DISPLACE")
    for name in ("age", "pore_size", "pore_depth", "roughness", "wrinkle_depth", "seed"):
        col.prop(details, name)
    col = layout.column(align=True)
    col.prop(details, "resolution")
    col.prop(details, "bake_name")
    col = layout.column(align=True)
    op = col.operator("furrow.bake_details", text="Bake Details", icon="RENDER_ANIMATION")
    op.resolution, op.bake_name, op.static = details.resolution, details.bake_name, False
    op = col.operator("furrow.bake_details", text="Bake Still Pose", icon="IMAGE_DATA")
    op.resolution, op.bake_name, op.static = details.resolution, details.bake_name, True
    if not animation_sources(obj):
        layout.label(text="No shape-key animation yet:", icon="INFO")
        layout.label(text="animate the head, or bake its still pose")
    if details.last_frames:
        box = layout.box()
        what = (
            "still pose"
            if details.last_static
            else f"{details.last_frames} frames from {details.last_frame_start}"
        )
        box.label(text=f"Last bake: {what}, {details.last_resolution} px", icon="CHECKMARK")
        box.label(text=details.last_folder, icon="FILE_FOLDER")


class FURROW_PT_render(_SidebarPanel):
    bl_label = "Render"
    bl_idname = "FURROW_PT_render"
    bl_parent_id = "FURROW_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_render(self.layout, context)


def draw_render(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    from .scene.animation import scene_fps
    from .scene.render import render_problem

    problem = render_problem(context)
    col = layout.column(align=True)
    col.enabled = not problem and jobs.manager.local is None
    col.operator("furrow.render_clip", text="Render Clip...", icon="RENDER_ANIMATION")
    scene = context.scene
    if problem:
        layout.label(text=problem, icon="INFO")
    elif scene is not None:
        seconds = (scene.frame_end - scene.frame_start + 1) / scene_fps(scene)
        camera = scene.camera.name if scene.camera is not None else "a portrait camera"
        layout.label(text=f"Frames {scene.frame_start}-{scene.frame_end} ({seconds:.1f} s)", icon="TIME")
        layout.label(text=f"Through {camera}", icon="CAMERA_DATA")


class FURROW_PT_backend(_SidebarPanel):
    bl_label = "Backend"
    bl_idname = "FURROW_PT_backend"
    bl_parent_id = "FURROW_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_backend(self.layout, context)


def draw_backend(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    summary = session(context).backend_summary
    layout.label(text=summary or "Not checked in this session", icon="INFO")
    layout.operator("furrow.check_backend", icon="CHECKMARK")


CLASSES = (
    FURROW_UL_identity,
    FURROW_PT_main,
    FURROW_PT_head,
    FURROW_PT_animate,
    FURROW_PT_details,
    FURROW_PT_render,
    FURROW_PT_backend,
)
