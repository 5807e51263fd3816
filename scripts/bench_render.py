#!/usr/bin/env python3
"""Benchmark Render Clip: seconds per frame of the default head with Cycles on the CPU.

Run: .venv/bin/python scripts/bench_render.py [--res 512] [--samples 32] [--quality final|preview]
     [--frames 6] [--runs 3]

Each run is a fresh bpy process (scripts/_blender_bench.py): Add Head, a jawOpen
animation (so the mesh changes every frame, as in speech), then the real
``furrow.render_clip`` operator over ``--frames`` frames. Figures, medians over
the runs: the first frame (Cycles loads its kernels and builds the scene), the
frames after it (the steady cost of a clip) and the MP4 encode. Prints a
markdown table and the machine (CPU model, cores, load average).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _blender_bench import run_in_blender

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from furrow.machine import cpu_name, load_average

SNIPPET = """
import importlib
res, samples, n, out, quality = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
render = importlib.import_module("bl_ext.bench.furrow.addon.scene.render")
bpy.ops.wm.read_homefile(use_empty=True)
bpy.ops.furrow.add_head(source="DEFAULT")
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, n
key = bpy.context.active_object.data.shape_keys.key_blocks["jawOpen"]
for f in range(1, n + 1):
    key.value = 0.5 * (f % 2)
    key.keyframe_insert("value", frame=f)
stamps = []
render.progress_hooks.append(lambda fraction, message: stamps.append(time.perf_counter()))
start = time.perf_counter()
result = bpy.ops.furrow.render_clip(filepath=out, resolution=res, samples=samples, quality=quality)
assert result == {"FINISHED"}
end = time.perf_counter()
frames = [b - a for a, b in zip([start] + stamps[:n - 1], stamps[:n])]
times.extend(frames + [end - stamps[n - 1]])
"""


def machine() -> str:
    cpu = cpu_name()
    load = load_average()
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}; load average {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=512)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--quality", choices=["final", "preview"], default="final")
    parser.add_argument("--frames", type=int, default=6, help="frames per run (the first is reported apart)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    first, later, encode = [], [], []
    with tempfile.TemporaryDirectory(prefix="furrow-bench-render-") as tmp:
        for run in range(args.runs):
            out = str(Path(tmp) / f"run{run}.mp4")
            t = run_in_blender(SNIPPET, str(args.res), str(args.samples), str(args.frames), out, args.quality)
            first.append(t[0])
            later.extend(t[1 : args.frames])
            encode.append(t[args.frames])
            print(f"run {run + 1}: " + " ".join(f"{x:.2f}" for x in t), file=sys.stderr)
    print(f"Machine: {machine()}")
    print(
        f"{args.res} px square, {args.samples} samples, {args.quality} quality, OpenImageDenoise; "
        f"{args.runs} runs of {args.frames} frames\n"
    )
    print("| what | median | min | max | n |\n|---|---:|---:|---:|---:|")
    for label, xs in (
        ("first frame of a render (kernels, scene build)", first),
        ("each later frame (seconds per frame)", later),
        (f"MP4 encode of {args.frames} frames", encode),
    ):
        print(f"| {label} | {statistics.median(xs):.2f} s | {min(xs):.2f} s | {max(xs):.2f} s | {len(xs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
