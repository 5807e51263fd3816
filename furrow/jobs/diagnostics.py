"""Jobs that check the backend itself.

``check_backend`` is what the add-on's "Check Backend" button runs: it proves
torch loads and computes on the chosen device. ``exercise`` drives the worker
machinery (progress, files, cancel, failures, crashes) on purpose; the tests use
it, and so can a user chasing a problem with their installation.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import time
from typing import Any

from . import JobContext, JobInputError, JobOutput, MissingDependencyError

CRASH_MODES = ("", "raise", "exit", "segfault", "hang")


def check_backend(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    ctx.progress(0.0, "Loading PyTorch")
    try:
        import numpy
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            f"the backend needs {exc.name}, which is not installed with Blender's Python; "
            "reinstall the Furrow extension for your platform"
        ) from exc
    ctx.progress(0.5, f"Computing on {ctx.device}")
    a = torch.randn(256, 256, device=ctx.device)
    checksum = float((a @ a.T).trace().item())
    ctx.progress(1.0, "Done")
    return JobOutput(
        data={
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_path": os.path.dirname(torch.__file__ or ""),
            "numpy": numpy.__version__,
            "device": ctx.device,
            "cuda": bool(torch.cuda.is_available()),
            "mps": bool(torch.backends.mps.is_available()),
            "threads": torch.get_num_threads(),
            "checksum": checksum,
        }
    )


def exercise(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    """Count through ``steps`` progress points, then write ``exercise.json``.

    ``crash`` picks a failure at step ``crash_at``: ``raise`` (a bug in a job),
    ``exit`` (the process ends abruptly), ``segfault`` (a real SIGSEGV), ``hang``
    (stops answering, even to cancel).
    """
    steps = int(params.get("steps", 5))
    delay = float(params.get("step_seconds", 0.01))
    crash = str(params.get("crash", ""))
    crash_at = int(params.get("crash_at", 0))
    if steps < 1 or delay < 0:
        raise JobInputError("exercise needs steps >= 1 and step_seconds >= 0")
    if crash not in CRASH_MODES:
        raise JobInputError(f"unknown crash mode {crash!r}; use one of {CRASH_MODES[1:]}")

    for i in range(steps):
        if crash and i == crash_at:
            _fail(crash)
        ctx.progress(i / steps, f"Step {i + 1} of {steps}")
        print(f"exercise: step {i + 1}")  # chatty, as libraries are: must not disturb the protocol
        time.sleep(delay)
    ctx.progress(1.0, "Writing result")
    out = ctx.job_dir / "exercise.json"
    out.write_text(json.dumps({"steps": steps, "pid": os.getpid()}))
    return JobOutput(files=[out], data={"steps": steps, "pid": os.getpid()})


def _fail(mode: str) -> None:
    if mode == "raise":
        raise RuntimeError("exercise: failing on purpose")
    if mode == "exit":
        os._exit(3)
    if mode == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if mode == "hang":
        while True:  # no progress points, so cancel cannot reach it cooperatively
            time.sleep(0.05)
