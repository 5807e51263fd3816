"""Backend jobs inside Blender: one worker per Blender session, progress, Esc.

``JobOperator`` is the base for every operator that runs a backend job. Invoked
from the UI it is modal: a window timer polls the worker (nothing blocks), the
panel and the status bar show progress, Esc cancels, and the result is applied
on the main thread in one undo step. Executed from a script (or in background
mode) it blocks until the job ends. A job that fails, crashes or is cancelled
leaves the scene as it was: results are applied only after success.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional

import bpy

from ..furrow.client import Job, WorkerBusy, WorkerClient
from ..furrow.protocol import Message, Result
from . import deps, preferences

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

    OpResult = set[OperatorReturnItems]
else:
    OpResult = set

POLL_SECONDS = 0.1


class LocalTask:
    """Work that runs in Blender's own process (Render Clip), shown and cancelled like a worker job."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fraction = 0.0
        self.message = "Starting"
        self.cancel_requested = False
        self.finished = False


class JobManager:
    """Owns the worker client for this Blender session (and knows the local task, if any)."""

    def __init__(self) -> None:
        self.client: Optional[WorkerClient] = None
        self._config: Optional[tuple[str, int]] = None
        self.local: Optional[LocalTask] = None

    @property
    def job(self) -> Optional[Job]:
        return self.client.job if self.client is not None else None

    @property
    def busy(self) -> bool:
        """A worker job or a local task is running: Furrow does one thing at a time."""
        return (self.client is not None and self.client.busy) or self.local is not None

    @property
    def busy_name(self) -> str:
        if self.local is not None:
            return self.local.name
        job = self.job
        return job.name if job is not None else "a job"

    def _client(self, context: bpy.types.Context) -> WorkerClient:
        prefs = preferences.get(context)
        config = (preferences.cache_dir(prefs), preferences.thread_count(prefs))
        if self.client is not None and config != self._config:
            self.client.shutdown()  # settings changed: the next worker picks them up
            self.client = None
        if self.client is None:
            work_dir, threads = config
            self.client = WorkerClient(
                work_dir=Path(work_dir),
                python=sys.executable,
                # Blender adds the extensions' wheel folder to its own sys.path only.
                extra_paths=[p for p in sys.path if p and os.path.isdir(p)],
                env={"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)},
            )
            self._config = config
        return self.client

    def prewarm(self, context: bpy.types.Context, name: str) -> None:
        """Let the worker load what job ``name`` needs while a file browser is open (a head start
        only: any failure is the job's to report when it runs)."""
        if self.busy:
            return
        try:
            self._client(context).prewarm(name)
        except Exception:  # never in the artist's way: the job reports its own failures
            pass

    def start(self, context: bpy.types.Context, name: str, params: dict[str, Any]) -> Job:
        device = preferences.get(context).device.lower()
        return self._client(context).start(name, params, device=device)

    def poll(self) -> list[Message]:
        return self.client.poll() if self.client is not None else []

    def cancel(self) -> None:
        if self.local is not None:
            self.local.cancel_requested = True  # the task stops at its next step
        if self.client is not None:
            self.client.cancel()

    def discard(self, job: Job) -> None:
        if self.client is not None:
            self.client.discard(job)

    def shutdown(self) -> None:
        if self.client is not None:
            self.client.shutdown()
            self.client = None


manager = JobManager()


def _redraw_all() -> None:
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            area.tag_redraw()


class JobOperator(bpy.types.Operator):
    """Base for operators that run a backend job (not registered itself)."""

    bl_options = {"REGISTER", "UNDO"}
    job_name: ClassVar[str] = ""
    _timer: Any = None
    _job: Optional[Job] = None

    # --- what subclasses provide ------------------------------------------------

    def job_params(self, context: bpy.types.Context) -> dict[str, Any]:
        """The job's parameters; raise ValueError with a one-line message for bad input."""
        return {}

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        """Apply a successful result to the scene (main thread). Returns the operator result."""
        return {"FINISHED"}

    # --- shared machinery ---------------------------------------------------------

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        problem = deps.problem()
        if problem:
            cls.poll_message_set(problem)
            return False
        if manager.busy:
            cls.poll_message_set(f"Furrow is busy: {manager.busy_name} is running")
            return False
        return True

    def _start(self, context: bpy.types.Context) -> bool:
        try:
            params = self.job_params(context)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        except Exception as exc:  # a bug: one line for the artist, never a traceback
            self.report({"ERROR"}, f"{self.bl_label} failed: {type(exc).__name__}: {exc}")
            return False
        try:
            self._job = manager.start(context, self.job_name, params)
        except WorkerBusy as exc:
            self.report({"ERROR"}, str(exc))
            return False
        except OSError as exc:
            self.report({"ERROR"}, f"Could not start the Furrow backend: {exc}")
            return False
        return True

    _modal_after_browser = False  # set by subclasses that open a file browser first

    def execute(self, context: bpy.types.Context) -> OpResult:
        if self._modal_after_browser and context.window is not None:
            return self._go_modal(context)  # the file browser was confirmed: run like a button press
        if not self._start(context):
            return {"CANCELLED"}
        assert manager.client is not None
        job = manager.client.wait()
        return self._conclude(context, job)

    browse_first: ClassVar[bool] = False  # with no ``filepath`` yet, the file browser opens first
    prewarm: ClassVar[bool] = False  # the worker loads what the job needs while the browser is open

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        if context.window is None:
            return self.execute(context)
        if self.browse_first and not getattr(self, "filepath", "") and context.window_manager is not None:
            self._modal_after_browser = True  # execute runs when the artist confirms a file
            if self.prewarm:
                manager.prewarm(context, self.job_name)
            context.window_manager.fileselect_add(self)
            return {"RUNNING_MODAL"}
        return self._go_modal(context)

    def _go_modal(self, context: bpy.types.Context) -> OpResult:
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        assert wm is not None
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        _redraw_all()
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> OpResult:
        if event.type == "ESC" and event.value == "PRESS":
            manager.cancel()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        manager.poll()
        _redraw_all()
        job = self._job
        if job is None or not job.finished:
            return {"RUNNING_MODAL"}
        wm = context.window_manager
        assert wm is not None
        wm.event_timer_remove(self._timer)
        self._timer = None
        return self._conclude(context, job)

    def _conclude(self, context: bpy.types.Context, job: Job) -> OpResult:
        _redraw_all()
        if job.state == "cancelled":
            self.report({"WARNING"}, f"{self.bl_label}: cancelled; nothing was changed")
            return {"CANCELLED"}
        if job.state == "failed" or job.result is None:
            message = job.error.message if job.error is not None else "failed"
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        try:
            for warning in job.result.warnings:
                self.report({"WARNING"}, warning)
            return self.job_finished(context, job.result)
        except Exception as exc:  # a bug in applying: say so in one line, never a traceback
            self.report({"ERROR"}, f"{self.bl_label} could not apply its result: {type(exc).__name__}: {exc}")
            return {"CANCELLED"}
        finally:
            manager.discard(job)


def draw_progress(layout: bpy.types.UILayout, *, cancel: bool = True) -> bool:
    """Draw the running job's (or local task's) progress bar and a cancel button; False when idle."""
    task: Any = manager.local
    if task is None:
        task = manager.job
        if task is None or task.finished:
            return False
    row = layout.row(align=True)
    row.progress(factor=task.fraction, type="BAR", text=f"{task.message} ({task.fraction:.0%})")
    if cancel:
        row.operator("furrow.cancel_job", text="", icon="CANCEL")
    return True


def _draw_status_bar(self: Any, context: bpy.types.Context) -> None:
    draw_progress(self.layout)


def _shutdown_at_exit() -> None:
    manager.shutdown()


def register() -> None:
    bpy.types.STATUSBAR_HT_header.append(_draw_status_bar)
    atexit.register(_shutdown_at_exit)


def unregister() -> None:
    atexit.unregister(_shutdown_at_exit)
    bpy.types.STATUSBAR_HT_header.remove(_draw_status_bar)
    manager.shutdown()
