"""pocketsphinx forced alignment and phone recognition on real recorded speech."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from furrow.speech.align import (
    AlignmentError,
    align_transcript,
    align_words,
    espeak_phones,
    ipa_to_arpabet,
    recognize_phones,
    transcript_words,
)
from furrow.speech.audio import Audio, load_audio
from furrow.speech.phones import SILENCE, PhoneSegment

DATA = Path("/usr/share/pocketsphinx/test/data")
SENTENCE = DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"
TEXT = "He was not an ill-disposed young man."
EXPECTED = "HH IY W AH Z N AA T AH N IH L D IH S P OW Z D Y AH NG M AE N".split()

needs_data = pytest.mark.skipif(
    not SENTENCE.is_file(), reason="Debian pocketsphinx-testdata is not installed (./scripts/setup)"
)


@pytest.fixture(scope="module")
def audio() -> Audio:
    return load_audio(SENTENCE)


def _speech(segments: list[PhoneSegment]) -> list[PhoneSegment]:
    return [s for s in segments if s.phone != SILENCE]


def _contiguous(segments: list[PhoneSegment], duration: float) -> None:
    assert segments[0].start == 0.0
    assert segments[-1].end == pytest.approx(duration, abs=0.011)
    for a, b in itertools.pairwise(segments):
        assert a.end == pytest.approx(b.start, abs=1e-6)


def _energy_db(audio: Audio, start: float, end: float) -> float:
    x = audio.samples[int(start * audio.rate) : int(end * audio.rate)].astype(np.float64)
    return float(10 * np.log10(np.mean(x * x) + 1e-12))


@needs_data
def test_alignment_gives_the_phones_in_order_with_plausible_timing(audio: Audio) -> None:
    segments = align_transcript(audio, TEXT)
    _contiguous(segments, audio.duration)
    speech = _speech(segments)
    assert [s.phone for s in speech] == EXPECTED
    # every phone lasts 10 ms .. 0.5 s on 10 ms frames
    for s in speech:
        assert 0.009 < s.end - s.start < 0.5
        assert round(s.start * 100) == pytest.approx(s.start * 100, abs=1e-6)
    # speech sits where the energy is: leading silence is quiet, the vowels loud
    first, last = speech[0].start, speech[-1].end
    assert 0.05 < first < 0.5 and audio.duration - 0.4 < last <= audio.duration
    assert _energy_db(audio, 0.0, first - 0.02) < _energy_db(audio, first, last) - 15
    vowels = [s for s in speech if s.phone in {"AA", "OW", "AE"}]
    stops = [s for s in speech if s.phone in {"P", "T", "D"}]
    v = np.mean([_energy_db(audio, s.start, s.end) for s in vowels])
    c = np.mean([_energy_db(audio, s.start, s.end) for s in stops])
    assert v > c + 6


@needs_data
def test_words_are_reported_with_their_phones(audio: Audio) -> None:
    words = [w for w in align_words(audio, TEXT) if w.word != "<sil>"]
    assert [w.word for w in words] == ["he", "was", "not", "an", "ill", "disposed", "young", "man"]
    assert [p.phone for p in words[-1].phones] == ["M", "AE", "N"]
    assert all(w.start <= w.phones[0].start and w.phones[-1].end <= w.end for w in words)


@needs_data
def test_an_unknown_word_gets_phones_from_espeak(audio: Audio) -> None:
    # "dispozed" is in no dictionary; espeak-ng's letter-to-sound rules pronounce it
    segments = align_transcript(audio, "he was not an ill dispozed young man")
    assert [s.phone for s in _speech(segments)] == EXPECTED


def test_espeak_and_ipa_mapping() -> None:
    assert espeak_phones("zorblax") == ["Z", "AO", "R", "B", "L", "AE", "K", "S"]
    assert ipa_to_arpabet("tʃˈɜːtʃ") == ["CH", "ER", "CH"]  # noqa: RUF001
    assert ipa_to_arpabet("ðə bˈʌʔn̩") == ["DH", "AH", "B", "AH", "T", "N"]  # noqa: RUF001
    assert transcript_words("Call-Forward [beep] on Waldo's 2nd line!") == [
        "call", "forward", "on", "waldo's", "2nd", "line",
    ]  # fmt: skip


@needs_data
def test_bad_transcripts_are_clear_errors_not_crashes(audio: Audio) -> None:
    with pytest.raises(AlignmentError, match="no words"):
        align_transcript(audio, "  ...  ")
    with pytest.raises(AlignmentError, match="could not be aligned"):
        align_transcript(audio, "he was")  # most of the speech has no words
    with pytest.raises(AlignmentError, match="silent"):
        align_transcript(Audio(np.zeros(16000, np.float32), 16000, 16000, 1), "hello")
    # the decoder still works afterwards
    assert [s.phone for s in _speech(align_transcript(audio, TEXT))] == EXPECTED


@needs_data
def test_allphone_recognition_finds_phones_and_the_speech_boundaries(audio: Audio) -> None:
    aligned = _speech(align_transcript(audio, TEXT))
    segments = recognize_phones(audio)
    _contiguous(segments, audio.duration)
    speech = _speech(segments)
    assert len(speech) >= 15
    # speech starts and ends within 150 ms of the aligned speech
    assert abs(speech[0].start - aligned[0].start) < 0.15
    assert abs(speech[-1].end - aligned[-1].end) < 0.15
    # most of the phones it hears are the right ones
    hits = sum(p in [s.phone for s in speech] for p in set(EXPECTED))
    assert hits >= 0.5 * len(set(EXPECTED))


def test_allphone_on_silence_is_silence() -> None:
    segments = recognize_phones(Audio(np.zeros(8000, np.float32), 16000, 16000, 1))
    assert [s.phone for s in segments] == [SILENCE]


def test_other_languages_align_with_espeak_pronunciations() -> None:
    """An Italian prompt (Carlo, asterisk-core-sounds-it) aligns with Italian pronunciations
    mapped onto the English phones: its words come back in order, its bilabials are there."""
    from furrow.speech.evaldata import EvalDataError, items, load_item_audio

    try:
        prompt = next(it for it in items("asterisk-it", split="all") if it.name == "agent-newlocation")
    except (EvalDataError, StopIteration):
        pytest.skip("Debian asterisk-core-sounds-it(-g722) is not installed (./scripts/setup)")
    audio = load_item_audio(prompt)
    words = [w for w in align_words(audio, prompt.transcript, "it") if w.word != "<sil>"]
    assert [w.word for w in words][:4] == ["prego", "digitare", "un", "nuovo"]
    assert words[0].phones[0].phone == "P"
    assert all(0 <= w.start < w.end <= audio.duration + 0.01 for w in words)
    # the same spelling in English is a different dictionary entry
    assert espeak_phones("prego", "it") != espeak_phones("prego")
