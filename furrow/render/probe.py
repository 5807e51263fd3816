"""What a media file holds (ffprobe) and single frames out of it (ffmpeg): for checks and tests."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from .errors import EncodeError
from .mux import find_tool


@dataclass(frozen=True)
class Stream:
    kind: str  # "video" | "audio" | ...
    codec: str  # "h264", "aac" ...
    duration: float  # seconds
    width: int = 0
    height: int = 0
    pix_fmt: str = ""
    sample_rate: int = 0
    n_frames: int = 0
    fps: float = 0.0


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    streams: tuple[Stream, ...]

    def of_kind(self, kind: str) -> list[Stream]:
        return [s for s in self.streams if s.kind == kind]


def _rate(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1) if float(den or 1) else 0.0


def _stream(d: dict[str, Any]) -> Stream:
    return Stream(
        kind=str(d.get("codec_type", "")),
        codec=str(d.get("codec_name", "")),
        duration=float(d.get("duration", 0.0) or 0.0),
        width=int(d.get("width", 0) or 0),
        height=int(d.get("height", 0) or 0),
        pix_fmt=str(d.get("pix_fmt", "")),
        sample_rate=int(d.get("sample_rate", 0) or 0),
        n_frames=int(d.get("nb_frames", 0) or 0),
        fps=_rate(str(d.get("avg_frame_rate", "0/1"))),
    )


def probe(path: Path) -> MediaInfo:
    """Streams and durations of a media file."""
    exe = find_tool("ffprobe")
    cmd = [exe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EncodeError(f"ffprobe could not read {path}: {proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout)
    fmt = data.get("format", {})
    return MediaInfo(float(fmt.get("duration", 0.0)), tuple(_stream(s) for s in data.get("streams", [])))


def read_frame(video: Path, index: int, size: Optional[tuple[int, int]] = None) -> npt.NDArray[np.uint8]:
    """Frame ``index`` (0-based) of a video as an (H, W, 3) RGB array, decoded by ffmpeg."""
    if size is None:
        (v, *_) = probe(video).of_kind("video")
        size = (v.width, v.height)
    exe = find_tool("ffmpeg")
    cmd = [exe, "-v", "error", "-nostdin", "-i", str(video), "-vf", f"select=eq(n\\,{index})"]
    cmd += ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    width, height = size
    if proc.returncode != 0 or len(proc.stdout) != width * height * 3:
        raise EncodeError(f"could not read frame {index} of {video}: {proc.stderr.decode()[-300:]}")
    return np.frombuffer(proc.stdout, np.uint8).reshape(height, width, 3)
