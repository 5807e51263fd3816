"""On-the-fly audio augmentation for training on TTS speech (numpy/scipy/soxr).

``augment(audio, rate, rng, babble=...)`` returns audio of the same length and
rate. The distribution (each step independent, in this order):

1. resampling chain, p=0.3: through 1-2 rates drawn from {8000, 11025, 22050,
   44100, 48000} Hz and back (band-limits to the lowest one's Nyquist).
2. room reverb, p=0.35: a synthetic impulse response (direct path, sparse
   early reflections in the first 50 ms, exponentially decaying noise tail)
   with RT60 ~ U(0.1, 0.8) s and a direct-to-reverberant mix ~ U(-3, 12) dB.
3. channel, p=0.3: telephone (p=0.5 of those: 300-3400 Hz band-pass, 8 kHz,
   8-bit mu-law, back) or a plain low-pass at U(3000, 7000) Hz.
4. additive noise, p=0.6: white (0.3), pink (0.4) or babble (0.3; a mix of
   3-6 other utterances from ``babble``, pink when none is given) at an SNR
   drawn uniformly from the integers 0..30 dB (speech power over active frames).
5. gain ~ U(-12, +12) dB, always; then soft clipping, p=0.2: tanh with a
   drive of U(1.5, 4) (peaks pushed into saturation), rescaled to the level.

``add_noise``, ``reverb``, ``telephone``, ``lowpass``, ``resample_chain`` and
``soft_clip`` are usable on their own (e.g. offline). ``vtlp`` works on log-mel
features instead of audio (scripts/train_speech --vtlp-p).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
RESAMPLE_RATES: tuple[int, ...] = (8000, 11025, 22050, 44100, 48000)


def _f32(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float32)


def _resample(x: FloatArray, src: int, dst: int) -> FloatArray:
    import soxr

    if src == dst:
        return x.astype(np.float32, copy=False)
    return np.asarray(soxr.resample(x.astype(np.float32), src, dst, quality="HQ"), dtype=np.float32)


def _fit(x: npt.NDArray[np.floating[Any]], n: int) -> FloatArray:
    """Crop or zero-pad to n samples."""
    out = np.zeros(n, np.float32)
    m = min(n, len(x))
    out[:m] = x[:m]
    return out


def speech_power(x: FloatArray, rate: int) -> float:
    """Mean power over the active 20 ms frames (those within 30 dB of the loudest)."""
    hop = max(1, int(rate * 0.02))
    n = len(x) // hop
    if n == 0:
        return float(np.mean(x.astype(np.float64) ** 2)) if len(x) else 0.0
    p = (x[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)
    active = p[p >= p.max() * 1e-3]
    return float(active.mean()) if active.size else 0.0


def white_noise(n: int, rng: np.random.Generator) -> FloatArray:
    return _f32(rng.standard_normal(n))


def pink_noise(n: int, rng: np.random.Generator) -> FloatArray:
    """1/f noise by spectral shaping of white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spec / np.sqrt(f), n)
    return _f32(pink / (pink.std() + 1e-12))


def babble_noise(n: int, pool: Sequence[FloatArray], rng: np.random.Generator) -> FloatArray:
    """3-6 random utterances from ``pool`` (same rate), random offsets, looped to n, summed."""
    out = np.zeros(n, np.float64)
    for _ in range(int(rng.integers(3, 7))):
        src = pool[int(rng.integers(len(pool)))]
        if len(src) == 0:
            continue
        reps = int(np.ceil((n + len(src)) / len(src)))
        looped = np.tile(src, reps)
        off = int(rng.integers(len(src)))
        seg = looped[off : off + n].astype(np.float64)
        out += seg / (seg.std() + 1e-9)
    return _f32(out / (out.std() + 1e-9))


def add_noise(audio: FloatArray, rate: int, noise: FloatArray, snr_db: float) -> FloatArray:
    """audio + noise scaled so speech power / noise power = snr_db."""
    ps = speech_power(audio, rate)
    pn = float(np.mean(noise.astype(np.float64) ** 2))
    if ps <= 0 or pn <= 0:
        return _f32(audio)
    scale = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    return _f32(audio + scale * noise[: len(audio)])


def room_impulse_response(rate: int, rt60: float, rng: np.random.Generator) -> FloatArray:
    """Direct path + early reflections + exponentially decaying noise (60 dB down at rt60)."""
    n = max(int(rate * rt60 * 1.2), 16)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)  # ln(1000) = 6.91 -> -60 dB
    tail[: int(0.003 * rate)] = 0.0  # the tail starts after the direct sound
    ir = tail * 0.3
    for _ in range(int(rng.integers(3, 9))):
        k = int(rng.integers(int(0.002 * rate), max(int(0.05 * rate), int(0.002 * rate) + 1)))
        if k < n:
            ir[k] += rng.uniform(-0.6, 0.6) * np.exp(-6.91 * k / rate / rt60)
    ir[0] = 1.0
    return _f32(ir)


def reverb(audio: FloatArray, rate: int, rt60: float, drr_db: float, rng: np.random.Generator) -> FloatArray:
    """Convolve with a synthetic room; drr_db sets direct vs reverberant energy."""
    from scipy.signal import fftconvolve  # type: ignore[import-untyped]

    ir = room_impulse_response(rate, rt60, rng).astype(np.float64)
    e_rev = float(np.sum(ir[1:] ** 2)) + 1e-12
    ir[1:] *= np.sqrt(ir[0] ** 2 / (e_rev * 10 ** (drr_db / 10)))
    wet = fftconvolve(audio.astype(np.float64), ir)[: len(audio)]
    peak_in = float(np.max(np.abs(audio))) if len(audio) else 0.0
    peak_out = float(np.max(np.abs(wet))) if len(wet) else 0.0
    if peak_out > 0 and peak_in > 0:
        wet *= peak_in / peak_out
    return _f32(wet)


