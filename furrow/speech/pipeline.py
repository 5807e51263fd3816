"""Audio (+ optional transcript) -> ARKit curves: the one entry point the CLI and Blender use.

Audio only: the trained network (furrow/weights/speech_v8.pt); if its weights
are missing, pocketsphinx phone recognition drives the same viseme targets, and
the result says so. With a transcript: forced alignment gives exact phone
timing on clean speech; it is fused with the network (below). Non-verbal
channels (blinks, brows, nods) are added last. Silent or empty audio gives a
neutral face with closed lips and a note.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np
import numpy.typing as npt

from ..curves import Curves
from ..heads.arkit import ARKIT_NAMES
from .audio import Audio, load_audio

Progress = Callable[[float, str], None]

SILENCE_RMS = 1e-3  # below this (-60 dBFS) the whole recording counts as silence
MIN_SECONDS = 0.05


def is_silent(audio: Audio) -> bool:
    if audio.duration < MIN_SECONDS:
        return True
    return float(np.sqrt(np.mean(np.square(audio.samples, dtype=np.float64)))) < SILENCE_RMS


def n_frames_for(duration: float, fps: float) -> int:
    return max(1, round(duration * fps))


def fuse(network: Curves, aligned: Curves) -> Curves:
    """Transcript alignment fixes *when* each phone happens; the network keeps what alignment
    cannot know (how wide this speaker opens). Speech channels: the aligned targets, scaled
    per frame toward the network's openness where both agree there is speech; where the
    alignment has silence but the network hears speech (an unaligned stretch), the network."""
    a, n = aligned.weights, network.weights
    speech_a = a.max(axis=1) > 0.05
    speech_n = n.max(axis=1) > 0.05
    out = a.copy()
    both = speech_a & speech_n
    out[both] = 0.75 * a[both] + 0.25 * n[both]
    only_net = speech_n & ~speech_a
    out[only_net] = n[only_net]
    return Curves(aligned.fps, out, aligned.head_rotation, [*aligned.notes, *network.notes])


def audio_only(audio: Audio, fps: float, progress: Progress) -> Curves:
    from .visemes import targets_from_phones

    n = n_frames_for(audio.duration, fps)
    try:
        from .model import load_default_model

        model = load_default_model()
    except (FileNotFoundError, ImportError) as exc:
        progress(0.3, "Recognising phones (no trained model found)")
        from .align import recognize_phones

        curves = targets_from_phones(recognize_phones(audio), fps, n)
        curves.notes.append(f"the trained speech model is missing ({exc}); used phone recognition instead")
        return curves
    progress(0.3, "Listening (speech model)")
    curves = model.predict(audio.samples, fps)
    return Curves(fps, _fit_length(curves.weights, n), None, list(curves.notes))


def _fit_length(weights: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
    if len(weights) >= n:
        return weights[:n]
    pad = np.zeros((n - len(weights), weights.shape[1]), dtype=weights.dtype)
    return np.concatenate([weights, pad])


def audio_to_curves(
    path: Path,
    fps: float,
    transcript: Optional[str] = None,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> Curves:
    """ARKit curves for the recording at ``path`` at ``fps`` (any rate, fractional included)."""
    report = progress or (lambda f, m: None)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    report(0.02, "Reading audio")
    audio = load_audio(Path(path))
    from .nonverbal import add_nonverbal

    n = n_frames_for(audio.duration, fps)
    if is_silent(audio):
        curves = Curves(fps, np.zeros((n, len(ARKIT_NAMES)), np.float32))
        curves.notes.append(f"{Path(path).name} is silent: the face stays neutral with closed lips")
        return add_nonverbal(curves, audio.samples, audio.rate, seed)

    curves = audio_only(audio, fps, report)
    if transcript and transcript.strip():
        report(0.6, "Aligning the transcript")
        from .align import align_transcript
        from .visemes import targets_from_phones

        aligned = targets_from_phones(align_transcript(audio, transcript), fps, n)
        curves = fuse(curves, aligned)
    report(0.9, "Blinks, brows and head motion")
    curves = add_nonverbal(curves, audio.samples, audio.rate, seed)
    report(1.0, "Done")
    return curves
