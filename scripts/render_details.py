#!/usr/bin/env python3
"""Render the default head with procedural detail maps (Cycles): neutral, brow raise, smile, frown.

A look at the corpus on the real surface, before DNPM exists: each pose's map is written as a
16-bit displacement PNG (furrow.details.png convention), fed to the head's Displace modifier
(strength from the mm scale) and to the skin material's Displacement node as bump, then rendered.
    .venv/bin/python scripts/render_details.py [--out tests/artifacts/details_render.png] [--age 65]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSES: list[tuple[str, dict[str, float]]] = [
    ("neutral", {}),
    ("brow raise", {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}),
    (
        "smile",
        {
            "mouthSmileLeft": 1.0,
            "mouthSmileRight": 1.0,
            "cheekSquintLeft": 0.7,
            "cheekSquintRight": 0.7,
            "eyeSquintLeft": 0.6,
            "eyeSquintRight": 0.6,
        },
    ),
    ("frown", {"browDownLeft": 1.0, "browDownRight": 1.0, "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "artifacts" / "details_render.png")
    parser.add_argument("--res", type=int, default=384)
    parser.add_argument("--map-res", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--age", type=float, default=65.0)
    parser.add_argument("--zoom", type=float, default=1.6)
    args = parser.parse_args()

    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="furrow-details-")
    import bpy  # first: it puts Blender's own modules (addon_utils) on sys.path
    from PIL import Image

    addon_utils = importlib.import_module("addon_utils")

    from furrow.details import DEFAULT_SCALE_MM, DetailIdentity, ProceduralDetails, save_displacement_png
    from furrow.heads.default import load_default_head

    tmp = Path(tempfile.mkdtemp(prefix="furrow-details-frames-"))
    det = ProceduralDetails(load_default_head(), args.map_res, variants=1)
    person = DetailIdentity(age=args.age, seed=4)
    maps = det.maps([person] * len(POSES), [w for _, w in POSES]).numpy()
    paths = [save_displacement_png(tmp / f"disp_{i + 1:05d}.png", h) for i, h in enumerate(maps)]

    repo = Path(tempfile.mkdtemp(prefix="furrow-details-repo-"))
    (repo / "furrow").symlink_to(ROOT, target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(
        name="details", module="details", custom_directory=str(repo), source="USER"
    )
    addon_utils.enable("bl_ext.details.furrow", default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.furrow.add_head(source="DEFAULT")
    head = bpy.context.active_object
    stage = importlib.import_module("bl_ext.details.furrow.addon.scene.stage")
    stage.stage_head(bpy.context, head, zoom=args.zoom)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = args.samples
    scene.cycles.use_denoising = True
    scene.render.resolution_x = scene.render.resolution_y = args.res
    keys = head.data.shape_keys.key_blocks

    displace = next(m for m in head.modifiers if m.type == "DISPLACE")
    subdiv = next(m for m in head.modifiers if m.type == "SUBSURF")
    subdiv.render_levels = 2
    texture = bpy.data.textures.new("Furrow Details", "IMAGE")
    texture.extension = "EXTEND"
    displace.texture = texture
    displace.strength = DEFAULT_SCALE_MM / 1000.0
    skin = next(m for m in head.data.materials if m and "skin" in m.name.lower())
    nodes, links = skin.node_tree.nodes, skin.node_tree.links
    image_node = nodes.new("ShaderNodeTexImage")
    image_node.interpolation = "Cubic"
    disp_node = nodes.new("ShaderNodeDisplacement")
    disp_node.inputs["Midlevel"].default_value = 0.5
    disp_node.inputs["Scale"].default_value = DEFAULT_SCALE_MM / 1000.0
    links.new(image_node.outputs["Color"], disp_node.inputs["Height"])
    output = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
    links.new(disp_node.outputs["Displacement"], output.inputs["Displacement"])
    skin.displacement_method = "BUMP"  # the modifier moves the mesh; bump adds what it cannot resolve

    tiles = []
    for (label, weights), path in zip(POSES, paths, strict=True):
        image = bpy.data.images.load(str(path), check_existing=False)
        image.colorspace_settings.name = "Non-Color"
        texture.image = image
        image_node.image = image
        for key in keys[1:]:
            key.value = weights.get(key.name, 0.0)
        scene.render.filepath = str(tmp / f"{label}.png")
        started = time.monotonic()
        bpy.ops.render.render(write_still=True)
        print(f"{label}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        tiles.append(Image.open(scene.render.filepath).convert("RGB"))
    sheet = Image.new("RGB", (args.res * len(tiles), args.res))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * args.res, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
