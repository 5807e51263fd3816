#!/usr/bin/env python3
"""A sheet of detail maps (shaded relief) for a look: poses x young/old identity x source.

.venv/bin/python scripts/details_sheet.py [--res 512] [--source both|procedural|model]
                                          [--out tests/artifacts/details_sheet.png]

"model" rows are what a bake writes (furrow.details.detailed3dmm.Detailed3DMMSource: the
trained Detailed3DMM at 256 px, upsampled, plus the person's fine skin); "procedural" rows
are the corpus it learned from, for the same person and pose.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

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
            "eyeSquintLeft": 0.5,
            "eyeSquintRight": 0.5,
        },
    ),
    (
        "frown",
        {
            "browDownLeft": 1.0,
            "browDownRight": 1.0,
            "mouthFrownLeft": 0.8,
            "mouthFrownRight": 0.8,
            "mouthStretchLeft": 0.6,
            "mouthStretchRight": 0.6,
        },
    ),
    ("pucker", {"mouthPucker": 1.0, "mouthShrugLower": 0.8}),
    ("sneer", {"noseSneerLeft": 1.0, "noseSneerRight": 1.0}),
]


def relief(h: np.ndarray, mm_per_px: float, gain: float = 5.0) -> np.ndarray:
    """Hill-shaded heights (light from the upper left), so wrinkles read as relief."""
    gy, gx = np.gradient(h / mm_per_px)
    n = np.stack([-gx * gain, gy * gain, np.ones_like(h)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([-0.5, 0.6, 0.62])
    return np.clip(0.25 + 0.75 * (n @ (light / np.linalg.norm(light))), 0.0, 1.0)


def main() -> int:
    from PIL import Image, ImageDraw

    from furrow.details import DetailIdentity, ProceduralDetails
    from furrow.heads.default import load_default_head

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "artifacts" / "details_sheet.png")
    parser.add_argument(
        "--crop",
        type=float,
        nargs=4,
        default=(0.0, 0.12, 0.74, 0.88),
        help="top left bottom right, fractions of the map (the face island)",
    )
    parser.add_argument("--tile", type=int, default=300)
    parser.add_argument("--source", choices=["both", "procedural", "model"], default="both")
    args = parser.parse_args()
    head = load_default_head()
    det = ProceduralDetails(head, args.res)
    sources = ["procedural", "model"] if args.source == "both" else [args.source]
    people = [
        (f"{src}, age {age}", src, DetailIdentity(age=float(age), seed=seed))
        for age, seed in ((25, 1), (70, 2))
        for src in sources
    ]
    r = args.res
    t, le, b, ri = (int(f * r) for f in args.crop)
    tiles = []
    for label, src, ident in people:
        row = []
        if src == "model":
            from furrow.details.detailed3dmm import Detailed3DMMSource
            from furrow.details.procedural import arkit_weights

            model = Detailed3DMMSource(head=head)
            model.prepare(ident, args.res)
            maps = model.frames(arkit_weights([w for _, w in POSES])).numpy()
        else:
            maps = det.maps([ident] * len(POSES), [w for _, w in POSES]).numpy()
        for (pose, _), h in zip(POSES, maps, strict=True):
            img = relief(h, det.bank.mm_per_px)[t:b, le:ri]
            tile = Image.fromarray((img * 255).astype(np.uint8)).resize((args.tile, args.tile), Image.LANCZOS)
            ImageDraw.Draw(tile).text((6, 4), f"{pose}, {label}  [{h.min():.2f}, {h.max():.2f}] mm", fill=0)
            row.append(tile)
        tiles.append(row)
    sheet = Image.new("L", (args.tile * len(POSES), args.tile * len(people)))
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            sheet.paste(tile, (j * args.tile, i * args.tile))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(args.out, args.out.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
