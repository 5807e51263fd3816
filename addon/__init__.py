"""The Blender layer of Furrow: the only code that imports bpy.

Thin wiring: properties, panels and operators that hand work to the backend
worker (``furrow/``) and apply its results to the scene.
"""

from __future__ import annotations

import bpy

from . import deps, jobs, operators, panels, preferences, properties

_modules = (preferences, properties, operators, panels)


def register() -> None:
    deps.refresh()
    for module in _modules:
        for cls in module.CLASSES:
            bpy.utils.register_class(cls)
    properties.attach()
    jobs.register()


def unregister() -> None:
    jobs.unregister()
    properties.detach()
    for module in reversed(_modules):
        for cls in reversed(module.CLASSES):
            bpy.utils.unregister_class(cls)
