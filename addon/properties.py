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


def session(context: bpy.types.Context) -> FurrowSession:
    wm = context.window_manager
    assert wm is not None
    group: FurrowSession = wm.furrow  # type: ignore[attr-defined]
    return group


def attach() -> None:
    # The stubs type PointerProperty() as None; Blender returns a deferred property.
    prop = PointerProperty(type=FurrowSession)  # type: ignore[func-returns-value]
    bpy.types.WindowManager.furrow = prop  # type: ignore[attr-defined]


def detach() -> None:
    del bpy.types.WindowManager.furrow  # type: ignore[attr-defined]


CLASSES = (FurrowSession,)
