"""Real human speech for the evaluation, from Debian packages (scripts/setup installs them).

* ``cards``: pocketsphinx-testdata's five short card-name utterances
  (/usr/share/pocketsphinx/test/data/cards, cards.transcription).
* ``librivox``: five LibriVox read-speech sentences from the same package.
* ``asterisk``: the 568 Asterisk prompts spoken by Allison Smith
  (asterisk-core-sounds-en-g722, G.722 at 16 kHz, decoded with ffmpeg), with the
  package's transcripts (asterisk-core-sounds-en: core-sounds-en.txt.gz). Prompts
  whose transcript is a bracketed description ("[ascending tones]") are skipped.

Ground truth is the forced alignment of each transcript (furrow.speech.align).

Splits: half of the Asterisk prompts (chosen by a hash of the prompt name,
``is_adaptation``) are the *adaptation* split, which ``scripts/make_real_corpus``
turns into aligned training utterances for the speech model; every evaluation
uses the other half (``split="eval"``, the default) and the pocketsphinx sets,
whose speakers the model never hears in training.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..curves import Curves
from .align import transcript_words
from .audio import SAMPLE_RATE, Audio, AudioError, load_audio

POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SETS = ("cards", "librivox", "asterisk")
# The Asterisk prompts in other languages (Debian asterisk-core-sounds-<lang>[-g722]):
# set -> (language, speaker folder). Their truth is approximate (espeak-ng pronunciations
# on the English acoustic model), so they are not in "all"; es (Allison again), fr (June)
# and ru are adaptation data; it (Carlo, the only male voice) is never trained on.
OTHER_LANGUAGES = {
    "asterisk-es": ("es", "es_MX_f_Allison"),
    "asterisk-fr": ("fr", "fr_CA_f_June"),
    "asterisk-ru": ("ru", "ru_RU_f_IvrvoiceRU"),
    "asterisk-it": ("it", "it_IT_m_Carlo"),
}
HELD_OUT_SPEAKER_SETS = ("asterisk-it",)


class EvalDataError(RuntimeError):
    """An evaluation set that is not installed; the message says which package to install."""


@dataclass(frozen=True)
class EvalItem:
    set: str
    name: str
    path: Path
    transcript: str
    language: str = "en"


def _sphinx_transcripts(path: Path) -> dict[str, str]:
    """``<s> words </s> (id)`` lines -> {id: words}."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if m:
            out[m.group(2).strip()] = m.group(1).strip()
    return out


def _sphinx_set(name: str, transcription: str) -> list[EvalItem]:
    folder = POCKETSPHINX_DATA / name
    tpath = folder / transcription
    if not tpath.is_file():
        raise EvalDataError(
            f"{tpath} is missing: install the Debian package pocketsphinx-testdata (./scripts/setup)"
        )
    items = []
    for key, text in sorted(_sphinx_transcripts(tpath).items()):
        wav = folder / f"{key}.wav"
        if wav.is_file() and text:
            items.append(EvalItem(name, key, wav, text))
    return items


def _asterisk_text(text: str) -> str:
    text = text.replace("*", " star ").replace("#", " pound ").replace("...", " ")
    return text.strip()


