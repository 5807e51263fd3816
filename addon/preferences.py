"""Add-on preferences: model files, compute device, cache folder, worker threads."""

from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import deps


def addon_id() -> str:
    return __package__.rpartition(".")[0] if __package__ else "furrow"


class FurrowPreferences(bpy.types.AddonPreferences):
    bl_idname = addon_id()

    flame_model: StringProperty(  # type: ignore[valid-type]
        name="FLAME model",
        description="FLAME generic_model.pkl (2020) or a FLAME 2023 pickle, from flame.is.tue.mpg.de; "
        "Furrow cannot ship it",
        subtype="FILE_PATH",
    )
    facescape_model: StringProperty(  # type: ignore[valid-type]
        name="FaceScape model",
        description="The FaceScape bilinear model .npz, from facescape.nju.edu.cn; Furrow cannot ship it",
        subtype="FILE_PATH",
    )
    device: EnumProperty(  # type: ignore[valid-type]
        name="Device",
        description="Where the backend computes; an unavailable choice falls back to the CPU with a warning",
        items=[
            ("AUTO", "Automatic", "The fastest device present: CUDA, then Apple MPS, then CPU"),
            ("CPU", "CPU", "Always compute on the CPU"),
            ("CUDA", "CUDA", "An NVIDIA GPU"),
            ("MPS", "Apple GPU", "Metal Performance Shaders on Apple silicon"),
        ],
        default="AUTO",
    )
    cache_dir: StringProperty(  # type: ignore[valid-type]
        name="Cache folder",
        description="Where the backend keeps built heads, job folders and its log; "
        "empty: the extension's own user folder",
        subtype="DIR_PATH",
    )
    worker_threads: IntProperty(  # type: ignore[valid-type]
        name="Worker threads",
        description="CPU threads the backend may use; 0: all cores but one, so Blender stays responsive",
        default=0,
        min=0,
        max=256,
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        problem = deps.problem()
        if problem:
            layout.label(text=problem, icon="ERROR")
        col = layout.column(heading="Models")
        col.prop(self, "flame_model")
        col.prop(self, "facescape_model")
        col = layout.column(heading="Backend")
        col.prop(self, "device")
        col.prop(self, "worker_threads")
        col.prop(self, "cache_dir")
        layout.operator("furrow.check_backend", icon="CHECKMARK")


def get(context: bpy.types.Context) -> FurrowPreferences:
    assert context.preferences is not None
    prefs = context.preferences.addons[addon_id()].preferences
    assert isinstance(prefs, FurrowPreferences)
    return prefs


def thread_count(prefs: FurrowPreferences) -> int:
    return prefs.worker_threads or max(1, (os.cpu_count() or 2) - 1)


def cache_dir(prefs: FurrowPreferences) -> str:
    if prefs.cache_dir:
        return bpy.path.abspath(prefs.cache_dir)
    return bpy.utils.extension_path_user(addon_id(), path="cache", create=True)


CLASSES = (FurrowPreferences,)
