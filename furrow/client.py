"""Start, feed and watch the backend worker from another process.

No bpy here: the add-on wraps this in Blender timers and operators, and the
tests drive it directly. The worker is started on the first job and reused.
``poll()`` never blocks, so Blender's UI never waits on the backend. A worker
that dies (crash, ``os._exit``, killed) is noticed as soon as its stdout closes
and becomes an ``Error`` of kind ``crashed``; the next job starts a fresh one.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Union

from .protocol import (
    Cancel,
    Cancelled,
    Error,
    Message,
    Prewarm,
    Progress,
    ProtocolError,
    Ready,
    Result,
    Run,
    Shutdown,
    decode,
    encode,
)

# Where ``import furrow`` resolves for the worker: the folder holding this package.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class WorkerBusy(RuntimeError):
    """A job is already running; the worker runs one at a time."""


@dataclass
class _Exited:
    """Reader thread -> client: the worker's stdout closed."""

    returncode: int


@dataclass
class Job:
    """One job as the client sees it. ``state``: running, done, failed, cancelled."""

    job_id: str
    name: str
    params: dict[str, Any]
    job_dir: Path
    state: str = "running"
    fraction: float = 0.0
    message: str = "Starting"
    events: list[Message] = field(default_factory=list)
    result: Optional[Result] = None
    error: Optional[Error] = None
    started: float = field(default_factory=time.monotonic)
    cancel_deadline: Optional[float] = None

    @property
    def finished(self) -> bool:
        return self.state != "running"


