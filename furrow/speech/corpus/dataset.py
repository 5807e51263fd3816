"""Reading the speech corpus: one .npz per utterance under <root>/<engine>/<id>.npz.

Keys: ``audio`` (float32, 16 kHz mono, clean), ``phones`` (unicode array of
ARPAbet + "sil"), ``starts``/``ends`` (float32 seconds), ``text``, ``engine``,
``voice``, ``meta`` (JSON: rate, pitch, source sample rate, seed, ...).
``<root>/index.json`` lists the utterances with durations and counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from furrow.speech.phones import PhoneSegment


@dataclass(frozen=True)
class Utterance:
    audio: npt.NDArray[np.float32]
    rate: int
    segments: list[PhoneSegment]
    text: str
    engine: str
    voice: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def utterance_paths(root: Path) -> list[Path]:
    """Every <root>/<engine>/*.npz, sorted."""
    return sorted(Path(root).glob("*/*.npz"))


def load_utterance(path: Path) -> Utterance:
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        meta: dict[str, Any] = json.loads(str(z["meta"]))
        segments = [
            PhoneSegment(str(p), float(s), float(e))
            for p, s, e in zip(z["phones"], z["starts"], z["ends"], strict=True)
        ]
        return Utterance(
            audio=np.asarray(z["audio"], dtype=np.float32),
            rate=int(meta.get("sample_rate", 16000)),
            segments=segments,
            text=str(z["text"]),
            engine=str(z["engine"]),
            voice=str(z["voice"]),
            meta=meta,
            path=path,
        )


def save_utterance(
    path: Path,
    audio: npt.NDArray[np.float32],
    segments: list[PhoneSegment],
    *,
    text: str,
    engine: str,
    voice: str,
    meta: dict[str, Any],
) -> None:
    """Write one utterance atomically (a reader never sees a half-written .npz)."""
    duration = len(audio) / int(meta.get("sample_rate", 16000))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".npz.partial")  # not matched by */*.npz readers
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            audio=np.asarray(audio, np.float32),
            phones=np.array([s.phone for s in segments], dtype=np.str_),
            starts=np.array([s.start for s in segments], dtype=np.float32),
            ends=np.array([min(s.end, duration) for s in segments], dtype=np.float32),
            text=np.str_(text),
            engine=np.str_(engine),
            voice=np.str_(voice),
            meta=np.str_(json.dumps(meta)),
        )
    os.replace(tmp, path)


def iter_utterances(root: Path) -> Iterator[Utterance]:
    for p in utterance_paths(root):
        yield load_utterance(p)


def babble_pool(root: Path, n: int = 32, seed: int = 0) -> list[npt.NDArray[np.float32]]:
    """Audio of ``n`` random corpus utterances: the ``babble`` argument of augment.augment()."""
    paths = utterance_paths(root)
    rng = np.random.default_rng(seed)
    out: list[npt.NDArray[np.float32]] = []
    if not paths:
        return out
    for i in rng.choice(len(paths), size=min(n, len(paths)), replace=False):
        with np.load(paths[int(i)], allow_pickle=False) as z:
            out.append(np.asarray(z["audio"], dtype=np.float32))
    return out
