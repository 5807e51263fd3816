"""Phone timing from real speech with pocketsphinx (the en-us model its PyPI wheel ships).

Two entry points, both returning contiguous ``PhoneSegment`` lists (10 ms
resolution, silence filled in) that cover the whole recording:

* ``align_transcript(audio, transcript)``: forced alignment of a known text. Words
  pocketsphinx's dictionary lacks get a pronunciation from espeak-ng (its IPA,
  mapped onto ARPAbet) that is added to the decoder's dictionary at run time.
  ``align_words`` gives the word spans too.
* ``recognize_phones(audio)``: audio-only phone recognition (pocketsphinx's
  allphone search with its phonetic language model, en-us-phone.lm.bin): the
  fallback when no trained speech network is available, and an evaluation
  baseline.

Everything that can go wrong (no pocketsphinx, empty transcript, a word no
tool can pronounce, audio the text cannot be aligned to) raises
``AlignmentError`` with a one-line reason; nothing else escapes.
"""

# ruff: noqa: RUF001  (IPA symbols look like Latin letters on purpose)

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE, Audio, resample
from .phones import SILENCE, PhoneSegment, normalize_arpabet

FRAME_S = 0.01  # pocketsphinx's frame period


class AlignmentError(ValueError):
    """The transcript cannot be aligned (or phones recognised); the message says why."""


@dataclass(frozen=True)
class WordSegment:
    word: str  # as spoken in the transcript (lower case), "<sil>" for pauses
    start: float  # seconds
    end: float
    phones: tuple[PhoneSegment, ...]


# --- the decoders ---------------------------------------------------------------------

_LOCK = threading.Lock()
_DECODERS: dict[str, Any] = {}


def _model_path(sub: str) -> str:
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - a broken install
        raise AlignmentError(
            "pocketsphinx is not installed (run ./scripts/setup; it is pinned in requirements/runtime.txt)"
        ) from exc
    return str(pocketsphinx.get_model_path(sub))


# Alignment searches tried in turn: pocketsphinx's default beams, then wider ones (slower, but
# they find a path through long prompts with hesitations that the default search prunes away).
_ALIGN_BEAMS: tuple[dict[str, Any], ...] = (
    {},
    {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80},
    {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100, "fsgusefiller": False},
)


def _decoder(kind: str) -> Any:
    """A cached pocketsphinx Decoder: "alignN" (dictionary, no LM, the N-th beams of _ALIGN_BEAMS)
    or "allphone". Call under _LOCK."""
    dec = _DECODERS.get(kind)
    if dec is not None:
        return dec
    import pocketsphinx

    common: dict[str, Any] = {"samprate": SAMPLE_RATE, "loglevel": "FATAL", "lm": None}
    try:
        if kind.startswith("align"):
            dec = pocketsphinx.Decoder(**common, **_ALIGN_BEAMS[int(kind[5:] or 0)])
        else:
            dec = pocketsphinx.Decoder(
                **common,
                allphone=_model_path("en-us/en-us-phone.lm.bin"),
                backtrace=True,
                beam=1e-20,
                pbeam=1e-20,
                lw=2.0,
            )
    except (RuntimeError, ValueError) as exc:
        raise AlignmentError(f"pocketsphinx could not load its en-us model ({exc})") from exc
    _DECODERS[kind] = dec
    return dec


def reset_decoders() -> None:
    """Drop the cached decoders: words added at run time stay in a decoder's dictionary and
    slow its searches, so a long batch of other-language prompts starts afresh now and then."""
    with _LOCK:
        _DECODERS.clear()


def _pcm16(audio: Audio) -> bytes:
    samples = audio.samples
    if audio.rate != SAMPLE_RATE:
        samples = resample(samples, audio.rate, SAMPLE_RATE)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 1.0:  # clipped/over-range input: scale rather than wrap
        samples = samples / peak
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


SILENT_RMS = 1e-4  # -80 dBFS: digital silence, which the recogniser would fill with phones


def _rms(audio: Audio) -> float:
    if audio.samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64))))


def _decode(dec: Any, pcm: bytes) -> None:
    dec.reinit_feat()  # fresh feature state (cepstral mean ...): results never depend on the last call
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()


def _phone(name: str) -> str:
    try:
        return normalize_arpabet(name)
    except ValueError:
        return SILENCE  # fillers (+NSN+ ...) and anything odd: not speech


