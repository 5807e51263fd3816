"""Phones -> visemes -> ARKit-52 targets, with coarticulation.

This is the rule-based half of speech animation: given timed ARPAbet phones
(from a TTS engine's events or a forced aligner) it produces per-frame ARKit
weights. The same curves are the training targets of the audio model, so the
network predicts exactly ``SPEECH_CHANNELS``.

Viseme classes (``VISEME_CLASSES``, in label order)
----------------------------------------------------
=====  ==========================  ==================================================
class  phones                      mouth
=====  ==========================  ==================================================
sil    sil                         relaxed neutral, lips closed (all speech channels 0)
PP     M B P                       lips pressed together: mouthClose + mouthPress, jaw
                                   nearly shut; lips must touch (strong, forced closure)
FF     F V                         lower lip rolled in and up against the upper incisors'
                                   edge (mouthRollLower + mouthShrugLower), upper lip up
                                   (mouthUpperUp) so the teeth show (strong)
TH     TH DH                       tongue tip between the teeth (tongueOut small), jaw
                                   a little open
DD     T D                         alveolar stop: jaw slightly open, lips neutral-apart
KK     K G NG HH                   velar/glottal: jaw open a little; weak, so the
                                   neighbouring vowel shapes the lips (HH especially)
CH     CH JH SH ZH                 lips protruded and flared (funnel + pucker), teeth
                                   close
SS     S Z                         teeth close, lips slightly spread
NN     N L                         jaw slightly open; L lifts the tongue (tongueOut tiny)
RR     R ER                        lips slightly rounded (pucker + funnel)
WU     W UW                        lips strongly rounded and protruded (pucker), small
                                   jaw
OO     OW AO OY UH                 rounded open (funnel), medium jaw
AA     AA AH AW AY                 open: jaw most open
EH     EH AE                       mid-open, lips a little spread
IH     IH IY EY Y                  wide: small jaw, corners stretched (stretch + smile)
=====  ==========================  ==================================================

The ARKit target of a phone is its viseme's target with a phone-specific jawOpen
for vowels (openness order AA > AE > AW, AY > AO > AH > OY > EH > OW > ER, UH >
EY > IH > IY, UW). Diphthongs (AW AY OY EY OW) move: their first 55% holds the
onset target, the rest glides toward the offglide (AW/OW -> rounded, AY/OY/EY ->
wide). Targets were checked on the default head (tests/unit/test_visemes.py): at
the PP target the inner-lip landmarks 62/66 are 0.7 mm apart (lips pressed 0.7 mm
into each other; the relaxed neutral has them 0.7 mm apart vertically); at AA 21 mm;
F/V lift the lower lip ~1 mm above the upper incisors' edge with the teeth showing.

Coarticulation (Cohen & Massaro style dominance blending)
---------------------------------------------------------
Each phone segment i has a target T_i (a vector over the speech channels) and a
dominance per channel group g (jaw, lips, rounding, tongue)::

    D_ig(t) = alpha_ig * exp(-d / tau),  d = max(0, |t - c_i| - h_i)

with c_i the segment centre, h_i a quarter of its length (the middle half holds
full dominance, so long vowels reach their target), and tau the anticipation
time before c_i and the carry-over time after it. The weights are the
dominance-weighted mean ``sum_i D_ig T_i / (eps + sum_i D_ig)`` (eps pulls far
from any segment toward neutral). Rounding visemes (WU, OO, RR, CH) have a long
anticipation on the rounding channels (~150 ms reach) while the other visemes
hardly claim those channels, so "s" in "stew" is already rounded. Bilabials and
F/V are strong (alpha 3-6) on the jaw and lip groups; silence holds neutral up to
60 ms from its edges.

The curves are evaluated analytically at frame centres ``(i + 0.5) / fps``, so
any rate works (24, 25, 30, 60, 23.976, 29.97). Bilabial closure is then
guaranteed: around each M/B/P a closure weight (1 at the frame nearest the
segment middle and on every frame whose centre lies in the middle half of the
segment, falling off with a 12 ms Gaussian) blends the result onto the PP
target, so even a 40 ms "p" at 24 fps closes the lips on at least one frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
import numpy.typing as npt

from ..curves import Curves
from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from .phones import PHONES, SILENCE, PhoneSegment

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

VISEME_CLASSES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "KK", "CH", "SS", "NN", "RR", "WU", "OO", "AA", "EH", "IH",
)  # fmt: skip
VISEME_INDEX: dict[str, int] = {v: i for i, v in enumerate(VISEME_CLASSES)}

_CLASS_PHONES: dict[str, tuple[str, ...]] = {
    "sil": (SILENCE,),
    "PP": ("M", "B", "P"),
    "FF": ("F", "V"),
    "TH": ("TH", "DH"),
    "DD": ("T", "D"),
    "KK": ("K", "G", "NG", "HH"),
    "CH": ("CH", "JH", "SH", "ZH"),
    "SS": ("S", "Z"),
    "NN": ("N", "L"),
    "RR": ("R", "ER"),
    "WU": ("W", "UW"),
    "OO": ("OW", "AO", "OY", "UH"),
    "AA": ("AA", "AH", "AW", "AY"),
    "EH": ("EH", "AE"),
    "IH": ("IH", "IY", "EY", "Y"),
}
VISEME_OF: dict[str, str] = {p: v for v, phones in _CLASS_PHONES.items() for p in phones}

# The ARKit channels the speech targets (and the audio model) drive; everything else stays 0.
SPEECH_CHANNELS: tuple[str, ...] = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "tongueOut",
)
SPEECH_INDEX: tuple[int, ...] = tuple(ARKIT_INDEX[n] for n in SPEECH_CHANNELS)


def _sym(**weights: float) -> dict[str, float]:
    """Expand ``mouthPress=0.3`` into both sides; other names are taken as they are."""
    out: dict[str, float] = {}
    for name, value in weights.items():
        if name + "Left" in ARKIT_INDEX:
            out[name + "Left"] = value
            out[name + "Right"] = value
        else:
            out[name] = value
    return out


# Per-viseme ARKit targets (unlisted speech channels are 0). jawOpen of vowels is set per phone below.
VISEME_TARGETS: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": _sym(jawOpen=0.08, mouthClose=0.07, mouthPress=0.35, mouthRollUpper=0.17, mouthShrugLower=0.05),
    "FF": _sym(jawOpen=0.07, mouthRollLower=0.55, mouthUpperUp=0.5, mouthShrugLower=0.2),
    "TH": _sym(jawOpen=0.14, tongueOut=0.3, mouthUpperUp=0.05),
    "DD": _sym(jawOpen=0.13, mouthLowerDown=0.1, mouthStretch=0.05),
    "KK": _sym(jawOpen=0.17, mouthLowerDown=0.05),
    "CH": _sym(jawOpen=0.1, mouthFunnel=0.35, mouthPucker=0.3, mouthUpperUp=0.1, mouthLowerDown=0.1),
    "SS": _sym(jawOpen=0.06, mouthStretch=0.2, mouthSmile=0.1, mouthLowerDown=0.12, mouthUpperUp=0.08),
    "NN": _sym(jawOpen=0.14, mouthLowerDown=0.06, tongueOut=0.06),
    "RR": _sym(jawOpen=0.13, mouthPucker=0.3, mouthFunnel=0.2),
    "WU": _sym(jawOpen=0.08, mouthPucker=0.65, mouthFunnel=0.25),
    "OO": _sym(jawOpen=0.3, mouthFunnel=0.4, mouthPucker=0.2),
    "AA": _sym(jawOpen=0.5, mouthLowerDown=0.15, mouthUpperUp=0.05),
    "EH": _sym(jawOpen=0.32, mouthStretch=0.15, mouthSmile=0.1, mouthLowerDown=0.1),
    "IH": _sym(jawOpen=0.12, mouthStretch=0.3, mouthSmile=0.2, mouthLowerDown=0.05, mouthUpperUp=0.05),
}

# jawOpen by vowel openness (and for the glides, which take their class's shape).
VOWEL_JAW: dict[str, float] = {
    "AA": 0.52, "AE": 0.44, "AW": 0.42, "AY": 0.42, "AO": 0.38, "AH": 0.34, "OY": 0.3, "EH": 0.3,
    "OW": 0.26, "ER": 0.18, "UH": 0.18, "EY": 0.2, "IH": 0.15, "IY": 0.1, "UW": 0.09,
}  # fmt: skip

# Diphthong offglides: (viseme the phone glides toward, jawOpen at its end).
DIPHTHONG_OFFGLIDE: dict[str, tuple[str, float]] = {
    "AW": ("WU", 0.15),
    "OW": ("WU", 0.12),
    "AY": ("IH", 0.14),
    "OY": ("IH", 0.14),
    "EY": ("IH", 0.1),
}
_ONSET_FRACTION = 0.55

# Channel groups with their own dominance (Cohen-Massaro per-parameter dominance).
_GROUPS: dict[str, tuple[str, ...]] = {
    "jaw": ("jawOpen", "mouthClose"),
    "lips": (
        "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
        "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
        "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
        "mouthUpperUpLeft", "mouthUpperUpRight",
    ),
    "round": ("mouthFunnel", "mouthPucker"),
    "tongue": ("tongueOut",),
}  # fmt: skip
_GROUP_NAMES: tuple[str, ...] = tuple(_GROUPS)
_GROUP_OF_CHANNEL: npt.NDArray[np.int64] = np.array(
    [next(i for i, g in enumerate(_GROUP_NAMES) if ch in _GROUPS[g]) for ch in SPEECH_CHANNELS]
)

# Dominance strength alpha per viseme and group (jaw, lips, round, tongue).
_ALPHA: dict[str, tuple[float, float, float, float]] = {
    "sil": (2.0, 2.0, 2.0, 2.0),
    "PP": (4.0, 6.0, 1.0, 1.0),
    "FF": (3.0, 5.0, 1.0, 1.0),
    "TH": (1.5, 1.0, 0.4, 4.0),
    "DD": (1.0, 0.6, 0.2, 1.0),
    "KK": (0.6, 0.3, 0.15, 1.0),
    "CH": (1.5, 2.0, 3.0, 1.0),
    "SS": (2.0, 1.5, 0.3, 1.0),
    "NN": (0.8, 0.5, 0.2, 2.0),
    "RR": (1.2, 1.5, 3.0, 1.0),
    "WU": (1.5, 2.0, 5.0, 1.0),
    "OO": (2.0, 2.0, 4.0, 1.0),
    "AA": (3.0, 2.0, 1.0, 1.0),
    "EH": (2.5, 2.0, 1.0, 1.0),
    "IH": (2.0, 2.5, 1.5, 1.0),
}
_ANTICIPATION_S = 0.055  # tau before a segment's centre
_CARRYOVER_S = 0.045  # tau after it
_ROUND_ANTICIPATION_S = 0.11  # rounding visemes on the rounding channels (reach ~150 ms and more)
_ROUNDING_VISEMES = frozenset({"WU", "OO", "RR", "CH"})
_NEUTRAL_EPS = 1e-3  # dominance of the neutral pose everywhere (far from every segment -> neutral)
_REACH_S = 0.8  # beyond this a segment's dominance is negligible (< exp(-7) of its peak)
_SILENCE_EDGE_S = 0.06  # a pause lets go of neutral this long before the next phone
_CLOSURE_SIGMA_S = 0.012  # Gaussian fall-off of the forced bilabial closure


def _target_vector(weights: Mapping[str, float]) -> FloatArray:
    vec = np.zeros(len(SPEECH_CHANNELS), dtype=np.float32)
    for name, value in weights.items():
        vec[SPEECH_CHANNELS.index(name)] = value
    return vec


def phone_target(phone: str, part: str = "onset") -> dict[str, float]:
    """The ARKit target of one phone ({name: weight}); ``part="offglide"`` for a diphthong's end."""
    viseme = VISEME_OF[phone]
    target = dict(VISEME_TARGETS[viseme])
    if part == "offglide" and phone in DIPHTHONG_OFFGLIDE:
        glide, jaw = DIPHTHONG_OFFGLIDE[phone]
        target = dict(VISEME_TARGETS[glide])
        target["jawOpen"] = jaw
        return target
    if phone in VOWEL_JAW:
        target["jawOpen"] = VOWEL_JAW[phone]
    return target


