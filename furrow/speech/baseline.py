"""The energy-driven jaw baseline: loudness opens the jaw, nothing else moves.

RMS energy in a 40 ms window around each frame centre, in dB relative to the
recording's loud level (95th percentile), mapped linearly from -40 dB (closed) to
0 dB (jawOpen 0.5, a typical open vowel). Every other channel stays 0. This is
what naive "audio amplitude" lip-sync does; the evaluation measures the trained
model against it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..curves import Curves
from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from .audio import Audio

WINDOW_S = 0.040
RANGE_DB = 40.0
MAX_JAW = 0.5


def frame_rms_db(samples: npt.ArrayLike, rate: int, fps: float, n_frames: int) -> npt.NDArray[np.float64]:
    """RMS in dBFS of a WINDOW_S window centred on each frame centre (i + 0.5) / fps."""
    x = np.asarray(samples, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = (np.arange(n_frames) + 0.5) / fps * rate
    half = 0.5 * WINDOW_S * rate
    lo = np.clip(np.round(centres - half).astype(np.int64), 0, x.size)
    hi = np.clip(np.round(centres + half).astype(np.int64), 0, x.size)
    count = np.maximum(hi - lo, 1)
    power = (csum[hi] - csum[lo]) / count
    result: npt.NDArray[np.float64] = 10.0 * np.log10(power + 1e-12)
    return result


def energy_jaw(audio: Audio, fps: float, n_frames: int | None = None) -> Curves:
    """Curves with jawOpen following the loudness of ``audio``; all other channels 0."""
    n = n_frames if n_frames is not None else max(1, round(audio.duration * fps))
    db = frame_rms_db(audio.samples, audio.rate, fps, n)
    weights = np.zeros((n, len(ARKIT_NAMES)), dtype=np.float32)
    if n and audio.samples.size:
        ref = float(np.percentile(db, 95))
        if ref > -70.0:  # not silent
            weights[:, ARKIT_INDEX["jawOpen"]] = MAX_JAW * np.clip((db - (ref - RANGE_DB)) / RANGE_DB, 0, 1)
    return Curves(float(fps), weights)
