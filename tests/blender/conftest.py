"""Real Blender (the bpy module) with Furrow enabled the way Blender does it.

The checkout is linked into a temporary extension repository under the fixed
folder name ``furrow`` (a CI clone's folder name is arbitrary), and enabled as
``bl_ext.furrowtest.furrow``: the real ``__package__``, preferences and all.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPO = "furrowtest"
MODULE = f"bl_ext.{REPO}.furrow"


def enable(addon_utils: Any) -> ModuleType:
    errors: list[BaseException] = []
    mod = addon_utils.enable(MODULE, default_set=True, handle_error=errors.append)
    if errors:
        raise errors[0]
    assert mod is not None, f"{MODULE} did not enable"
    return mod  # type: ignore[no-any-return]


def disable(addon_utils: Any) -> None:
    errors: list[BaseException] = []
    addon_utils.disable(MODULE, default_set=True, handle_error=errors.append)
    if errors:
        raise errors[0]


def headless() -> ModuleType:
    """addon/headless.py, loaded by path (it imports nothing relatively): the same enabling code
    the CLI's runner uses."""
    spec = importlib.util.spec_from_file_location("furrow_headless", ROOT / "addon" / "headless.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def furrow_ext() -> Iterator[ModuleType]:
    import addon_utils
    import bpy

    mod: ModuleType = headless().enable_checkout(REPO, ROOT)
    assert mod.__name__ == MODULE
    yield mod
    if MODULE in bpy.context.preferences.addons:
        disable(addon_utils)


@pytest.fixture
def blender(furrow_ext: ModuleType) -> Iterator[Any]:
    """bpy with an empty scene and Furrow enabled; no job left running afterwards."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy
    jobs = importlib.import_module(f"{MODULE}.addon.jobs")
    jobs.manager.shutdown()


class _OperatorProps:
    """What layout.operator() returns: the button's operator properties, recorded."""

    def __init__(self, entry: dict[str, Any]) -> None:
        object.__setattr__(self, "_entry", entry)

    def __setattr__(self, name: str, value: Any) -> None:
        self._entry.setdefault("props", {})[name] = value


class RecordingLayout:
    """Stands in for bpy.types.UILayout, which exists only while Blender draws a
    real window (none in the bpy module). Records what a draw function shows."""

    def __init__(self, log: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        self.log = [] if log is None else log
        self.alert = False
        self.enabled = True

    def _child(self, kind: str, **kw: Any) -> RecordingLayout:
        self.log.append((kind, kw))
        return RecordingLayout(self.log)

    def box(self) -> RecordingLayout:
        return self._child("box")

    def row(self, **kw: Any) -> RecordingLayout:
        return self._child("row", **kw)

    def column(self, **kw: Any) -> RecordingLayout:
        return self._child("column", **kw)

    def label(self, **kw: Any) -> None:
        self.log.append(("label", kw))

    def operator(self, idname: str, **kw: Any) -> Any:
        entry: dict[str, Any] = {"idname": idname, **kw}
        self.log.append(("operator", entry))
        return _OperatorProps(entry)

    def progress(self, **kw: Any) -> None:
        self.log.append(("progress", kw))

    def template_list(self, *args: Any, **kw: Any) -> None:
        self.log.append(("template_list", {"args": args, **kw}))

    def prop(self, data: Any, name: str, **kw: Any) -> None:
        self.log.append(("prop", {"name": name, **kw}))

    def separator(self, **kw: Any) -> None:
        self.log.append(("separator", kw))

    def texts(self) -> list[str]:
        return [kw.get("text", "") for kind, kw in self.log if kind in {"label", "progress"}]

    def operators(self) -> list[str]:
        return [kw["idname"] for kind, kw in self.log if kind == "operator"]
