"""Operators, one module per user action."""

from . import audio, backend, head

CLASSES = (*backend.CLASSES, *head.CLASSES, *audio.CLASSES)
