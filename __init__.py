"""Furrow: detailed, animatable faces for Blender (extension entry point)."""

from .addon import register, unregister

__all__ = ["register", "unregister"]
