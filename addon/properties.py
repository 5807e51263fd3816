"""Data the add-on keeps in Blender.

WindowManager.furrow: per-session facts (not saved). Object.furrow: what makes
an object a Furrow head: where its head model came from and its identity
sliders. Each slider remembers the value the geometry reflects ("applied"), so
undo (which restores both together) never double-applies an identity change.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

HEAD_SOURCES = [
    ("DEFAULT", "Default", "Furrow's own head, built from the CC0 MakeHuman assets"),
    ("FLAME", "FLAME", "A FLAME head from the model file set in the preferences"),
    ("FACESCAPE", "FaceScape", "A FaceScape head from the bilinear model set in the preferences"),
]


class FurrowSession(bpy.types.PropertyGroup):
    """Not saved with the .blend: what this Blender session learned about the backend."""

    backend_summary: StringProperty(  # type: ignore[valid-type]
        name="Backend",
        description="What the last backend check found",
        default="",
    )


def _identity_changed(slider: FurrowIdentitySlider, context: bpy.types.Context) -> None:
    obj = slider.id_data
    if not isinstance(obj, bpy.types.Object) or obj.furrow.suspend_updates:  # type: ignore[attr-defined]
        return
    from .scene import head_mesh

    head_mesh.update_identity(obj)


class FurrowIdentitySlider(bpy.types.PropertyGroup):
    """One signed identity slider (its name is the PropertyGroup's name)."""

    value: FloatProperty(  # type: ignore[valid-type]
        name="Value",
        description="Identity slider: negative and positive values blend two opposite shapes; "
        "Basis and every shape key move together",
        default=0.0,
        min=-1.0,
        max=1.0,
        update=_identity_changed,
    )
    applied: FloatProperty(  # type: ignore[valid-type]
        name="Applied",
        description="The value the mesh currently reflects (internal)",
        default=0.0,
        options={"HIDDEN"},
    )


class FurrowHead(bpy.types.PropertyGroup):
    is_head: BoolProperty(  # type: ignore[valid-type]
        name="Furrow Head", description="This object is a head made by Furrow", default=False
    )
    source: EnumProperty(  # type: ignore[valid-type]
        name="Source", description="Which head model this head was made from", items=HEAD_SOURCES
    )
    source_path: StringProperty(  # type: ignore[valid-type]
        name="Model File", description="The FLAME or FaceScape file it was made from", subtype="FILE_PATH"
    )
    head_file: StringProperty(  # type: ignore[valid-type]
        name="Head File",
        description="Furrow's prepared head model (empty for the default head, which ships with Furrow)",
        subtype="FILE_PATH",
    )
    identity: CollectionProperty(  # type: ignore[valid-type]
        type=FurrowIdentitySlider,
        name="Identity",
        description="The head model's identity sliders (face shape), applied to the Basis shape",
    )
    identity_index: IntProperty(  # type: ignore[valid-type]
        name="Active Slider", default=0, description="The identity slider selected in the list"
    )
    identity_error: StringProperty(  # type: ignore[valid-type]
        name="Identity Problem", description="Why the last identity change could not apply", default=""
    )
    suspend_updates: BoolProperty(  # type: ignore[valid-type]
        name="Suspend Updates",
        description="Set while operators change many sliders at once (internal)",
        default=False,
        options={"HIDDEN", "SKIP_SAVE"},
    )


def session(context: bpy.types.Context) -> FurrowSession:
    wm = context.window_manager
    assert wm is not None
    group: FurrowSession = wm.furrow  # type: ignore[attr-defined]
    return group


def head_settings(obj: bpy.types.Object | None) -> FurrowHead | None:
    """The Furrow settings of ``obj`` if it is a Furrow head."""
    if obj is None or obj.type != "MESH":
        return None
    settings: FurrowHead = obj.furrow  # type: ignore[attr-defined]
    return settings if settings.is_head else None


def attach() -> None:
    # The stubs type PointerProperty() as None; Blender returns a deferred property.
    wm_prop = PointerProperty(type=FurrowSession)  # type: ignore[func-returns-value]
    bpy.types.WindowManager.furrow = wm_prop  # type: ignore[attr-defined]
    obj_prop = PointerProperty(type=FurrowHead)  # type: ignore[func-returns-value]
    bpy.types.Object.furrow = obj_prop  # type: ignore[attr-defined]


def detach() -> None:
    del bpy.types.Object.furrow  # type: ignore[attr-defined]
    del bpy.types.WindowManager.furrow  # type: ignore[attr-defined]


CLASSES = (FurrowSession, FurrowIdentitySlider, FurrowHead)
