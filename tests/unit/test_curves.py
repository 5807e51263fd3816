"""The Curves contract: JSON round trips, resampling (fractional fps too), bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from furrow.curves import Curves, CurvesFileError
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.speech.audio import AudioError, load_audio


def _ramp(n: int, fps: float) -> Curves:
    w = np.zeros((n, 52), np.float32)
    w[:, ARKIT_INDEX["jawOpen"]] = np.linspace(0, 1, n)
    return Curves(fps, w, np.zeros((n, 3), np.float32), ["a note"])


def test_json_round_trip(tmp_path: Path) -> None:
    c = _ramp(50, 29.97)
    c.save_json(tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["names"] == list(ARKIT_NAMES) and data["fps"] == 29.97 and len(data["frames"]) == 50
    back = Curves.load_json(tmp_path / "c.json")
    np.testing.assert_allclose(back.weights, c.weights, atol=1e-5)
    assert back.notes == ["a note"] and back.head_rotation is not None


def test_channels_are_matched_by_name() -> None:
    c = Curves.from_json(
        {"fps": 24, "names": ["jawOpen", "someOtherRig"], "frames": [[0.5, 9.0], [1.0, 9.0]]}
    )
    assert c.channel("jawOpen").tolist() == [0.5, 1.0]
    assert c.weights.sum() == pytest.approx(1.5)  # the unknown channel is ignored


@pytest.mark.parametrize("fps", [24, 25, 30, 60, 23.976, 29.97])
def test_resample_keeps_duration_and_shape(fps: float) -> None:
    c = _ramp(250, 25.0).resample(fps)
    assert c.n_frames == round(10.0 * fps)
    jaw = c.channel("jawOpen")
    assert jaw[0] < 0.01 and jaw[-1] > 0.99 and np.all(np.diff(jaw) >= -1e-6)


def test_weights_are_clipped_to_0_1() -> None:
    c = Curves(25, np.full((3, 52), 2.0, np.float32))
    assert c.weights.max() == 1.0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not a JSON curves file"),
        ('{"fps": 25}', "expected a JSON object"),
        ('{"fps": 25, "names": ["x"], "frames": [[1]]}', "none of its channel names are ARKit"),
        ('{"fps": 0, "frames": []}', "fps must be a positive number"),
    ],
)
def test_bad_curves_files_name_the_file(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CurvesFileError, match=words) as info:
        Curves.load_json(path)
    assert "bad.json" in str(info.value)


def test_audio_any_rate_stereo_dc_and_clipping(tmp_path: Path) -> None:
    import soundfile

    t = np.arange(44100) / 44100
    left = np.clip(1.5 * np.sin(2 * np.pi * 220 * t), -1, 1) + 0.2  # clipped, DC offset
    soundfile.write(tmp_path / "x.wav", np.stack([left, left], 1), 44100)
    audio = load_audio(tmp_path / "x.wav")
    assert audio.rate == 16000 and audio.source_rate == 44100 and audio.source_channels == 2
    assert abs(audio.duration - 1.0) < 0.01 and abs(float(audio.samples.mean())) < 1e-3


def test_mp3_goes_through_ffmpeg_or_soundfile(tmp_path: Path) -> None:
    import subprocess

    wav = tmp_path / "a.wav"
    import soundfile

    soundfile.write(wav, 0.3 * np.sin(np.arange(8000) / 5.0), 8000)
    mp3 = tmp_path / "a.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(mp3)], check=True)
    audio = load_audio(mp3)
    assert 0.9 < audio.duration < 1.2


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 100])
def test_not_audio_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "voice.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"voice\.wav"):
        load_audio(path)
