"""``python -m furrow render``: a real TTS sentence -> a lip-synced MP4, checked with ffprobe and
by looking at the mouth in the decoded frames (real bpy, Cycles and ffmpeg; nothing mocked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from PIL import Image

from furrow.curves import Curves
from furrow.heads.default import load_default_head
from furrow.render.framing import portrait_camera, project
from furrow.render.probe import probe, read_frame
from furrow.speech.corpus import flite

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Mama made a big map for Bob."  # bilabials (m, b, p) to close on, open vowels (aa, ae) between
FPS, RES, SECONDS = 25, 96, 2.0
LIPS = slice(48, 68)  # iBUG-68 mouth points: outer and inner lip contours


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("render")
    audio, rate, _segments = flite.synthesize(TEXT, voice="slt", rate=0.9)
    assert len(audio) / rate > SECONDS + 0.2  # longer than the render: --seconds cuts it
    wav = folder / "mama.wav"
    soundfile.write(wav, audio, rate)
    out, curves = folder / "clip.mp4", folder / "curves.json"
    cmd = [sys.executable, "-m", "furrow", "render", str(wav), "--transcript", TEXT]
    cmd += ["--res", str(RES), "--samples", "4", "--fps", str(FPS), "--seconds", str(SECONDS)]
    cmd += ["--curves", str(curves), "--sheet", str(folder / "sheet.png"), "--out", str(out)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    return out, curves, proc


def test_the_cli_writes_one_h264_and_one_aac_stream_as_long_as_asked(
    clip: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _curves, proc = clip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [f"wrote {out}", f"wrote {out.parent / 'sheet.png'}"]
    with Image.open(out.parent / "sheet.png") as sheet:  # 8 frames, 4 a row, 4 px gaps
        assert sheet.size == (4 * RES + 5 * 4, 2 * RES + 3 * 4)
    assert "Traceback" not in proc.stderr
    assert "[100.0%] render: done" in proc.stderr and "render: rendered frame 50/50" in proc.stderr
    info = probe(out)
    (video,) = info.of_kind("video")
    (audio,) = info.of_kind("audio")
    assert (video.codec, video.pix_fmt, video.width, video.height) == ("h264", "yuv420p", RES, RES)
    assert (audio.codec, video.n_frames) == ("aac", round(SECONDS * FPS))
    assert video.duration == pytest.approx(SECONDS, abs=1 / FPS)
    assert audio.duration == pytest.approx(SECONDS, abs=1 / FPS)
    assert list(out.parent.glob(".*.tmp")) == []


def _lip_gaps(curves: Curves) -> tuple[npt.NDArray[np.float32], list[npt.NDArray[np.float32]]]:
    """Inner-lip gap (m) per frame from the default head's geometry, and the lip points per frame."""
    head = load_default_head()
    gaps, lips = [], []
    for weights in curves.weights:
        lm = head.landmark_positions(head.evaluate_np(expression=weights), "68")
        gaps.append(float(np.linalg.norm(lm[62] - lm[66])))
        lips.append(lm[LIPS])
    return np.array(gaps, np.float32), lips


def test_the_mouth_opens_and_closes_on_the_right_frames(
    clip: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    """Pick frames from the clip's own curves: the widest vowel and the tightest closure during
    speech, and two neighbouring closed frames as the noise floor (render noise, encoding). The
    mouth region is the lips projected through the same portrait framing the render stages
    (furrow.render.framing), padded by a third of its size for the subdivision surface and the
    bounding box of the evaluated mesh, which the stage frames, being a little different."""
    out, curves_path, proc = clip
    assert proc.returncode == 0, proc.stderr[-2000:]
    curves = Curves.load_json(curves_path)
    n = round(SECONDS * FPS)
    gaps, lips = _lip_gaps(curves)
    gaps = gaps[:n]
    speech = np.flatnonzero(gaps > 0.004)  # frames where the lips are apart somewhere in the clip
    first, last = int(speech.min()), int(speech.max())
    open_f = int(np.argmax(gaps))
    closed_f = first + int(np.argmin(gaps[first : last + 1]))  # a closure inside speech: m, b or p
    assert gaps[open_f] > 0.008 and gaps[closed_f] < 0.002, (gaps[open_f], gaps[closed_f])
    inner = gaps[first : last + 1]  # two neighbouring closed frames inside speech (not the still lead-in)
    pair = first + int(np.argmin(inner[:-1] + inner[1:] + 10 * np.abs(np.diff(inner))))
    assert gaps[pair] < 0.002 and gaps[pair + 1] < 0.002

    head = load_default_head()
    camera = portrait_camera(head.vertices.min(axis=0), head.vertices.max(axis=0))
    pts = project(np.concatenate([lips[open_f], lips[closed_f]]), camera, RES, RES)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    pad_x, pad_y = (x1 - x0) / 3, (y1 - y0) / 3
    box = (slice(int(y0 - pad_y), int(np.ceil(y1 + pad_y))), slice(int(x0 - pad_x), int(np.ceil(x1 + pad_x))))

    def frame(i: int) -> npt.NDArray[np.float32]:
        return read_frame(out, i).astype(np.float32)

    def mouth_diff(a: int, b: int) -> float:
        return float(np.abs(frame(a)[box] - frame(b)[box]).mean())

    opening = mouth_diff(open_f, closed_f)
    floor = mouth_diff(pair, pair + 1)
    assert opening > 6.0, opening  # grey levels of 255: visibly different
    assert opening > 4 * max(floor, 0.5), (opening, floor)  # measured: 13.8 against 0.7
    # and it is the mouth that changed: the rest of the picture moved far less
    whole = float(np.abs(frame(open_f) - frame(closed_f)).mean())
    assert opening > 4 * whole, (opening, whole)
