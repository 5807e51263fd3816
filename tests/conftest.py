"""Shared test setup.

Blender reads BLENDER_USER_RESOURCES when bpy is first imported, so it is set
here, before any test module can import bpy: tests never touch the user's own
Blender configuration.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_resources = Path(tempfile.mkdtemp(prefix="furrow-blender-user-"))
os.environ["BLENDER_USER_RESOURCES"] = str(_resources)
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_resources, ignore_errors=True)


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture
def client(work_dir: Path) -> Iterator[object]:
    from furrow.client import WorkerClient

    c = WorkerClient(work_dir)
    yield c
    c.shutdown()
