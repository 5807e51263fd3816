"""Backend jobs from inside Blender: operators, progress in the panel, cancel, crashes."""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest

from tests.blender.conftest import MODULE, RecordingLayout


def _addon(name: str) -> Any:
    return importlib.import_module(f"{MODULE}.addon.{name}")


@pytest.fixture
def exercise_op(blender: Any) -> Iterator[Any]:
    """An operator built on the add-on's JobOperator whose result changes the scene:
    it adds an object named after the worker that made it."""
    jobs = _addon("jobs")

    class FURROWTEST_OT_exercise(jobs.JobOperator):
        bl_idname = "furrowtest.exercise"
        bl_label = "Exercise"
        job_name = "exercise"

        steps: bpy.props.IntProperty(default=3)  # type: ignore[valid-type]
        step_seconds: bpy.props.FloatProperty(default=0.01)  # type: ignore[valid-type]
        crash: bpy.props.StringProperty(default="")  # type: ignore[valid-type]

        def job_params(self, context: Any) -> dict[str, Any]:
            return {
                "steps": self.steps,
                "step_seconds": self.step_seconds,
                "crash": self.crash,
                "crash_at": 2,
            }

        def job_finished(self, context: Any, result: Any) -> set[str]:
            info = json.loads(Path(result.files[0]).read_text())
            mesh = bpy.data.meshes.new("exercise")
            obj = bpy.data.objects.new(f"Exercise {info['pid']}", mesh)
            context.scene.collection.objects.link(obj)
            return {"FINISHED"}

    blender.utils.register_class(FURROWTEST_OT_exercise)
    yield blender.ops.furrowtest.exercise
    blender.utils.unregister_class(FURROWTEST_OT_exercise)


def _scene_state(bpy: Any) -> tuple[list[str], list[str]]:
    return sorted(o.name for o in bpy.data.objects), sorted(m.name for m in bpy.data.meshes)


def test_check_backend_from_blender(blender: Any) -> None:
    assert blender.ops.furrow.check_backend() == {"FINISHED"}
    summary = blender.context.window_manager.furrow.backend_summary
    assert summary.startswith("torch 2.13.0") and "Python 3.11" in summary


def test_invoked_without_a_window_it_runs_to_the_end(blender: Any) -> None:
    # A button press invokes; with no window (background Blender) there is no
    # event loop for the modal path, so invoke falls back to the blocking run.
    blender.context.window_manager.furrow.backend_summary = ""
    assert blender.ops.furrow.check_backend("INVOKE_DEFAULT") == {"FINISHED"}
    assert blender.context.window_manager.furrow.backend_summary.startswith("torch 2.13.0")


def test_worker_threads_preference_reaches_the_backend(blender: Any) -> None:
    prefs = blender.context.preferences.addons[MODULE].preferences
    prefs.worker_threads = 2
    try:
        assert blender.ops.furrow.check_backend() == {"FINISHED"}
        assert "(2 threads)" in blender.context.window_manager.furrow.backend_summary
    finally:
        prefs.worker_threads = 0


def test_a_job_result_is_applied_to_the_scene(blender: Any, exercise_op: Any) -> None:
    jobs = _addon("jobs")
    assert exercise_op() == {"FINISHED"}
    (obj,) = blender.data.objects
    assert obj.name == f"Exercise {jobs.manager.client.pid}"
    assert not jobs.manager.job.job_dir.exists()  # its files were used, then cleaned up


def test_cancel_leaves_the_scene_untouched(blender: Any, exercise_op: Any) -> None:
    jobs = _addon("jobs")
    before = _scene_state(blender)
    # Esc in the modal operator calls manager.cancel(); a script blocked in
    # execute() can only be reached from another thread.
    threading.Timer(0.5, jobs.manager.cancel).start()
    t0 = time.monotonic()
    assert exercise_op(steps=1000, step_seconds=0.02) == {"CANCELLED"}
    assert time.monotonic() - t0 < 5
    assert jobs.manager.job.state == "cancelled"
    assert _scene_state(blender) == before
    assert not jobs.manager.job.job_dir.exists()


@pytest.mark.parametrize(
    ("crash", "words"), [("segfault", r"crashed \(SIGSEGV\)"), ("exit", "exited with code 3")]
)
def test_a_crashed_worker_is_an_error_then_a_fresh_worker(
    blender: Any, exercise_op: Any, crash: str, words: str
) -> None:
    jobs = _addon("jobs")
    assert exercise_op() == {"FINISHED"}
    first_pid = jobs.manager.client.pid
    before = _scene_state(blender)
    # An ERROR report reaches a Python caller as RuntimeError with the report's text.
    with pytest.raises(RuntimeError, match=f"The Furrow backend {words} while running exercise"):
        exercise_op(crash=crash, step_seconds=0.05)
    job = jobs.manager.job
    assert job.state == "failed" and job.error.kind == "crashed"
    assert job.error.message.startswith("The Furrow backend ")
    assert _scene_state(blender) == before
    # the panel says what happened, in words
    layout = RecordingLayout()
    _addon("panels").draw_main(layout, blender.context)
    assert "Last job failed: exercise" in layout.texts()
    # and the next job just works, in a new process
    assert exercise_op() == {"FINISHED"}
    assert jobs.manager.client.pid != first_pid


def test_progress_shows_in_the_panel_and_status_bar(blender: Any) -> None:
    jobs = _addon("jobs")
    panels = _addon("panels")
    job = jobs.manager.start(blender.context, "exercise", {"steps": 400, "step_seconds": 0.01})
    try:
        while job.fraction == 0.0:
            jobs.manager.poll()  # what the operator's window timer does
            time.sleep(0.01)
        layout = RecordingLayout()
        panels.draw_main(layout, blender.context)
        (bar,) = [kw for kind, kw in layout.log if kind == "progress"]
        assert 0 < bar["factor"] < 1 and bar["text"].startswith("Step ")
        assert "furrow.cancel_job" in layout.operators()
        assert blender.ops.furrow.cancel_job.poll()
        # busy: other jobs say why they are greyed out
        assert not blender.ops.furrow.check_backend.poll()
        status = RecordingLayout()
        jobs.draw_progress(status)
        assert [kind for kind, _ in status.log].count("progress") == 1
    finally:
        jobs.manager.cancel()
        while not job.finished:
            jobs.manager.poll()
            time.sleep(0.01)
    idle = RecordingLayout()
    panels.draw_main(idle, blender.context)
    assert not [kind for kind, _ in idle.log if kind == "progress"]


def test_backend_subpanel_offers_the_check(blender: Any) -> None:
    layout = RecordingLayout()
    _addon("panels").draw_backend(layout, blender.context)
    assert layout.operators() == ["furrow.check_backend"]
    assert "Not checked in this session" in layout.texts() or layout.texts()[0].startswith("torch")
