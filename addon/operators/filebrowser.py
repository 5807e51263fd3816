"""Opening Blender's file browser for an operator with a ``filepath`` property."""

from __future__ import annotations

import os
from typing import Any

import bpy

from ..jobs import OpResult


def open_browser(op: Any, context: bpy.types.Context, default_name: str = "") -> OpResult:
    """Show the browser (next to the .blend, else the working folder); the operator's
    execute runs when the artist confirms. Returns the operator result for invoke."""
    if default_name and not op.filepath:
        op.filepath = os.path.join(os.path.dirname(bpy.data.filepath) or os.getcwd(), default_name)
    wm = context.window_manager
    assert wm is not None
    wm.fileselect_add(op)
    return {"RUNNING_MODAL"}
