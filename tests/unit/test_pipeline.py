"""audio_to_curves at its edges: silence, emptiness, not-audio, bad fps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from furrow.speech.audio import AudioError
from furrow.speech.pipeline import audio_to_curves
from furrow.speech.visemes import SPEECH_CHANNELS, is_closed


@pytest.mark.parametrize("seconds", [0.0, 3.0])
def test_silence_is_a_neutral_face_with_closed_lips_and_a_note(tmp_path: Path, seconds: float) -> None:
    path = tmp_path / "quiet.wav"
    soundfile.write(path, np.zeros(int(16000 * seconds), np.float32), 16000)
    curves = audio_to_curves(path, 25.0)
    assert curves.n_frames == max(1, round(seconds * 25))
    speech = np.stack([curves.channel(n) for n in SPEECH_CHANNELS], 1)
    assert np.abs(speech).max() == 0.0
    assert is_closed(curves.weights).all()
    assert any("silent" in note for note in curves.notes)


def test_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt.wav"
    path.write_text("hello, this is text")
    with pytest.raises(AudioError, match=r"notes\.txt\.wav"):
        audio_to_curves(path, 25.0)


def test_fps_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps must be positive"):
        audio_to_curves(tmp_path / "x.wav", 0.0)
