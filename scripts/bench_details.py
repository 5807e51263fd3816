#!/usr/bin/env python3
"""Benchmark the procedural detail corpus: maps/s for identity, expression and both, per resolution.

Run: .venv/bin/python scripts/bench_details.py [--res 256 512] [--batch 64] [--runs 7] [--json FILE]
     .venv/bin/python scripts/bench_details.py --bake [bench_bake.py's options]

--bake measures what an artist waits for instead: per-frame displacement from the trained model,
written to disk as 16-bit PNGs (frames/s at 512 and 1024 px, disk per frame, peak memory); it
runs scripts/bench_bake.py with the options that follow.

Each figure is the median of --runs timed batches after one warm-up batch (random identities and
random ARKit weights each run), on the default head. The one-off setup per (head, resolution) (UV
rasterisation, wrinkle patterns, noise bank) is timed once and reported apart (0 when cached).
With other jobs on the CPU, 1 torch thread is usually faster than 2: a 2-thread op stalls
whenever one of its threads is descheduled. Prints a markdown
table, the machine and its load average (other jobs share the CPU); --json writes the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from furrow.details import ProceduralDetails, sample_identities  # noqa: E402
from furrow.heads.arkit import ARKIT_NAMES  # noqa: E402
from furrow.heads.default import load_default_head  # noqa: E402
from furrow.machine import cpu_name  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "loadavg_1min": os.getloadavg()[0],
    }


def main() -> int:
    if "--bake" in sys.argv[1:]:
        import runpy

        sys.argv = [str(Path(__file__).with_name("bench_bake.py"))] + [
            a for a in sys.argv[1:] if a != "--bake"
        ]
        runpy.run_path(sys.argv[0], run_name="__main__")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads to try")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    head = load_default_head()
    rows: list[dict[str, Any]] = []
    for res, threads in [(r, n) for r in args.res for n in args.threads]:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        det = ProceduralDetails(head, res)  # cached per (head, resolution) after the first
        setup_s = time.perf_counter() - t0
        timings: dict[str, list[float]] = {"identity_maps": [], "expression_maps": [], "maps": []}
        for run in range(args.runs + 1):
            ids = sample_identities(args.batch, seed=run)
            w = torch.rand(args.batch, len(ARKIT_NAMES)) ** 3  # mostly small weights, a few large
            for name in timings:
                t = time.perf_counter()
                if name == "identity_maps":
                    det.identity_maps(ids)
                elif name == "expression_maps":
                    det.expression_maps(w, ids)
                else:
                    det.maps(ids, w)
                if run > 0:  # run 0 warms up
                    timings[name].append(time.perf_counter() - t)
        for name, ts in timings.items():
            med = statistics.median(ts)
            rows.append(
                {
                    "resolution": res,
                    "threads": threads,
                    "call": name,
                    "maps_per_s": args.batch / med,
                    "median_ms_per_batch": med * 1e3,
                    "min_ms": min(ts) * 1e3,
                    "max_ms": max(ts) * 1e3,
                    "setup_s": setup_s,
                }
            )
    info = machine()
    print(f"| res | threads | call | maps/s (median) | ms/batch of {args.batch} (min-max) | setup s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['resolution']} | {r['threads']} | {r['call']} | {r['maps_per_s']:.0f} "
            f"| {r['median_ms_per_batch']:.1f} "
            f"({r['min_ms']:.1f}-{r['max_ms']:.1f}) | {r['setup_s']:.1f} |"
        )
    print(
        f"\nMachine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} with "
        f"load average {info['loadavg_1min']:.2f} (shared); "
        f"{args.runs} runs, median"
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
