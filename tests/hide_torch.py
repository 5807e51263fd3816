"""Importing this makes torch look not installed, as in a Blender without Furrow's wheels.

torch cannot be uninstalled from the shared test environment, so tests hide it:
the unit tests install this as a worker's ``sitecustomize``, the Blender test
imports it before bpy.
"""

import sys


class _HideTorch:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None


sys.meta_path.insert(0, _HideTorch())  # type: ignore[arg-type]
