"""Errors of the render path, each with a one-line message an artist can act on.

The CLI prints them as ``furrow: error: ...`` and the operator through
``self.report``; neither shows a traceback.
"""

from __future__ import annotations


class RenderError(Exception):
    """Base: rendering or encoding a clip failed; ``str(exc)`` is one line for the artist."""


class FfmpegMissingError(RenderError):
    """ffmpeg (or ffprobe) is not on PATH: nothing can be encoded."""


class OutputError(RenderError):
    """The output file cannot be written there (missing or read-only folder, bad name)."""


class EncodeError(RenderError):
    """ffmpeg ran and failed (disk full, bad input); no file was left under the final name."""


class RenderCancelled(RenderError):
    """The artist stopped the render (Esc inside Blender's own render); nothing was written."""
