"""Furrow's backend: numpy + torch, never bpy.

Imported two ways: as the top-level package ``furrow`` (CLI, worker, tests) and
as ``bl_ext.<repo>.furrow.furrow`` from inside Blender, so modules here import
each other relatively.
"""

__version__ = "0.1.0"