def viseme_target(viseme: str) -> FloatArray:
    """The full (52,) ARKit weight vector of a viseme class target."""
    out = np.zeros(len(ARKIT_NAMES), dtype=np.float32)
    for name, value in VISEME_TARGETS[viseme].items():
        out[ARKIT_INDEX[name]] = value
    return out


_PP_TARGET = _target_vector(VISEME_TARGETS["PP"])


def _keyframes(
    segments: Sequence[PhoneSegment],
) -> list[tuple[float, float, FloatArray, npt.NDArray[np.float64], float]]:
    """(centre, half core, target, alpha per group, round anticipation) for each (sub)segment."""
    keys: list[tuple[float, float, FloatArray, npt.NDArray[np.float64], float]] = []
    for seg in segments:
        viseme = VISEME_OF[seg.phone]
        alpha = np.asarray(_ALPHA[viseme], dtype=np.float64)
        tau_round = _ROUND_ANTICIPATION_S if viseme in _ROUNDING_VISEMES else _ANTICIPATION_S
        dur = seg.end - seg.start
        if seg.phone in DIPHTHONG_OFFGLIDE and dur > 0:
            split = seg.start + _ONSET_FRACTION * dur
            onset = _target_vector(phone_target(seg.phone))
            glide_viseme = DIPHTHONG_OFFGLIDE[seg.phone][0]
            glide = _target_vector(phone_target(seg.phone, "offglide"))
            glide_alpha = 0.7 * alpha + 0.3 * np.asarray(_ALPHA[glide_viseme])
            keys.append((0.5 * (seg.start + split), 0.25 * (split - seg.start), onset, alpha, tau_round))
            keys.append((0.5 * (split + seg.end), 0.25 * (seg.end - split), glide, glide_alpha, tau_round))
        else:
            target = _target_vector(phone_target(seg.phone))
            # silence holds neutral until 60 ms from its edges; a phone holds its middle half
            half = max(0.25 * dur, 0.5 * dur - _SILENCE_EDGE_S) if viseme == "sil" else 0.25 * dur
            keys.append((0.5 * (seg.start + seg.end), half, target, alpha, tau_round))
    return keys


