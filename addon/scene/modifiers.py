"""The head's modifier stack: Subdivision -> Displace, prepared for detail bakes.

The Displace modifier reads the skin's UV map, is limited to the "skin" vertex
group, and has no texture and zero strength until a bake gives it an image
sequence and its millimetre scale.
"""

from __future__ import annotations

import bpy

SUBDIVISION = "Furrow Subdivision"
DISPLACE = "Furrow Displace"


def add_detail_stack(obj: bpy.types.Object, uv_name: str) -> None:
    subdiv = obj.modifiers.new(SUBDIVISION, "SUBSURF")
    assert isinstance(subdiv, bpy.types.SubsurfModifier)
    subdiv.levels = 1
    subdiv.render_levels = 2
    subdiv.uv_smooth = "PRESERVE_BOUNDARIES"
    displace = obj.modifiers.new(DISPLACE, "DISPLACE")
    assert isinstance(displace, bpy.types.DisplaceModifier)
    displace.texture_coords = "UV"
    displace.uv_layer = uv_name
    displace.vertex_group = "skin"
    displace.mid_level = 0.5
    displace.strength = 0.0  # set from the bake's mm scale once a bake exists
    displace.direction = "NORMAL"
