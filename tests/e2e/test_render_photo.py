"""``python -m furrow render AUDIO --photo IMAGE``: skimage's astronaut speaks a TTS sentence, with her
fitted head, albedo and baked details (real bpy, MediaPipe, Cycles and ffmpeg; nothing mocked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from furrow.photo.samples import sample_photo
from furrow.render.probe import probe, read_frame
from furrow.speech.corpus import flite

ROOT = Path(__file__).resolve().parents[2]
FPS, RES, SECONDS = 25, 96, 1.0


def test_a_photo_head_speaks_in_a_rendered_clip(tmp_path: Path) -> None:
    audio, rate, _segments = flite.synthesize("Hello, I am back from orbit.", voice="slt", rate=1.0)
    wav = tmp_path / "hello.wav"
    soundfile.write(wav, audio, rate)
    out = tmp_path / "astronaut.mp4"
    cmd = [sys.executable, "-m", "furrow", "render", str(wav), "--photo", str(sample_photo("astronaut"))]
    cmd += ["--res", str(RES), "--samples", "4", "--fps", str(FPS), "--seconds", str(SECONDS)]
    cmd += ["--detail-res", "256", "--out", str(out)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "head from photo: done" in proc.stderr and "bake details: done" in proc.stderr
    assert "Traceback" not in proc.stderr
    info = probe(out)
    (video,) = info.of_kind("video")
    (sound,) = info.of_kind("audio")
    assert (video.codec, sound.codec, video.n_frames) == ("h264", "aac", round(SECONDS * FPS))
    # Her albedo is on the face: the centre of the frame is skin (red > green > blue), not grey,
    # and textured (eyes, brows, lips), not one flat colour.
    frame = read_frame(out, video.n_frames // 2).astype(np.float64)
    h, w = frame.shape[:2]
    face = frame[int(0.3 * h) : int(0.7 * h), int(0.35 * w) : int(0.65 * w)].reshape(-1, 3)
    r, g, b = face.mean(axis=0)
    assert r > g > b and r > 80, (r, g, b)
    assert face.std(axis=0).mean() > 10.0
