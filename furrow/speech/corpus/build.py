"""Building the corpus: plan utterances, synthesize them in parallel, write .npz + index.json.

The plan is deterministic per (seed, index): utterance i always gets the same
engine, voice, text, rate and pitch, so a run is resumable (existing files are
skipped) and a larger run extends a smaller one.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from furrow.speech.audio import SAMPLE_RATE, resample
from furrow.speech.corpus import text as text_gen
from furrow.speech.corpus.dataset import save_utterance
from furrow.speech.corpus.segments import Synthesis

ENGINE_MIX: dict[str, float] = {"piper": 0.35, "flite": 0.25, "festival": 0.25, "espeak": 0.15}
# per engine: (rate range, pitch range); rate > 1 is faster, pitch is a factor on the voice's F0
_VARIATION: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "piper": ((0.8, 1.25), (0.93, 1.07)),
    "flite": ((0.8, 1.3), (0.8, 1.25)),
    "festival": ((0.8, 1.25), (0.8, 1.25)),
    "espeak": ((0.75, 1.45), (0.6, 1.5)),
}
MEAN_UTTERANCE_S = 4.2  # measured mean utterance length (s); turns --hours into a count


def engine_voices(engine: str) -> tuple[str, ...]:
    if engine == "piper":
        from furrow.speech.corpus import piper_voice

        return piper_voice.VOICES
    if engine == "flite":
        from furrow.speech.corpus import flite

        return flite.VOICES
    if engine == "festival":
        from furrow.speech.corpus import festival

        return festival.VOICES
    if engine == "espeak":
        from furrow.speech.corpus import espeak

        return espeak.VOICES
    raise ValueError(f"unknown engine {engine!r} (have {', '.join(ENGINE_MIX)})")


def synthesize(engine: str, text: str, voice: str, rate: float, pitch: float, seed: int) -> Synthesis:
    """Dispatch to one engine's synthesize()."""
    if engine == "piper":
        from furrow.speech.corpus import piper_voice

        return piper_voice.synthesize(text, voice, rate, pitch, seed=seed)
    if engine == "flite":
        from furrow.speech.corpus import flite

        return flite.synthesize(text, voice, rate, pitch)
    if engine == "festival":
        from furrow.speech.corpus import festival

        return festival.synthesize(text, voice, rate, pitch)
    if engine == "espeak":
        from furrow.speech.corpus import espeak

        return espeak.synthesize(text, voice, rate, pitch)
    raise ValueError(f"unknown engine {engine!r} (have {', '.join(ENGINE_MIX)})")


@dataclass(frozen=True)
class Spec:
    id: str
    engine: str
    voice: str
    text: str
    rate: float
    pitch: float
    seed: int

    def path(self, out: Path) -> Path:
        return Path(out) / self.engine / f"{self.id}.npz"


def plan(n: int, seed: int = 0, mix: dict[str, float] | None = None) -> list[Spec]:
    """The first ``n`` utterances of the corpus for ``seed`` (each index independent of n)."""
    mix = mix or ENGINE_MIX
    engines = sorted(mix)
    weights = [mix[e] for e in engines]
    specs: list[Spec] = []
    for i in range(n):
        rng = random.Random(f"furrow-corpus-{seed}-{i}")
        engine = rng.choices(engines, weights=weights)[0]
        voices = engine_voices(engine)
        (r0, r1), (p0, p1) = _VARIATION[engine]
        specs.append(
            Spec(
                id=f"{engine}_{seed}_{i:06d}",
                engine=engine,
                voice=rng.choice(voices),
                text=text_gen.utterance_text(rng),
                rate=round(rng.uniform(r0, r1), 3),
                pitch=round(rng.uniform(p0, p1), 3),
                seed=rng.randrange(2**31),
            )
        )
    return specs


def write_utterance(spec: Spec, out: Path) -> dict[str, Any]:
    """Synthesize one utterance, resample to 16 kHz, write its .npz atomically; its index entry."""
    t0 = time.perf_counter()
    audio, sr, segments = synthesize(spec.engine, spec.text, spec.voice, spec.rate, spec.pitch, spec.seed)
    synth_s = time.perf_counter() - t0
    clean = resample(np.asarray(audio, dtype=np.float32), sr, SAMPLE_RATE)
    duration = len(clean) / SAMPLE_RATE
    meta = {
        "rate": spec.rate,
        "pitch": spec.pitch,
        "seed": spec.seed,
        "source_sample_rate": sr,
        "sample_rate": SAMPLE_RATE,
        "synth_seconds": round(synth_s, 4),
    }
    path = spec.path(out)
    save_utterance(
        path, clean, list(segments), text=spec.text, engine=spec.engine, voice=spec.voice, meta=meta
    )
    return _entry(
        path, out, spec.engine, spec.voice, spec.text, duration, [s.phone for s in segments], synth_s
    )


