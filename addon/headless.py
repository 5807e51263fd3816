"""Furrow without Blender's window: enable the add-on from this checkout in the bpy module and run a
pipeline of steps (``addon/pipeline.py``) that call its real operators.

Run by path with a Python that has bpy (``python -m furrow render`` does this):

    python addon/headless.py '{"audio": ..., "out": ..., "settings": {...}}'

It imports nothing relatively, so it also serves tests and scripts that need
the add-on enabled (``enable_checkout``). Progress lines go to stderr; an
error is one line on stderr and exit code 2 (bad input) or 1 (a bug), never
a traceback unless FURROW_DEBUG=1.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def enable_checkout(repo: str, root: Path = ROOT) -> ModuleType:
    """Enable ``root`` as the extension ``bl_ext.<repo>.furrow``: a temporary extension repository
    holding a link named ``furrow`` to it (the folder name becomes the module name, and a clone's
    folder name is arbitrary). Returns the add-on module."""
    import addon_utils
    import bpy

    prefs: Any = bpy.context.preferences
    repos = prefs.extensions.repos
    if repo not in {r.module for r in repos}:
        repo_dir = Path(tempfile.mkdtemp(prefix=f"furrow-{repo}-"))
        (repo_dir / "furrow").symlink_to(root, target_is_directory=True)
        repos.new(name=repo, module=repo, custom_directory=str(repo_dir), source="USER")
    errors: list[BaseException] = []
    enable: Any = addon_utils.enable
    mod = enable(f"bl_ext.{repo}.furrow", default_set=True, handle_error=errors.append)
    if errors:
        raise errors[0]
    if mod is None:
        raise RuntimeError(f"bl_ext.{repo}.furrow did not enable")
    module: ModuleType = mod
    return module


def _progress(fraction: float, message: str) -> None:
    if os.environ.get("FURROW_QUIET") == "1":
        return
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python addon/headless.py REQUEST_JSON", file=sys.stderr)
        return EXIT_BAD_INPUT
    # Blender's own chatter (Cycles prints a line per tile) goes nowhere; stdout keeps our summary.
    summary = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    resources = None
    if "BLENDER_USER_RESOURCES" not in os.environ:  # never the user's own Blender configuration
        resources = tempfile.mkdtemp(prefix="furrow-headless-")
        os.environ["BLENDER_USER_RESOURCES"] = resources
    debug = os.environ.get("FURROW_DEBUG") == "1"
    pipeline: Any = None
    try:
        import bpy

        mod = enable_checkout("furrowcli")
        pipeline = importlib.import_module(f"{mod.__name__}.addon.pipeline")
        settings = importlib.import_module(f"{mod.__name__}.furrow.render.settings")
        request = settings.RenderRequest.from_json(argv[1])
        pipeline.run_pipeline(bpy.context, pipeline.build_pipeline(request), _progress)
        print(f"wrote {request.out}", file=summary, flush=True)
        return 0
    except KeyboardInterrupt:
        print("furrow: interrupted; no clip was written", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        if pipeline is not None and isinstance(exc, pipeline.StepError):
            print(f"furrow: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"furrow: error: {type(exc).__name__}: {exc} (FURROW_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if resources is not None:
            shutil.rmtree(resources, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
