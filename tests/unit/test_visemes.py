"""Phone -> viseme -> ARKit targets with coarticulation, and the non-verbal channels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from furrow.curves import Curves
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.default import default_head_path, load_default_head
from furrow.speech.nonverbal import add_nonverbal, blink_times, emphasis_peaks
from furrow.speech.phones import BILABIALS, PHONES, PhoneSegment
from furrow.speech.visemes import (
    SPEECH_CHANNELS,
    VISEME_CLASSES,
    VISEME_OF,
    VISEME_TARGETS,
    is_closed,
    mouth_openness,
    phone_target,
    targets_from_phones,
    viseme_labels,
    viseme_target,
)

FPS_ALL = (24.0, 25.0, 30.0, 60.0, 23.976, 29.97)
JAW = ARKIT_INDEX["jawOpen"]
CLOSE = ARKIT_INDEX["mouthClose"]
PUCKER = ARKIT_INDEX["mouthPucker"]


def seq(*spec: tuple[str, float], start: float = 0.0) -> list[PhoneSegment]:
    out, t = [], start
    for phone, dur in spec:
        out.append(PhoneSegment(phone, t, t + dur))
        t += dur
    return out


def frame_at(t: float, fps: float) -> int:
    return math.floor(t * fps)


# --- the table -------------------------------------------------------------------------


def test_every_phone_has_a_viseme_and_every_viseme_a_target() -> None:
    assert set(PHONES) <= set(VISEME_OF)
    assert set(VISEME_OF.values()) == set(VISEME_CLASSES)
    assert set(VISEME_TARGETS) == set(VISEME_CLASSES)
    assert VISEME_CLASSES[0] == "sil" and len(set(VISEME_CLASSES)) == len(VISEME_CLASSES)
    for phone in BILABIALS:
        assert VISEME_OF[phone] == "PP"
    for p in PHONES:
        assert set(phone_target(p)) <= set(SPEECH_CHANNELS)
        assert all(0.0 <= v <= 1.0 for v in phone_target(p).values())


def test_jaw_follows_vowel_openness() -> None:
    jaw = {p: phone_target(p)["jawOpen"] for p in ("AA", "AE", "EH", "IH", "IY", "UW")}
    assert jaw["AA"] > jaw["AE"] > jaw["EH"] > jaw["IH"] > jaw["IY"]
    assert jaw["UW"] < jaw["EH"]


def test_closure_measures_on_targets() -> None:
    assert is_closed(viseme_target("PP"))[0]
    assert is_closed(viseme_target("sil"))[0]
    for v in VISEME_CLASSES:
        if v not in ("PP", "sil"):
            assert not is_closed(viseme_target(v))[0], v
    assert mouth_openness(viseme_target("AA"))[0] > mouth_openness(viseme_target("IH"))[0] > 0


# --- coarticulated curves ----------------------------------------------------------------


@pytest.mark.parametrize("fps", FPS_ALL)
def test_m_closes_the_lips_at_every_fps(fps: float) -> None:
    for m_dur in (0.04, 0.07, 0.12):
        segs = seq(("sil", 0.2), ("AA", 0.15), ("M", m_dur), ("AA", 0.15), ("sil", 0.2))
        curves = targets_from_phones(segs, fps)
        mid = 0.35 + m_dur / 2
        i = int(np.argmin(np.abs((np.arange(curves.n_frames) + 0.5) / fps - mid)))
        w = curves.weights[i]
        assert is_closed(curves)[i], (fps, m_dur)
        assert w[CLOSE] >= 0.9 * VISEME_TARGETS["PP"]["mouthClose"]
        assert w[JAW] <= 0.1
        assert w[CLOSE] >= w[JAW] - 0.02
        # the vowels around it are open
        assert mouth_openness(curves)[frame_at(0.28, fps)] > 0.25
        assert not is_closed(curves)[frame_at(0.28, fps)]


def test_short_bilabials_in_fast_speech_close() -> None:
    phones = ["AA", "B", "IY", "P", "AE", "M", "OW", "B", "AH", "P", "IH", "M", "EH"]
    segs = seq(*[(p, 0.04 if p in BILABIALS else 0.07) for p in phones], start=0.1)
    for fps in FPS_ALL:
        curves = targets_from_phones(segs, fps)
        closed = is_closed(curves)
        centres = (np.arange(curves.n_frames) + 0.5) / fps
        for s in segs:
            if s.phone in BILABIALS:
                i = int(np.argmin(np.abs(centres - 0.5 * (s.start + s.end))))
                assert closed[i], (fps, s)


def test_silence_is_neutral() -> None:
    for segs in ([PhoneSegment("sil", 0.0, 2.0)], []):
        curves = targets_from_phones(segs, 30.0, n_frames=60)
        assert curves.weights.shape == (60, len(ARKIT_NAMES))
        assert np.abs(curves.weights).max() < 1e-6
        assert is_closed(curves).all()
        assert curves.notes


def test_default_length_and_other_channels_zero() -> None:
    segs = seq(("HH", 0.1), ("AH", 0.2), ("L", 0.1), ("OW", 0.25))
    curves = targets_from_phones(segs, 23.976)
    assert curves.n_frames == math.ceil(0.65 * 23.976)
    others = [i for i, n in enumerate(ARKIT_NAMES) if n not in SPEECH_CHANNELS]
    assert np.all(curves.weights[:, others] == 0)
    assert viseme_labels(segs, 23.976, curves.n_frames)[5] == "AA"


def test_aa_opens_more_than_iy() -> None:
    for phone_a, phone_b in (("AA", "IY"), ("AE", "UW")):
        a = targets_from_phones(seq(("sil", 0.2), (phone_a, 0.2), ("sil", 0.2)), 30.0)
        b = targets_from_phones(seq(("sil", 0.2), (phone_b, 0.2), ("sil", 0.2)), 30.0)
        i = frame_at(0.3, 30.0)
        assert a.weights[i, JAW] > b.weights[i, JAW] + 0.15
        assert mouth_openness(a)[i] > mouth_openness(b)[i]


def test_rounding_is_anticipated_before_uw() -> None:
    fps = 60.0
    rounded = targets_from_phones(seq(("sil", 0.3), ("S", 0.1), ("T", 0.06), ("UW", 0.2), ("sil", 0.3)), fps)
    spread = targets_from_phones(seq(("sil", 0.3), ("S", 0.1), ("T", 0.06), ("IY", 0.2), ("sil", 0.3)), fps)
    uw_start = 0.46
    before = frame_at(uw_start - 0.1, fps)  # inside the "s", 100 ms before the vowel
    assert rounded.weights[before, PUCKER] > 0.2
    assert spread.weights[before, PUCKER] < 0.05
    # the rounding starts well ahead, and carries over a little after the vowel
    assert rounded.weights[frame_at(uw_start - 0.15, fps), PUCKER] > 0.1
    assert rounded.weights[frame_at(uw_start + 0.24, fps), PUCKER] > 0.1


def test_curves_are_smooth_except_at_closures() -> None:
    rng = np.random.default_rng(3)
    phones = [p for p in PHONES if p != "sil"]
    spec = [(str(rng.choice(phones)), float(rng.uniform(0.05, 0.2))) for _ in range(80)]
    segs = seq(("sil", 0.3), *spec, ("sil", 0.3))
    fps = 60.0
    curves = targets_from_phones(segs, fps)
    w = curves.weights[:, [ARKIT_INDEX[n] for n in SPEECH_CHANNELS]]
    jumps = np.abs(np.diff(w, axis=0)).max(axis=1)
    centres = (np.arange(curves.n_frames) + 0.5) / fps
    near_closure = np.zeros(curves.n_frames - 1, dtype=bool)
    for s in segs:
        if s.phone in BILABIALS:
            near_closure |= np.abs(centres[:-1] - 0.5 * (s.start + s.end)) < s.end - s.start + 0.06
    assert jumps[~near_closure].max() < 0.15
    assert jumps.max() < 0.6


# --- geometry on the real default head -----------------------------------------------------


def test_lip_gap_on_the_default_head() -> None:
    if not default_head_path().is_file():
        pytest.skip("default head not built (./scripts/setup)")
    head = load_default_head()

    def gap_mm(weights: np.ndarray) -> float:
        lm = head.landmark_positions(head.evaluate_np(expression=weights))
        return float(np.linalg.norm(lm[62] - lm[66])) * 1000.0

    assert gap_mm(viseme_target("PP")) < 1.0
    assert gap_mm(viseme_target("AA")) > 8.0
    assert gap_mm(np.zeros(len(ARKIT_NAMES), np.float32)) < 2.0  # relaxed neutral: lips together
    # an "M" inside speech, as the curves put it, also closes the lips
    curves = targets_from_phones(seq(("AA", 0.15), ("M", 0.05), ("AA", 0.15)), 24.0)
    i = int(np.argmin(np.abs((np.arange(curves.n_frames) + 0.5) / 24.0 - 0.175)))
    assert gap_mm(curves.weights[i]) < 1.0
    assert gap_mm(curves.weights[frame_at(0.07, 24.0)]) > 8.0

    # rounded visemes narrow the mouth, wide ones widen it (corner landmarks 48-54)
    def width(v: str) -> float:
        lm = head.landmark_positions(head.evaluate_np(expression=viseme_target(v)))
        return float(np.linalg.norm(lm[48] - lm[54]))

    assert width("WU") < width("sil") < width("IH")


# --- non-verbal -------------------------------------------------------------------------------


def blink_onsets(curves: Curves) -> np.ndarray:
    b = curves.channel("eyeBlinkLeft")
    shut = b > 0.5
    return np.flatnonzero(shut[1:] & ~shut[:-1]) + 1


def test_blinks_natural_rate_irregular_and_deterministic() -> None:
    fps = 30.0
    neutral = targets_from_phones([], fps, n_frames=int(60 * fps))
    rates = []
    for seed in range(5):
        out = add_nonverbal(neutral, None, 16000, seed)
        onsets = blink_onsets(out)
        rates.append(len(onsets))
        assert 8 <= len(onsets) <= 30, seed
        gaps = np.diff(onsets) / fps
        assert gaps.std() / gaps.mean() > 0.2  # irregular
        assert np.array_equal(out.channel("eyeBlinkLeft"), out.channel("eyeBlinkRight"))
        assert out.channel("eyeBlinkLeft").max() > 0.95
        # silence: speech channels untouched (neutral, lips closed), head motion small
        speech = [ARKIT_INDEX[n] for n in SPEECH_CHANNELS]
        assert np.abs(out.weights[:, speech]).max() == 0
        assert out.head_rotation is not None and np.abs(out.head_rotation).max() < math.radians(5)
    again = add_nonverbal(neutral, None, 16000, 2)
    assert np.array_equal(again.weights, add_nonverbal(neutral, None, 16000, 2).weights)
    assert len(set(rates)) > 1
    assert blink_times(10.0, 1) == blink_times(10.0, 1)


def test_blink_shape_closes_fast_opens_slower() -> None:
    fps = 60.0
    out = add_nonverbal(targets_from_phones([], fps, n_frames=int(30 * fps)), None, 16000, 7)
    b = out.channel("eyeBlinkLeft")
    i = int(blink_onsets(out)[0])
    peak = i + int(np.argmax(b[i : i + 20]))
    start = peak - int(np.argmax(b[peak::-1] < 0.05))
    end = peak + int(np.argmax(b[peak:] < 0.05))
    assert end - peak > peak - start
    assert 0.05 < (end - start) / fps < 0.5
    assert out.channel("eyeSquintLeft").max() > 0


def test_brow_raise_near_energy_peak() -> None:
    rate = 16000
    t = np.arange(int(6.0 * rate)) / rate
    envelope = 0.05 + 0.25 * np.exp(-0.5 * ((t - 3.0) / 0.12) ** 2)
    rng = np.random.default_rng(0)
    audio = (envelope * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    audio[: rate // 2] = 0.0
    peaks = emphasis_peaks(audio, rate)
    assert peaks and abs(peaks[0][0] - 3.0) < 0.1
    fps = 25.0
    out = add_nonverbal(targets_from_phones([], fps, n_frames=150), audio, rate, 0)
    brow = out.channel("browInnerUp")
    peak_t = (int(np.argmax(brow)) + 0.5) / fps
    assert abs(peak_t - 3.0) < 0.25
    assert 0.2 <= brow.max() <= 0.5
    assert brow[: int(1.5 * fps)].max() < 0.05
    assert np.abs(np.diff(brow)).max() < 0.2  # smooth
    assert out.head_rotation is not None
    assert np.abs(out.head_rotation).max() < math.radians(5)
    # silence in: no brows, no nods
    quiet = add_nonverbal(targets_from_phones([], fps, n_frames=150), np.zeros(6 * rate), rate, 0)
    assert quiet.channel("browInnerUp").max() == 0


def test_diphthongs_glide_and_rates_agree() -> None:
    segs = seq(("sil", 0.2), ("AY", 0.3), ("sil", 0.2))
    curves = targets_from_phones(segs, 60.0)
    early, late = frame_at(0.27, 60.0), frame_at(0.47, 60.0)
    stretch = ARKIT_INDEX["mouthStretchLeft"]
    assert curves.weights[early, JAW] > curves.weights[late, JAW] + 0.1
    assert curves.weights[late, stretch] > curves.weights[early, stretch] + 0.1
    # the same motion at any frame rate: 29.97 and 60 fps agree at nearby times
    other = targets_from_phones(segs, 29.97)
    t = (np.arange(other.n_frames) + 0.5) / 29.97
    resampled = np.interp(t, (np.arange(curves.n_frames) + 0.5) / 60.0, curves.weights[:, JAW])
    assert np.abs(resampled - other.weights[:, JAW]).max() < 0.05
