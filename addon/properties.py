"""Data the add-on keeps in Blender: per-session backend facts on the window manager."""

from __future__ import annotations

import bpy
from bpy.props import PointerProperty, StringProperty


class FurrowSession(bpy.types.PropertyGroup):
    """Not saved with the .blend: what this Blender session learned about the backend."""

    backend_summary: StringProperty(  # type: ignore[valid-type]
        name="Backend",
        description="What the last backend check found",
        default="",
    )


def attach() -> None:
    bpy.types.WindowManager.furrow = PointerProperty(type=FurrowSession)  # type: ignore[attr-defined]


def detach() -> None:
    del bpy.types.WindowManager.furrow  # type: ignore[attr-defined]


CLASSES = (FurrowSession,)