def lowpass(audio: FloatArray, rate: int, cutoff: float) -> FloatArray:
    from scipy.signal import butter, sosfiltfilt

    if cutoff >= rate / 2 * 0.98:
        return _f32(audio)
    sos = butter(8, cutoff, btype="lowpass", fs=rate, output="sos")
    return np.asarray(sosfiltfilt(sos, audio), dtype=np.float32)


def mu_law(x: FloatArray, bits: int = 8) -> FloatArray:
    """Encode and decode with mu-law companding at ``bits`` bits (8: G.711-like)."""
    mu = 2**bits - 1
    y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
    q = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return _f32(np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu)


def telephone(audio: FloatArray, rate: int) -> FloatArray:
    """300-3400 Hz band-pass, 8 kHz, 8-bit mu-law, back to ``rate``."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=rate, output="sos")
    band = np.asarray(sosfiltfilt(sos, audio), dtype=np.float32)
    peak = float(np.max(np.abs(band))) if len(band) else 0.0
    norm = 0.9 / peak if peak > 0 else 1.0
    narrow = mu_law(_resample(band * norm, rate, 8000))
    return _fit(_resample(narrow, 8000, rate) / norm, len(audio))


def resample_chain(audio: FloatArray, rate: int, rates: Sequence[int]) -> FloatArray:
    """Through each rate in turn and back to ``rate``; same length."""
    x, r = audio, rate
    for nr in rates:
        x, r = _resample(x, r, nr), nr
    return _fit(_resample(x, r, rate), len(audio))


def soft_clip(audio: FloatArray, drive: float) -> FloatArray:
    """tanh saturation; the output keeps the input's peak level."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 0:
        return _f32(audio)
    y = np.tanh(drive * audio / peak) / np.tanh(drive) * peak
    return _f32(y)


def augment(
    audio: FloatArray, rate: int, rng: np.random.Generator, babble: Sequence[FloatArray] | None = None
) -> FloatArray:
    """One random degradation of ``audio`` (same length and rate); see the module doc."""
    x = np.asarray(audio, dtype=np.float32).copy()
    n = len(x)
    if n == 0:
        return x
    if rng.random() < 0.3:
        k = int(rng.integers(1, 3))
        x = resample_chain(x, rate, [int(r) for r in rng.choice(RESAMPLE_RATES, size=k)])
    if rng.random() < 0.35:
        x = reverb(x, rate, float(rng.uniform(0.1, 0.8)), float(rng.uniform(-3, 12)), rng)
    if rng.random() < 0.3:
        x = telephone(x, rate) if rng.random() < 0.5 else lowpass(x, rate, float(rng.uniform(3000, 7000)))
    if rng.random() < 0.6:
        kind = rng.choice(["white", "pink", "babble"], p=[0.3, 0.4, 0.3])
        if kind == "babble" and babble:
            noise = babble_noise(n, babble, rng)
        elif kind == "white":
            noise = white_noise(n, rng)
        else:
            noise = pink_noise(n, rng)
        x = add_noise(x, rate, noise, float(rng.integers(0, 31)))
    x *= np.float32(10 ** (rng.uniform(-12, 12) / 20))
    if rng.random() < 0.2:
        x = soft_clip(x, float(rng.uniform(1.5, 4.0)))
    return _fit(x, n)


def vtlp(features: npt.NDArray[np.float32], alpha: float) -> FloatArray:
    """Vocal-tract-length perturbation of log-mel frames (T, N_MELS): the spectrum of a speaker
    whose formants sit ``alpha`` times higher, S'(f) = S(f / alpha), interpolated across the
    mel bins. A cheap stand-in for voices the corpus lacks (deeper, or smaller, vocal tracts)."""
    import librosa

    from ..features import FMAX, FMIN

    n_mels = features.shape[1]
    centres = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    pos = np.interp(centres / alpha, centres, np.arange(n_mels, dtype=np.float64))
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_mels - 1)
    t = (pos - lo).astype(np.float32)
    return _f32(features[:, lo] * (1 - t) + features[:, hi] * t)


def spec_mask(
    features: npt.NDArray[np.float32],
    rng: np.random.Generator,
    bands: int = 2,
    max_band: int = 10,
    gaps: int = 2,
    max_gap: int = 3,
) -> FloatArray:
    """SpecAugment-style masking of log-mel frames (T, N_MELS): up to ``bands`` mel bands of at
    most ``max_band`` bins and ``gaps`` runs of at most ``max_gap`` frames set to the crop's mean.
    Real microphones, codecs and rooms drop parts of the spectrum the TTS corpus always has; the
    network learns not to hang a lip closure on any one band. Gaps stay shorter than a bilabial
    (30 ms), so the target under a gap is still heard around it."""
    out = _f32(features).copy()
    t, n = out.shape
    if t == 0:
        return out
    fill = np.float32(out.mean())
    for _ in range(int(rng.integers(0, bands + 1))):
        w = int(rng.integers(1, max_band + 1))
        s = int(rng.integers(0, max(1, n - w + 1)))
        out[:, s : s + w] = fill
    for _ in range(int(rng.integers(0, gaps + 1))):
        w = int(rng.integers(1, max_gap + 1))
        s = int(rng.integers(0, max(1, t - w + 1)))
        out[s : s + w, :] = fill
    return out
