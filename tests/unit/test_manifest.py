"""The extension manifest says what the issue and Blender require."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import furrow

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))


def test_identity_and_versions() -> None:
    assert MANIFEST["schema_version"] == "1.0.0"
    assert MANIFEST["id"] == "furrow" and MANIFEST["name"] == "Furrow"
    assert MANIFEST["type"] == "add-on"
    assert MANIFEST["blender_version_min"] == "4.2.0"
    assert MANIFEST["license"] == ["SPDX:GPL-3.0-or-later"]
    assert MANIFEST["version"] == furrow.__version__


def test_tagline_fits_blenders_rules() -> None:
    tagline = MANIFEST["tagline"]
    assert 0 < len(tagline) <= 64 and not re.search(r"[.!?]$", tagline)


def test_file_permission_has_a_reason() -> None:
    assert MANIFEST["permissions"]["files"].strip()
    assert "network" not in MANIFEST["permissions"]  # never at run time


def test_development_files_stay_out_of_the_zip() -> None:
    excluded = MANIFEST["build"]["paths_exclude_pattern"]
    for path in ("/tests/", "/scripts/", "/docs/", "/.venv/", "__pycache__/", "/.cache/"):
        assert path in excluded


def test_wheels_are_listed_by_the_build_script_not_committed() -> None:
    assert "wheels" not in MANIFEST
    assert "wheels/" in (ROOT / ".gitignore").read_text().splitlines()