def _prompts(set_name: str, language: str, sounds: Path, transcripts: Path) -> list[EvalItem]:
    package = f"asterisk-core-sounds-{language}"
    if not transcripts.is_file() or not sounds.is_dir():
        raise EvalDataError(
            f"the Asterisk prompts ({set_name}) are missing: install the Debian packages {package} "
            f"and {package}-g722 (./scripts/setup)"
        )
    items = []
    with gzip.open(transcripts, "rt", encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.startswith(";") or ": " not in line:
                continue
            key, text = line.split(": ", 1)
            key, text = key.strip(), text.strip().strip('"')
            if not text or "[" in text or not transcript_words(text, language):
                continue  # tones, beeps and silences: nothing spoken
            path = sounds / f"{key}.g722"
            if path.is_file():
                items.append(EvalItem(set_name, key, path, _asterisk_text(text), language))
    return sorted(items, key=lambda it: it.name)


def asterisk_items() -> list[EvalItem]:
    return _prompts("asterisk", "en", ASTERISK_SOUNDS, ASTERISK_TRANSCRIPTS)


def other_language_items(set_name: str) -> list[EvalItem]:
    language, speaker = OTHER_LANGUAGES[set_name]
    transcripts = Path(f"/usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz")
    return _prompts(set_name, language, ASTERISK_SOUNDS.parent / speaker, transcripts)


SPLITS = ("eval", "adapt", "all")
ALL_SETS = (*SETS, *OTHER_LANGUAGES)


def is_adaptation(item: EvalItem) -> bool:
    """Is this recording in the adaptation split (training data, never scored)?"""
    if item.set in OTHER_LANGUAGES:
        return item.set not in HELD_OUT_SPEAKER_SETS
    if item.set != "asterisk":
        return False
    return int(hashlib.md5(item.name.encode("utf-8")).hexdigest(), 16) % 2 == 0


def items(which: str = "all", limit: Optional[int] = None, split: str = "eval") -> list[EvalItem]:
    """The recordings of one set (or "all") in ``split``, at most ``limit`` per set."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    sets = SETS if which == "all" else (which,)
    out: list[EvalItem] = []
    for s in sets:
        if s == "cards":
            got = _sphinx_set("cards", "cards.transcription")
        elif s == "librivox":
            got = _sphinx_set("librivox", "transcription")
        elif s == "asterisk":
            got = asterisk_items()
        elif s in OTHER_LANGUAGES:
            got = other_language_items(s)
        else:
            raise ValueError(f"unknown evaluation set {s!r} (expected one of {', '.join(ALL_SETS)} or all)")
        if split != "all":
            got = [it for it in got if is_adaptation(it) == (split == "adapt")]
        out.extend(got[:limit] if limit is not None else got)
    return out


_TO_F32 = ("-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-")


def load_item_audio(item: EvalItem) -> Audio:
    """16 kHz mono audio of an item; G.722 files are decoded with ffmpeg."""
    if item.path.suffix != ".g722":
        return load_audio(item.path, SAMPLE_RATE)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"{item.path}: decoding G.722 needs ffmpeg (apt-get install ffmpeg)")
    proc = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", "-f", "g722", "-i", str(item.path), *_TO_F32],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise AudioError(f"{item.path}: ffmpeg could not decode it as G.722")
    samples = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    samples -= samples.mean()
    return Audio(samples, SAMPLE_RATE, SAMPLE_RATE, 1)


# --- the evaluation run (scripts/eval_speech) ----------------------------------------------

EVAL_FPS = 25.0
SYSTEMS = ("energy baseline", "allphone (audio)", "model (audio)", "transcript (aligned)")
QUICK = (("cards", "001"), ("librivox", "sense_and_sensibility_01_austen_64kb-0880"))


@dataclass
class EvalRun:
    scores: dict[str, Any]  # system -> Scores
    notes: list[str]
    skipped: list[str]
    by_set: dict[str, dict[str, Any]] = field(default_factory=dict)  # set -> system -> Scores


_Ctx = tuple[Audio, Curves, list[Any]]


def _fit(curves: Curves, n: int) -> Curves:
    w = curves.weights
    if len(w) < n:
        w = np.concatenate([w, np.zeros((n - len(w), w.shape[1]), np.float32)])
    return Curves(curves.fps, w[:n])


def evaluate(
    recordings: Sequence[EvalItem],
    fps: float = EVAL_FPS,
    progress: Optional[Callable[[str], None]] = None,
) -> EvalRun:
    """Score every system on ``recordings`` against the aligned-transcript ground truth."""
    from .align import AlignmentError, align_transcript, recognize_phones
    from .baseline import energy_jaw
    from .metrics import Scores
    from .visemes import targets_from_phones

    say = progress or (lambda m: None)
    notes: list[str] = []
    skipped: list[str] = []
    model: Any = None
    fuse: Any = None
    try:
        from .model import load_default_model

        t0 = time.perf_counter()
        model = load_default_model()
        notes.append(f"speech model loaded in {time.perf_counter() - t0:.2f} s")
    except (ImportError, FileNotFoundError, OSError, ValueError) as exc:
        notes.append(f"model (audio) skipped: no trained speech model ({exc})")
    try:
        from .pipeline import fuse
    except ImportError:
        fuse = None
    scores: dict[str, Any] = {s: Scores() for s in SYSTEMS if model is not None or s != "model (audio)"}
    by_set: dict[str, dict[str, Any]] = {}

    for k, item in enumerate(recordings, 1):
        say(f"[{k}/{len(recordings)}] {item.set}/{item.name}")
        try:
            audio = load_item_audio(item)
        except AudioError as exc:
            skipped.append(f"{item.set}/{item.name}: {exc}")
            continue
        n = max(1, round(audio.duration * fps))
        t0 = time.perf_counter()
        try:
            segments = align_transcript(audio, item.transcript, item.language)
        except AlignmentError as exc:
            skipped.append(f"{item.set}/{item.name}: ground truth unavailable ({exc})")
            continue
        align_s = time.perf_counter() - t0
        truth = targets_from_phones(segments, fps, n)

        def score(
            name: str,
            pred: Curves,
            seconds: float,
            ctx: _Ctx = (audio, truth, segments),
            set_: str = item.set,
        ) -> Curves:
            a, t, segs = ctx
            pred = _fit(pred, t.n_frames)
            for sc in (scores[name], by_set.setdefault(set_, {}).setdefault(name, Scores())):
                sc.compute_s += seconds
                sc.audio_s += a.duration
                sc.add(pred, t, segs)
            return pred

        t0 = time.perf_counter()
        pred = energy_jaw(audio, fps, n)
        score("energy baseline", pred, time.perf_counter() - t0)
        t0 = time.perf_counter()
        pred = targets_from_phones(recognize_phones(audio), fps, n)
        score("allphone (audio)", pred, time.perf_counter() - t0)
        if model is not None:
            t0 = time.perf_counter()
            net = score("model (audio)", model.predict(audio.samples, fps), time.perf_counter() - t0)
            if fuse is not None:
                t0 = time.perf_counter()
                fused = fuse(net, truth)
                score("transcript (aligned)", fused, time.perf_counter() - t0 + align_s)
                continue
        score("transcript (aligned)", truth, align_s)
    if fuse is None or model is None:
        notes.append(
            "transcript (aligned) is the aligned targets themselves (= ground truth, a sanity check)"
        )
    else:
        notes.append("transcript (aligned) = alignment fused with the network (pipeline.fuse)")
    return EvalRun(scores, notes, skipped, by_set)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def markdown_table(run: EvalRun, system: Optional[str] = None) -> str:
    """All systems pooled over every set; with ``system``, that system per set instead."""
    if system is not None:
        rows = {
            f"{system}: {name}": sys_scores[system]
            for name, sys_scores in run.by_set.items()
            if system in sys_scores
        }
        return _table(rows)
    return _table(run.scores)


def _table(rows: dict[str, Any]) -> str:
    head = (
        "| system | recordings | bilabials | closure recall | closure precision | openness corr "
        "| lag (ms) | viseme acc | x real time |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name, sc in rows.items():
        s = sc.summary()
        lines.append(
            f"| {name} | {s['recordings']} | {s['bilabials']} | {_fmt(s['closure_recall'])} "
            f"| {_fmt(s['closure_precision'])} ({s['closure_events']} events) | {_fmt(s['openness_corr'])} "
            f"| {_fmt(s['lag_ms'], 0)} | {_fmt(s['viseme_acc'])} | {_fmt(s['x_realtime'], 0)} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(
        prog="scripts/eval_speech",
        description="Speech animation on real recorded speech against aligned-transcript ground truth.",
    )
    parser.add_argument(
        "--set", default="all", choices=[*ALL_SETS, "all"], help="which recordings (default all)"
    )
    parser.add_argument("--limit", type=int, help="at most N recordings per set")
    parser.add_argument(
        "--split",
        default="eval",
        choices=SPLITS,
        help="eval (default): recordings never used in training; adapt: Asterisk prompts used in training",
    )
    parser.add_argument("--fps", type=float, default=EVAL_FPS, help="evaluation frame rate (default 25)")
    parser.add_argument("--json", metavar="OUT", help="also write the metrics as JSON")
    parser.add_argument("--quick", action="store_true", help="two short recordings (seconds; for CI)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.quick:
            wanted = {(s, n) for s, n in QUICK}
            recs = [it for it in items("cards") + items("librivox") if (it.set, it.name) in wanted]
        else:
            recs = items(args.set, args.limit, args.split)
    except EvalDataError as exc:
        print(f"eval_speech: error: {exc}", file=sys.stderr)
        return 2
    if not recs:
        print("eval_speech: error: no recordings found", file=sys.stderr)
        return 2

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    run = evaluate(recs, args.fps, say)
    total_s = sum(sc.audio_s for sc in list(run.scores.values())[:1])
    print(f"Speech evaluation at {args.fps:g} fps on {len(recs)} recordings ({total_s:.1f} s of audio)\n")
    print(markdown_table(run))
    if len(run.by_set) > 1 and "model (audio)" in run.scores:
        print(
            "\nPer set (the model; asterisk: Allison Smith, whose other prompts are the adaptation split):\n"
        )
        print(markdown_table(run, "model (audio)"))
    for note in run.notes:
        print(f"\n- {note}", end="")
    print()
    if run.skipped:
        print(f"\nskipped {len(run.skipped)}:")
        for s in run.skipped:
            print(f"- {s}")
    print(f"\n(total {time.perf_counter() - t0:.1f} s)")
    if args.json:
        data = {
            "fps": args.fps,
            "recordings": [f"{r.set}/{r.name}" for r in recs],
            "split": args.split,
            "systems": {name: sc.summary() for name, sc in run.scores.items()},
            "by_set": {k: {name: sc.summary() for name, sc in v.items()} for k, v in run.by_set.items()},
            "notes": run.notes,
            "skipped": run.skipped,
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
