"""Operators, one module per user action."""

from . import backend

CLASSES = (*backend.CLASSES,)
