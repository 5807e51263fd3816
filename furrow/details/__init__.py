"""Fine geometric detail over a head's UV space: the procedural corpus, displacement PNGs."""

from .png import DEFAULT_SCALE_MM, load_displacement_png, save_displacement_png
from .procedural import DetailIdentity, ProceduralDetails, sample_identities

__all__ = [
    "DEFAULT_SCALE_MM",
    "DetailIdentity",
    "ProceduralDetails",
    "load_displacement_png",
    "sample_identities",
    "save_displacement_png",
]
