"""Time the real add-on inside a fresh bpy process (shared by the bench_* scripts).

The snippet runs after Furrow is enabled from this checkout; it appends seconds
to ``times`` and the wrapper returns them. One process per call: the first
timing in it is what an artist's first use in a Blender session costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import json, os, sys, tempfile, time, pathlib
import bpy, addon_utils
repo = pathlib.Path(tempfile.mkdtemp()); (repo / "furrow").symlink_to(sys.argv[1], target_is_directory=True)
bpy.context.preferences.extensions.repos.new(
    name="bench", module="bench", custom_directory=str(repo), source="USER")
addon_utils.enable("bl_ext.bench.furrow", default_set=True)
times = []
"""


def run_in_blender(snippet: str, *args: str) -> list[float]:
    """Seconds the snippet recorded in ``times``; ``args`` are sys.argv[2:] inside it."""
    env = dict(os.environ, BLENDER_USER_RESOURCES=tempfile.mkdtemp(prefix="furrow-bench-blender-"))
    code = _PRELUDE + textwrap.dedent(snippet) + '\nprint("TIMES" + json.dumps(times))\n'
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), *args], capture_output=True, text=True, env=env, check=True
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("TIMES"))
    result: list[float] = json.loads(line[len("TIMES") :])
    return result
