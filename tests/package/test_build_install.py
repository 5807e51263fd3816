"""The built extension zip installs into Blender, enables, and runs its backend from the installed copy.

This is what an artist does with the release zip: Blender's own installer
(``extensions.package_install_files``) unpacks it, extracts the bundled wheels
into the extensions' shared site-packages, and enables the add-on. Only then do
we know the zip is complete: the manifest's wheel list, the wheels themselves,
and that the backend worker finds torch there rather than in the dev venv.
"""

from __future__ import annotations

import json
import os
import platform as platform_module
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build_extension"
SAMPLE = ROOT / "samples" / "demo_speech.flac"  # 4.8 s of speech

# Runs in a fresh bpy process (BLENDER_USER_RESOURCES is set in its environment,
# so Blender reads it at import). The dev venv also has torch; a real Blender's
# Python does not. So the extensions' site-packages is moved ahead of the venv
# on sys.path before the check: the worker inherits that order and must load
# torch from what the zip installed, which the result's torch_path proves.
SCRIPT = textwrap.dedent(
    """
    import importlib, json, os, sys, time
    import bpy  # first: it puts Blender's own modules (addon_utils) on sys.path
    import addon_utils

    zip_path = sys.argv[1]
    started = time.monotonic()
    installed = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True)
    install_s = time.monotonic() - started

    module = "bl_ext.user_default.furrow"
    site = os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".local", "lib",
                        "python{}.{}".format(*sys.version_info[:2]), "site-packages")
    if site in sys.path:
        sys.path.remove(site)
    sys.path.insert(0, site)

    enabled = module in bpy.context.preferences.addons
    loaded, _ = addon_utils.check(module)
    has_op = hasattr(bpy.types, "FURROW_OT_check_backend")
    started = time.monotonic()
    checked = str(bpy.ops.furrow.check_backend()) if has_op else "no operator"
    check_s = time.monotonic() - started
    jobs = importlib.import_module(module + ".addon.jobs")
    job = jobs.manager.job
    data = job.result.data if job is not None and job.result is not None else {}
    added = str(bpy.ops.furrow.add_head(source="DEFAULT")) if has_op else "no operator"
    head = bpy.context.active_object
    head_keys = len(head.data.shape_keys.key_blocks) if head is not None and head.data.shape_keys else 0
    started = time.monotonic()
    animated = str(bpy.ops.furrow.animate_from_audio(filepath=sys.argv[2])) if has_op else "no operator"
    animate_s = time.monotonic() - started
    keys = head.data.shape_keys if head is not None else None
    action = keys.animation_data.action if keys is not None and keys.animation_data else None
    keyed = set()
    if action is not None:
        for layer in getattr(action, "layers", []):
            for strip in layer.strips:
                for bag in strip.channelbags:
                    keyed |= {fc.data_path for fc in bag.fcurves if len(fc.keyframe_points) > 1}
        keyed |= {fc.data_path for fc in getattr(action, "fcurves", []) if len(fc.keyframe_points) > 1}
    scene = bpy.context.scene
    strips = scene.sequence_editor.strips_all if scene.sequence_editor else []
    sounds = [s.sound.filepath for s in strips if s.type == "SOUND"]
    print("RESULT" + json.dumps({
        "installed": sorted(installed),
        "install_s": install_s,
        "enabled": enabled,
        "loaded": loaded,
        "has_op": has_op,
        "checked": checked,
        "check_s": check_s,
        "summary": bpy.context.window_manager.furrow.backend_summary,
        "torch_path": data.get("torch_path", ""),
        "added": added,
        "head_keys": head_keys,
        "animated": animated,
        "animate_s": animate_s,
        "keyed": sorted(keyed),
        "sounds": sounds,
        "frame_end": scene.frame_end,
        "site": site,
        "ext_dir": os.path.dirname(sys.modules[module].__file__),
    }))
    jobs.manager.shutdown()
    """
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temp folder removed at once: the zip and its install take ~2.5 GB, too much to leave behind."""
    path = Path(tempfile.mkdtemp(prefix="furrow-package-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def this_platform() -> str:
    """Blender's name for this machine's platform, as in the zip's file name (linux-x64, ...)."""
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    system = "linux" if system.startswith("linux") else system
    machine = platform_module.machine().lower()
    return f"{system}-{ {'x86_64': 'x64', 'amd64': 'x64', 'aarch64': 'arm64'}.get(machine, machine) }"


@pytest.mark.slow
def test_built_zip_installs_enables_and_runs_backend(scratch: Path) -> None:
    out = scratch / "dist"
    started = time.monotonic()
    build = subprocess.run(
        [str(BUILD), "--out", str(out)], capture_output=True, text=True, timeout=1800, cwd=ROOT
    )
    build_s = time.monotonic() - started
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]

    # --- the zip -----------------------------------------------------------------
    platform = this_platform()
    source = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    zips = sorted(out.glob("*.zip"))
    assert [z.name for z in zips] == [f"{source['id']}-{source['version']}-{platform.replace('-', '_')}.zip"]
    zip_path = zips[0]
    assert str(zip_path) in build.stdout  # the script says where it put it
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode("utf-8"))
    wheels = manifest["wheels"]
    assert manifest["platforms"] == [platform]
    assert any(re.match(r"\./wheels/torch-2\.13\.0[+-]", w) for w in wheels), wheels
    if platform == "linux-x64":  # the CPU build: PyPI's Linux torch is the CUDA one
        assert any(w.startswith("./wheels/torch-2.13.0+cpu-") for w in wheels), wheels
    assert not [w for w in wheels if "numpy" in w.lower()], "Blender ships numpy: never bundle it"
    assert not [w for w in wheels if re.match(r"\./wheels/(nvidia|triton)", w)], "CUDA wheels bundled"
    assert {f"wheels/{w[len('./wheels/') :]}" for w in wheels} <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "scripts/", ".venv/", ".git/", "docs/"))]
    assert "__init__.py" in names and "furrow/worker.py" in names
    assert "furrow/data/default_head.npz" in names  # built at setup, shipped in the zip

    # --- install, enable, run the backend from the installed copy ---------------------
    resources = scratch / "user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(resources))
    env.pop("PYTHONPATH", None)  # nothing from the checkout: only what the zip installed
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(zip_path), str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=scratch,
    )
    install_run_s = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(line[len("RESULT") :])
    print(
        f"build {build_s:.0f} s; zip {zip_path.stat().st_size / 1e6:.0f} MB; "
        f"install+enable {result['install_s']:.1f} s; check_backend {result['check_s']:.1f} s; "
        f"animate_from_audio {result['animate_s']:.1f} s; install subprocess {install_run_s:.0f} s"
    )

    assert result["installed"] == ["FINISHED"]
    assert result["enabled"] and result["loaded"], result
    assert result["has_op"]
    assert result["checked"] == "{'FINISHED'}", run.stderr[-2000:]
    assert result["summary"].startswith("torch 2.13.0"), result["summary"]
    assert result["added"] == "{'FINISHED'}" and result["head_keys"] == 53  # Add Head from the installed copy
    # Animate from Audio from the installed copy: speech model, librosa and soundfile all from the zip
    assert result["animated"] == "{'FINISHED'}", run.stderr[-2000:]
    keyed = set(result["keyed"])
    assert {'key_blocks["jawOpen"].value', 'key_blocks["mouthClose"].value'} <= keyed, sorted(keyed)[:10]
    assert len(keyed) >= 40
    assert [Path(s).name for s in result["sounds"]] == [SAMPLE.name]
    assert result["frame_end"] >= 1 + int(4.7 * 24)  # the scene covers the 4.8 s recording
    assert (
        Path(result["ext_dir"]).resolve() == (resources / "extensions" / "user_default" / "furrow").resolve()
    )
    site = Path(result["site"])
    assert site.is_relative_to(resources)
    assert (site / "torch" / "__init__.py").is_file()
    assert not (site / "numpy").exists()
    assert Path(result["torch_path"]).resolve() == (site / "torch").resolve(), result["torch_path"]