def _contiguous(raw: list[tuple[str, float, float]], duration: float) -> list[PhoneSegment]:
    """Sorted, non-overlapping segments covering [0, duration]; gaps become silence; sils merged."""
    out: list[tuple[str, float, float]] = []
    t = 0.0
    for phone, start, end in sorted(raw, key=lambda r: r[1]):
        start, end = max(start, t), min(end, duration)
        if end <= start:
            continue
        if start > t + 1e-9:
            out.append((SILENCE, t, start))
        out.append((phone, start, end))
        t = end
    if duration > t + 1e-9:
        out.append((SILENCE, t, duration))
    merged: list[tuple[str, float, float]] = []
    for phone, start, end in out:
        if merged and merged[-1][0] == SILENCE and phone == SILENCE:
            merged[-1] = (SILENCE, merged[-1][1], end)
        else:
            merged.append((phone, start, end))
    return [PhoneSegment(p, round(s, 4), round(e, 4)) for p, s, e in merged]


# --- transcripts and pronunciations ----------------------------------------------------

_NOT_WORD = re.compile(r"[^a-z0-9']+")


_NOT_WORD_ANY = re.compile(r"[^\w']+")  # other languages: any script's letters


def transcript_words(text: str, language: str = "en") -> list[str]:
    """Lower-case words of a transcript: bracketed notes ([laughs]) and punctuation dropped,
    hyphens split words, apostrophes inside words kept ("party's")."""
    text = re.sub(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)", " ", text.lower())
    if language == "en":
        words = [w.strip("'") for w in _NOT_WORD.split(text.replace("&", " and "))]
    else:
        words = [w.strip("'_") for w in _NOT_WORD_ANY.split(text)]
    return [w for w in words if w]


# espeak-ng IPA -> ARPAbet, longest match first, after stress, length and tie marks are dropped.
_IPA: dict[str, tuple[str, ...]] = {
    "aɪə": ("AY", "ER"),
    "aʊə": ("AW", "ER"),
    "ɜɹ": ("ER",),
    "ɑɹ": ("AA", "R"),
    "oɹ": ("AO", "R"),
    "ɔɹ": ("AO", "R"),
    "ɛɹ": ("EH", "R"),
    "ɪɹ": ("IH", "R"),
    "ʊɹ": ("UH", "R"),
    "aɪ": ("AY",),
    "aʊ": ("AW",),
    "eɪ": ("EY",),
    "oʊ": ("OW",),
    "əʊ": ("OW",),
    "ɔɪ": ("OY",),
    "tʃ": ("CH",),
    "dʒ": ("JH",),
    "iə": ("IY", "AH"),
    "ɜ": ("ER",),
    "ɝ": ("ER",),
    "ɚ": ("ER",),
    "i": ("IY",),
    "ɪ": ("IH",),
    "ᵻ": ("IH",),
    "e": ("EY",),
    "ɛ": ("EH",),
    "æ": ("AE",),
    "a": ("AA",),
    "ɑ": ("AA",),
    "ɒ": ("AA",),
    "ɔ": ("AO",),
    "o": ("OW",),
    "ʊ": ("UH",),
    "u": ("UW",),
    "ʌ": ("AH",),
    "ə": ("AH",),
    "ɐ": ("AH",),
    "p": ("P",),
    "b": ("B",),
    "t": ("T",),
    "d": ("D",),
    "k": ("K",),
    "g": ("G",),
    "ɡ": ("G",),
    "f": ("F",),
    "v": ("V",),
    "θ": ("TH",),
    "ð": ("DH",),
    "s": ("S",),
    "z": ("Z",),
    "ʃ": ("SH",),
    "ʒ": ("ZH",),
    "h": ("HH",),
    "m": ("M",),
    "n": ("N",),
    "ŋ": ("NG",),
    "l": ("L",),
    "ɫ": ("L",),
    "ɬ": ("L",),
    "ɹ": ("R",),
    "r": ("R",),
    "ɾ": ("T",),
    "ʔ": ("T",),
    "j": ("Y",),
    "w": ("W",),
    "ʍ": ("W",),
    "x": ("K",),
    "ç": ("HH",),
    # other languages (espeak-ng es/fr/it/ru), nearest English phone by mouth shape
    "tɕ": ("CH",),
    "ts": ("T", "S"),
    "dz": ("D", "Z"),
    "β": ("W",),  # bilabial approximant: lips near, not closed
    "ʁ": ("R",),
    "ʀ": ("R",),
    "y": ("UW",),
    "ø": ("ER",),
    "œ": ("ER",),
    "ɲ": ("N", "Y"),
    "ʎ": ("L", "Y"),
    "ɣ": ("G",),
    "ɨ": ("IH",),
    "ɵ": ("OW",),
    "ʂ": ("SH",),
    "ʐ": ("ZH",),
    "ɕ": ("SH",),
    "ɦ": ("HH",),
    "ʋ": ("V",),
    "ɥ": ("Y",),
    "ɯ": ("UW",),
}
_IPA_KEYS = sorted(_IPA, key=len, reverse=True)
_IPA_DROP = re.compile("[ˈˌːˑ\u200d\u0329\u0303\u02de\u0361\u02b2.\\-]|\\([a-z-]+\\)")


