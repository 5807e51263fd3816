"""The one phone set every engine, aligner and target rule speaks: ARPAbet.

39 CMUdict phones (stress marks dropped) plus "sil" for silence and pauses.
Engines map their own symbols onto these (furrow.speech.corpus); pocketsphinx
already speaks them. A PhoneSegment is one phone with its time span in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
SILENCE = "sil"
PHONES: tuple[str, ...] = (SILENCE, *VOWELS, *CONSONANTS)
PHONE_INDEX: dict[str, int] = {p: i for i, p in enumerate(PHONES)}
BILABIALS = frozenset({"M", "B", "P"})


@dataclass(frozen=True)
class PhoneSegment:
    phone: str  # one of PHONES
    start: float  # seconds
    end: float  # seconds

    def __post_init__(self) -> None:
        if self.phone not in PHONE_INDEX:
            raise ValueError(f"{self.phone!r} is not in Furrow's phone set (ARPAbet + sil)")
        if not self.end >= self.start:
            raise ValueError(f"phone {self.phone} ends ({self.end}) before it starts ({self.start})")


def normalize_arpabet(symbol: str) -> str:
    """'AH0' -> 'AH', 'SIL'/'<sil>'/'SP'/'pau' -> 'sil'; raises ValueError for anything else."""
    s = symbol.strip().upper().rstrip("012")
    if s in {"SIL", "<SIL>", "SP", "PAU", "H#", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+UM+", ""}:
        return SILENCE
    if s in PHONE_INDEX:
        return s
    raise ValueError(f"unknown ARPAbet symbol {symbol!r}")


def frame_labels(segments: Sequence[PhoneSegment], fps: float, n_frames: int) -> list[str]:
    """The phone under each frame centre, time (i + 0.5) / fps; silence outside every segment."""
    centres = (np.arange(n_frames) + 0.5) / fps
    labels = np.full(n_frames, SILENCE, dtype=object)
    for seg in segments:
        labels[(centres >= seg.start) & (centres < seg.end)] = seg.phone
    return [str(x) for x in labels]
