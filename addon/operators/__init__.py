"""Operators, one module per user action."""

from . import audio, backend, details, head, photo, render

CLASSES = (*backend.CLASSES, *head.CLASSES, *audio.CLASSES, *details.CLASSES, *photo.CLASSES, *render.CLASSES)