def speech_weights(segments: Sequence[PhoneSegment], times: npt.ArrayLike) -> FloatArray:
    """Coarticulated speech-channel weights (N, len(SPEECH_CHANNELS)) at the given times (seconds)."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    n_ch = len(SPEECH_CHANNELS)
    n_groups = len(_GROUP_NAMES)
    num = np.zeros((t.size, n_ch), dtype=np.float64)
    den = np.full((t.size, n_groups), _NEUTRAL_EPS, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    round_group = _GROUP_NAMES.index("round")
    for centre, half, target, alpha, tau_round in _keyframes(segments):
        lo = np.searchsorted(t_sorted, centre - half - _REACH_S, "left")
        hi = np.searchsorted(t_sorted, centre + half + _REACH_S, "right")
        if hi <= lo:
            continue
        idx = order[lo:hi]
        dt = t[idx] - centre
        dist = np.maximum(np.abs(dt) - half, 0.0)
        before = dt < 0
        tau = np.where(before, _ANTICIPATION_S, _CARRYOVER_S)
        dom = alpha[None, :] * np.exp(-dist / tau)[:, None]  # (n, groups)
        dom[:, round_group] = alpha[round_group] * np.exp(
            -dist / np.where(before, tau_round, _CARRYOVER_S * 1.5)
        )
        den[idx] += dom
        num[idx] += dom[:, _GROUP_OF_CHANNEL] * target[None, :]
    out = num / den[:, _GROUP_OF_CHANNEL]
    _force_closures(segments, t, out)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _force_closures(segments: Sequence[PhoneSegment], t: npt.NDArray[np.float64], out: FloatArray) -> None:
    """Blend onto the PP target around each bilabial so the lips close (see the module docstring)."""
    if t.size == 0:
        return
    for seg in segments:
        if VISEME_OF[seg.phone] != "PP":
            continue
        centre = 0.5 * (seg.start + seg.end)
        half = 0.25 * (seg.end - seg.start)
        near = np.abs(t - centre) <= half + 4 * _CLOSURE_SIGMA_S
        nearest = int(np.argmin(np.abs(t - centre)))
        near[nearest] = True
        idx = np.flatnonzero(near)
        dist = np.maximum(np.abs(t[idx] - centre) - half, 0.0)
        c = np.exp(-0.5 * (dist / _CLOSURE_SIGMA_S) ** 2)
        if abs(t[nearest] - centre) <= max(0.5 * (seg.end - seg.start), 0.025):
            c[idx == nearest] = 1.0
        out[idx] = (1.0 - c[:, None]) * out[idx] + c[:, None] * _PP_TARGET[None, :]


def frame_times(fps: float, n_frames: int) -> npt.NDArray[np.float64]:
    """Frame centres (i + 0.5) / fps in seconds."""
    return (np.arange(n_frames, dtype=np.float64) + 0.5) / float(fps)


def targets_from_phones(segments: Sequence[PhoneSegment], fps: float, n_frames: int | None = None) -> Curves:
    """Per-frame ARKit weights for timed phones (speech channels only; every other channel 0).

    ``n_frames`` defaults to ceil(end of the last segment * fps). Frames are sampled
    at their centres, so the result is consistent across frame rates.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if n_frames is None:
        duration = max((s.end for s in segments), default=0.0)
        n_frames = math.ceil(duration * fps - 1e-9)
    weights = np.zeros((n_frames, len(ARKIT_NAMES)), dtype=np.float32)
    if n_frames > 0:
        weights[:, list(SPEECH_INDEX)] = speech_weights(segments, frame_times(fps, n_frames))
    notes: list[str] = []
    if not any(s.phone != SILENCE for s in segments):
        notes.append("no speech: neutral face with closed lips")
    return Curves(float(fps), weights, None, notes)


