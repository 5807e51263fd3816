"""furrow.render without Blender: MP4 muxing with the real ffmpeg, probing, sheets, framing, settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from furrow.cli import main
from furrow.render import EncodeError, FfmpegMissingError, OutputError, RenderRequest, RenderSettings
from furrow.render.framing import portrait_camera, project
from furrow.render.mux import FRAME_PATTERN, check_output, encode_mp4, fps_rational
from furrow.render.probe import probe, read_frame
from furrow.render.sheet import contact_sheet, sheet_from_video

ROOT = Path(__file__).resolve().parents[2]
W, H = 64, 48


def _frames(folder: Path, n: int) -> Path:
    """``n`` frames whose red channel counts up: frame i is (8 * i, 40, 200)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        Image.new("RGB", (W, H), (8 * i, 40, 200)).save(folder / (FRAME_PATTERN % i))
    return folder


def _tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    return path


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody can create files in: /proc for root (who ignores permissions), else mode 555."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".mp4", ".tmp"))


@pytest.mark.parametrize("sound_seconds", [1.0, 0.5, 2.0])  # as long, shorter (padded), longer (cut)
def test_frames_and_sound_become_h264_and_aac_of_the_pictures_length(
    tmp_path: Path, sound_seconds: float
) -> None:
    frames = _frames(tmp_path / "frames", 25)
    out = encode_mp4(frames, 25.0, tmp_path / "clip.mp4", audio=_tone(tmp_path / "a.wav", sound_seconds))
    info = probe(out)
    (video,) = info.of_kind("video")
    (audio,) = info.of_kind("audio")
    assert (video.codec, video.pix_fmt, video.width, video.height) == ("h264", "yuv420p", W, H)
    assert video.n_frames == 25 and video.fps == pytest.approx(25.0)
    assert audio.codec == "aac"
    assert video.duration == pytest.approx(1.0, abs=1 / 25)
    assert audio.duration == pytest.approx(1.0, abs=1 / 25)  # within one frame of the picture
    # the frames come back in order (red counts up by 8 a frame)
    reds = [float(read_frame(out, i)[..., 0].mean()) for i in (0, 12, 24)]
    assert reds == pytest.approx([8, 104, 200], abs=6)
    assert _leftovers(tmp_path) == ["clip.mp4"]


def test_without_sound_and_at_ntsc_rates(tmp_path: Path) -> None:
    out = encode_mp4(_frames(tmp_path / "f", 10), 30000 / 1001, tmp_path / "v.mp4")
    (video,) = probe(out).streams
    assert video.kind == "video" and video.n_frames == 10
    assert video.fps == pytest.approx(29.97, abs=1e-3)
    assert fps_rational(25.0) == "25/1"
    assert fps_rational(30000 / 1001) == "30000/1001"
    assert fps_rational(24000 / 1001) == "24000/1001"
    assert fps_rational(12.5) == "25/2"


def test_unwritable_or_missing_folders_fail_early_with_one_line(tmp_path: Path) -> None:
    frames = _frames(tmp_path / "f", 3)
    (tmp_path / "dir.mp4").mkdir()
    locked = unwritable_folder(tmp_path)
    for out, words in [
        (locked / "clip.mp4", "cannot write to the folder"),
        (tmp_path / "nope" / "clip.mp4", "does not exist"),
        (tmp_path / "clip.mov", "must end in .mp4"),
        (tmp_path / "dir.mp4", "is a folder"),
    ]:
        with pytest.raises(OutputError, match=words) as info:
            encode_mp4(frames, 25.0, out)
        assert "\n" not in str(info.value)
        assert not (out.exists() and out.is_file())
    with pytest.raises(OutputError):
        check_output(locked / "clip.mp4")


def test_a_missing_ffmpeg_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _frames(tmp_path / "f", 3)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FfmpegMissingError, match="ffmpeg was not found: install ffmpeg"):
        encode_mp4(frames, 25.0, tmp_path / "clip.mp4")
    monkeypatch.setenv("FURROW_FFMPEG", str(tmp_path / "no-ffmpeg-here"))
    with pytest.raises(FfmpegMissingError):
        encode_mp4(frames, 25.0, tmp_path / "clip.mp4")
    assert _leftovers(tmp_path) == []


def test_a_full_disk_leaves_no_file_under_the_name(tmp_path: Path) -> None:
    """ffmpeg's output is cut off part-way (a 4 KiB file-size limit; ffmpeg dies of SIGXFSZ, as it
    would fail on ENOSPC): EncodeError in one line, the old file untouched, no temporary file left."""
    frames = tmp_path / "f"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 26):  # noise: incompressible, so the file outgrows the limit
        Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(
            frames / (FRAME_PATTERN % i)
        )
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the previous take")
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from furrow.render import EncodeError\n"
        "from furrow.render.mux import encode_mp4\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    encode_mp4(Path(sys.argv[1]), 25.0, Path(sys.argv[2]), crf=0)\n"
        "except EncodeError as exc:\n"
        "    print('EncodeError:', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(frames), str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.stdout.startswith("EncodeError: ffmpeg could not write clip.mp4"), proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1, proc.stdout
    assert out.read_bytes() == b"the previous take"
    assert _leftovers(tmp_path) == ["clip.mp4"]


