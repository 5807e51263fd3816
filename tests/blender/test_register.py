"""Furrow registers into real Blender and leaves nothing behind when disabled."""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

from tests.blender.conftest import MODULE, disable, enable

FURROW_TYPES = {"FURROW_OT_check_backend", "FURROW_OT_cancel_job", "FURROW_PT_main", "FURROW_PT_backend"}


def _registered() -> set[str]:
    import bpy

    return {name for name in dir(bpy.types) if name.startswith("FURROW_")}


def _status_bar_hooks(bpy: Any) -> list[str]:
    funcs = getattr(bpy.types.STATUSBAR_HT_header.draw, "_draw_funcs", [])
    return [f.__module__ for f in funcs if f.__module__.startswith(MODULE)]


def test_enabled_the_way_blender_does(blender: Any, furrow_ext: ModuleType) -> None:
    assert furrow_ext.__name__ == MODULE
    assert MODULE in blender.context.preferences.addons
    assert FURROW_TYPES <= _registered()


def test_operators_live_under_bpy_ops_furrow(blender: Any) -> None:
    ops = set(dir(blender.ops.furrow))
    assert {"check_backend", "cancel_job"} <= ops
    assert blender.ops.furrow.check_backend.poll()
    assert not blender.ops.furrow.cancel_job.poll()  # nothing to cancel


def test_sidebar_panel_and_preferences(blender: Any) -> None:
    panel = blender.types.FURROW_PT_main
    assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category) == ("VIEW_3D", "UI", "Furrow")
    prefs = blender.context.preferences.addons[MODULE].preferences
    assert type(prefs).__name__ == "FurrowPreferences"
    assert prefs.device == "AUTO" and prefs.worker_threads == 0
    assert prefs.flame_model == "" and prefs.facescape_model == ""


def test_register_and_unregister_twice(blender: Any) -> None:
    import addon_utils

    for _ in range(2):
        disable(addon_utils)
        assert MODULE not in blender.context.preferences.addons
        assert _registered() == set()
        assert not hasattr(blender.types.WindowManager, "furrow")
        assert _status_bar_hooks(blender) == []
        enable(addon_utils)
        assert FURROW_TYPES <= _registered()
        assert hasattr(blender.context.window_manager, "furrow")
        assert len(_status_bar_hooks(blender)) == 1


def test_disabling_stops_a_running_worker(blender: Any) -> None:
    import addon_utils

    jobs = importlib.import_module(f"{MODULE}.addon.jobs")
    job = jobs.manager.start(blender.context, "exercise", {"steps": 1000, "step_seconds": 0.05})
    while not job.events:
        jobs.manager.poll()
        time.sleep(0.01)
    proc = jobs.manager.client._proc
    disable(addon_utils)
    try:
        assert proc.wait(timeout=5) is not None
        assert job.state == "cancelled"
    finally:
        enable(addon_utils)
