"""Speech-animation metrics: predicted curves against phone-derived ground truth.

All metrics compare per-frame curves at one fps with the ground-truth phones
(``PhoneSegment``s from forced alignment of a transcript) and the ground-truth
targets (``targets_from_phones`` of those phones). Definitions:

* **Bilabial closure recall**: for every ground-truth M/B/P segment, a hit when the
  prediction is closed (``is_closed``) on some frame whose centre lies within
  +-40 ms of the segment's centre. Recall = hits / bilabials.
* **Bilabial closure precision**: a predicted closure *event* is a maximal run of
  consecutive closed frames. Events with no frame in speech (every frame centre in
  ground-truth silence) are ignored: closed lips in a pause are correct, not a
  false alarm. An event is correct when its span [first centre, last centre],
  widened by 40 ms each side, overlaps a ground-truth M/B/P segment or silence
  (lips closing into or out of a pause). Precision = correct / counted events
  (1.0 when there are none).
* **Openness correlation**: Pearson correlation of ``mouth_openness`` of the
  prediction and of the ground-truth targets, at lag 0.
* **Lag**: the shift (frames, reported in ms, within +-200 ms) maximising the
  correlation of the two openness series; positive means the prediction is late
  (it follows the ground truth).
* **Viseme-class accuracy**: on speech frames (ground-truth phone not silence), the
  fraction where the predicted class equals the ground-truth class. Each frame's
  class is that of the viseme target (``viseme_target``) nearest, in Euclidean
  distance over ``SPEECH_CHANNELS``, to the frame's weights; the ground-truth
  class uses the ground-truth target curve the same way, so a perfect prediction
  scores 1 (the coarticulated targets, not the raw phone labels, are the truth).

Pooling over recordings: counts are summed (recall, precision, accuracy);
correlation is the frame-weighted mean of per-recording correlations; the lag
is the argmax of the frame-weighted mean cross-correlation curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..curves import Curves
from .phones import BILABIALS, SILENCE, PhoneSegment, frame_labels
from .visemes import closure_events

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WINDOW_S = 0.040  # closure tolerance around a bilabial's centre
MAX_LAG_S = 0.200


def closure_recall_hits(
    closed: BoolArray, segments: Sequence[PhoneSegment], fps: float, window: float = WINDOW_S
) -> tuple[int, int]:
    """(hits, bilabials): bilabials with a closed predicted frame within +-window of their centre."""
    centres = (np.arange(len(closed)) + 0.5) / fps
    hits = total = 0
    for seg in segments:
        if seg.phone not in BILABIALS:
            continue
        total += 1
        c = 0.5 * (seg.start + seg.end)
        near = np.abs(centres - c) <= window + 1e-9
        if np.any(closed & near):
            hits += 1
    return hits, total


def closure_precision_counts(
    closed: BoolArray, segments: Sequence[PhoneSegment], fps: float, window: float = WINDOW_S
) -> tuple[int, int]:
    """(correct, counted) predicted closure events, as defined in the module docstring."""
    labels = frame_labels(segments, fps, len(closed))
    allowed = [
        (s.start - window, s.end + window) for s in segments if s.phone in BILABIALS or s.phone == SILENCE
    ]
    # time outside every segment is silence too
    if segments:
        first, last = min(s.start for s in segments), max(s.end for s in segments)
        allowed += [(-np.inf, first + window), (last - window, np.inf)]
    else:
        allowed.append((-np.inf, np.inf))
    correct = counted = 0
    for a, b in closure_events(closed):
        if all(labels[i] == SILENCE for i in range(a, b + 1)):
            continue
        counted += 1
        ta, tb = (a + 0.5) / fps, (b + 0.5) / fps
        if any(lo <= tb and ta <= hi for lo, hi in allowed):
            correct += 1
    return correct, counted


def _pearson(x: FloatArray, y: FloatArray) -> float:
    if x.size < 2:
        return float("nan")
    xs, ys = x - x.mean(), y - y.mean()
    den = float(np.sqrt(np.sum(xs * xs) * np.sum(ys * ys)))
    return float(np.sum(xs * ys) / den) if den > 1e-12 else 0.0


def xcorr_curve(pred: FloatArray, truth: FloatArray, max_lag: int) -> FloatArray:
    """Pearson correlation of pred[t] with truth[t - k] for k = -max_lag..max_lag (k > 0: pred late)."""
    n = len(pred)
    out = np.full(2 * max_lag + 1, np.nan)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        if k >= 0:
            a, b = pred[k:], truth[: n - k]
        else:
            a, b = pred[: n + k], truth[-k:]
        if len(a) >= 2:
            out[i] = _pearson(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return out


def openness_correlation(pred: FloatArray, truth: FloatArray, fps: float) -> tuple[float, float]:
    """(correlation at lag 0, lag in ms of the best correlation within +-200 ms)."""
    max_lag = max(1, int(np.floor(MAX_LAG_S * fps + 1e-9)))
    curve = xcorr_curve(np.asarray(pred, np.float64), np.asarray(truth, np.float64), max_lag)
    corr0 = float(curve[max_lag])
    if np.all(np.isnan(curve)):
        return corr0, float("nan")
    k = int(np.nanargmax(curve)) - max_lag
    return corr0, 1000.0 * k / fps


def nearest_class(weights: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index into VISEME_CLASSES of the viseme target nearest to each frame (speech channels)."""
    from .visemes import SPEECH_INDEX, VISEME_CLASSES, viseme_target

    protos = np.stack([viseme_target(v) for v in VISEME_CLASSES])[:, list(SPEECH_INDEX)]
    w = np.asarray(weights, dtype=np.float32)[:, list(SPEECH_INDEX)]
    d = ((w[:, None, :] - protos[None, :, :]) ** 2).sum(-1)
    result: npt.NDArray[np.int64] = np.argmin(d, axis=1).astype(np.int64)
    return result


