#!/usr/bin/env python3
"""Benchmark photo -> head: seconds per step and peak memory, on the sample photos.

Run: .venv/bin/python scripts/bench_photo.py [--runs 5] [--threads 2] [--json FILE]

Each run is furrow.photo.pipeline.reconstruct on one photo in a fresh process (so model loading,
MediaPipe's graph and the head's UV layout are built inside the timing, as for an artist's first
photo), plus the same in a warm process (a second photo in the same worker). Reports the median
over --runs of: landmarks, fit (landmarks), photometric refinement (with its albedo projections,
the last at 1024 px; ``--no-photometric``: the albedo alone), detail (1024 px, ``--detail``
auto, model or image), total, and the process's peak RSS. ``--prewarm S``: the cold photo
starts after the worker's prewarm (what Head from Photo starts when its file browser opens) had
S seconds. Prints a markdown table with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
t0 = time.perf_counter()
from furrow.heads.default import load_default_head
from furrow.photo.pipeline import reconstruct
from furrow.photo.samples import sample_photo
head = load_default_head()
load = time.perf_counter() - t0
out = []
from furrow.photo.pipeline import PhotoSettings
settings = PhotoSettings(detail=sys.argv[4])
if sys.argv[3] != "1":
    settings.photometric = None
if float(sys.argv[5]) > 0:  # the artist picks the file while the worker prewarms
    from furrow import jobs
    jobs.start_prewarm("head_from_photo")
    time.sleep(float(sys.argv[5]))
for name in sys.argv[1].split(","):
    r = reconstruct(head, sample_photo(name), settings)
    out.append({"photo": name, **r.seconds})
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"load": load, "runs": out, "peak_rss_mb": rss}))
"""


def run_child(
    photos: list[str], threads: int, photometric: bool = True, detail: str = "auto", prewarm: float = 0.0
) -> dict[str, object]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(photos), str(threads), "1" if photometric else "0", detail,
         str(prewarm)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    from furrow.machine import cpu_name
    from furrow.photo.samples import SAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-photometric", action="store_true", help="the landmark fit alone")
    parser.add_argument(
        "--prewarm", type=float, default=0.0, metavar="S",
        help="cold runs start after the worker's prewarm had S seconds (a file browser open)",
    )  # fmt: skip
    parser.add_argument(
        "--detail", choices=["auto", "model", "image"], default="auto", help="the detail path (default auto)"
    )
    args = parser.parse_args()
    steps = ("landmarks", "fit", "photometric", "albedo", "detail", "total")
    rows: dict[str, dict[str, list[float]]] = {}
    peak: list[float] = []
    for _ in range(args.runs):
        for name in SAMPLES:
            # cold: this photo first in a fresh process; warm: the same photo again after another one
            other = next(n for n in SAMPLES if n != name)
            result = run_child(
                [name, other, name], args.threads, not args.no_photometric, args.detail, args.prewarm
            )
            runs = result["runs"]
            assert isinstance(runs, list)
            for label, run in (("cold", runs[0]), ("warm", runs[2])):
                bucket = rows.setdefault(f"{name} ({label})", {s: [] for s in steps})
                for s in steps:
                    bucket[s].append(float(run.get(s, 0.0)))
            peak.append(float(result["peak_rss_mb"]))  # type: ignore[arg-type]
    load = os.getloadavg()[0]
    print(
        f"{cpu_name()}, {args.threads} torch threads, detail {args.detail}, prewarm {args.prewarm:g} s, "
        f"load average {load:.1f}; "
        f"median of {args.runs} runs\n"
    )
    print("| photo | landmarks (s) | fit (s) | photometric (s) | albedo (s) | detail (s) | total (s) |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for label, values in rows.items():
        med = {s: statistics.median(v) for s, v in values.items()}
        summary[label] = med
        print(f"| {label} | " + " | ".join(f"{med[s]:.2f}" for s in steps) + " |")
    print(
        f"\npeak RSS (whole process, three photos): median {statistics.median(peak):.0f} MB, "
        f"max {max(peak):.0f} MB"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"machine": cpu_name(), "load": load, "rows": summary, "peak_rss_mb": peak})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
