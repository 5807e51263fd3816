"""Rendering clips, the parts that need no Blender: settings, MP4 muxing, probing, contact sheets.

Blender renders the frames (addon/scene/render.py); everything before and after
that (what to render, how to encode it, how to check it) lives here.
"""

from .errors import EncodeError, FfmpegMissingError, OutputError, RenderCancelled, RenderError
from .settings import ASPECTS, RenderRequest, RenderSettings

__all__ = [
    "ASPECTS",
    "EncodeError",
    "FfmpegMissingError",
    "OutputError",
    "RenderCancelled",
    "RenderError",
    "RenderRequest",
    "RenderSettings",
]
