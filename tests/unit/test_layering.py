"""furrow/ is the backend: it must never import Blender's modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLENDER_MODULES = {"bpy", "bpy_extras", "bmesh", "mathutils", "gpu", "gpu_extras", "addon_utils", "bl_ui"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_backend_source_never_imports_blender() -> None:
    files = sorted((ROOT / "furrow").rglob("*.py"))
    assert len(files) >= 5
    offenders = {
        str(f.relative_to(ROOT)): sorted(_imported_roots(f) & BLENDER_MODULES)
        for f in files
        if _imported_roots(f) & BLENDER_MODULES
    }
    assert offenders == {}


def test_the_checker_sees_blender_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nfrom mathutils import Vector\nimport importlib\nimportlib.import_module('bpy')\n"
    )
    assert _imported_roots(bad) & BLENDER_MODULES == {"mathutils", "bpy"}


def test_importing_the_backend_loads_no_blender_module() -> None:
    code = (
        "import sys, pkgutil, importlib, furrow\n"
        "for m in pkgutil.walk_packages(furrow.__path__, 'furrow.'):\n"
        "    if m.name != 'furrow.__main__': importlib.import_module(m.name)\n"
        f"print(sorted(set(sys.modules) & set({sorted(BLENDER_MODULES)!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
