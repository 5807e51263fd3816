"""espeak-ng through libespeak-ng (ctypes) with exact phoneme timings.

Synchronous output with phoneme events (espeakINITIALIZE_PHONEME_EVENTS |
espeakINITIALIZE_PHONEME_IPA): every espeakEVENT_PHONEME carries the phoneme in
IPA and its sample offset in the output, so timings are exact. Voices are
"en-us" plus a variant ("en-us+f3", "en-us+m2", ...). The library keeps global
state: one synthesis at a time per process (a lock guards it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from furrow.speech.corpus.phonemap import split_ipa
from furrow.speech.corpus.segments import Synthesis, attach_closures, finish_segments, spread
from furrow.speech.phones import SILENCE

ENGINE = "espeak"
# espeak-ng's variants that still sound like speech (whisper, robots, croak left out).
VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "Alex", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael", "Mike", "Tweaky",
    "adam", "anika", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
    "edward", "grandma", "grandpa", "gustave", "iven", "john", "linda", "max", "michel", "norbert",
    "paul", "pedro", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac",
)  # fmt: skip
VOICES: tuple[str, ...] = ("en-us", *(f"en-us+{v}" for v in VARIANTS))

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_EVENT_END = 5
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class EspeakError(RuntimeError):
    pass


class _Espeak:
    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakError(f"libespeak-ng is not installed ({exc}); run ./scripts/setup") from exc
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA
        )
        if rate <= 0:
            raise EspeakError("espeak_Initialize failed (espeak-ng-data missing?)")
        self.rate = int(rate)
        self.chunks: list[npt.NDArray[np.int16]] = []
        self.events: list[tuple[str, int]] = []  # (IPA phoneme, sample offset)
        self.samples = 0
        self.callback = _CALLBACK(self._on_synth)  # kept alive as long as the library is
        self.lib.espeak_SetSynthCallback(self.callback)
        self.lock = threading.Lock()

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        ev = ctypes.cast(events, ctypes.POINTER(_Event))
        i = 0
        while ev[i].type != _EVENT_LIST_TERMINATED:
            e = ev[i]
            if e.type == _EVENT_PHONEME:
                raw = bytes(e.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self.events.append((raw, int(e.sample)))
            i += 1
        if n > 0 and wav:
            buf = ctypes.cast(wav, ctypes.POINTER(ctypes.c_short * n)).contents
            self.chunks.append(np.ctypeslib.as_array(buf).astype(np.int16))
            self.samples += n
        return 0


_engine: _Espeak | None = None


def _get() -> _Espeak:
    global _engine
    if _engine is None:
        _engine = _Espeak()
    return _engine


def synthesize(text: str, voice: str = "en-us", rate: float = 1.0, pitch: float = 1.0) -> Synthesis:
    """Speak ``text``; ``rate`` and ``pitch`` are factors around the voice's defaults (1.0).

    espeak's words per minute = 175 * rate (80..450); its pitch (0..100) = 50 * pitch.
    """
    eng = _get()
    with eng.lock:
        eng.chunks, eng.events, eng.samples = [], [], 0
        if eng.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {voice!r}")
        eng.lib.espeak_SetParameter(_RATE, int(np.clip(175 * rate, 80, 450)), 0)
        eng.lib.espeak_SetParameter(_PITCH, int(np.clip(50 * pitch, 0, 100)), 0)
        eng.lib.espeak_SetParameter(_RANGE, 50, 0)
        data = text.encode("utf-8") + b"\0"
        if eng.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None) != 0:
            raise EspeakError(f"espeak_Synth failed on {text!r}")
        eng.lib.espeak_Synchronize()
        audio = (np.concatenate(eng.chunks) if eng.chunks else np.zeros(0, np.int16)).astype(np.float32)
        events = list(eng.events)
    audio /= 32768.0
    sr = eng.rate
    duration = len(audio) / sr
    items: list[tuple[str, float, float]] = []
    for k, (ipa, sample) in enumerate(events):
        end_sample = events[k + 1][1] if k + 1 < len(events) else len(audio)
        start, end = sample / sr, end_sample / sr
        phones = split_ipa(ipa, ENGINE) if ipa.strip() else [SILENCE]
        if phones:
            items.extend(spread(phones, start, end))
    return audio, sr, finish_segments(attach_closures(audio, sr, items), duration)


def data_dir() -> Path | None:
    for p in (Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"), Path("/usr/share/espeak-ng-data")):
        if p.is_dir():
            return p
    return None
