"""Which backend packages Blender's Python can find, without importing them.

The add-on itself never loads torch (the worker does), so a Blender without the
backend's wheels still starts and the panel can say what is missing.
"""

from __future__ import annotations

import importlib.util

# module -> what to call it for the artist
RUNTIME = {
    "torch": "PyTorch",
    "numpy": "NumPy",
    "librosa": "librosa",
    "soundfile": "soundfile",
}

_missing: list[str] = []


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def refresh() -> list[str]:
    """Look again (on register); returns the missing modules."""
    _missing[:] = [m for m in RUNTIME if not _present(m)]
    return list(_missing)


def missing() -> list[str]:
    return list(_missing)


def problem() -> str:
    """One line for the panel and for disabled buttons; empty when all is there."""
    if not _missing:
        return ""
    names = ", ".join(f"{RUNTIME[m]} ({m})" for m in _missing)
    return (
        f"Missing {names}: install the Furrow package built for your platform "
        "(it bundles them), then restart Blender"
    )
