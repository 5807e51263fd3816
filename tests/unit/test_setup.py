"""scripts/setup stops with one actionable line when something is missing.

Each case runs the real script on a copy of the checkout's setup files in a
temporary folder, so the project's own .venv is never touched.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp: Path) -> Path:
    (tmp / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "setup", tmp / "scripts" / "setup")
    shutil.copytree(ROOT / "requirements", tmp / "requirements")
    return tmp / "scripts" / "setup"


def _run(script: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def _last_line(out: subprocess.CompletedProcess[str]) -> str:
    return out.stderr.strip().splitlines()[-1]


def test_wrong_python_is_named_with_the_fix(tmp_path: Path) -> None:
    script = _copy(tmp_path)
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\necho "3.10"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out = _run(script, FURROW_PYTHON=str(fake))
    assert out.returncode != 0
    line = _last_line(out)
    assert line.startswith("setup: error: Python 3.11 not found")
    assert "is 3.10" in line and "FURROW_PYTHON" in line and "Traceback" not in out.stderr
    assert not (tmp_path / ".venv" / ".furrow-setup").exists()


def test_failed_wheel_download_is_one_line(tmp_path: Path) -> None:
    script = _copy(tmp_path)
    with open(tmp_path / "requirements" / "dev.txt", "a") as f:
        f.write("furrow-no-such-package==0.0.1\n")
    # No index at all: the failure is immediate and needs no network.
    out = _run(script, PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="")
    assert out.returncode != 0
    line = _last_line(out)
    assert line.startswith("setup: error: pip could not download or install the pinned packages")
    assert "==" in line  # names the package pip could not get
    assert "check the network to PyPI" in line and "run ./scripts/setup again" in line
    assert not (tmp_path / ".venv" / ".furrow-setup").exists()  # not marked as done