@dataclass
class Scores:
    """Metric accumulators for one system over one or more recordings."""

    hits: int = 0
    bilabials: int = 0
    correct_events: int = 0
    events: int = 0
    viseme_right: int = 0
    viseme_frames: int = 0
    corr_sum: float = 0.0
    corr_frames: int = 0
    xcorr: dict[float, tuple[FloatArray, int]] = field(default_factory=dict)  # fps -> (sum, frames)
    audio_s: float = 0.0
    compute_s: float = 0.0
    recordings: int = 0

    def add(self, pred: Curves, truth: Curves, segments: Sequence[PhoneSegment]) -> None:
        from .visemes import is_closed, mouth_openness

        fps = truth.fps
        n = min(pred.n_frames, truth.n_frames)
        pw, tw = pred.weights[:n], truth.weights[:n]
        closed = is_closed(pw)
        h, t = closure_recall_hits(closed, segments, fps)
        c, e = closure_precision_counts(closed, segments, fps)
        self.hits, self.bilabials = self.hits + h, self.bilabials + t
        self.correct_events, self.events = self.correct_events + c, self.events + e
        po, to = mouth_openness(pw).astype(np.float64), mouth_openness(tw).astype(np.float64)
        r = _pearson(po, to)
        if np.isfinite(r):
            self.corr_sum += r * n
            self.corr_frames += n
        max_lag = max(1, int(np.floor(MAX_LAG_S * fps + 1e-9)))
        curve = np.nan_to_num(xcorr_curve(po, to, max_lag))
        acc, frames = self.xcorr.get(fps, (np.zeros_like(curve), 0))
        self.xcorr[fps] = (acc + curve * n, frames + n)
        speech = np.array([lab != SILENCE for lab in frame_labels(segments, fps, n)], dtype=bool)
        if speech.any():
            pc, tc = nearest_class(pw[speech]), nearest_class(tw[speech])
            self.viseme_right += int(np.sum(pc == tc))
            self.viseme_frames += int(speech.sum())
        self.recordings += 1

    def summary(self) -> dict[str, Any]:
        lag_ms = float("nan")
        if self.xcorr:
            fps, (acc, frames) = max(self.xcorr.items(), key=lambda kv: kv[1][1])
            if frames:
                max_lag = (len(acc) - 1) // 2
                lag_ms = 1000.0 * (int(np.argmax(acc / frames)) - max_lag) / fps
        return {
            "recordings": self.recordings,
            "bilabials": self.bilabials,
            "closure_recall": self.hits / self.bilabials if self.bilabials else float("nan"),
            "closure_events": self.events,
            "closure_precision": self.correct_events / self.events if self.events else 1.0,
            "openness_corr": self.corr_sum / self.corr_frames if self.corr_frames else float("nan"),
            "lag_ms": lag_ms,
            "viseme_acc": self.viseme_right / self.viseme_frames if self.viseme_frames else float("nan"),
            "audio_s": round(self.audio_s, 2),
            "x_realtime": self.audio_s / self.compute_s if self.compute_s > 0 else float("nan"),
        }
