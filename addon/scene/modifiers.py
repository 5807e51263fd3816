"""The head's modifier stack: Subdivision -> Displace, prepared for detail bakes.

The Displace modifier reads the skin's UV map, is limited to the "skin" vertex
group, and has no texture and zero strength until a bake gives it an image
sequence and its millimetre scale.
"""

from __future__ import annotations

import bpy

SUBDIVISION = "Furrow Subdivision"
DISPLACE = "Furrow Displace"


def _add_subdivision(obj: bpy.types.Object) -> bpy.types.SubsurfModifier:
    subdiv = obj.modifiers.new(SUBDIVISION, "SUBSURF")
    assert isinstance(subdiv, bpy.types.SubsurfModifier)
    subdiv.levels = 1
    subdiv.render_levels = 2
    subdiv.uv_smooth = "PRESERVE_BOUNDARIES"
    return subdiv


def _add_displace(obj: bpy.types.Object, uv_name: str) -> bpy.types.DisplaceModifier:
    displace = obj.modifiers.new(DISPLACE, "DISPLACE")
    assert isinstance(displace, bpy.types.DisplaceModifier)
    displace.texture_coords = "UV"
    displace.uv_layer = uv_name
    displace.vertex_group = "skin"
    displace.mid_level = 0.5
    displace.strength = 0.0  # set from the bake's mm scale once a bake exists
    displace.direction = "NORMAL"
    return displace


def add_detail_stack(obj: bpy.types.Object, uv_name: str) -> None:
    _add_subdivision(obj)
    _add_displace(obj, uv_name)


def detail_stack(
    obj: bpy.types.Object, uv_name: str
) -> tuple[bpy.types.SubsurfModifier, bpy.types.DisplaceModifier]:
    """The head's Subdivision and Displace, each made again if an artist deleted it, with Displace
    right after Subdivision (displacement needs the subdivided surface to show fine lines)."""
    subdiv = next((m for m in obj.modifiers if m.name == SUBDIVISION and m.type == "SUBSURF"), None)
    displace = next((m for m in obj.modifiers if m.name == DISPLACE and m.type == "DISPLACE"), None)
    if subdiv is None:
        subdiv = _add_subdivision(obj)
        obj.modifiers.move(len(obj.modifiers) - 1, 0)
    if displace is None:
        displace = _add_displace(obj, uv_name)
    names = [m.name for m in obj.modifiers]
    at, after = names.index(DISPLACE), names.index(SUBDIVISION)
    if at < after:
        obj.modifiers.move(at, after)
    assert isinstance(subdiv, bpy.types.SubsurfModifier) and isinstance(displace, bpy.types.DisplaceModifier)
    return subdiv, displace
