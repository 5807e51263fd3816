"""A detail bake wired into its head: the bake's frames as one image (a sequence, or a still),
read by the Displace modifier (the mesh moves) and by the skin material's Displacement node (bump
adds what the subdivided mesh cannot resolve, in Cycles).

One head has one image, one texture and one pair of nodes, found again on every re-bake and
pointed at the new frames, so re-baking never piles up data-blocks. Everything that can fail
(the folder, the frames, the numbers) is checked before the scene is touched: a bad bake wires
nothing rather than half a stack.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import bpy

from . import materials, modifiers

TAG = "furrow_bake"  # custom property on the image and texture Furrow made for a head's bakes
IMAGE_NODE = "Furrow Details"
DISPLACEMENT_NODE = "Furrow Displacement"
ROOT_FOLDER = "furrow"  # //furrow/<object>/<bake>/ next to the .blend
_unsaved_root: Optional[str] = None


@dataclass(frozen=True)
class Bake:
    """What a finished bake holds (from its bake.json), checked against the files."""

    folder: Path
    first: Path  # the file of the first frame
    frame_start: int
    frame_count: int
    resolution: int
    scale_mm: float
    static: bool
    model: str


def safe_name(name: str, fallback: str = "details") -> str:
    """``name`` as one folder name on every system (no separators, no characters Windows refuses)."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name).strip().strip(".").strip()
    return cleaned or fallback


def bake_folder(obj_name: str, bake_name: str) -> tuple[Path, bool]:
    """(absolute bake folder, whether it is temporary because the .blend is unsaved).

    Saved: ``//furrow/<object>/<bake>/`` next to the .blend. Unsaved: the same layout inside one
    temporary folder per Blender session, so re-baking in a session still replaces its own bake."""
    global _unsaved_root
    parts = (ROOT_FOLDER, safe_name(obj_name, "head"), safe_name(bake_name))
    if bpy.data.is_saved:
        return Path(bpy.path.abspath("//" + "/".join(parts))), False
    if _unsaved_root is None or not os.path.isdir(_unsaved_root):
        _unsaved_root = tempfile.mkdtemp(prefix="furrow-unsaved-")
    return Path(_unsaved_root).joinpath(*parts), True


def folder_problem(folder: Path) -> str:
    """Why a bake cannot be written into ``folder`` ('' if it can, as far as can be told before
    baking): the nearest existing folder above it must be a folder this user can write into."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder, so the bake folder {folder} cannot be made"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"Cannot write into {probe}: save the .blend in a folder you can write to"
    return ""


def _frame_file(folder: Path, pattern: str, number: int) -> Path:
    """``disp_#####.png`` with ``number`` in place of the #-run (Blender counts sequences from 1)."""
    match = re.search(r"#+", pattern)
    if match is None:
        raise ValueError(f"the bake's file pattern {pattern!r} has no frame number")
    digits = f"{number:0{len(match.group())}d}"
    return folder / (pattern[: match.start()] + digits + pattern[match.end() :])


def read_bake(folder: Path, data: dict[str, Any]) -> Bake:
    """The bake the job reported (its bake.json data), after checking the frames are on disk.
    Raises ValueError with a one-line message."""
    try:
        count, start = int(data["frame_count"]), int(data["frame_start"])
        resolution, scale = int(data["resolution"]), float(data["scale_mm"])
        pattern, static = str(data.get("pattern", "disp_#####.png")), bool(data.get("static", False))
        model = data.get("model") or {}
        model_name = str(model.get("name", "")) if isinstance(model, dict) else str(model)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the bake in {folder} has no usable bake.json ({exc})") from None
    if count < 1 or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"the bake in {folder} holds no frames")
    if not (folder / "bake.json").is_file():
        raise ValueError(f"the bake folder {folder} has no bake.json")
    first, last = _frame_file(folder, pattern, 1), _frame_file(folder, pattern, count)
    for path in (first, last):
        if not path.is_file():
            raise ValueError(f"the bake in {folder} is incomplete: {path.name} is missing")
    return Bake(folder, first, start, count, resolution, scale, static, model_name)


def blend_path(path: Path) -> str:
    """``//``-relative when the .blend is saved and the file is on its drive, else absolute."""
    if bpy.data.is_saved:
        try:
            return str(bpy.path.relpath(str(path)))
        except ValueError:  # another drive (Windows)
            pass
    return str(path)


def _tagged(data: Any) -> bool:
    return data is not None and bool(data.get(TAG, False))