def viseme_labels(segments: Sequence[PhoneSegment], fps: float, n_frames: int) -> list[str]:
    """The viseme class under each frame centre ("sil" outside every segment)."""
    from .phones import frame_labels

    return [VISEME_OF[p] for p in frame_labels(segments, fps, n_frames)]


# --- measures the evaluator shares ------------------------------------------------------

# Vertical inner-lip aperture per unit of each channel, in units of jawOpen=1, measured
# on the default head (inner-lip landmarks 62/66; jawOpen=1 opens them 35 mm; the
# neutral lips are 0.7 mm apart vertically, i.e. touching): what each channel does to
# the gap between the lips, relative to neutral. Used by mouth_openness and is_closed.
_APERTURE_GAIN: dict[str, float] = {
    "jawOpen": 1.0,
    "mouthClose": -0.96,
    "mouthFunnel": 0.42,
    "mouthLowerDownLeft": 0.055,
    "mouthLowerDownRight": 0.055,
    "mouthUpperUpLeft": 0.07,
    "mouthUpperUpRight": 0.07,
    "mouthShrugUpper": 0.12,
    "mouthShrugLower": -0.14,
    "mouthRollLower": -0.1,
    "mouthRollUpper": -0.08,
    "mouthPressLeft": -0.04,
    "mouthPressRight": -0.04,
    "mouthPucker": -0.025,
    "mouthSmileLeft": -0.04,
    "mouthSmileRight": -0.04,
}
CLOSED_THRESHOLD = 0.035  # lip aperture (jawOpen units, ~1.2 mm) below which the lips count as closed

