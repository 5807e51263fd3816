"""``python -m furrow`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import furrow

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "furrow", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_version() -> None:
    out = _run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"furrow {furrow.__version__}"


def test_help_lists_the_subcommands() -> None:
    out = _run("--help")
    assert out.returncode == 0
    assert "usage: python -m furrow" in out.stdout and "check" in out.stdout


def test_no_command_prints_help_and_fails() -> None:
    out = _run()
    assert out.returncode == 2 and "usage:" in out.stdout


def test_unknown_option_is_one_clear_line() -> None:
    out = _run("--frobnicate")
    assert out.returncode == 2
    assert "unrecognized arguments: --frobnicate" in out.stderr
    assert "Traceback" not in out.stderr


def test_check_reports_the_backend_as_json() -> None:
    out = _run("--quiet", "--device", "cpu", "check", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["device"] == "cpu" and data["torch"].startswith("2.13.0")
    assert data["threads"] >= 1