def _image(obj: bpy.types.Object, displace: Any, node: Any, bake: Bake) -> Any:
    """The head's bake image (re-used across bakes), pointed at ``bake``'s frames and reloaded."""
    image: Any = None
    for holder in (displace.texture, node):
        candidate = getattr(holder, "image", None) if holder is not None else None
        if _tagged(candidate):
            image = candidate
            break
    if image is None:
        image = bpy.data.images.load(str(bake.first), check_existing=False)
        image[TAG] = True
    image.name = f"{obj.name} Details"
    image.source = "FILE" if bake.static else "SEQUENCE"
    image.filepath = blend_path(bake.first)
    image.colorspace_settings.name = "Non-Color"
    image.reload()  # a re-bake wrote new pixels under the same names
    return image


def _set_user(user: Any, bake: Bake) -> None:
    """Scene frame F shows frame F - frame_start + 1 of the bake (Blender: file number =
    F - frame_start + 1 + offset, clamped to the duration). Auto refresh is what makes the
    viewport follow the frame for the material; renders compute the frame in any case."""
    user.frame_start = bake.frame_start
    user.frame_duration = bake.frame_count
    user.frame_offset = 0
    user.use_cyclic = False
    user.use_auto_refresh = not bake.static


def _texture(obj: bpy.types.Object, displace: Any) -> Any:
    texture = displace.texture
    if not (_tagged(texture) and texture.type == "IMAGE"):
        texture = bpy.data.textures.new(f"{obj.name} Details", "IMAGE")
        texture[TAG] = True
    return texture


def _wire_material(material: bpy.types.Material, image: Any, bake: Bake) -> None:
    tree = material.node_tree
    assert tree is not None
    nodes, links = tree.nodes, tree.links
    outputs: list[Any] = [n for n in nodes if n.type == "OUTPUT_MATERIAL"]
    output = next((n for n in outputs if n.is_active_output), outputs[0])
    tex: Any = nodes.get(IMAGE_NODE)
    if tex is None or tex.type != "TEX_IMAGE":
        tex = nodes.new("ShaderNodeTexImage")
        tex.name = tex.label = IMAGE_NODE
        tex.location = (output.location.x - 560, output.location.y - 320)
    disp: Any = nodes.get(DISPLACEMENT_NODE)
    if disp is None or disp.type != "DISPLACEMENT":
        disp = nodes.new("ShaderNodeDisplacement")
        disp.name = disp.label = DISPLACEMENT_NODE
        disp.location = (output.location.x - 240, output.location.y - 320)
    tex.image = image
    tex.interpolation = "Cubic"
    tex.extension = "EXTEND"
    _set_user(tex.image_user, bake)
    disp.space = "OBJECT"
    disp.inputs["Midlevel"].default_value = 0.5
    disp.inputs["Scale"].default_value = bake.scale_mm / 1000.0
    links.new(tex.outputs["Color"], disp.inputs["Height"])
    links.new(disp.outputs["Displacement"], output.inputs["Displacement"])
    # The modifier moves the mesh; bump adds the detail finer than the subdivided mesh.
    target: Any = material if hasattr(material, "displacement_method") else getattr(material, "cycles", None)
    if target is not None:
        target.displacement_method = "BUMP"


def skin_material(obj: bpy.types.Object) -> Optional[bpy.types.Material]:
    """The head's skin material: the one Furrow made with an albedo node, else the first slot's."""
    found = [s.material for s in obj.material_slots if s.material is not None and s.material.node_tree]
    for mat in found:
        assert mat.node_tree is not None
        if mat.node_tree.nodes.get(materials.ALBEDO_NODE) is not None:
            return mat
    return found[0] if found else None


def wire(obj: bpy.types.Object, bake: Bake, uv_name: str) -> bool:
    """Point the head's Displace modifier and skin material at ``bake``. Returns False when the
    head has no node-based material to carry the bump (the modifier is wired all the same)."""
    _subdiv, displace = modifiers.detail_stack(obj, uv_name)
    material = skin_material(obj)
    node = material.node_tree.nodes.get(IMAGE_NODE) if material and material.node_tree else None
    image = _image(obj, displace, node, bake)
    texture = _texture(obj, displace)
    texture.image = image
    texture.extension = "EXTEND"
    _set_user(texture.image_user, bake)
    displace.texture = texture
    displace.texture_coords = "UV"
    if not displace.uv_layer:
        displace.uv_layer = uv_name
    displace.mid_level = 0.5
    displace.strength = bake.scale_mm / 1000.0
    if material is not None:
        _wire_material(material, image, bake)
    return material is not None
