"""Log-mel features for the speech model: 16 kHz audio -> 80 mel bands at 100 frames/s.

Frame i covers a 25 ms Hann window centred on time (i + 0.5) * 10 ms, the same
frame-centre convention as Curves, so the network's 100 Hz output is a Curves at
fps=100 and targets come from ``targets_from_phones(segments, 100)``. There are
ceil(N / 160) frames for N samples.

The mel filterbank is librosa's (Slaney mels, 20-7600 Hz), made once per
process; the speech model also stores the matrix it was trained with, so
inference needs no librosa. The STFT runs in torch over blocks of frames, so
30 minutes of audio never needs more than one block's spectrogram in memory.

Normalisation (``normalize``) is robust to gain: the log-mel is shifted by a
reference level, the 95th percentile of the per-frame mean log-mel (the level of
the loud, voiced frames), floored at an absolute level near digital silence so
that silent audio stays "quiet" instead of being amplified to speech level; it
is then divided by a fixed scale. Noise, reverb and band limiting are handled by
training on augmented audio, not by the features.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 80
FMIN = 20.0
FMAX = 7600.0
FEATURE_RATE = SAMPLE_RATE / HOP  # 100 frames per second
LOG_FLOOR = 1e-10  # power floor before the log
REF_PERCENTILE = 95.0
REF_FLOOR = -17.0  # natural-log mel power of a very quiet signal (about -75 dBFS): silence stays low
SCALE = 4.0  # log units per feature unit
BLOCK_FRAMES = 6000  # STFT block (60 s)

FloatArray = npt.NDArray[np.float32]


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> FloatArray:
    """(N_MELS, N_FFT // 2 + 1) Slaney mel filterbank from librosa, cached per process."""
    import librosa

    fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    result: FloatArray = np.ascontiguousarray(fb, dtype=np.float32)
    return result


def n_feature_frames(n_samples: int) -> int:
    return -(-int(n_samples) // HOP)


def log_mel(audio: npt.ArrayLike, filterbank: Optional[FloatArray] = None) -> FloatArray:
    """(T, N_MELS) natural-log mel power of mono 16 kHz audio, T = ceil(N / 160)."""
    import torch

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_frames = n_feature_frames(x.size)
    fb_np = mel_filterbank() if filterbank is None else filterbank
    if n_frames == 0:
        return np.zeros((0, fb_np.shape[0]), dtype=np.float32)
    # Frame i's window centre sits at sample i * HOP + HOP / 2.
    left = N_FFT // 2 - HOP // 2
    right = (n_frames - 1) * HOP + N_FFT - left - x.size
    padded = np.pad(x, (left, max(0, right)))
    window = torch.hann_window(WIN, periodic=True)
    fb = torch.from_numpy(np.ascontiguousarray(fb_np, dtype=np.float32))
    out = np.empty((n_frames, fb_np.shape[0]), dtype=np.float32)
    signal = torch.from_numpy(padded)
    with torch.inference_mode():
        for f0 in range(0, n_frames, BLOCK_FRAMES):
            f1 = min(n_frames, f0 + BLOCK_FRAMES)
            chunk = signal[f0 * HOP : (f1 - 1) * HOP + N_FFT]
            spec = torch.stft(
                chunk,
                n_fft=N_FFT,
                hop_length=HOP,
                win_length=WIN,
                window=window,
                center=False,
                return_complex=True,
            )  # (bins, f1 - f0)
            power = spec.real.square() + spec.imag.square()
            mel = fb @ power
            out[f0:f1] = torch.log(mel.clamp_min(LOG_FLOOR)).T.numpy()
    return out


def normalize(logmel: FloatArray) -> FloatArray:
    """Gain-invariant features: (log-mel - reference level) / SCALE (see the module notes)."""
    if logmel.shape[0] == 0:
        return logmel.astype(np.float32)
    frame_level = logmel.mean(axis=1)
    ref = max(float(np.percentile(frame_level, REF_PERCENTILE)), REF_FLOOR)
    result: FloatArray = ((logmel - ref) / SCALE).astype(np.float32)
    return result


def features(audio: npt.ArrayLike, filterbank: Optional[FloatArray] = None) -> FloatArray:
    """Normalised (T, N_MELS) features of mono 16 kHz audio at FEATURE_RATE frames per second."""
    return normalize(log_mel(audio, filterbank))
