"""The face around the mouth: blinks, brow raises on emphasis, small head motion.

``add_nonverbal(curves, audio, rate, seed)`` adds these to speech curves (it never
touches the speech channels) and is deterministic for a given seed:

- **Blinks** (eyeBlinkLeft/Right, both eyes, eyeSquint slight): intervals drawn
  from a log-normal distribution (median 3.2 s, sigma 0.55, at least 0.8 s), i.e.
  ~15-20 blinks a minute and irregular; 12% of blinks are followed by a quick
  second one. Each blink closes in ~100 ms (ease-in), stays shut ~30 ms and opens
  more slowly (~180 ms). The shape is an analytic function of time, sampled at
  frame centres, so any fps works.
- **Brow raises** (browInnerUp, browOuterUpLeft/Right, 0.2-0.5): at emphasis =
  prominent peaks of the smoothed log energy (RMS, 25 ms hops) that stand out
  from their surroundings and from silence, at most one per 1.2 s; each rises in
  ~250 ms and decays over ~500 ms. Energy only (no pitch tracking) so the whole
  path stays far faster than real time.
- **Head rotation** (pitch, yaw, roll in radians): a slow seeded drift (sum of
  low-frequency sinusoids, < 1.5 deg), damped in silence, plus a small nod
  on each emphasis peak (positive pitch = chin down, 1.5-2.5 deg); everything
  clipped to 5 deg.

No audio, or silent audio: no brow raises and no nods; the face stays neutral
with closed lips, only blinking (and breathing-slow head drift).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import numpy.typing as npt

from ..curves import Curves
from ..heads.arkit import ARKIT_INDEX

FloatArray = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

BLINK_MEDIAN_S = 3.2
BLINK_SIGMA = 0.55
BLINK_MIN_INTERVAL_S = 0.8
DOUBLE_BLINK_P = 0.12
BLINK_CLOSE_S = 0.10
BLINK_HOLD_S = 0.03
BLINK_OPEN_S = 0.18
BLINK_SQUINT = 0.12

BROW_MIN_GAP_S = 1.2
BROW_RISE_S = 0.25
BROW_DECAY_S = 0.5
MAX_HEAD_RAD = math.radians(5.0)
HOP_S = 0.025
SILENCE_DB = -50.0  # frames quieter than this (dB re full scale) are silence


def blink_times(duration: float, seed: int) -> list[float]:
    """Start times (seconds) of blinks over ``duration``; irregular, deterministic per seed."""
    rng = np.random.default_rng([seed, 0xB1])
    times: list[float] = []
    t = float(rng.uniform(0.3, 2.5))
    while t < duration:
        times.append(t)
        if rng.random() < DOUBLE_BLINK_P:
            second = t + float(rng.uniform(0.35, 0.5))
            if second < duration:
                times.append(second)
            t = second
        t += max(BLINK_MIN_INTERVAL_S, float(rng.lognormal(math.log(BLINK_MEDIAN_S), BLINK_SIGMA)))
    return times


def blink_profile(dt: F64) -> F64:
    """Lid closure (0 open .. 1 shut) ``dt`` seconds after a blink starts."""
    out = np.zeros_like(dt)
    closing = (dt >= 0) & (dt < BLINK_CLOSE_S)
    out[closing] = np.sin(0.5 * np.pi * dt[closing] / BLINK_CLOSE_S) ** 2
    shut_end = BLINK_CLOSE_S + BLINK_HOLD_S
    out[(dt >= BLINK_CLOSE_S) & (dt < shut_end)] = 1.0
    opening = (dt >= shut_end) & (dt < shut_end + BLINK_OPEN_S)
    x = (dt[opening] - shut_end) / BLINK_OPEN_S
    out[opening] = 0.5 * (1.0 + np.cos(np.pi * x))
    return out


def blink_curve(times: F64, starts: list[float]) -> F64:
    """Eye closure at sorted ``times`` for blinks starting at ``starts`` (max where blinks overlap)."""
    out = np.zeros_like(times)
    length = BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S
    for s in starts:
        lo, hi = np.searchsorted(times, [s, s + length])
        if hi > lo:
            out[lo:hi] = np.maximum(out[lo:hi], blink_profile(times[lo:hi] - s))
    return out


def energy_db(audio: npt.ArrayLike, rate: int) -> tuple[F64, F64]:
    """(times, log RMS energy in dB re full scale) at HOP_S hops; mono-mixes stereo input."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1) if x.shape[1] <= x.shape[0] else x.mean(axis=0)
    x = x - (x.mean() if x.size else 0.0)
    hop = max(1, round(HOP_S * rate))
    n = x.size // hop
    if n == 0:
        return np.zeros(0), np.zeros(0)
    frames = x[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    times = (np.arange(n) + 0.5) * hop / rate
    return times, 20.0 * np.log10(rms + 1e-10)


def emphasis_peaks(audio: Optional[npt.ArrayLike], rate: int) -> list[tuple[float, float]]:
    """(time, strength in [0, 1]) of emphasised moments: prominent peaks of smoothed energy."""
    if audio is None:
        return []
    from scipy.ndimage import gaussian_filter1d  # type: ignore[import-untyped]
    from scipy.signal import find_peaks  # type: ignore[import-untyped]

    times, db = energy_db(audio, rate)
    if db.size < 8:
        return []
    voiced = db > SILENCE_DB
    if not voiced.any():
        return []
    smooth = gaussian_filter1d(np.maximum(db, SILENCE_DB), sigma=0.06 / HOP_S)
    # stand out from a slow (1.5 s) local level and from the loud parts overall
    local = gaussian_filter1d(smooth, sigma=0.75 / HOP_S)
    floor = float(np.percentile(smooth[voiced], 60))
    peaks, props = find_peaks(
        smooth, prominence=4.0, distance=max(1, round(BROW_MIN_GAP_S / HOP_S)), height=SILENCE_DB + 15
    )
    out: list[tuple[float, float]] = []
    for p, prom in zip(peaks, props["prominences"], strict=True):
        lift = smooth[p] - local[p]
        if smooth[p] < floor or lift < 1.5:
            continue
        out.append((float(times[p]), float(np.clip((prom - 4.0) / 12.0 + 0.3 * lift / 6.0, 0.0, 1.0))))
    return out


def _bump(times: F64, t0: float, rise: float, decay: float) -> tuple[slice, F64]:
    """Smooth bump over sorted ``times``: 0 -> 1 over ``rise`` up to t0, then a smooth decay.

    Returns the slice of ``times`` it covers and its values there.
    """
    lo, hi = (int(i) for i in np.searchsorted(times, [t0 - rise, t0 + 4 * decay]))
    t = times[lo:hi]
    out = np.zeros_like(t)
    up = t < t0
    out[up] = np.sin(0.5 * np.pi * (t[up] - (t0 - rise)) / rise) ** 2
    x = (t[~up] - t0) / decay
    out[~up] = np.exp(-(x**2) * 0.5 - 0.5 * x) * (1.0 - np.clip(x / 4.0, 0.0, 1.0))
    return slice(lo, hi), out


def _drift(times: F64, rng: np.random.Generator, amp: float) -> F64:
    out = np.zeros_like(times)
    for freq in (0.07, 0.13, 0.23):
        out += (
            amp / 3.0 * math.sqrt(0.1 / freq) * np.sin(2 * np.pi * freq * times + rng.uniform(0, 2 * np.pi))
        )
    return out


def add_nonverbal(
    curves: Curves, audio: Optional[npt.ArrayLike], rate: int, seed: int, head: bool = True
) -> Curves:
    """``curves`` plus blinks, brow raises and (if ``head``) head rotation; speech channels unchanged."""
    n = curves.n_frames
    times = (np.arange(n, dtype=np.float64) + 0.5) / curves.fps
    weights = curves.weights.copy()
    duration = curves.duration

    blink = blink_curve(times, blink_times(duration, seed))
    for side in ("Left", "Right"):
        weights[:, ARKIT_INDEX["eyeBlink" + side]] = np.maximum(
            weights[:, ARKIT_INDEX["eyeBlink" + side]], blink
        )
        squint = ARKIT_INDEX["eyeSquint" + side]
        weights[:, squint] = np.maximum(weights[:, squint], BLINK_SQUINT * blink)

    peaks = emphasis_peaks(audio, rate)
    rng = np.random.default_rng([seed, 0xB2])
    brow = np.zeros(n)
    nod = np.zeros(n)
    for t0, strength in peaks:
        amount = 0.2 + 0.3 * strength
        span, bump = _bump(times, t0, BROW_RISE_S, BROW_DECAY_S)
        brow[span] = np.maximum(brow[span], amount * bump)
        span, bump = _bump(times, t0 + 0.05, 0.12, 0.3)
        nod[span] += math.radians(1.5 + 1.0 * strength) * bump
    weights[:, ARKIT_INDEX["browInnerUp"]] = np.maximum(weights[:, ARKIT_INDEX["browInnerUp"]], brow)
    for side in ("Left", "Right"):
        i = ARKIT_INDEX["browOuterUp" + side]
        weights[:, i] = np.maximum(weights[:, i], 0.8 * brow)

    rotation = curves.head_rotation
    if head:
        activity = _activity(times, audio, rate)
        amp = math.radians(1.5)
        pitch = (0.3 + 0.7 * activity) * _drift(times, rng, amp) + nod  # + pitch = nod down
        yaw = (0.3 + 0.7 * activity) * _drift(times, rng, amp)
        roll = (0.3 + 0.7 * activity) * _drift(times, rng, 0.5 * amp)
        rotation = np.clip(np.stack([pitch, yaw, roll], 1), -MAX_HEAD_RAD, MAX_HEAD_RAD).astype(np.float32)
    notes = list(curves.notes)
    return Curves(curves.fps, weights, rotation, notes)


def _activity(times: F64, audio: Optional[npt.ArrayLike], rate: int) -> F64:
    """0 in silence .. 1 while speaking, smoothed over ~0.5 s, at the given times."""
    if audio is None:
        return np.zeros_like(times)
    from scipy.ndimage import gaussian_filter1d

    t, db = energy_db(audio, rate)
    if db.size == 0:
        return np.zeros_like(times)
    speaking = gaussian_filter1d((db > SILENCE_DB + 10).astype(np.float64), sigma=0.25 / HOP_S)
    result: F64 = np.interp(times, t, speaking)
    return result
