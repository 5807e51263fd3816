"""Operators, one module per user action."""

from . import backend, head

CLASSES = (*backend.CLASSES, *head.CLASSES)
