"""Live Link Face CSV: the take files Epic's iPhone app records, read by Unreal and mocap tools.

Format (one row per frame)::

    Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,
    HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll
    00:00:01:12.500,61,0.0123,...

* ``Timecode`` is ``HH:MM:SS:FF.fff``: hours, minutes, seconds, the frame within the
  second (counted at the take's nominal rate, 30 for 29.97) and the fraction of a frame.
* ``BlendShapeCount`` is 61: the 52 ARKit shapes in Live Link Face's own column order
  (``LLF_BLENDSHAPES``: PascalCase, JawRight before JawLeft, MouthRight before
  MouthLeft), then head yaw/pitch/roll and both eyes' yaw/pitch/roll (radians).

Reading maps columns to ``ARKIT_NAMES`` by name, case-insensitively, so files with
another column order or casing load too; the head columns become
``Curves.head_rotation`` (pitch, yaw, roll). The frame rate is inferred from the
timecodes, and rows are resampled onto a uniform grid at that rate when the take
dropped frames. Writing stamps each frame with its real time (frame i at i / fps),
so fractional rates (23.976, 29.97) survive a round trip.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Optional

import numpy as np
import numpy.typing as npt

from ..curves import Curves, CurvesFileError
from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from .atomic import atomic_path

LLF_BLENDSHAPES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight",
    "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)  # fmt: skip
LLF_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
LLF_COLUMNS: tuple[str, ...] = ("Timecode", "BlendShapeCount", *LLF_BLENDSHAPES, *LLF_ROTATIONS)
BLENDSHAPE_COUNT = len(LLF_BLENDSHAPES) + len(LLF_ROTATIONS)  # 61

# Frame rates a take is snapped to when the timecodes say so (within 0.02%).
STANDARD_RATES: tuple[float, ...] = (
    23.976, 24.0, 25.0, 29.97, 30.0, 47.952, 48.0, 50.0, 59.94, 60.0, 100.0, 119.88, 120.0,
)  # fmt: skip
_NOMINAL_RATES = (24, 25, 30, 48, 50, 60, 100, 120)
_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;.](\d+)(?:\.(\d+))?\s*$")

_LOWER_ARKIT = {n.lower(): n for n in ARKIT_NAMES}


def _nominal(fps: float) -> int:
    return max(1, math.ceil(fps - 1e-6))


def format_timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF.fff`` for a time in seconds, frames counted at the nominal rate ceil(fps)."""
    nominal = _nominal(fps)
    total_frames = seconds * nominal
    whole = math.floor(total_frames + 1e-6)
    sub = max(0.0, total_frames - whole)
    if sub > 0.9995:  # rounding would print 1.000
        whole, sub = whole + 1, 0.0
    secs, ff = divmod(whole, nominal)
    h, rem = divmod(int(secs), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{int(ff):02d}.{round(sub * 1000):03d}"


def write_livelink_csv(curves: Curves, path: Path) -> None:
    """Write ``curves`` as a Live Link Face CSV (atomically: readers never see half a file)."""
    path = Path(path)
    order = [ARKIT_INDEX[_LOWER_ARKIT[n.lower()]] for n in LLF_BLENDSHAPES]
    weights = curves.weights[:, order]
    rot = np.zeros((curves.n_frames, len(LLF_ROTATIONS)), dtype=np.float32)
    if curves.head_rotation is not None:  # (pitch, yaw, roll) -> HeadYaw, HeadPitch, HeadRoll
        rot[:, 0] = curves.head_rotation[:, 1]
        rot[:, 1] = curves.head_rotation[:, 0]
        rot[:, 2] = curves.head_rotation[:, 2]
    buf = io.StringIO()
    buf.write(",".join(LLF_COLUMNS) + "\n")
    for i in range(curves.n_frames):
        values = ",".join(f"{v:.6g}" for v in weights[i]) + "," + ",".join(f"{v:.6g}" for v in rot[i])
        buf.write(f"{format_timecode(i / curves.fps, curves.fps)},{BLENDSHAPE_COUNT},{values}\n")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")


def _parse_timecode(text: str) -> tuple[int, int, float]:
    m = _TIMECODE.match(text)
    if m is None:
        raise ValueError(f"bad timecode {text!r} (expected HH:MM:SS:FF.fff)")
    h, mi, s, ff, sub = m.groups()
    seconds = int(h) * 3600 + int(mi) * 60 + int(s)
    frac = float("0." + sub) if sub else 0.0
    return seconds, int(ff), frac


def _infer_times(codes: list[tuple[int, int, float]]) -> npt.NDArray[np.float64]:
    """Seconds of each row; the nominal frame rate is the standard one that makes rows most even."""
    max_ff = max(c[1] for c in codes)
    best: Optional[tuple[float, npt.NDArray[np.float64]]] = None
    for nominal in _NOMINAL_RATES:
        if nominal <= max_ff:
            continue
        t = np.array([s + (ff + sub) / nominal for s, ff, sub in codes], dtype=np.float64)
        d = np.diff(t)
        if d.size and np.any(d <= 0):
            continue
        spread = float(np.std(d) / np.mean(d)) if d.size > 1 else 0.0
        if best is None or spread < best[0] - 1e-6:
            best = (spread, t)
    if best is None:
        raise ValueError("timecodes do not increase")
    return best[1]


def _snap_rate(fps: float) -> float:
    for std in STANDARD_RATES:
        if abs(fps - std) <= 2e-4 * std:
            return std
    return round(fps, 3)


def read_livelink_csv(path: Path, fps: Optional[float] = None) -> Curves:
    """Curves from a Live Link Face CSV; ``fps`` overrides the rate inferred from the timecodes."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CurvesFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CurvesFileError(f"{path}: not a Live Link Face CSV (cannot read it as text: {exc})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise CurvesFileError(f"{path}: empty file, not a Live Link Face CSV")
    header = [h.strip() for h in rows[0]]
    if not header or header[0].lower() != "timecode":
        raise CurvesFileError(f"{path}: not a Live Link Face CSV (the first column must be 'Timecode')")
    columns: list[tuple[int, int]] = []  # (csv column, ARKit index)
    rot_cols: dict[str, int] = {}
    rot_lower = {n.lower(): n for n in LLF_ROTATIONS}
    for i, name in enumerate(header):
        key = name.lower()
        if key in _LOWER_ARKIT:
            columns.append((i, ARKIT_INDEX[_LOWER_ARKIT[key]]))
        elif key in rot_lower:
            rot_cols[rot_lower[key]] = i
    if not columns:
        raise CurvesFileError(f"{path}: not a Live Link Face CSV (no ARKit blendshape columns)")
    body = rows[1:]
    if not body:
        raise CurvesFileError(f"{path}: the Live Link Face CSV has a header but no frames")
    n = len(body)
    weights = np.zeros((n, len(ARKIT_NAMES)), dtype=np.float64)
    head_idx = [rot_cols.get(k) for k in ("HeadPitch", "HeadYaw", "HeadRoll")]
    has_head = any(i is not None for i in head_idx)
    rot = np.zeros((n, 3), dtype=np.float64)
    codes: list[tuple[int, int, float]] = []
    for r, row in enumerate(body, start=2):
        try:
            codes.append(_parse_timecode(row[0]))
            for col, dst in columns:
                weights[r - 2, dst] = float(row[col]) if col < len(row) and row[col].strip() else 0.0
            for k, hcol in enumerate(head_idx):
                if hcol is not None and hcol < len(row) and row[hcol].strip():
                    rot[r - 2, k] = float(row[hcol])
        except ValueError as exc:
            raise CurvesFileError(f"{path}: line {r}: {exc}") from None
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(rot))):
        raise CurvesFileError(f"{path}: the CSV holds values that are not finite numbers")
    try:
        times = _infer_times(codes)
    except ValueError as exc:
        raise CurvesFileError(f"{path}: {exc}") from None
    if fps is None:
        if n < 2:
            raise CurvesFileError(f"{path}: one frame only: the frame rate cannot be inferred (pass fps)")
        # the median step counts the frames (robust to dropped ones); the whole span gives the precision
        span = float(times[-1] - times[0])
        steps = max(1, round(span / float(np.median(np.diff(times)))))
        fps = _snap_rate(steps / span)
    if not (fps > 0 and math.isfinite(fps)):
        raise CurvesFileError(f"{path}: frame rate {fps} is not a positive number")
    if np.abs(rot).max(initial=0.0) > math.pi:  # older takes store degrees
        rot = np.radians(rot)
    t = times - times[0]
    m = max(1, round(float(t[-1]) * fps) + 1)
    grid = np.arange(m) / fps
    if m != n or np.max(np.abs(grid - t)) > 0.25 / fps:  # dropped or uneven frames: resample
        weights = np.stack([np.interp(grid, t, weights[:, k]) for k in range(weights.shape[1])], 1)
        rot = np.stack([np.interp(grid, t, rot[:, k]) for k in range(3)], 1)
    try:
        return Curves(
            float(fps),
            weights.astype(np.float32),
            rot.astype(np.float32) if has_head else None,
        )
    except ValueError as exc:
        raise CurvesFileError(f"{path}: {exc}") from None