def describe_exit(returncode: int) -> str:
    """'crashed (SIGSEGV)' / 'exited with code 3', for error messages."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"crashed ({name})"
    return f"exited with code {returncode}"


class WorkerClient:
    """Runs backend jobs in a reusable worker process.

    ``python``: the interpreter for the worker (Blender's own by default).
    ``extra_paths``: import paths the worker needs besides this package's parent
    (Blender adds the extensions' wheel folder to its own ``sys.path`` only).
    ``env``: extra environment (thread counts). ``cancel_grace``: seconds a
    cancelled job gets to stop by itself before its process is killed.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        python: Optional[str] = None,
        extra_paths: Optional[list[str]] = None,
        env: Optional[dict[str, str]] = None,
        cancel_grace: float = 1.0,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.python = python or sys.executable
        self.extra_paths = list(extra_paths or [])
        self.env = dict(env or {})
        self.cancel_grace = cancel_grace
        self.log_path = self.work_dir / "worker.log"
        self.job: Optional[Job] = None
        self._proc: Optional[subprocess.Popen[str]] = None
        self._events: queue.Queue[Union[Message, _Exited]] = queue.Queue()
        self._ids = itertools.count(1)
        self._log: Optional[IO[str]] = None

    # --- process ----------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.finished

    def _spawn(self) -> subprocess.Popen[str]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env)
        paths = [str(PACKAGE_PARENT), *self.extra_paths]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.log_path, "a", encoding="utf-8")
        self._log.write(f"--- worker start {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self._log.flush()
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # its own process group: kill takes children too
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        proc = subprocess.Popen(
            [self.python, "-m", "furrow.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env,
            cwd=str(self.work_dir),
            **kwargs,
        )
        self._events = queue.Queue()
        threading.Thread(
            target=self._read_events, args=(proc, self._events), name="furrow-events", daemon=True
        ).start()
        return proc

    @staticmethod
    def _read_events(proc: subprocess.Popen[str], out: queue.Queue[Union[Message, _Exited]]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if not line.strip():
                    continue
                try:
                    out.put(decode(line))
                except ProtocolError:
                    continue  # the worker keeps stdout clean; a stray line is dropped
        except (OSError, ValueError):
            pass
        finally:
            proc.stdout.close()
        out.put(_Exited(proc.wait()))

    def _send(self, msg: Message) -> bool:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        try:
            proc.stdin.write(encode(msg) + "\n")
            proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False  # it died; the reader thread reports how

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=5)
        self._forget_process()

    def _forget_process(self) -> None:
        # stdout belongs to the reader thread, which closes it at EOF.
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- jobs ---------------------------------------------------------------------

    def start(self, name: str, params: Optional[dict[str, Any]] = None, *, device: str = "auto") -> Job:
        """Submit a job; returns at once. Raises ``WorkerBusy`` if one is running."""
        if self.busy:
            raise WorkerBusy(f"the backend is busy with {self.job.name if self.job else 'a job'}")
        if not self.alive:
            self._forget_process()
            self._proc = self._spawn()
        job_id = f"{os.getpid()}-{next(self._ids)}"
        job_dir = self.work_dir / "jobs" / job_id
        if job_dir.exists():
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True)
        self.job = Job(job_id, name, dict(params or {}), job_dir)
        self._send(Run(job_id, name, self.job.params, str(job_dir), device))
        return self.job

    def prewarm(self, name: str) -> None:
        """Start the worker if it is not running and let it load what job ``name`` needs while the
        artist chooses the input (a file browser is open); never raises: it is only a head start."""
        try:
            if not self.alive:
                self._forget_process()
                self._proc = self._spawn()
            self._send(Prewarm(name))
        except OSError:
            pass

    def cancel(self) -> None:
        """Ask the running job to stop; it is killed if it does not within ``cancel_grace``."""
        job = self.job
        if job is None or job.finished or job.cancel_deadline is not None:
            return
        job.message = "Cancelling"
        job.cancel_deadline = time.monotonic() + self.cancel_grace
        if not self._send(Cancel(job.job_id)):
            job.cancel_deadline = time.monotonic()

    def poll(self) -> list[Message]:
        """Apply whatever the worker said since the last call; never blocks."""
        job = self.job
        seen: list[Message] = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Exited):
                self._forget_process()
                if job is not None and not job.finished:
                    if job.cancel_deadline is not None:
                        self._finish(job, Cancelled(job.job_id))
                    else:
                        self._finish(job, self._crash_error(job, item.returncode))
                    seen.append(job.events[-1])
                break
            seen.append(item)
            if job is None or isinstance(item, Ready) or getattr(item, "job_id", None) != job.job_id:
                continue
            if isinstance(item, Progress):
                job.fraction, job.message = item.fraction, item.message
                job.events.append(item)
            elif isinstance(item, (Result, Error, Cancelled)):
                self._finish(job, item)
        if job is not None and not job.finished and job.cancel_deadline is not None:
            if time.monotonic() >= job.cancel_deadline:
                self._kill()  # it did not stop by itself: stop it
                self._finish(job, Cancelled(job.job_id))
                seen.append(job.events[-1])
        return seen

    def _crash_error(self, job: Job, returncode: int) -> Error:
        tail = self.log_tail(20)
        return Error(
            job.job_id,
            "crashed",
            f"The Furrow backend {describe_exit(returncode)} while running {job.name}; "
            f"the next job starts a fresh backend (log: {self.log_path})",
            detail=tail,
        )

    def _finish(self, job: Job, final: Union[Result, Error, Cancelled]) -> None:
        job.events.append(final)
        if isinstance(final, Result):
            job.state, job.result, job.fraction, job.message = "done", final, 1.0, "Done"
        elif isinstance(final, Error):
            job.state, job.error, job.message = "failed", final, final.message
        else:
            job.state, job.message = "cancelled", "Cancelled"
        if job.state != "done":
            shutil.rmtree(job.job_dir, ignore_errors=True)  # nothing half-written survives

    def wait(
        self,
        timeout: Optional[float] = None,
        on_event: Optional[Callable[[Message], None]] = None,
        interval: float = 0.02,
    ) -> Job:
        """Block until the current job ends (scripts and tests; the UI polls instead)."""
        job = self.job
        if job is None:
            raise RuntimeError("no job was started")
        end = None if timeout is None else time.monotonic() + timeout
        while not job.finished:
            for msg in self.poll():
                if on_event is not None:
                    on_event(msg)
            if job.finished:
                break
            if end is not None and time.monotonic() > end:
                self.cancel()
                end = None  # the cancel grace now bounds the wait
            time.sleep(interval)
        return job

    def discard(self, job: Job) -> None:
        """Delete a finished job's folder once its files have been used."""
        if job.finished:
            shutil.rmtree(job.job_dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the worker: politely, then by force."""
        proc = self._proc
        if proc is None:
            return
        if self.busy:
            self.cancel()
        self._send(Shutdown())
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # EOF: the worker exits even mid-job
            except OSError:
                pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self._kill()
        if self.job is not None and not self.job.finished:
            self._finish(self.job, Cancelled(self.job.job_id))
