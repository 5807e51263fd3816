"""The job protocol between the add-on (client) and the backend worker.

One JSON object per line over the worker's stdin/stdout. Every message carries a
``type``; job messages carry the ``job_id`` they belong to. Kept free of torch so
Blender can import it without loading the backend.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Union

PROTOCOL_VERSION = 1


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


# --- client -> worker ---------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run ``job`` with ``params``; files it writes go into ``job_dir``."""

    TYPE: ClassVar[str] = "run"
    job_id: str
    job: str
    params: dict[str, Any]
    job_dir: str
    device: str = "auto"


@dataclass(frozen=True)
class Cancel:
    """Ask the running job to stop at its next progress point."""

    TYPE: ClassVar[str] = "cancel"
    job_id: str


@dataclass(frozen=True)
class Prewarm:
    """Load what job ``job`` will need (imports, caches) on a background thread, while the artist
    is still choosing its input; no reply, and nothing if the worker has no prewarm for it."""

    TYPE: ClassVar[str] = "prewarm"
    job: str


@dataclass(frozen=True)
class Shutdown:
    """Exit the worker once the current job (if any) is over."""

    TYPE: ClassVar[str] = "shutdown"


# --- worker -> client ---------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The worker is up and reads requests."""

    TYPE: ClassVar[str] = "ready"
    pid: int
    version: str
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Progress:
    """``fraction`` in [0, 1] of the job is done; ``message`` says what is going on."""

    TYPE: ClassVar[str] = "progress"
    job_id: str
    fraction: float
    message: str


@dataclass(frozen=True)
class Result:
    """The job finished: ``files`` (absolute paths inside the job folder), ``data`` (JSON)."""

    TYPE: ClassVar[str] = "result"
    job_id: str
    files: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Error:
    """The job failed. ``message`` is one line for the artist; ``detail`` is for the log.

    Kinds: ``bad_input`` (the user can fix it), ``missing_dependency``,
    ``unknown_job``, ``out_of_memory``, ``internal`` (a bug), ``crashed`` (the
    worker process died; produced by the client).
    """

    TYPE: ClassVar[str] = "error"
    job_id: str
    kind: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class Cancelled:
    """The job stopped because it was asked to."""

    TYPE: ClassVar[str] = "cancelled"
    job_id: str


Message = Union[Run, Cancel, Prewarm, Shutdown, Ready, Progress, Result, Error, Cancelled]
_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls for cls in (Run, Cancel, Prewarm, Shutdown, Ready, Progress, Result, Error, Cancelled)
}
FINAL_TYPES = (Result, Error, Cancelled)


def encode(msg: Message) -> str:
    """One line of JSON (no newline inside, none at the end)."""
    return json.dumps({"type": msg.TYPE, **asdict(msg)}, separators=(",", ":"))


def decode(line: str) -> Message:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"not a JSON object: {line[:200]!r}")
    cls = _TYPES.get(obj.pop("type", None))
    if cls is None:
        raise ProtocolError(f"unknown message type in {line[:200]!r}")
    names = {f.name for f in fields(cls)}
    try:
        msg: Message = cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(f"bad {cls.TYPE} message: {exc}") from exc
    return msg
