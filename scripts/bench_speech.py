#!/usr/bin/env python3
"""Benchmarks for the speech model: load, audio -> curves, peak memory on 30 minutes.

Run: .venv/bin/python scripts/bench_speech.py [--weights PATH] [--runs N] [--json FILE]

Figures (median of --runs timed runs, after one warm-up run where that applies):
- model load: ``SpeechModel.load`` of the weights file (torch already imported);
- audio -> curves, 60 s: features + network + resampling to 30 fps (``predict``);
- the same with 1 intra-op thread (SpeechModel.threads = 1), and a 3 s clip both ways:
  on a CPU that other processes keep busy, torch's 2 threads wait on each other at
  every layer and 1 thread is several times faster (the load average is printed);
- the 60 s run split into features / network / resampling;
- peak RSS for 30 minutes of audio: a fresh process imports torch, loads the
  model, makes 30 min of speech-like audio and predicts at 30 fps; its
  ru_maxrss is the figure (one run; it includes torch's own ~300 MB).
Prints a markdown table and the machine (CPU model, cores, torch threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from furrow.machine import cpu_name, load_average  # noqa: E402
from furrow.speech import features as feat  # noqa: E402
from furrow.speech.model import WEIGHTS_PATH, SpeechModel  # noqa: E402

GOALS = {"load": 1.0, "predict_60s": 0.3, "rss_30min_mb": 2048.0}


def machine() -> str:
    cpu = cpu_name()
    load = load_average()
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads);"
        f" load average {load} (other processes share the CPU when it is above 0)"
    )


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise shaped by a syllable-rate envelope with pauses: exercises the whole pipeline."""
    rng = np.random.default_rng(seed)
    n = int(seconds * feat.SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / feat.SAMPLE_RATE
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)).astype(np.float32) * (np.sin(2 * np.pi * 0.1 * t) > -0.3)
    x = rng.standard_normal(n).astype(np.float32) * 0.05
    x += 0.2 * np.sin(2 * np.pi * 140 * t).astype(np.float32)
    return (x * env).astype(np.float32)


def timed(fn: Callable[[], Any], runs: int, warmup: bool = True) -> float:
    if warmup:
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_30min(weights: Path) -> float:
    code = f"""
import sys, resource
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / "scripts")!r})
from bench_speech import speechlike
from furrow.speech.model import SpeechModel
from pathlib import Path
m = SpeechModel.load(Path({str(weights)!r}))
audio = speechlike(1800.0)
c = m.predict(audio, 30.0)
assert c.n_frames == 54000, c.n_frames
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


_ANIMATE = """
import subprocess
import numpy as np, soundfile
wav = pathlib.Path(tempfile.mkdtemp()) / "ten.wav"
text = ("My mother made a big blue map of the bay. Peter baked bread and brought me some. "
        "We rode home by the beach, and the moon came up over the water before nine.")
subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(wav)], check=True)
audio, rate = soundfile.read(wav, dtype="float32")
audio = np.resize(audio, 10 * rate)  # exactly 10 s (repeats the start if flite was shorter)
soundfile.write(wav, audio, rate)
bpy.ops.wm.read_homefile(use_empty=True)
bpy.ops.furrow.add_head(source="DEFAULT")
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    assert bpy.ops.furrow.animate_from_audio(filepath=str(wav)) == {"FINISHED"}
    times.append(time.perf_counter() - t)
