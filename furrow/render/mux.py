"""Encode a numbered PNG sequence (+ a sound file) into an MP4 with the system ffmpeg.

H.264 in yuv420p and AAC: what every player, browser and editor opens. ffmpeg
writes to a temporary name beside the target, renamed onto it only when it
succeeded, so a failure (disk full, a killed process) never leaves a half
file under the final name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Optional

from ..io.atomic import atomic_path
from .errors import EncodeError, FfmpegMissingError, OutputError

FRAME_PATTERN = "frame_%05d.png"
"""How the renderer names frames (frame_00001.png ...), numbered from 1."""


def find_tool(name: str = "ffmpeg") -> str:
    """The executable's path; FfmpegMissingError says how to get it."""
    exe = os.environ.get(f"FURROW_{name.upper()}") or shutil.which(name)
    if not exe or not os.path.isfile(exe):
        raise FfmpegMissingError(
            f"{name} was not found: install ffmpeg (Linux: apt install ffmpeg; macOS: brew install ffmpeg; "
            "Windows: ffmpeg.org) and make sure it is on PATH"
        )
    return exe


def check_output(out: Path, suffix: str = ".mp4") -> Path:
    """Fail early, before anything renders, on an output that cannot be written."""
    if out.suffix.lower() != suffix:
        raise OutputError(f"{out}: the file name must end in {suffix}")
    if out.is_dir():
        raise OutputError(f"{out} is a folder: give a file name")
    folder = out.parent
    if not folder.is_dir():
        raise OutputError(f"{out}: the folder {folder} does not exist")
    try:  # really try: permissions, read-only mounts and special folders (/proc) all refuse here
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot write to the folder {folder} ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from None
    return out


def fps_rational(fps: float) -> str:
    """ffmpeg's exact rate: 25 -> 25/1, 29.97 -> 30000/1001, 23.976 -> 24000/1001."""
    if abs(fps - round(fps)) < 1e-6:
        return f"{round(fps)}/1"
    ntsc = fps * 1001 / 1000
    if abs(ntsc - round(ntsc)) < 1e-3:
        return f"{round(ntsc) * 1000}/1001"
    frac = Fraction(fps).limit_denominator(1000)
    return f"{frac.numerator}/{frac.denominator}"


def _why(proc: subprocess.CompletedProcess[str]) -> str:
    """ffmpeg's last error line, or how it ended when it said nothing (killed: file too large ...)."""
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    if lines:
        return lines[-1][:300]
    if proc.returncode < 0:
        return f"ffmpeg was stopped by signal {-proc.returncode} (disk full or file too large?)"
    return f"ffmpeg exited with code {proc.returncode}"


def encode_mp4(
    frames_dir: Path,
    fps: float,
    out: Path,
    *,
    audio: Optional[Path] = None,
    n_frames: Optional[int] = None,
    crf: int = 18,
    pattern: str = FRAME_PATTERN,
) -> Path:
    """Frames ``frames_dir/pattern`` (from 1) and optional ``audio`` -> ``out`` (.mp4).

    The clip lasts exactly the frames (audio is cut or padded with silence to
    match), so picture and sound stay in sync to the frame.
    """
    out = check_output(Path(out))
    exe = find_tool("ffmpeg")
    if n_frames is None:
        n_frames = sum(1 for _ in frames_dir.glob(pattern.replace("%05d", "?????")))
    if n_frames < 1:
        raise EncodeError(f"no frames to encode in {frames_dir}")
    duration = n_frames / fps
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-framerate", fps_rational(fps), "-start_number", "1", "-i", str(frames_dir / pattern)]
    if audio is not None:
        cmd += ["-i", str(audio)]
    cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if audio is None:
        cmd += ["-frames:v", str(n_frames)]
    else:
        # apad + -t: sound shorter than the picture is padded with silence, longer is cut.
        # (-frames:v here would end the audio early: ffmpeg stops the file at the last video frame.)
        cmd += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "192k", "-af", "apad", "-t", f"{duration:.6f}"]
    cmd += ["-movflags", "+faststart", "-f", "mp4"]
    try:
        with atomic_path(out) as tmp:
            try:
                proc = subprocess.run([*cmd, str(tmp)], capture_output=True, text=True, check=False)
            except OSError as exc:
                raise FfmpegMissingError(f"could not run ffmpeg ({exe}): {exc.strerror or exc}") from None
            if proc.returncode != 0:
                raise EncodeError(f"ffmpeg could not write {out.name}: {_why(proc)}")
    except OSError as exc:  # the temporary file or the rename: a vanished folder, disk full ...
        raise EncodeError(f"could not write {out}: {exc.strerror or exc}") from None
    return out