def ipa_to_arpabet(ipa: str) -> list[str]:
    """ARPAbet phones for an IPA string (espeak-ng's output); unknown symbols are skipped."""
    s = _IPA_DROP.sub("", ipa)
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        for key in _IPA_KEYS:
            if s.startswith(key, i):
                out.extend(_IPA[key])
                i += len(key)
                break
        else:
            i += 1
    return out


ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr", "it": "it", "ru": "ru"}


def espeak_phones(word: str, language: str = "en") -> list[str]:
    """ARPAbet phones of ``word`` by espeak-ng's letter-to-sound rules (US English by default)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise AlignmentError(
            f"the word {word!r} is not in pocketsphinx's dictionary and espeak-ng, which would "
            "pronounce it, is not installed (apt-get install espeak-ng)"
        )
    try:
        proc = subprocess.run(
            [exe, "-q", "--ipa", "-v", ESPEAK_VOICES.get(language, language), "--", word],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AlignmentError(f"espeak-ng failed on the word {word!r} ({exc})") from exc
    phones = ipa_to_arpabet(proc.stdout) if proc.returncode == 0 else []
    if not phones:
        raise AlignmentError(f"no pronunciation for the word {word!r} (espeak-ng gave none)")
    return phones


def _dict_key(word: str, language: str) -> str:
    """The decoder's dictionary entry for a word: the word itself in English; for another
    language an ASCII key of its own (its pronunciation is not the English one)."""
    return word if language == "en" else f"{language}_{word.encode('utf-8').hex()}"


def _ensure_words(dec: Any, words: list[str], language: str = "en") -> list[str]:
    """Add each word the dictionary lacks (pronounced by espeak-ng); returns the words added.

    The search is rebuilt once, after the last word: rebuilding per word grows slower with
    every word the dictionary holds."""
    missing = [w for w in dict.fromkeys(words) if dec.lookup_word(_dict_key(w, language)) is None]
    entries = [(_dict_key(w, language), " ".join(espeak_phones(w, language))) for w in missing]
    for i, (word, (key, phones)) in enumerate(zip(missing, entries, strict=True)):
        try:
            dec.add_word(key, phones, i == len(entries) - 1)
        except RuntimeError as exc:
            raise AlignmentError(f"pocketsphinx refused the pronunciation of {word!r} ({exc})") from exc
    return missing


# --- public API ---------------------------------------------------------------------


_RawWord = tuple[str, float, float, list[tuple[str, float, float]]]


def _align_once(dec: Any, words: list[str], pcm: bytes) -> list[_RawWord]:
    """Word-level then phone-level alignment; RuntimeError when the search finds no path."""
    dec.set_align_text(" ".join(words))
    _decode(dec, pcm)
    if dec.hyp() is None:
        raise RuntimeError("no path found")
    dec.set_alignment()
    _decode(dec, pcm)
    alignment = dec.get_alignment()
    if alignment is None:
        raise RuntimeError("no sub-word alignment")
    out: list[_RawWord] = []
    for w in alignment:
        phones = [(_phone(p.name), p.start * FRAME_S, (p.start + p.duration) * FRAME_S) for p in w]
        out.append((str(w.name), w.start * FRAME_S, (w.start + w.duration) * FRAME_S, phones))
    return out


MAX_WORD_S = 1.0  # a word longer than this plus MAX_PHONE_S per phone means the search gave up
MAX_PHONE_S = 0.3


def _implausible(raw: list[_RawWord], words: list[str]) -> str:
    """Why an alignment cannot be right ("" when it is plausible)."""
    spoken = [(re.sub(r"\(\d+\)$", "", w[0]), w) for w in raw if not w[0].startswith(("<", "+", "["))]
    if not spoken:
        return "no words placed"
    if [name for name, _ in spoken] != words:
        return "the search dropped words"
    for name, (_, start, end, phones) in spoken:
        if end - start > MAX_WORD_S + MAX_PHONE_S * len(phones):
            return f"'{name}' would last {end - start:.1f} s"
    return ""


def align_words(audio: Audio, transcript: str, language: str = "en") -> list[WordSegment]:
    """Forced alignment of ``transcript`` to ``audio``: word spans with their phones (pauses as
    "<sil>" words). Raises AlignmentError when the text cannot be aligned.

    ``language`` other than "en" (es, fr, it, ru: training data only) pronounces every word
    with espeak-ng in that language, mapped onto the English phones and acoustic model:
    approximate, but lip closures (m, b, p are the same everywhere) land where they are."""
    spoken = transcript_words(transcript, language)
    words = [_dict_key(w, language) for w in spoken]
    spoken_of = dict(zip(words, spoken, strict=True))
    if not words:
        raise AlignmentError("the transcript holds no words to align")
    if audio.duration < 0.1:
        raise AlignmentError(f"the audio is too short to align ({audio.duration:.2f} s)")
    if _rms(audio) < SILENT_RMS:
        raise AlignmentError("the audio is silent: there is no speech to align the transcript to")
    pcm = _pcm16(audio)
    raw_words: list[_RawWord] = []
    why = ""
    with _LOCK:
        for attempt in range(len(_ALIGN_BEAMS)):
            kind = f"align{attempt}"
            dec = _decoder(kind)
            _ensure_words(dec, spoken, language)
            try:
                raw_words = _align_once(dec, words, pcm)
            except RuntimeError as exc:
                why = str(exc)
                _DECODERS.pop(kind, None)  # a failed search can leave the decoder unusable
                continue
            why = _implausible(raw_words, words)
            if not why:
                break
            _DECODERS.pop(kind, None)
    if why:
        raise AlignmentError(f"the transcript could not be aligned to the audio ({why})")
    out: list[WordSegment] = []
    for name, start, end, phones in raw_words:
        word = re.sub(r"\(\d+\)$", "", name)  # alternative pronunciations: was(2)
        word = spoken_of.get(word, word)
        if word.startswith("<") or word.startswith("+"):
            word = "<sil>"
        segs = tuple(PhoneSegment(p, round(s, 4), round(e, 4)) for p, s, e in phones if e > s)
        out.append(WordSegment(word, round(start, 4), round(end, 4), segs))
    return out


def align_transcript(audio: Audio, transcript: str, language: str = "en") -> list[PhoneSegment]:
    """Phones of ``transcript`` timed against ``audio`` (10 ms), contiguous over the recording,
    silence between words. Raises AlignmentError when the text cannot be aligned."""
    raw = [(p.phone, p.start, p.end) for w in align_words(audio, transcript, language) for p in w.phones]
    return _contiguous(raw, audio.duration)


def recognize_phones(audio: Audio) -> list[PhoneSegment]:
    """Audio-only phone recognition (pocketsphinx allphone with its phonetic LM), contiguous
    over the recording; all silence for silent or very short audio."""
    if audio.duration < 0.1 or _rms(audio) < SILENT_RMS:
        return _contiguous([], audio.duration)
    pcm = _pcm16(audio)
    with _LOCK:
        dec = _decoder("allphone")
        try:
            _decode(dec, pcm)
            raw = [
                (_phone(str(s.word)), s.start_frame * FRAME_S, (s.end_frame + 1) * FRAME_S) for s in dec.seg()
            ]
        except RuntimeError as exc:
            raise AlignmentError(f"phone recognition failed ({exc})") from exc
    return _contiguous(raw, audio.duration)


def read_transcript(text_or_path: str) -> str:
    """A transcript given as text or as the path of a UTF-8 text file."""
    candidate = Path(text_or_path).expanduser()
    try:
        if len(text_or_path) < 4096 and candidate.is_file():
            return candidate.read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    return text_or_path
