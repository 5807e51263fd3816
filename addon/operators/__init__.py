"""Operators, one module per user action."""

from . import audio, backend, details, head, render

CLASSES = (*backend.CLASSES, *head.CLASSES, *audio.CLASSES, *details.CLASSES, *render.CLASSES)