"""


def animate_in_blender(sessions: int, per_session: int) -> tuple[float, float]:
    """Median seconds of Animate from Audio on a 10 s clip: first in a session, and again."""
    from _blender_bench import run_in_blender

    first: list[float] = []
    again: list[float] = []
    for _ in range(sessions):
        times = run_in_blender(_ANIMATE, str(per_session))
        first.append(times[0])
        again.extend(times[1:])
    return statistics.median(first), statistics.median(again)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-rss", action="store_true", help="skip the 30-minute memory run")
    args = ap.parse_args()
    runs = max(5, args.runs)

    load = timed(lambda: SpeechModel.load(args.weights), runs)
    model = SpeechModel.load(args.weights)
    audio = speechlike(60.0)
    predict = timed(lambda: model.predict(audio, 30.0), runs)
    model.threads = 1
    predict_1 = timed(lambda: model.predict(audio, 30.0), runs)
    short = audio[: 3 * feat.SAMPLE_RATE]
    short_1 = timed(lambda: model.predict(short, 30.0), runs)
    model.threads = None
    short_d = timed(lambda: model.predict(short, 30.0), runs)
    f = model.features(audio)
    t_feat = timed(lambda: model.features(audio), runs)
    t_net = timed(lambda: model.frames(f), runs)
    frames = model.frames(f)
    t_resample = timed(lambda: model.to_fps(frames, audio.size, 30.0), runs)  # closures kept
    rss = None if args.no_rss else peak_rss_30min(args.weights)
    anim_first, anim_again = animate_in_blender(3, 3)

    results: dict[str, Any] = {
        "machine": machine(),
        "runs": runs,
        "load_s": load,
        "predict_60s_s": predict,
        "realtime_factor": 60.0 / predict,
        "predict_60s_1thread_s": predict_1,
        "predict_3s_s": short_d,
        "predict_3s_1thread_s": short_1,
        "features_60s_s": t_feat,
        "network_60s_s": t_net,
        "resample_60s_s": t_resample,
        "rss_30min_mb": rss,
        "animate_10s_first_s": anim_first,
        "animate_10s_again_s": anim_again,
        "weights_mb": args.weights.stat().st_size / 1e6,
    }

    def ok(v: float, goal: float) -> str:
        return "yes" if v <= goal else "NO"

    print(f"Machine: {results['machine']}; median of {runs} runs\n")
    print(f"torch threads: default {torch.get_num_threads()} (rows say where 1 thread was used)\n")
    print("| measure | value | goal | met |")
    print("|---|---:|---:|:---:|")
    print(f"| model load | {load * 1000:.0f} ms | < 1000 ms | {ok(load, GOALS['load'])} |")
    print(
        f"| audio -> curves, 60 s at 30 fps | {predict * 1000:.0f} ms ({60 / predict:.0f}x real time) |"
        f" < 300 ms (>= 200x) | {ok(predict, GOALS['predict_60s'])} |"
    )
    print(
        f"| audio -> curves, 60 s, 1 thread | {predict_1 * 1000:.0f} ms ({60 / predict_1:.0f}x) |"
        f" < 300 ms | {ok(predict_1, GOALS['predict_60s'])} |"
    )
    print(
        f"| audio -> curves, 3 s (default threads / 1 thread) |"
        f" {short_d * 1000:.0f} / {short_1 * 1000:.0f} ms | | |"
    )
    print(f"| - features (log-mel) | {t_feat * 1000:.0f} ms | | |")
    print(f"| - network | {t_net * 1000:.0f} ms | | |")
    print(f"| - resampling to 30 fps, closures kept | {t_resample * 1000:.1f} ms | | |")
    if rss is not None:
        print(
            f"| peak RSS, 30 min of audio (whole process) | {rss:.0f} MB | < 2048 MB |"
            f" {ok(rss, GOALS['rss_30min_mb'])} |"
        )
    print(f"| weights file | {results['weights_mb']:.2f} MB | < 20 MB | {ok(results['weights_mb'], 20)} |")
    print(
        f"| Animate from Audio in Blender, 10 s clip, first in a session | {anim_first:.2f} s | < 3 s |"
        f" {ok(anim_first, 3.0)} |"
    )
    print(
        f"| Animate from Audio in Blender, 10 s clip, again | {anim_again:.2f} s | < 3 s |"
        f" {ok(anim_again, 3.0)} |"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
