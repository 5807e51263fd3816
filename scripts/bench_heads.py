#!/usr/bin/env python3
"""Benchmarks for heads: evaluate, load, write .obj/.glb (and Add Head in Blender, to come).

Run: .venv/bin/python scripts/bench_heads.py [--model PATH.npz] [--runs N] [--json FILE]

Every figure is the median of --runs timed runs after one warm-up run, on the
default head unless --model names a saved head file. Prints a markdown table
and the machine (CPU model, cores, torch threads); --json writes the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from furrow.heads.arkit import ARKIT_NAMES  # noqa: E402
from furrow.heads.identity import random_identity  # noqa: E402
from furrow.heads.model import HeadModel  # noqa: E402
from furrow.io.gltf import write_glb  # noqa: E402
from furrow.io.obj import write_obj  # noqa: E402
from furrow.machine import cpu_name  # noqa: E402

DEFAULT_HEAD = ROOT / "furrow" / "data" / "default_head.npz"
FRAMES = 250


@dataclass
class Result:
    name: str
    median_ms: float
    min_ms: float
    max_ms: float
    runs: int
    goal_ms: Optional[float] = None
    note: str = ""


def timed(
    name: str, fn: Callable[[], object], runs: int, goal_ms: Optional[float] = None, note: str = ""
) -> Result:
    fn()  # warm-up: caches, allocator, lazy imports
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return Result(name, statistics.median(times), min(times), max(times), runs, goal_ms, note)


def machine() -> dict[str, Any]:
    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def bench_evaluate(model: HeadModel, runs: int) -> list[Result]:
    rng = np.random.default_rng(0)
    identity = torch.from_numpy(random_identity(model, rng))
    weights = torch.from_numpy(rng.uniform(0.0, 1.0, (FRAMES, len(ARKIT_NAMES))).astype(np.float32))

    def no_grad() -> object:
        with torch.no_grad():
            return model.evaluate(identity, weights)

    ident_g = identity.clone().requires_grad_(True)
    weights_g = weights.clone().requires_grad_(True)

    def with_grad() -> object:
        out = model.evaluate(ident_g, weights_g)
        out.square().mean().backward()
        return out

    note = f"B={FRAMES} frames x 52 ARKit weights, one identity, V={model.n_vertices}"
    return [
        timed(f"evaluate, {FRAMES} frames (no grad)", no_grad, runs, goal_ms=50.0, note=note),
        timed(
            f"evaluate + backward, {FRAMES} frames", with_grad, runs, note="gradients to identity and weights"
        ),
        timed("evaluate_np, 1 frame (numpy)", lambda: model.evaluate_np(None, weights[0].numpy()), runs),
    ]


def bench_load(path: Path, runs: int) -> list[Result]:
    size_mb = path.stat().st_size / 1e6
    return [
        timed("load head .npz", lambda: HeadModel.load(path), runs, note=f"{path.name}, {size_mb:.1f} MB")
    ]


def bench_write(model: HeadModel, runs: int) -> list[Result]:
    identity = random_identity(model, np.random.default_rng(1))
    with tempfile.TemporaryDirectory(prefix="furrow-bench-") as tmp:
        obj_path, glb_path = Path(tmp) / "head.obj", Path(tmp) / "head.glb"
        results = [
            timed(
                "write .obj + .mtl", lambda: write_obj(model, obj_path, identity=identity, normals=True), runs
            ),
            timed(
                "write .glb (52 morph targets)", lambda: write_glb(model, glb_path, identity=identity), runs
            ),
        ]
        results[0].note = f"{obj_path.stat().st_size / 1e6:.1f} MB"
        results[1].note = f"{glb_path.stat().st_size / 1e6:.1f} MB"
    return results


# ------------------------------------------------------------------------------------------------
# (d) Add Head in Blender -- PLACEHOLDER: to be filled in by the add-on's owner.
# Goal from issue 3: under 2 s. Return Result rows like the functions above (e.g. run
# bpy.ops.furrow.add_head in a fresh `import bpy` subprocess and time it there), or [] to skip.
# ------------------------------------------------------------------------------------------------
_ADD_HEAD = """
for _ in range(int(sys.argv[2])):
    bpy.ops.wm.read_homefile(use_empty=True)
    t = time.perf_counter()
    assert bpy.ops.furrow.add_head(source="DEFAULT") == {"FINISHED"}
    times.append(time.perf_counter() - t)
"""


def bench_add_head_in_blender(model_path: Path, runs: int) -> list[Result]:
    """The real operator in bpy: the first Add Head of a session starts the worker, later ones reuse it."""
    from _blender_bench import run_in_blender

    first: list[float] = []
    again: list[float] = []
    for _ in range(max(3, runs // 3)):
        times = run_in_blender(_ADD_HEAD, "4")
        first.append(times[0] * 1000)
        again.extend(t * 1000 for t in times[1:])

    def row(name: str, samples: list[float], note: str) -> Result:
        return Result(
            name, statistics.median(samples), min(samples), max(samples), len(samples), 2000.0, note
        )

    return [
        row("Add Head in Blender, first in a session", first, "starts the backend worker, loads the head"),
        row("Add Head in Blender, again", again, "worker and head already loaded"),
    ]


def markdown(results: list[Result], info: dict[str, Any], head: str) -> str:
    lines = [
        f"Head: {head}",
        f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} with "
        f"{info['torch_threads']} threads, Python {info['python']}",
        "",
        "| benchmark | median ms | min ms | max ms | runs | goal | notes |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        goal = (
            "" if r.goal_ms is None else f"< {r.goal_ms:g} ms {'ok' if r.median_ms < r.goal_ms else 'MISSED'}"
        )
        lines.append(
            f"| {r.name} | {r.median_ms:.1f} | {r.min_ms:.1f} | {r.max_ms:.1f} | {r.runs} "
            f"| {goal} | {r.note} |"
        )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help=f"a saved head .npz (default: {DEFAULT_HEAD})")
    parser.add_argument(
        "--runs", type=int, default=15, help="timed runs per benchmark (default 15, at least 5)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5 (figures are medians)")
    path: Path = args.model or DEFAULT_HEAD
    if not path.is_file():
        print(
            f"bench_heads: error: {path} is missing; run ./scripts/setup (or pass --model)", file=sys.stderr
        )
        return 2
    model = HeadModel.load(path)
    info = machine()
    results = [
        *bench_evaluate(model, args.runs),
        *bench_load(path, args.runs),
        *bench_write(model, args.runs),
        *bench_add_head_in_blender(path, args.runs),
    ]
    head = f"{model.name} ({path.name}): {model.n_vertices} vertices, {model.n_polygons} polygons, "
    head += f"{len(model.identity_names)} identity sliders"
    print(markdown(results, info, head))
    if args.json:
        args.json.write_text(
            json.dumps({"head": head, "machine": info, "results": [asdict(r) for r in results]}, indent=2)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
