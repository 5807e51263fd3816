"""Reading speech audio: any common format, any rate, mono float32 at the rate asked for.

soundfile reads wav/flac/ogg (and mp3 with libsndfile >= 1.1); anything else
goes through ffmpeg. DC offset is removed. Errors name the file.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000  # what the speech model, the aligner and the features use


class AudioError(ValueError):
    """Audio that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class Audio:
    samples: npt.NDArray[np.float32]  # (N,) mono
    rate: int
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


def _ffmpeg_decode(path: Path, rate: int) -> npt.NDArray[np.float32]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"{path}: soundfile cannot read it and ffmpeg is not installed to try")
    proc = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"{path}: not readable audio ({why[-1] if why else 'ffmpeg found no audio'})")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def load_audio(path: Path, rate: int = SAMPLE_RATE) -> Audio:
    """Mono float32 at ``rate``; clipping and DC offset are tolerated (the offset is removed)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, source_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        channels = int(data.shape[1])
        mono = data.mean(axis=1)
        samples = resample(mono, int(source_rate), rate)
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError):
        samples = _ffmpeg_decode(path, rate)
        source_rate, channels = rate, 1
    if samples.size and not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: the audio holds invalid (NaN/inf) samples")
    samples = samples - (samples.mean() if samples.size else 0.0)
    return Audio(samples.astype(np.float32), rate, int(source_rate), channels)


def resample(samples: npt.NDArray[np.float32], source_rate: int, rate: int) -> npt.NDArray[np.float32]:
    if source_rate == rate or samples.size == 0:
        return samples.astype(np.float32)
    import soxr

    out: npt.NDArray[np.float32] = soxr.resample(samples, source_rate, rate).astype(np.float32)
    return out
