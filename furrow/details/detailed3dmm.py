"""Detailed3DMM: mapping networks (detail identity, ARKit weights) -> DNPM w+, and its bake source.

(Being written: until its weights exist, bakes use the procedural source.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "details_v1.pt"


def weights_available() -> bool:
    return WEIGHTS.is_file()


class Detailed3DMMSource:
    name = "detailed3dmm"
    version = "1"

    def __init__(self) -> None:
        raise NotImplementedError("being written")

    def prepare(self, identity: Any, resolution: int) -> None: ...
