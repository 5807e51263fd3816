"""Operators, one module per user action."""

from . import audio, backend, head, render

CLASSES = (*backend.CLASSES, *head.CLASSES, *audio.CLASSES, *render.CLASSES)
