"""A Blender without the backend's packages still starts, and the panel says why Furrow can't run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh bpy process: torch is hidden (tests/hide_torch.py), then the
# extension is enabled.
SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile, pathlib
    sys.path.insert(0, ROOT)
    import tests.hide_torch

    import bpy, addon_utils, importlib
    from tests.blender.conftest import RecordingLayout

    repo = pathlib.Path(tempfile.mkdtemp())
    (repo / "furrow").symlink_to(ROOT, target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(
        name="nodeps", module="nodeps", custom_directory=str(repo), source="USER")
    errors = []
    mod = addon_utils.enable("bl_ext.nodeps.furrow", default_set=True, handle_error=errors.append)
    panels = importlib.import_module("bl_ext.nodeps.furrow.addon.panels")
    layout = RecordingLayout()
    panels.draw_main(layout, bpy.context)
    try:
        refused = str(bpy.ops.furrow.check_backend())
    except RuntimeError as exc:  # a failed poll reaches a script as RuntimeError
        refused = str(exc)
    print("RESULT" + json.dumps({
        "enabled": mod is not None and not errors,
        "errors": [repr(e) for e in errors],
        "panel": layout.texts(),
        "can_check": bpy.ops.furrow.check_backend.poll(),
        "refused": refused,
    }))
    """
)


def test_missing_torch_does_not_break_blender() -> None:
    env = dict(os.environ, BLENDER_USER_RESOURCES=tempfile.mkdtemp(prefix="furrow-nodeps-"))
    out = subprocess.run(
        [sys.executable, "-c", f"ROOT = {str(ROOT)!r}\n" + SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    result = json.loads(line[len("RESULT") :])
    assert result["enabled"], result["errors"]
    assert "Furrow cannot run" in result["panel"]
    assert any("PyTorch (torch)" in text for text in result["panel"])
    assert result["can_check"] is False
    assert "Missing PyTorch (torch)" in result["refused"]  # refused with the reason, not crashed
    assert "Traceback" not in out.stderr
