#!/usr/bin/env python3
"""Render the default head (neutral, jawOpen, mouthSmile, eyeBlink) with Cycles into one sheet.

Runs the real add-on in bpy: Add Head, the portrait stage, shape keys at 1.0.
    .venv/bin/python scripts/render_head_sheet.py [--out docs/images/default_head.png] [--res 384]
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
POSES: list[tuple[str, dict[str, float]]] = [
    ("neutral", {}),
    ("jawOpen", {"jawOpen": 1.0}),
    (
        "smile",
        {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5},
    ),
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "default_head.png")
    parser.add_argument("--res", type=int, default=384)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()

    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="furrow-sheet-")
    import addon_utils
    import bpy  # first: it puts Blender's own modules (addon_utils) on sys.path
    from PIL import Image

    repo = Path(tempfile.mkdtemp(prefix="furrow-sheet-repo-"))
    (repo / "furrow").symlink_to(ROOT, target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(
        name="sheet", module="sheet", custom_directory=str(repo), source="USER"
    )
    addon_utils.enable("bl_ext.sheet.furrow", default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.furrow.add_head(source="DEFAULT")
    head = bpy.context.active_object
    importlib.import_module("bl_ext.sheet.furrow.addon.scene.stage").stage_head(bpy.context, head)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = args.samples
    scene.cycles.use_denoising = True
    scene.render.resolution_x = scene.render.resolution_y = args.res
    keys = head.data.shape_keys.key_blocks

    tiles = []
    tmp = Path(tempfile.mkdtemp(prefix="furrow-sheet-frames-"))
    for label, weights in POSES:
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