WeightsLike = Union[Curves, npt.ArrayLike]


def _weights_of(curves_or_weights: WeightsLike) -> FloatArray:
    if isinstance(curves_or_weights, Curves):
        return curves_or_weights.weights
    w = np.asarray(curves_or_weights, dtype=np.float32)
    if w.ndim == 1:
        w = w[None, :]
    if w.shape[-1] != len(ARKIT_NAMES):
        raise ValueError(f"weights must be (T, {len(ARKIT_NAMES)}), got {w.shape}")
    return w


def lip_aperture(curves_or_weights: WeightsLike) -> FloatArray:
    """Signed inner-lip opening per frame in jawOpen units (<= 0: lips touching/pressed)."""
    w = _weights_of(curves_or_weights)
    out = np.zeros(w.shape[0], dtype=np.float32)
    for name, gain in _APERTURE_GAIN.items():
        out += gain * w[:, ARKIT_INDEX[name]]
    return out


def mouth_openness(curves_or_weights: WeightsLike) -> FloatArray:
    """How open the mouth is per frame, in [0, 1]: the lip aperture clipped at 0.

    Defined as jawOpen - 0.96 mouthClose + 0.42 mouthFunnel + small lip terms
    (``_APERTURE_GAIN``), i.e. the vertical gap between the inner lips in units of
    a full jawOpen on the default head (1 ~ 35 mm). This is what the evaluator
    correlates between the prediction and the phone-derived target.
    """
    result: FloatArray = np.clip(lip_aperture(curves_or_weights), 0.0, 1.0)
    return result


