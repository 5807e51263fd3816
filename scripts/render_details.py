#!/usr/bin/env python3
"""Render the default head with detail maps (Cycles): neutral, brow raise, smile, frown.

Each pose's map is baked (furrow.details.bake: the trained Detailed3DMM by default, or
--source procedural for the corpus it learned from) as a 16-bit displacement PNG, fed to the
head's Displace modifier (strength from the mm scale) and to the skin material's Displacement
node as bump, then rendered.
    .venv/bin/python scripts/render_details.py [--out tests/artifacts/details_render.png] [--age 65]
                                               [--source model|procedural]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _pose_sheet import ROOT, render_poses, staged_head

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
    parser.add_argument("--source", choices=["model", "procedural"], default="model")
    args = parser.parse_args()

    bpy, head, _addon = staged_head("details", args.res, args.samples, zoom=args.zoom)
    from furrow.details import DEFAULT_SCALE_MM, DetailIdentity
    from furrow.details.bake import ProceduralSource, bake
    from furrow.details.detailed3dmm import Detailed3DMMSource
    from furrow.details.procedural import arkit_weights
    from furrow.heads.default import load_default_head

    tmp = Path(tempfile.mkdtemp(prefix="furrow-details-frames-")) / "bake"
    weights = arkit_weights([pose for _, pose in POSES])
    source = Detailed3DMMSource() if args.source == "model" else ProceduralSource(load_default_head())
    person = DetailIdentity(age=args.age, seed=4)
    info = bake(source, person, weights, tmp, resolution=args.map_res)
    paths = [info.frame_path(tmp, i) for i in range(len(POSES))]

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

    def show_map(i: int) -> None:
        image = bpy.data.images.load(str(paths[i]), check_existing=False)
        image.colorspace_settings.name = "Non-Color"
        texture.image = image
        image_node.image = image

    render_poses(bpy, head, POSES, args.out, before=show_map)
    return 0


if __name__ == "__main__":
    sys.exit(main())
