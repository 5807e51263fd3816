"""Shared by the scripts that render the default head in a row of poses with Cycles
(render_head_sheet.py, render_details.py): the add-on enabled in bpy, a staged head,
one Cycles render per pose, the renders side by side in one PNG."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Pose = tuple[str, dict[str, float]]


def staged_head(repo: str, res: int, samples: int, zoom: float = 1.0) -> tuple[Any, Any, Any]:
    """Enable the checkout as ``bl_ext.<repo>.furrow``, add the default head on the portrait stage,
    set Cycles; returns (bpy, head, the add-on module)."""
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix=f"furrow-{repo}-")
    import bpy  # first: it puts Blender's own modules (addon_utils) on sys.path

    spec = importlib.util.spec_from_file_location("furrow_headless", ROOT / "addon" / "headless.py")
    assert spec is not None and spec.loader is not None
    headless = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(headless)
    addon = headless.enable_checkout(repo)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.furrow.add_head(source="DEFAULT")
    head = bpy.context.active_object
    stage = importlib.import_module(f"{addon.__name__}.addon.scene.stage")
    stage.stage_head(bpy.context, head, zoom=zoom)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.render.resolution_x = scene.render.resolution_y = res
    return bpy, head, addon


def render_poses(
    bpy: Any,
    head: Any,
    poses: Sequence[Pose],
    out: Path,
    before: Callable[[int], None] | None = None,
) -> Path:
    """Render each pose (shape-key weights, the rest at 0) and write them side by side to ``out``;
    ``before(i)`` runs before pose i is rendered (e.g. to swap a displacement map)."""
    from PIL import Image

    scene = bpy.context.scene
    keys = head.data.shape_keys.key_blocks
    tmp = Path(tempfile.mkdtemp(prefix="furrow-pose-frames-"))
    tiles = []
    for i, (label, weights) in enumerate(poses):
        if before is not None:
            before(i)
        for key in keys[1:]:
            key.value = weights.get(key.name, 0.0)
        scene.render.filepath = str(tmp / f"{i:02d}.png")
        started = time.monotonic()
        bpy.ops.render.render(write_still=True)
        print(f"{label}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        tiles.append(Image.open(scene.render.filepath).convert("RGB"))
    w, h = tiles[0].size
    sheet = Image.new("RGB", (w * len(tiles), h))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * w, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(out)
    return out
