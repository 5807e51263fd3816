"""Engine phone symbols -> Furrow's ARPAbet set (furrow.speech.phones).

Two tables:

* ``IPA_TO_ARPABET``: the IPA that espeak-ng writes for en-us (espeak phoneme
  events with espeakINITIALIZE_PHONEME_IPA, and Piper, which phonemizes with
  espeak-ng). IPA strings are split greedily, longest match first, so the
  diphthongs (aɪ, aʊ, eɪ, oʊ, ɔɪ) and affricates (tʃ, dʒ) become one phone;
  r-coloured and syllabic variants map to the nearest ARPAbet phone.
* ``LOWER_ARPABET``: the lower-case ARPAbet-like sets flite (cmulex) and
  festival (radio phone set) use, including their extras (ax, axr, el, em,
  en, dx, pau, ...).

Anything not in a table raises ``UnknownPhoneError`` naming the engine and
symbol, so a new engine version that emits a new symbol fails loudly.
"""

# ruff: noqa: RUF001, RUF002  (IPA symbols are meant)

from __future__ import annotations

from furrow.speech.phones import PHONE_INDEX, SILENCE


class UnknownPhoneError(ValueError):
    """An engine emitted a phone symbol no table maps; the message names both."""


# Stress and length marks that attach to a neighbouring phone (their duration
# goes to it): primary/secondary stress precede a vowel, length follows one.
IPA_PREFIX_MARKS = frozenset({"ˈ", "ˌ"})
IPA_SUFFIX_MARKS = frozenset({"ː", "ˑ", "\u0329", "\u0361", "\u032f", "ʲ", "ʰ", "̃"})
# Pauses and punctuation: silence.
IPA_SILENCE = frozenset({"_", "^", "$", ".", ",", ";", ":", "!", "?", "…", "—", "-", '"', "(", ")"})

IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # diphthongs
    "aɪ": ("AY",), "aɪə": ("AY", "ER"), "aɪɚ": ("AY", "ER"), "aʊ": ("AW",), "aʊə": ("AW", "ER"),
    "eɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",), "ɪə": ("IH", "R"), "eə": ("EH", "R"),
    "ʊə": ("UH", "R"), "ɛə": ("EH", "R"),
    # r-coloured vowels
    "ɚ": ("ER",), "ɝ": ("ER",), "ɜ": ("ER",), "ɜɹ": ("ER",), "ɑɹ": ("AA", "R"), "ɔɹ": ("AO", "R"),
    "oɹ": ("AO", "R"), "ɛɹ": ("EH", "R"), "ɪɹ": ("IH", "R"), "ʊɹ": ("UH", "R"), "iɹ": ("IY", "R"),
    # monophthongs
    "ɑ": ("AA",), "ɒ": ("AA",), "a": ("AE",), "æ": ("AE",), "ʌ": ("AH",), "ə": ("AH",), "ɐ": ("AH",),
    "ɔ": ("AO",), "o": ("OW",), "ɛ": ("EH",), "e": ("EH",), "ɪ": ("IH",), "ᵻ": ("IH",), "ɨ": ("IH",),
    "i": ("IY",), "ʊ": ("UH",), "u": ("UW",), "ɯ": ("UW",), "ʉ": ("UW",), "y": ("IY",),
    # affricates
    "tʃ": ("CH",), "dʒ": ("JH",), "ʧ": ("CH",), "ʤ": ("JH",), "ts": ("T", "S"), "dz": ("D", "Z"),
    # consonants
    "b": ("B",), "d": ("D",), "ð": ("DH",), "f": ("F",), "ɡ": ("G",), "g": ("G",), "h": ("HH",),
    "x": ("HH",), "ç": ("HH",), "k": ("K",), "l": ("L",), "ɫ": ("L",), "m": ("M",), "n": ("N",),
    "ŋ": ("NG",), "p": ("P",), "ɹ": ("R",), "r": ("R",), "ɾ": ("D",), "ɽ": ("D",), "s": ("S",),
    "ʃ": ("SH",), "t": ("T",), "ʔ": ("T",), "θ": ("TH",), "v": ("V",), "w": ("W",), "ʍ": ("W",),
    "j": ("Y",), "z": ("Z",), "ʒ": ("ZH",), "ɬ": ("L",), "ɲ": ("N", "Y"),
}  # fmt: skip
_IPA_MAX = max(len(k) for k in IPA_TO_ARPABET)

LOWER_ARPABET: dict[str, str] = {
    **{p.lower(): p for p in PHONE_INDEX if p != SILENCE},
    "ax": "AH", "axr": "ER", "ix": "IH", "ux": "UW", "el": "L", "em": "M", "en": "N", "eng": "NG",
    "nx": "N", "dx": "D", "h": "HH", "hv": "HH", "q": "T", "er": "ER",
    "pau": SILENCE, "sil": SILENCE, "h#": SILENCE, "brth": SILENCE, "#": SILENCE, "ssil": SILENCE,
}  # fmt: skip


def map_lower_arpabet(symbol: str, engine: str) -> str:
    """flite/festival phone -> ARPAbet; UnknownPhoneError for a symbol not in the table."""
    s = symbol.strip().lower().rstrip("012")
    try:
        return LOWER_ARPABET[s]
    except KeyError:
        raise UnknownPhoneError(f"{engine}: phone {symbol!r} has no ARPAbet mapping") from None


def split_ipa(ipa: str, engine: str) -> list[str]:
    """One IPA phoneme string (marks removed) -> ARPAbet phones; greedy longest match.

    Silence symbols give ["sil"]; an empty string (only marks) gives [].
    """
    s = "".join(c for c in ipa if c not in IPA_PREFIX_MARKS and c not in IPA_SUFFIX_MARKS)
    s = s.replace(" ", "")
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] in IPA_SILENCE:
            if not out or out[-1] != SILENCE:
                out.append(SILENCE)
            i += 1
            continue
        for n in range(min(_IPA_MAX, len(s) - i), 0, -1):
            hit = IPA_TO_ARPABET.get(s[i : i + n])
            if hit is not None:
                out.extend(hit)
                i += n
                break
        else:
            raise UnknownPhoneError(f"{engine}: IPA symbol {s[i]!r} (in {ipa!r}) has no ARPAbet mapping")
    return out
