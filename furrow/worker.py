"""The backend worker process: ``python -m furrow.worker``.

Reads protocol requests on stdin, runs one job at a time, writes events on
stdout. Anything else that writes to stdout (a library's print) is redirected
to stderr so it cannot corrupt the protocol stream; stderr goes to the log the
client keeps. When stdin closes (Blender quit or crashed) the worker exits at
once, even mid-job, so no orphan outlives its Blender.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Optional

from . import __version__, jobs
from .jobs.context import BaseContext
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


class _Context(BaseContext):
    """What one job sees inside the worker."""

    def __init__(self, worker: Worker, run: Run) -> None:
        super().__init__(Path(run.job_dir), run.device)
        self._worker = worker
        self._job_id = run.job_id

    def cancelled(self) -> bool:
        return self._worker.cancel_event.is_set()

    def report(self, fraction: float, message: str) -> None:
        self._worker.send(Progress(self._job_id, fraction, message))


class Worker:
    def __init__(self, out: IO[str], inp: IO[str]) -> None:
        self._out = out
        self._in = inp
        self._lock = threading.Lock()
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.cancel_event = threading.Event()
        self._current: Optional[str] = None
        self._cancelled: set[str] = set()  # ids cancelled, even before they started

    def send(self, msg: Message) -> None:
        with self._lock:
            self._out.write(encode(msg) + "\n")
            self._out.flush()

    def _read_requests(self) -> None:
        """Reader thread: cancels act at once, everything else queues for the main loop."""
        for line in self._in:
            if not line.strip():
                continue
            try:
                msg = decode(line)
            except ProtocolError as exc:
                print(f"furrow worker: ignoring bad request: {exc}", file=sys.stderr)
                continue
            if isinstance(msg, Prewarm):
                jobs.start_prewarm(msg.job)
                continue
            if isinstance(msg, Cancel):
                self._cancelled.add(msg.job_id)
                if msg.job_id == self._current:
                    self.cancel_event.set()
                continue
            self.inbox.put(msg)
        # stdin closed: whoever started us is gone; nobody is left to read results.
        os._exit(0)

    def serve(self) -> None:
        threading.Thread(target=self._read_requests, name="furrow-requests", daemon=True).start()
        self.send(Ready(pid=os.getpid(), version=__version__))
        while True:
            msg = self.inbox.get()
            if isinstance(msg, Shutdown):
                return
            if isinstance(msg, Run):
                self.run(msg)

    def run(self, run: Run) -> None:
        self.cancel_event.clear()
        self._current = run.job_id
        if run.job_id in self._cancelled:
            self.cancel_event.set()
        ctx = _Context(self, run)
        final: Message
        try:
            fn = jobs.resolve(run.job)
        except KeyError:
            final = Error(run.job_id, "unknown_job", f"the backend has no job named {run.job!r}")
        else:
            try:
                out = fn(run.params, ctx)
                final = Result(
                    run.job_id,
                    files=[str(Path(p).resolve()) for p in out.files],
                    data=out.data,
                    warnings=ctx.warnings + out.warnings,
                )
            except jobs.Cancelled:
                final = Cancelled(run.job_id)
            except jobs.JobInputError as exc:
                final = Error(run.job_id, "bad_input", str(exc))
            except jobs.MissingDependencyError as exc:
                final = Error(run.job_id, "missing_dependency", str(exc))
            except MemoryError:
                final = Error(
                    run.job_id,
                    "out_of_memory",
                    f"{run.job} ran out of memory; try a lower resolution or fewer frames",
                )
            except Exception as exc:  # a bug: keep the worker alive, report it plainly
                detail = traceback.format_exc()
                print(detail, file=sys.stderr, flush=True)
                final = Error(
                    run.job_id,
                    "internal",
                    f"{run.job} failed: {type(exc).__name__}: {exc}",
                    detail=detail,
                )
        self._current = None
        self.send(final)


def main() -> int:
    # The protocol gets a private copy of stdout; fd 1 itself becomes stderr.
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    faulthandler.enable(file=sys.stderr)
    Worker(proto, sys.stdin).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
