"""Data the add-on keeps in Blender.

WindowManager.furrow: per-session facts (not saved). Object.furrow: what makes
an object a Furrow head: where its head model came from, its identity
sliders, and its detail settings (the skin's own identity, the bake's size and
name, what the last bake holds). Each slider remembers the value the geometry reflects ("applied"), so
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


DETAIL_RESOLUTIONS = [
    ("256", "256 px", "Fast drafts: coarse pores, the main wrinkles"),
    ("512", "512 px", "Wrinkles and folds; pores at a distance (about 1-2 s per 100 frames)"),
    ("1024", "1024 px", "Close-ups: pores and fine lines (about 4x the time and disk of 512)"),
    ("2048", "2048 px", "Extreme close-ups (about 16x the time and disk of 512)"),
]


class FurrowDetails(bpy.types.PropertyGroup):
    """The head's fine detail: whose skin it is (the bake's identity), how a bake is made, and what
    the last bake holds (shown in the panel; the wiring itself lives on the modifier and material)."""

    age: FloatProperty(  # type: ignore[valid-type]
        name="Age",
        description="Age in years: static folds and expression wrinkles deepen and set in with it",
        default=35.0,
        min=0.0,
        max=120.0,
        soft_min=15.0,
        soft_max=90.0,
        precision=0,
    )
    pore_size: FloatProperty(  # type: ignore[valid-type]
        name="Pore Size",
        description="Pore radius as a multiple of the typical size for each face region",
        default=1.0,
        min=0.0,
        max=4.0,
        soft_max=2.5,
    )
    pore_depth: FloatProperty(  # type: ignore[valid-type]
        name="Pore Depth",
        description="Pore depth as a multiple of the typical depth for each face region",
        default=1.0,
        min=0.0,
        max=4.0,
        soft_max=2.5,
    )
    roughness: FloatProperty(  # type: ignore[valid-type]
        name="Skin Roughness",
        description="Strength of the fine skin relief between pores (a multiplier; 0 = smooth)",
        default=1.0,
        min=0.0,
        max=4.0,
        soft_max=2.5,
    )
    wrinkle_depth: FloatProperty(  # type: ignore[valid-type]
        name="Wrinkle Depth",
        description="Depth of static folds and expression wrinkles (a multiplier; 0 = none)",
        default=1.0,
        min=0.0,
        max=4.0,
        soft_max=2.5,
    )
    seed: IntProperty(  # type: ignore[valid-type]
        name="Seed",
        description="Picks this person's pores and wrinkle layout; the same seed gives the same skin",
        default=0,
        min=0,
    )
    resolution: EnumProperty(  # type: ignore[valid-type]
        name="Resolution",
        description="Size of each displacement map in pixels: more shows finer detail, costs time and disk",
        items=DETAIL_RESOLUTIONS,
        default="512",
    )
    bake_name: StringProperty(  # type: ignore[valid-type]
        name="Bake Name",
        description="The bake's folder name under //furrow/<object>/ next to the .blend; "
        "baking again under the same name replaces it",
        default="details",
    )
    last_folder: StringProperty(  # type: ignore[valid-type]
        name="Last Bake Folder",
        description="Where the last bake's displacement maps are (relative to the .blend when saved)",
        default="",
    )
    last_frames: IntProperty(  # type: ignore[valid-type]
        name="Last Bake Frames",
        description="How many frames the last bake holds (1 for a still pose)",
        default=0,
    )
    last_frame_start: IntProperty(  # type: ignore[valid-type]
        name="Last Bake Start", description="The scene frame that shows the last bake's first map", default=1
    )
    last_resolution: IntProperty(  # type: ignore[valid-type]
        name="Last Bake Resolution", description="Size in pixels of the last bake's maps", default=0
    )
    last_static: BoolProperty(  # type: ignore[valid-type]
        name="Last Bake Is Still",
        description="The last bake is one still pose, not an animation",
        default=False,
    )
    last_model: StringProperty(  # type: ignore[valid-type]
        name="Last Bake Model", description="Which detail model made the last bake", default=""
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
    details: PointerProperty(  # type: ignore[valid-type]
        type=FurrowDetails,
        name="Details",
        description="Fine detail of this head: skin identity, bake settings, the last bake",
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


CLASSES = (FurrowSession, FurrowIdentitySlider, FurrowDetails, FurrowHead)
