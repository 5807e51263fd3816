"""Real recorded speech as training utterances: the adaptation split of the evaluation data.

TTS voices are clean and few; real voices differ in ways the augmentation does not
cover (their own coarticulation, breath, studio chains). Half of the Asterisk
prompts (``evaldata.is_adaptation``) are forced-aligned against their transcripts
and written in the corpus format with engine ``"real"``, so ``scripts/train_speech``
can mix them in. The other half and the pocketsphinx sets stay unseen for scoring.
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
    from ..align import AlignmentError, align_transcript
    from ..audio import SAMPLE_RATE, AudioError
    from ..evaldata import items, load_item_audio

    say = progress or (lambda m: None)
    recs = items("all", split="adapt")[:limit]
    report = RealCorpusReport(0, 0, [], 0.0)
    for k, item in enumerate(recs, 1):
        path = out / item.set / f"{item.set}_{item.name.replace('/', '_')}.npz"
        if path.is_file():
            report.kept += 1
            continue
        say(f"[{k}/{len(recs)}] {item.set}/{item.name}")
        try:
            audio = load_item_audio(item)
            segments = align_transcript(audio, item.transcript)
        except (AudioError, AlignmentError) as exc:
            report.skipped.append(f"{item.set}/{item.name}: {exc}")
            continue
        save_utterance(
            path,
            audio.samples,
            list(segments),
            text=item.transcript,
            engine=ENGINE,
            voice=f"{item.set}",
            meta={"sample_rate": SAMPLE_RATE, "source": str(item.path), "labels": "forced alignment"},
        )
        report.written += 1
        report.seconds += audio.duration
    return report
