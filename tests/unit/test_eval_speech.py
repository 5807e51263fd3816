"""Speech evaluation metrics on synthetic curves with known answers, and the eval script itself."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from furrow.curves import Curves
from furrow.heads.arkit import ARKIT_INDEX
from furrow.speech.baseline import energy_jaw
from furrow.speech.metrics import (
    Scores,
    closure_events,
    closure_precision_counts,
    closure_recall_hits,
    openness_correlation,
)
from furrow.speech.phones import PhoneSegment

ROOT = Path(__file__).resolve().parents[2]
FPS = 25.0

# "sil mama pa sil ba sil": 3 s with five bilabials
WORD = [
    ("sil", 0.0, 0.3), ("M", 0.3, 0.4), ("AA", 0.4, 0.6), ("M", 0.6, 0.7), ("AA", 0.7, 0.9),
    ("P", 0.9, 1.0), ("AA", 1.0, 1.3), ("sil", 1.3, 1.6), ("B", 1.6, 1.7), ("AE", 1.7, 2.0),
    ("S", 2.0, 2.2), ("IY", 2.2, 2.5), ("M", 2.5, 2.58), ("sil", 2.58, 3.0),
]  # fmt: skip
SEGMENTS = [PhoneSegment(p, s, e) for p, s, e in WORD]


def _truth() -> Curves:
    from furrow.speech.visemes import targets_from_phones

    return targets_from_phones(SEGMENTS, FPS, 75)


def _shift(c: Curves, k: int) -> Curves:
    """The prediction k frames late: pred[t] = truth[t - k]."""
    w = np.roll(c.weights, k, axis=0)
    w[:k] = c.weights[0]
    return Curves(c.fps, w)


def _score(pred: Curves, truth: Curves) -> dict[str, float]:
    s = Scores()
    s.add(pred, truth, SEGMENTS)
    return s.summary()


def test_perfect_prediction_scores_perfectly() -> None:
    truth = _truth()
    s = _score(truth, truth)
    assert s["bilabials"] == 5
    assert s["closure_recall"] == 1.0 and s["closure_precision"] == 1.0
    assert s["openness_corr"] == pytest.approx(1.0)
    assert s["lag_ms"] == 0.0
    assert s["viseme_acc"] == 1.0


def test_a_late_prediction_shows_its_lag() -> None:
    truth = _truth()
    late = _score(_shift(truth, 3), truth)
    assert late["lag_ms"] == pytest.approx(120.0)  # 3 frames at 25 fps
    assert late["openness_corr"] < 0.9
    early = Curves(FPS, np.roll(truth.weights, -2, axis=0))
    assert _score(early, truth)["lag_ms"] == pytest.approx(-80.0)


def test_openness_correlation_and_lag_on_plain_series() -> None:
    t = np.arange(200) / FPS
    truth = np.clip(np.sin(2 * np.pi * 1.7 * t) + 0.3 * np.sin(2 * np.pi * 4.1 * t), 0, None)
    corr, lag = openness_correlation(truth, truth, FPS)
    assert corr == pytest.approx(1.0) and lag == 0.0
    late = np.concatenate([np.zeros(3), truth[:-3]])
    assert openness_correlation(late, truth, FPS)[1] == pytest.approx(120.0)
    noise = np.random.default_rng(1).random(200)
    assert abs(openness_correlation(noise, truth, FPS)[0]) < 0.3


def test_closure_recall_window_is_40_ms() -> None:
    # one M centred at 1.0 s; frames at 25 fps have centres 0.02, 0.06, ...
    seg = [PhoneSegment("sil", 0, 0.95), PhoneSegment("M", 0.95, 1.05), PhoneSegment("sil", 1.05, 2)]
    closed = np.zeros(50, bool)
    closed[25] = True  # centre 1.02 s: within 40 ms
    assert closure_recall_hits(closed, seg, FPS) == (1, 1)
    closed[:] = False
    closed[26] = True  # centre 1.06 s: 60 ms off
    assert closure_recall_hits(closed, seg, FPS) == (0, 1)


def test_closure_precision_ignores_silence_and_counts_false_closures() -> None:
    seg = [
        PhoneSegment("sil", 0.0, 0.4),
        PhoneSegment("AA", 0.4, 0.8),
        PhoneSegment("M", 0.8, 0.9),
        PhoneSegment("AA", 0.9, 1.6),
        PhoneSegment("sil", 1.6, 2.0),
    ]
    closed = np.zeros(50, bool)
    closed[0:8] = True  # in the leading pause: ignored
    closed[21:23] = True  # at the M (0.86, 0.90 s): correct
    closed[30] = True  # 1.22 s, mid-vowel: a false closure
    closed[39:] = True  # from 1.58 s into the final pause: correct (closing into silence)
    assert closure_events(closed) == [(0, 7), (21, 22), (30, 30), (39, 49)]
    assert closure_precision_counts(closed, seg, FPS) == (2, 3)


def test_the_energy_baseline_opens_the_jaw_on_loud_audio_only() -> None:
    from furrow.speech.audio import Audio

    rate = 16000
    t = np.arange(2 * rate) / rate
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 1.0)).astype(np.float32)
    c = energy_jaw(Audio(x, rate, rate, 1), FPS)
    jaw = c.channel("jawOpen")
    assert c.n_frames == 50 and jaw[:20].max() == 0.0 and jaw[30:].min() > 0.4
    assert np.count_nonzero(c.weights[:, np.arange(52) != ARKIT_INDEX["jawOpen"]]) == 0


def test_eval_speech_quick_runs_on_real_recordings(tmp_path: Path) -> None:
    if not Path("/usr/share/pocketsphinx/test/data/cards/001.wav").is_file():
        pytest.skip("Debian pocketsphinx-testdata is not installed (./scripts/setup)")
    out = tmp_path / "eval.json"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(ROOT / "scripts" / "eval_speech"), "--quick", "-q", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "| energy baseline |" in proc.stdout and "| allphone (audio) |" in proc.stdout
    assert elapsed < 20
    data = json.loads(out.read_text())
    assert len(data["recordings"]) == 2
    assert data["systems"]["transcript (aligned)"]["bilabials"] >= 2
    for name, s in data["systems"].items():
        assert 0.0 <= s["closure_precision"] <= 1.0, name
        assert -200.0 <= s["lag_ms"] <= 200.0, name


def _need_asterisk() -> None:
    from furrow.speech.evaldata import ASTERISK_SOUNDS, ASTERISK_TRANSCRIPTS

    if not (ASTERISK_SOUNDS.is_dir() and ASTERISK_TRANSCRIPTS.is_file()):
        pytest.skip("Debian asterisk-core-sounds-en(-g722) is not installed (./scripts/setup)")


def test_adaptation_and_evaluation_splits_are_disjoint_halves() -> None:
    _need_asterisk()
    from furrow.speech.evaldata import items

    held = {it.name for it in items("asterisk")}
    adapt = {it.name for it in items("asterisk", split="adapt")}
    every = {it.name for it in items("asterisk", split="all")}
    assert not held & adapt and held | adapt == every
    assert 0.4 < len(adapt) / len(every) < 0.6
    assert len(items("cards")) == len(items("cards", split="all"))  # other speakers: never training data


def test_real_corpus_writes_aligned_adaptation_utterances(tmp_path: Path) -> None:
    _need_asterisk()
    from furrow.speech.corpus.dataset import load_utterance, utterance_paths
    from furrow.speech.corpus.real import build_real_corpus
    from furrow.speech.evaldata import items

    rep = build_real_corpus(tmp_path, limit=2)
    assert rep.written == 2 and not rep.skipped
    paths = utterance_paths(tmp_path)
    adapt = {f"asterisk_{it.name}" for it in items("asterisk", split="adapt")}
    assert len(paths) == 2 and all(p.stem in adapt for p in paths)
    for p in paths:
        u = load_utterance(p)
        assert u.engine == "real" and u.rate == 16000
        spoken = [s for s in u.segments if s.phone != "sil"]
        assert spoken and spoken[-1].end <= u.duration + 1e-3
    assert build_real_corpus(tmp_path, limit=2).kept == 2  # resumable: nothing redone
