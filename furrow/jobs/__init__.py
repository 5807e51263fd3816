"""Jobs the worker can run, by name.

A job is ``fn(params, ctx) -> JobOutput``. Modules are imported when a job of
theirs first runs, so the worker starts without loading torch.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Cancelled(Exception):
    """Raised inside a job at a progress point after the user cancelled."""


class JobInputError(Exception):
    """Bad input the user can fix; the message is shown to them as it is."""


class MissingDependencyError(Exception):
    """A package or model file the job needs is not there; the message says which."""


@dataclass
class JobOutput:
    """What a finished job hands back: files it wrote into its job folder, JSON data."""

    files: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class JobContext(Protocol):
    """What a job may use from the worker."""

    job_dir: Path

    @property
    def device(self) -> str:
        """The torch device to compute on (resolved on first use)."""

    def progress(self, fraction: float, message: str) -> None:
        """Report progress; raises ``Cancelled`` if the user cancelled."""

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` if the user cancelled."""

    def warn(self, message: str) -> None:
        """Add a warning to the job's result."""


JobFn = Callable[[dict[str, Any], JobContext], JobOutput]

# name -> "module:function", relative to this package.
REGISTRY: dict[str, str] = {
    "check_backend": ".diagnostics:check_backend",
    "exercise": ".diagnostics:exercise",
    "prepare_head": ".heads:prepare_head",
    "animate_from_audio": ".speech:animate_from_audio",
    "bake_details": ".details:bake_details",
    "head_from_photo": ".photo:head_from_photo",
}


# job name -> "module:function" that loads what the job's first run would (see ``start_prewarm``).
PREWARM: dict[str, str] = {
    "head_from_photo": ".photo:prewarm",
}


def start_prewarm(name: str) -> bool:
    """Run job ``name``'s prewarm on a daemon thread; False if it has none. Python's import lock
    makes a job that starts meanwhile wait for a module half-loaded, never see it half-made."""
    target = PREWARM.get(name)
    if target is None:
        return False
    module_name, _, attr = target.partition(":")

    def run() -> None:
        try:
            getattr(importlib.import_module(module_name, __name__), attr)()
        except Exception as exc:  # only a lost head start: the job loads the same itself
            print(f"furrow worker: prewarm for {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    threading.Thread(target=run, name=f"furrow-prewarm-{name}", daemon=True).start()
    return True


def resolve(name: str) -> JobFn:
    """The function behind job ``name``; KeyError if there is none."""
    target = REGISTRY[name]
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name, __name__)
    fn: JobFn = getattr(module, attr)
    return fn
