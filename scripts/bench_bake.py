#!/usr/bin/env python3
"""Benchmark detail bakes: frames/s written to disk (16-bit PNG), per resolution, model and precision.

Run: .venv/bin/python scripts/bench_bake.py [--res 512 1024] [--frames 250] [--runs 5] [--json FILE]

A bake here is the real thing (furrow.details.bake.bake): Detailed3DMM frames for a
speech clip's curves (the demo sample's, looped to --frames), encoded and written by
the writer threads into a fresh folder on the local disk, timed end to end after the
per-person preparation, which is timed apart (its first call per resolution also
builds the head's skin fields; later calls reuse them). Each figure is the median of
--runs bakes. Also reports disk per frame and the process's peak RSS. Prints a
markdown table with the machine and its load average (other jobs share the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from furrow.details import DetailIdentity  # noqa: E402
from furrow.details.bake import ProceduralSource, bake  # noqa: E402
from furrow.details.detailed3dmm import WEIGHTS, Detailed3DMMSource  # noqa: E402
from furrow.heads.default import load_default_head  # noqa: E402
from furrow.machine import cpu_name  # noqa: E402


def clip_weights(frames: int) -> np.ndarray:
    """The demo sample's speech curves (audio -> ARKit), looped to ``frames``."""
    from furrow.speech.pipeline import audio_to_curves

    curves = audio_to_curves(ROOT / "samples" / "demo_speech.flac", 25.0)
    reps = -(-frames // curves.n_frames)
    out: np.ndarray = np.tile(curves.weights, (reps, 1))[:frames]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", nargs="+", default=["auto"], choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--procedural", action="store_true", help="also time the procedural source")
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="Detailed3DMM weights to time")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = clip_weights(args.frames)
    person = DetailIdentity(age=55, seed=7)
    sources: list[tuple[str, Any]] = [
        (f"detailed3dmm {p}", Detailed3DMMSource(args.weights, precision=p, head=load_default_head()))
        for p in args.precision
    ]
    if args.procedural:
        sources.append(("procedural", ProceduralSource(load_default_head())))
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="furrow-bench-bake-"))
    try:
        for res in args.res:
            for label, source in sources:
                t0 = time.perf_counter()
                source.prepare(person, res)
                first_prepare = time.perf_counter() - t0
                t0 = time.perf_counter()
                source.prepare(person, res)
                prepare = time.perf_counter() - t0
                times, sizes = [], []
                for run in range(args.runs):
                    out = tmp / f"{res}-{run}"
                    info = bake(source, person, weights, out, resolution=res, batch=args.batch)
                    times.append(info.seconds - 0.0)
                    sizes.append(info.bytes / info.frame_count)
                    shutil.rmtree(out)
                med = statistics.median(times)
                rows.append(
                    {
                        "resolution": res,
                        "source": label,
                        "frames": args.frames,
                        "frames_per_s": args.frames / med,
                        "median_s": med,
                        "min_s": min(times),
                        "max_s": max(times),
                        "prepare_first_s": first_prepare,
                        "prepare_s": prepare,
                        "mb_per_frame": statistics.median(sizes) / 1e6,
                    }
                )
                print(f"{res} px {label}: {args.frames / med:.1f} frames/s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| res | source | frames/s (median) | s for {args.frames} frames (min-max) | MB/frame "
        "| prepare s (first) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['resolution']} | {r['source']} | {r['frames_per_s']:.1f} | {r['median_s']:.2f} "
            f"({r['min_s']:.2f}-{r['max_s']:.2f}) | {r['mb_per_frame']:.2f} | "
            f"{r['prepare_s']:.2f} ({r['prepare_first_s']:.1f}) |"
        )
    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "loadavg_1min": os.getloadavg()[0],
        "peak_rss_mb": peak_mb,
    }
    print(
        f"\nMachine: {machine['cpu']}, {machine['cores']} cores, {args.threads} torch threads, torch "
        f"{machine['torch']}, load average {machine['loadavg_1min']:.2f}; {args.runs} runs, median; "
        f"peak RSS {peak_mb:.0f} MB"
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