def test_probe_and_read_frame_refuse_what_is_not_media(tmp_path: Path) -> None:
    bogus = tmp_path / "x.mp4"
    bogus.write_text("not a video")
    with pytest.raises(EncodeError):
        probe(bogus)


def test_contact_sheet_tiles_frames(tmp_path: Path) -> None:
    frames = _frames(tmp_path / "f", 5)
    paths = [frames / (FRAME_PATTERN % i) for i in (1, 3, 5)]
    sheet = contact_sheet(paths, tmp_path / "sheet.png", columns=2, labels=["a", "b", "c"], gap=4)
    img = np.asarray(Image.open(sheet).convert("RGB"))
    assert img.shape == (2 * H + 3 * 4, 2 * W + 3 * 4, 3)
    assert img[4 + H - 2, 4 + W - 2, 0] == 8  # frame 1, bottom-right corner (away from its label)
    assert img[8 + 2 * H - 2, 4 + W - 2, 0] == 40  # frame 5, second row


def test_the_portrait_camera_projects_the_face_centre_to_the_middle() -> None:
    lo, hi = np.array([-0.1, -0.12, -0.13]), np.array([0.1, 0.1, 0.14])
    cam = portrait_camera(lo, hi)
    assert cam.location[1] < lo[1]  # in front of the face (which looks toward -Y)
    px = project([cam.centre, np.add(cam.centre, (0.01, 0, 0.01))], cam, 200, 250)
    assert px[0] == pytest.approx([100, 125])
    assert px[1, 0] > 100 and px[1, 1] < 125  # right and up in the world: right and up in the picture
    # the face (0.75 of the head's height) spans about 80% of the frame height
    top, bottom = project([(0, lo[1], lo[2] + 0.975 * 0.27), (0, lo[1], lo[2] + 0.225 * 0.27)], cam, 256, 256)
    assert (bottom[1] - top[1]) / 256 == pytest.approx(0.8, abs=0.01)


def test_settings_check_themselves_and_travel_as_json() -> None:
    assert RenderSettings().problem() == ""
    assert RenderSettings(resolution=97).size == (96, 96)
    assert RenderSettings(resolution=512, aspect="portrait").size == (512, 640)
    assert "resolution" in RenderSettings(resolution=4).problem()
    assert "aspect" in RenderSettings(aspect="wide").problem()
    assert "fps" in RenderSettings(fps=0).problem()
    assert "seconds" in RenderSettings(seconds=-1).problem()
    assert "quality" in RenderSettings(quality="draft").problem()
    assert RenderSettings().quality == "final" and RenderSettings(quality="preview").problem() == ""
    settings = RenderSettings(samples=4, quality="preview")
    req = RenderRequest(audio="a.wav", out="c.mp4", transcript="hi", settings=settings)
    assert RenderRequest.from_json(req.to_json()) == req
    assert json.loads(req.to_json())["settings"]["samples"] == 4


def test_cli_render_refuses_bad_input_before_starting_blender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = _tone(tmp_path / "a.wav", 0.5)
    cases = [
        ([str(tmp_path / "missing.wav"), "--out", str(tmp_path / "c.mp4")], "missing.wav: no such file"),
        ([str(audio), "--out", str(tmp_path / "c.avi")], "must end in .mp4"),
        ([str(audio), "--out", str(unwritable_folder(tmp_path) / "c.mp4")], "cannot write to the folder"),
        ([str(audio), "--res", "4", "--out", str(tmp_path / "c.mp4")], "resolution 4"),
        ([str(audio), "--seconds", "0", "--out", str(tmp_path / "c.mp4")], "seconds 0"),
    ]
    for args, words in cases:
        assert main(["-q", "render", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("furrow: error: ") and words in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "c.mp4").exists()


def test_a_sheet_from_a_clip_shows_frames_from_start_to_end(tmp_path: Path) -> None:
    clip = encode_mp4(_frames(tmp_path / "f", 25), 25.0, tmp_path / "clip.mp4")
    sheet = sheet_from_video(clip, tmp_path / "sheet.png", count=3, columns=3)
    img = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
    assert img.shape == (H + 2 * 4, 3 * W + 4 * 4, 3)
    reds = [img[4 + H - 3, 4 + k * (W + 4) + W - 3, 0] for k in range(3)]  # frames 1, 13, 25
    assert reds == pytest.approx([8, 104, 200], abs=6)
