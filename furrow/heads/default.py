"""The default head: where its built file lives and how to load it (once per process).

The file is a build cache made from the pinned MakeHuman data by
``./scripts/setup`` (or ``./scripts/build_default_head``); it is never committed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .model import HeadFileError, HeadModel

HEAD_FILE = "default_head.npz"


def default_head_path() -> Path:
    """``furrow/data/default_head.npz`` in this checkout (or installed extension)."""
    return Path(__file__).resolve().parents[1] / "data" / HEAD_FILE


@lru_cache(maxsize=1)
def load_default_head() -> HeadModel:
    """The default head; a missing or unreadable file is a HeadFileError that says how to build it."""
    path = default_head_path()
    if not path.is_file():
        raise HeadFileError(
            f"{path}: the default head has not been built; run ./scripts/setup "
            "(or ./scripts/build_default_head) to build it from the pinned MakeHuman data"
        )
    try:
        return HeadModel.load(path)
    except HeadFileError as exc:
        raise HeadFileError(f"{exc}; rebuild it with ./scripts/build_default_head") from exc
