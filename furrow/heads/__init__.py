"""Heads: the HeadModel contract, the default CC0 head, FLAME and FaceScape.

The loaders (default, flame, facescape, transfer) are imported from their own
modules when needed, so importing this package stays cheap (Blender does).
"""

from .arkit import ARKIT_INDEX, ARKIT_NAMES
from .model import PART_NAMES, REGION_NAMES, HeadFileError, HeadModel, Landmarks

__all__ = [
    "ARKIT_INDEX",
    "ARKIT_NAMES",
    "PART_NAMES",
    "REGION_NAMES",
    "HeadFileError",
    "HeadModel",
    "Landmarks",
]
