"""``./scripts/demo --quick``: the README's main command, exercised end to end on a short clip so it
cannot silently rot (real setup check, bpy, Cycles, ffmpeg; nothing mocked)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import soundfile
from PIL import Image

from furrow.render.probe import probe

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_sample_is_committed_and_speech() -> None:
    info = soundfile.info(str(ROOT / "samples" / "demo_speech.flac"))
    assert info.samplerate == 16000 and info.channels == 1 and 3.0 < info.duration < 8.0
    text = (ROOT / "samples" / "demo_speech.txt").read_text(encoding="utf-8")
    assert "Bob" in text and "blue" in text  # bilabials for the lips to close on


def test_demo_quick_renders_a_clip_and_a_contact_sheet(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    clip, sheet = tmp_path / "demo.mp4", tmp_path / "demo_sheet.png"
    info = probe(clip)
    (video,) = info.of_kind("video")
    (audio,) = info.of_kind("audio")
    assert (video.codec, audio.codec) == ("h264", "aac")
    assert video.width == 128 and abs(video.duration - 1.5) <= 1 / 25 + 1e-3
    assert abs(audio.duration - video.duration) <= 1 / 25 + 1e-3
    with Image.open(sheet) as img:
        assert img.width > 4 * 128 and img.height > 2 * 128  # 8 frames, 4 per row
    assert not [p for p in tmp_path.iterdir() if p.name not in {"demo.mp4", "demo_sheet.png"}]
