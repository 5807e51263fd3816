"""Festival (kal/ked diphone, CMU SLT HTS) with its own segment timings.

A batch scheme script selects the voice, sets the duration stretch and (for
the diphone voices' linear-regression intonation) the mean F0, synthesizes,
and saves the segments (end times) and the wave.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from furrow.speech.corpus.phonemap import map_lower_arpabet
from furrow.speech.corpus.segments import Synthesis, finish_segments, relabel_rate

ENGINE = "festival"
VOICES: tuple[str, ...] = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
_BASE_F0 = {"kal_diphone": 105.0, "ked_diphone": 105.0, "cmu_us_slt_arctic_hts": 170.0}


class FestivalError(RuntimeError):
    pass


def _scheme_string(text: str) -> str:
    clean = "".join(c if c.isprintable() else " " for c in text)
    return '"' + clean.replace("\\", " ").replace('"', " ") + '"'


def parse_segs(text: str) -> list[tuple[str, float]]:
    """utt.save.segs output ('#' header, then 'END_TIME 100 PHONE' lines) -> [(phone, end)]."""
    out: list[tuple[str, float]] = []
    body = text.split("#", 1)[1] if "#" in text else text
    for line in body.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            try:
                out.append((parts[2], float(parts[0])))
            except ValueError:
                continue
    return out


def synthesize(text: str, voice: str = "kal_diphone", rate: float = 1.0, pitch: float = 1.0) -> Synthesis:
    """``rate`` > 1 speaks faster (Duration_Stretch = 1/rate); ``pitch`` scales the mean F0
    (diphone voices); the HTS voice keeps its own F0, so its rate is relabelled by ``pitch``
    clipped to 0.9-1.1 (pitch and formants shift together, timings scale exactly)."""
    import soundfile

    exe = shutil.which("festival")
    if exe is None:
        raise FestivalError("festival is not installed; run ./scripts/setup")
    if voice not in _BASE_F0:
        raise FestivalError(f"festival voice {voice!r} is not one of {', '.join(VOICES)}")
    with tempfile.TemporaryDirectory(prefix="furrow_festival_") as tmp:
        segs, wav, scm = Path(tmp) / "x.segs", Path(tmp) / "x.wav", Path(tmp) / "x.scm"
        f0 = _BASE_F0[voice] * pitch
        lines = [
            f"(voice_{voice})",
            f"(Parameter.set 'Duration_Stretch {1.0 / rate:.3f})",
        ]
        if voice.endswith("_diphone"):
            lines.append(
                f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0 * 0.15:.1f})"
                f" (model_f0_mean 170) (model_f0_std 34)))"
            )
        lines += [
            f"(set! utt (SynthText {_scheme_string(text)}))",
            f'(utt.save.segs utt "{segs}")',
            f'(utt.save.wave utt "{wav}" \'riff)',
        ]
        scm.write_text("\n".join(lines) + "\n")
        proc = subprocess.run([exe, "-b", str(scm)], capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0 or not wav.is_file() or not segs.is_file():
            raise FestivalError(f"festival failed on {text!r}: {(proc.stderr + proc.stdout).strip()[-300:]}")
        audio, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)
        seg_text = segs.read_text()
    mono = np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32)
    duration = len(mono) / sr
    items: list[tuple[str, float, float]] = []
    t = 0.0
    for sym, end in parse_segs(seg_text):
        items.append((map_lower_arpabet(sym, ENGINE), t, end))
        t = end
    rate_out = int(sr)
    if not voice.endswith("_diphone"):  # HTS keeps its own F0: relabel the rate (segments.relabel_rate)
        rate_out, items = relabel_rate(rate_out, items, float(np.clip(pitch, 0.9, 1.1)))
        duration = len(mono) / rate_out
    return mono, rate_out, finish_segments(items, duration)
