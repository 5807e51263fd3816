"""Materials for a head's parts that read plausibly in Cycles and EEVEE.

Skin: Principled BSDF with subsurface scattering scaled for a real-sized head,
and an "Albedo" image node kept ready (unlinked) for the photo workflow. Eyes:
a procedural iris/pupil drawn around each eye's UV centre (from the head's
meta), under a clear coat for the cornea.
"""

from __future__ import annotations

from typing import Any

import bpy

ALBEDO_NODE = "Albedo"

# (base colour, roughness, subsurface weight) per part; colours are linear RGB.
_PLAIN: dict[str, tuple[tuple[float, float, float], float, float]] = {
    "teeth_upper": ((0.80, 0.76, 0.66), 0.25, 0.3),
    "teeth_lower": ((0.80, 0.76, 0.66), 0.25, 0.3),
    "tongue": ((0.55, 0.16, 0.15), 0.45, 0.6),
    "eyelashes": ((0.015, 0.011, 0.008), 0.6, 0.0),
}
SKIN_COLOUR = (0.62, 0.40, 0.31)


def _principled(mat: bpy.types.Material) -> Any:
    if mat.node_tree is None:  # Blender < 5 makes materials without nodes
        mat.use_nodes = True
    assert mat.node_tree is not None
    node = mat.node_tree.nodes.get("Principled BSDF")
    assert node is not None
    return node


def _set(node: Any, name: str, value: Any) -> None:
    """Set an input that exists in this Blender version (names changed across 4.x)."""
    socket = node.inputs.get(name)
    if socket is not None:
        socket.default_value = value


def skin(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    _set(bsdf, "Base Color", (*SKIN_COLOUR, 1.0))
    _set(bsdf, "Roughness", 0.48)
    _set(bsdf, "Subsurface Weight", 0.25)
    _set(bsdf, "Subsurface Radius", (1.0, 0.35, 0.18))
    _set(bsdf, "Subsurface Scale", 0.004)  # metres: a few mm of light transport in skin
    _set(bsdf, "Specular IOR Level", 0.45)
    assert mat.node_tree is not None
    albedo: Any = mat.node_tree.nodes.new("ShaderNodeTexImage")
    albedo.name = albedo.label = ALBEDO_NODE
    albedo.location = (bsdf.location.x - 400, bsdf.location.y)
    mat.diffuse_color = (*SKIN_COLOUR, 1.0)  # viewport solid colour
    return mat


def eyes(name: str, meta: dict[str, Any]) -> bpy.types.Material:
    """Sclera, iris and pupil by distance from each eye's UV centre (ramp 1.0 = the iris edge)."""
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    _set(bsdf, "Roughness", 0.25)
    _set(bsdf, "Coat Weight", 1.0)
    _set(bsdf, "Coat Roughness", 0.02)
    mat.diffuse_color = (0.9, 0.9, 0.9, 1.0)
    # meta["eye_uv"]: each eye's UV disc (centre, radius) and the iris edge as a fraction of it.
    eye_uv = meta.get("eye_uv") or {}
    discs = [eye_uv[k] for k in ("eye_l", "eye_r") if k in eye_uv]
    centres = [d["center"] for d in discs]
    radius = float(discs[0]["radius"]) * float(eye_uv.get("iris_uv_fraction", 0.0)) if discs else 0.0
    assert mat.node_tree is not None
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    if len(centres) < 1 or radius <= 0:
        _set(bsdf, "Base Color", (0.85, 0.85, 0.82, 1.0))
        return mat
    uv: Any = nodes.new("ShaderNodeUVMap")
    nearest: Any = None
    for i, centre in enumerate(centres):
        dist: Any = nodes.new("ShaderNodeVectorMath")
        dist.operation = "DISTANCE"
        dist.inputs[1].default_value = (float(centre[0]), float(centre[1]), 0.0)
        dist.location = (-900, 200 - 150 * i)
        links.new(uv.outputs["UV"], dist.inputs[0])
        if nearest is None:
            nearest = dist.outputs["Value"]
        else:
            both: Any = nodes.new("ShaderNodeMath")
            both.operation = "MINIMUM"
            links.new(nearest, both.inputs[0])
            links.new(dist.outputs["Value"], both.inputs[1])
            nearest = both.outputs["Value"]
    scaled: Any = nodes.new("ShaderNodeMath")
    scaled.operation = "DIVIDE"
    scaled.inputs[1].default_value = radius
    links.new(nearest, scaled.inputs[0])
    ramp: Any = nodes.new("ShaderNodeValToRGB")
    ramp.location = (-400, 0)
    elements = ramp.color_ramp.elements
    elements[0].position, elements[0].color = 0.0, (0.005, 0.004, 0.004, 1.0)  # pupil
    elements[1].position, elements[1].color = 1.08, (0.80, 0.78, 0.74, 1.0)  # sclera
    for pos, colour in (
        (0.38, (0.006, 0.005, 0.005, 1.0)),  # pupil edge
        (0.42, (0.16, 0.09, 0.04, 1.0)),  # iris, hazel-brown
        (0.85, (0.09, 0.05, 0.02, 1.0)),
        (1.0, (0.03, 0.02, 0.01, 1.0)),  # dark limbal ring
    ):
        e = elements.new(pos)
        e.color = colour
    links.new(scaled.outputs["Value"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def plain(name: str, part: str) -> bpy.types.Material:
    colour, roughness, subsurface = _PLAIN[part]
    mat = bpy.data.materials.new(name)
    bsdf = _principled(mat)
    _set(bsdf, "Base Color", (*colour, 1.0))
    _set(bsdf, "Roughness", roughness)
    _set(bsdf, "Subsurface Weight", subsurface)
    _set(bsdf, "Subsurface Scale", 0.002)
    mat.diffuse_color = (*colour, 1.0)
    return mat


def for_part(obj_name: str, part: str, meta: dict[str, Any]) -> bpy.types.Material:
    label = part.replace("_", " ").title()
    if part == "skin":
        return skin(f"{obj_name} Skin")
    if part == "eyes":
        return eyes(f"{obj_name} Eyes", meta)
    return plain(f"{obj_name} {label}", part)