def is_closed(curves_or_weights: WeightsLike) -> BoolArray:
    """Per frame: are the lips closed (aperture < CLOSED_THRESHOLD, ~1.2 mm past neutral)?

    True in silence (relaxed neutral) and at bilabials; every other viseme target is open.
    """
    result: BoolArray = lip_aperture(curves_or_weights) < CLOSED_THRESHOLD
    return result


MIN_CLOSURE_S = 0.03  # shorter closed runs are not promoted by keep_closures


def closure_events(closed: npt.ArrayLike) -> list[tuple[int, int]]:
    """Maximal runs of closed frames as (first, last) frame indices."""
    c = np.asarray(closed, dtype=bool)
    if c.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], c.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def keep_closures(
    sub: FloatArray,
    source: FloatArray,
    source_fps: float,
    fps: float,
    min_closure: float = MIN_CLOSURE_S,
) -> FloatArray:
    """Frames (n, 52) at ``fps``, sampled from ``source`` (m, 52) at a higher ``source_fps``,
    that show every lip closure of the source.

    Sampling at frame centres drops a 30-60 ms closure that falls between two frames at
    24-30 fps, and an "M" or "P" the artist hears then never closes on screen. A film frame
    stands for the 1/fps around its centre, so a frame whose interval holds a closed source
    frame, and that is not closed itself, takes the weights of the most closed source frame
    of its interval (the rule ``targets_from_phones`` follows for every bilabial). Closed runs
    shorter than ``min_closure`` seconds (30 ms, shorter than a real bilabial closure; on the
    speech model's adaptation recordings promoting them costs more false closures than it
    finds) are left to sampling. Nothing changes when ``fps`` is not below ``source_fps``.
    """
    n, t = sub.shape[0], source.shape[0]
    if t == 0 or n == 0 or fps >= source_fps:
        return sub
    ap = lip_aperture(source)
    closed = ap < CLOSED_THRESHOLD
    min_run = max(1, math.ceil(min_closure * source_fps - 1e-6))
    for first, last in closure_events(closed):
        if last - first + 1 < min_run:
            closed[first : last + 1] = False
    if not closed.any():
        return sub
    ap = np.where(closed, ap, np.float32(np.inf))  # only frames of kept runs compete
    # the source frames [lo, hi) whose centres (k + 0.5) / source_fps lie in each frame's interval
    lo = np.clip(np.ceil(np.arange(n) / fps * source_fps - 0.5 - 1e-9), 0, t).astype(np.int64)
    hi = np.clip(np.ceil(np.arange(1, n + 1) / fps * source_fps - 0.5 - 1e-9), 0, t).astype(np.int64)
    best = lo.copy()
    best_ap = np.full(n, np.inf, dtype=np.float32)
    for k in range(int((hi - lo).max(initial=0))):
        idx = np.minimum(lo + k, t - 1)
        cand = np.where(lo + k < hi, ap[idx], np.inf)
        better = cand < best_ap
        best[better], best_ap[better] = idx[better], cand[better]
    fix = np.isfinite(best_ap) & ~(lip_aperture(sub) < CLOSED_THRESHOLD)
    if not fix.any():
        return sub
    out = np.array(sub, dtype=np.float32, copy=True)
    out[fix] = source[best[fix]]
    return out


def _check_tables() -> None:
    missing = [p for p in PHONES if p not in VISEME_OF]
    if missing:
        raise AssertionError(f"phones without a viseme: {missing}")


_check_tables()
