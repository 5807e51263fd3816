"""The "Furrow" tab in the 3D viewport sidebar, read top to bottom as the workflow."""

from __future__ import annotations

import textwrap

import bpy

from . import deps, jobs
from .properties import session


class FURROW_PT_main(bpy.types.Panel):
    bl_label = "Furrow"
    bl_idname = "FURROW_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Furrow"

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


class FURROW_PT_backend(bpy.types.Panel):
    bl_label = "Backend"
    bl_idname = "FURROW_PT_backend"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Furrow"
    bl_parent_id = "FURROW_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        assert self.layout is not None
        draw_backend(self.layout, context)


def draw_backend(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    summary = session(context).backend_summary
    layout.label(text=summary or "Not checked in this session", icon="INFO")
    layout.operator("furrow.check_backend", icon="CHECKMARK")


CLASSES = (FURROW_PT_main, FURROW_PT_backend)
