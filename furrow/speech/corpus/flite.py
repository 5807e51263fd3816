"""flite (CMU Flite CLI) with its own phone timings (-psdur prints phone:end_time)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from furrow.speech.corpus.phonemap import map_lower_arpabet
from furrow.speech.corpus.segments import Synthesis, finish_segments, relabel_rate

ENGINE = "flite"
VOICES: tuple[str, ...] = ("slt", "rms", "awb", "kal16")
_BASE_F0 = {"slt": 170.0, "rms": 105.0, "awb": 110.0, "kal16": 105.0}
# rms ignores int_f0_target_mean: its pitch comes from relabelling the rate (segments.relabel_rate)
_NO_F0_CONTROL = frozenset({"rms"})


class FliteError(RuntimeError):
    pass


def parse_psdur(text: str) -> list[tuple[str, float]]:
    """'pau:0.222 m:0.250 ...' -> [(symbol, end_time), ...]."""
    out: list[tuple[str, float]] = []
    for tok in text.split():
        sym, sep, t = tok.rpartition(":")
        if not sep:
            continue
        try:
            out.append((sym, float(t)))
        except ValueError:
            continue
    return out


def synthesize(text: str, voice: str = "slt", rate: float = 1.0, pitch: float = 1.0) -> Synthesis:
    """``rate`` > 1 speaks faster (duration_stretch = 1/rate); ``pitch`` scales the voice's mean F0."""
    import soundfile

    exe = shutil.which("flite")
    if exe is None:
        raise FliteError("flite is not installed; run ./scripts/setup")
    if voice not in _BASE_F0:
        raise FliteError(f"flite has no voice {voice!r} (have {', '.join(VOICES)})")
    with tempfile.TemporaryDirectory(prefix="furrow_flite_") as tmp:
        wav = Path(tmp) / "x.wav"
        cmd = [
            exe, "-voice", voice, "-psdur",
            "--setf", f"duration_stretch={1.0 / rate:.3f}",
            "--setf", f"int_f0_target_mean={_BASE_F0[voice] * pitch:.1f}",
            "-t", text, "-o", str(wav),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0 or not wav.is_file():
            raise FliteError(f"flite failed on {text!r}: {proc.stderr.strip()[-300:]}")
        audio, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)
    mono = np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32)
    duration = len(mono) / sr
    items: list[tuple[str, float, float]] = []
    t = 0.0
    for sym, end in parse_psdur(proc.stdout):
        items.append((map_lower_arpabet(sym, ENGINE), t, end))
        t = end
    rate_out = int(sr)
    if voice in _NO_F0_CONTROL:
        rate_out, items = relabel_rate(rate_out, items, float(np.clip(pitch, 0.9, 1.1)))
        duration = len(mono) / rate_out
    return mono, rate_out, finish_segments(items, duration)
