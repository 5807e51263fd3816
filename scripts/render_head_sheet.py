#!/usr/bin/env python3
"""Render the default head (neutral, jawOpen, mouthSmile, eyeBlink) with Cycles into one sheet.

Runs the real add-on in bpy: Add Head, the portrait stage, shape keys at 1.0.
    .venv/bin/python scripts/render_head_sheet.py [--out docs/images/default_head.png] [--res 384]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _pose_sheet import ROOT, render_poses, staged_head

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

    bpy, head, _addon = staged_head("sheet", args.res, args.samples)
    render_poses(bpy, head, POSES, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
