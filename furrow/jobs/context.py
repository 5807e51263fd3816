"""The context a job runs in: its folder, its device, progress and warnings.

The worker and the CLI share this; they differ only in where progress goes and
how a cancel arrives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import Cancelled


def resolve_device(requested: str) -> tuple[str, Optional[str]]:
    """The torch device for ``requested`` (auto/cpu/cuda/mps), and a warning if it fell back."""
    requested = requested.lower()
    if requested == "cpu":
        return "cpu", None
    import torch

    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if requested == "auto":
        return ("cuda" if cuda else "mps" if mps else "cpu"), None
    if requested == "cuda" and cuda:
        return "cuda", None
    if requested == "mps" and mps:
        return "mps", None
    return "cpu", f"{requested.upper()} is not available here; computing on the CPU"


class BaseContext:
    """A ``JobContext``; the device is resolved on first use (it imports torch)."""

    def __init__(self, job_dir: Path, device: str = "auto") -> None:
        self.job_dir = job_dir
        self._requested = device
        self._device: Optional[str] = None
        self.warnings: list[str] = []

    @property
    def device(self) -> str:
        if self._device is None:
            self._device, warning = resolve_device(self._requested)
            if warning:
                self.warn(warning)
        return self._device

    def cancelled(self) -> bool:
        return False

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise Cancelled()

    def progress(self, fraction: float, message: str) -> None:
        self.check_cancelled()
        self.report(min(1.0, max(0.0, float(fraction))), message)

    def report(self, fraction: float, message: str) -> None:
        """Where progress goes; subclasses send it somewhere."""

    def warn(self, message: str) -> None:
        self.warnings.append(message)