def _entry(
    path: Path,
    out: Path,
    engine: str,
    voice: str,
    text: str,
    duration: float,
    phones: Sequence[str],
    synth_s: float | None,
) -> dict[str, Any]:
    return {
        "id": path.stem,
        "path": str(path.relative_to(out)),
        "engine": engine,
        "voice": voice,
        "text": text,
        "duration": round(duration, 4),
        "phones": list(phones),
        "synth_seconds": synth_s,
    }


def _read_entry(path: Path, out: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        n = len(z["audio"])
        return _entry(
            path, out, str(z["engine"]), str(z["voice"]), str(z["text"]),
            n / int(meta.get("sample_rate", SAMPLE_RATE)), [str(p) for p in z["phones"]],
            meta.get("synth_seconds"),
        )  # fmt: skip


def _work(args: tuple[Spec, str]) -> dict[str, Any]:
    spec, out = args
    try:
        return write_utterance(spec, Path(out))
    except Exception as exc:  # one bad utterance must not stop the build; it is reported
        return {
            "id": spec.id,
            "engine": spec.engine,
            "error": f"{exc}",
            "trace": traceback.format_exc(limit=3),
        }


def _init_worker() -> None:
    """Each of the parallel workers computes on one thread (the pool is the parallelism)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("FURROW_ONNX_THREADS", "1")


def write_index(out: Path, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """<out>/index.json: utterances (without phone lists), totals, per-engine and per-phone counts."""
    ok = sorted((e for e in entries if "error" not in e), key=lambda e: str(e["id"]))
    engine_counts: Counter[str] = Counter(str(e["engine"]) for e in ok)
    engine_seconds: dict[str, float] = defaultdict(float)
    engine_synth: dict[str, float] = defaultdict(float)
    phone_counts: Counter[str] = Counter()
    for e in ok:
        engine_seconds[e["engine"]] += float(e["duration"])
        if e.get("synth_seconds") is not None:
            engine_synth[e["engine"]] += float(e["synth_seconds"])
        phone_counts.update(e["phones"])
    index = {
        "sample_rate": SAMPLE_RATE,
        "utterances": [{k: v for k, v in e.items() if k != "phones"} for e in ok],
        "count": len(ok),
        "total_seconds": round(sum(engine_seconds.values()), 2),
        "engine_counts": dict(sorted(engine_counts.items())),
        "engine_seconds": {k: round(v, 2) for k, v in sorted(engine_seconds.items())},
        "engine_realtime_factor": {
            k: round(engine_seconds[k] / engine_synth[k], 1)
            for k in sorted(engine_synth)
            if engine_synth[k] > 0
        },
        "phone_counts": dict(sorted(phone_counts.items())),
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    tmp = Path(out) / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, Path(out) / "index.json")
    return index


def utterances_for_hours(hours: float) -> int:
    return max(1, math.ceil(hours * 3600 / MEAN_UTTERANCE_S))


def build_corpus(
    out: Path,
    n: int,
    jobs: int = 2,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Make (or complete) the first ``n`` utterances under ``out``; returns the index."""
    import multiprocessing as mp

    out = Path(out)
    specs = plan(n, seed, mix)
    todo = [s for s in specs if not s.path(out).is_file()]
    entries: list[dict[str, Any]] = [_read_entry(s.path(out), out) for s in specs if s.path(out).is_file()]
    log(f"corpus {out}: {len(specs)} planned, {len(entries)} already there, {len(todo)} to make, {jobs} jobs")
    t0 = time.perf_counter()
    errors = 0
    args = [(s, str(out)) for s in todo]
    # interleave engines so both workers stay busy with a mix (festival starts a process per utterance)
    if jobs > 1 and todo:
        ctx = mp.get_context("spawn")
        with ctx.Pool(jobs, initializer=_init_worker) as pool:
            results = pool.imap_unordered(_work, args, chunksize=4)
            for k, r in enumerate(results, 1):
                errors += _collect(r, entries, log)
                if k % 100 == 0 or k == len(todo):
                    _progress(log, k, len(todo), entries, t0)
                    write_index(out, entries)
    else:
        for k, a in enumerate(args, 1):
            errors += _collect(_work(a), entries, log)
            if k % 100 == 0 or k == len(todo):
                _progress(log, k, len(todo), entries, t0)
    index = write_index(out, entries)
    log(
        f"done: {index['count']} utterances, {index['total_seconds'] / 3600:.2f} h, {errors} failed, "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return index


def _collect(r: dict[str, Any], entries: list[dict[str, Any]], log: Callable[[str], None]) -> int:
    if "error" in r:
        log(f"FAILED {r['id']}: {r['error']}")
        return 1
    entries.append(r)
    return 0


def _progress(
    log: Callable[[str], None], k: int, total: int, entries: list[dict[str, Any]], t0: float
) -> None:
    el = time.perf_counter() - t0
    hours = sum(float(e["duration"]) for e in entries) / 3600
    log(
        f"  {k}/{total} made in {el:.0f} s ({k / max(el, 1e-9):.2f}/s); "
        f"corpus now {len(entries)} utt, {hours:.2f} h"
    )


def spec_dict(spec: Spec) -> dict[str, Any]:
    return asdict(spec)
