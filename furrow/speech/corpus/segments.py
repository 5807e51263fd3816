"""Shared types and the clean-up every engine's phone timings go through."""

# ruff: noqa: RUF002  (IPA symbols are meant)

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from furrow.speech.phones import SILENCE, PhoneSegment

FloatArray = npt.NDArray[np.float32]
# What every engine's synthesize() returns: mono float32 audio, its rate, phone timings.
Synthesis = tuple[FloatArray, int, list[PhoneSegment]]


def spread(phones: Sequence[str], start: float, end: float) -> list[tuple[str, float, float]]:
    """Several phones from one engine symbol (e.g. IPA 'aɪɚ' -> AY ER) share its span evenly."""
    n = len(phones)
    step = (end - start) / max(n, 1)
    return [(p, start + i * step, start + (i + 1) * step) for i, p in enumerate(phones)]


def finish_segments(items: Sequence[tuple[str, float, float]], duration: float) -> list[PhoneSegment]:
    """Sorted, gap-free, non-overlapping segments covering [0, duration].

    Times are clamped to [0, duration] and made monotonic; zero-length phones
    are dropped; a gap over 5 ms becomes silence (a shorter one is absorbed by
    the next phone); adjacent silences merge; silence fills the start and the
    end so the first segment starts at 0 and the last ends at ``duration``.
    """
    phones: list[str] = []
    starts: list[float] = []
    ends: list[float] = []

    def add(phone: str, start: float, end: float) -> None:
        if phones and phones[-1] == phone == SILENCE:
            ends[-1] = end
        else:
            phones.append(phone)
            starts.append(start)
            ends.append(end)

    for phone, start, end in items:
        t = ends[-1] if ends else 0.0
        start = min(max(start, t), duration)
        end = min(max(end, start), duration)
        if end - start <= 1e-6:
            continue
        if start - t > 0.005:
            add(SILENCE, t, start)
        else:
            start = t
        add(phone, start, end)
    if not phones:
        return [PhoneSegment(SILENCE, 0.0, duration)]
    if duration - ends[-1] > 0.005:
        add(SILENCE, ends[-1], duration)
    else:
        ends[-1] = duration
    return [PhoneSegment(p, s, e) for p, s, e in zip(phones, starts, ends, strict=True)]


STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})


def attach_closures(
    audio: FloatArray, rate: int, items: list[tuple[str, float, float]], max_back: float = 0.12
) -> list[tuple[str, float, float]]:
    """Move the start of each stop back over the quiet closure before its burst.

    Some engines (espeak-ng) mark a stop where its burst begins, so the
    closure's near-silence ends up in the previous phone. For lip targets the
    closure is the stop (lips shut for M/B/P), so the stop's start moves back
    over the frames 35 dB below the utterance's peak (at most ``max_back``
    seconds, never past 30% into the previous phone).
    """
    if len(audio) == 0:
        return items
    hop = max(1, int(rate * 0.005))
    n = len(audio) // hop
    if n == 0:
        return items
    frames = audio[: n * hop].reshape(n, hop).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    quiet = rms < rms.max() * 10 ** (-35 / 20)
    out = list(items)
    for k in range(1, len(out)):
        phone, start, end = out[k]
        pphone, pstart, pend = out[k - 1]
        if phone not in STOPS or pphone == SILENCE:
            continue
        limit = max(start - max_back, pstart + 0.3 * (pend - pstart))
        f = int(start * rate) // hop - 1
        t = start
        while f >= 0 and quiet[f] and f * hop / rate >= limit:
            t = f * hop / rate
            f -= 1
        if t < start:
            out[k - 1] = (pphone, pstart, t)
            out[k] = (phone, t, end)
    return out


def relabel_rate(
    rate: int, items: list[tuple[str, float, float]], factor: float
) -> tuple[int, list[tuple[str, float, float]]]:
    """Pitch for voices with no F0 control: play the same samples at ``rate * factor``.

    Pitch and formants shift together (like a different vocal tract length) and
    every time scales by 1/factor, so the timings stay exact.
    """
    new_rate = round(rate * factor)
    scale = rate / new_rate
    return new_rate, [(p, s * scale, e * scale) for p, s, e in items]
