"""Real recorded speech as training utterances: the adaptation split of the evaluation data.

TTS voices are clean and few; real voices differ in ways the augmentation does not
cover (their own coarticulation, breath, studio chains). Half of the English
Asterisk prompts and the Spanish, French and Russian ones (``evaldata.is_adaptation``)
are forced-aligned against their transcripts and written in the corpus format with
engine ``"real"``, so ``scripts/train_speech`` can mix them in. The other English
half, the pocketsphinx sets and the Italian speaker stay unseen for scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .dataset import save_utterance

ENGINE = "real"


@dataclass
class RealCorpusReport:
    written: int
    kept: int
    skipped: list[str]
    seconds: float


def build_real_corpus(
    out: Path, progress: Optional[Callable[[str], None]] = None, limit: Optional[int] = None
) -> RealCorpusReport:
    """Write <out>/<set>/<name>.npz for every adaptation recording (the first ``limit``);
    existing files are kept."""
    from ..align import AlignmentError, align_transcript, reset_decoders
    from ..audio import SAMPLE_RATE, AudioError
    from ..evaldata import OTHER_LANGUAGES, EvalDataError, items, load_item_audio

    say = progress or (lambda m: None)
    recs = items("all", split="adapt")
    for set_name in OTHER_LANGUAGES:
        try:
            recs += items(set_name, split="adapt")
        except EvalDataError as exc:
            say(f"skipping {set_name}: {exc}")
    recs = recs[:limit]
    report = RealCorpusReport(0, 0, [], 0.0)
    for k, item in enumerate(recs, 1):
        path = out / item.set / f"{item.set}_{item.name.replace('/', '_')}.npz"
        if path.is_file():
            report.kept += 1
            continue
        say(f"[{k}/{len(recs)}] {item.set}/{item.name}")
        if report.written % 25 == 24:
            reset_decoders()
        try:
            audio = load_item_audio(item)
            segments = align_transcript(audio, item.transcript, item.language)
        except (AudioError, AlignmentError) as exc:
            report.skipped.append(f"{item.set}/{item.name}: {exc}")
            continue
        save_utterance(
            path,
            audio.samples,
            list(segments),
            text=item.transcript,
            engine=ENGINE,
            voice=item.set,
            meta={
                "sample_rate": SAMPLE_RATE,
                "source": str(item.path),
                "language": item.language,
                "labels": "forced alignment",
            },
        )
        report.written += 1
        report.seconds += audio.duration
    return report
