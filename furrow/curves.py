"""Curves: per-frame ARKit weights, the animation contract between speech, files and Blender.

fps is a float (23.976 and 29.97 are real rates); weights are (T, 52) float32 in
[0, 1] in ARKIT_NAMES order; head rotation, when present, is (T, 3) radians
(pitch, yaw, roll). JSON: {"fps", "names", "frames": [[52 weights], ...],
"head_rotation": [[3], ...]?}; names are written so files stay readable and
other tools can map by name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from .heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from .io.atomic import atomic_path

FloatArray = npt.NDArray[np.float32]


class CurvesFileError(ValueError):
    """A curves file that is not what it should be; the message names it."""


@dataclass
class Curves:
    fps: float
    weights: FloatArray  # (T, 52)
    head_rotation: Optional[FloatArray] = None  # (T, 3) radians
    notes: list[str] = field(default_factory=list)  # things the artist should know (e.g. "silent audio")

    def __post_init__(self) -> None:
        self.weights = np.clip(np.asarray(self.weights, dtype=np.float32), 0.0, 1.0)
        if self.weights.ndim != 2 or self.weights.shape[1] != len(ARKIT_NAMES):
            raise ValueError(f"weights must be (T, {len(ARKIT_NAMES)}), got {self.weights.shape}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if self.head_rotation is not None:
            self.head_rotation = np.asarray(self.head_rotation, dtype=np.float32)
            if self.head_rotation.shape != (len(self.weights), 3):
                raise ValueError(f"head_rotation must be ({len(self.weights)}, 3)")

    @property
    def n_frames(self) -> int:
        return int(self.weights.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def names(self) -> tuple[str, ...]:
        return ARKIT_NAMES

    def channel(self, name: str) -> FloatArray:
        result: FloatArray = self.weights[:, ARKIT_INDEX[name]]
        return result

    def resample(self, fps: float) -> Curves:
        """The same motion at another frame rate (linear interpolation at frame centres; going
        down in rate, a lip closure that falls between the new frames still shows on one)."""
        if fps == self.fps:
            return self
        n = max(1, round(self.duration * fps))
        src = (np.arange(self.n_frames) + 0.5) / self.fps
        dst = (np.arange(n) + 0.5) / fps
        weights = np.stack([np.interp(dst, src, self.weights[:, k]) for k in range(len(ARKIT_NAMES))], 1)
        if fps < self.fps:
            from .speech.visemes import keep_closures

            weights = keep_closures(weights.astype(np.float32), self.weights, self.fps, fps)
        rot = None
        if self.head_rotation is not None:
            rot = np.stack([np.interp(dst, src, self.head_rotation[:, k]) for k in range(3)], 1)
        return Curves(fps, weights.astype(np.float32), rot, list(self.notes))

    # --- JSON ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fps": self.fps,
            "names": list(ARKIT_NAMES),
            "frames": np.round(self.weights, 5).tolist(),
        }
        if self.head_rotation is not None:
            data["head_rotation"] = np.round(self.head_rotation, 5).tolist()
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    def save_json(self, path: Path) -> None:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")

    @classmethod
    def from_json(cls, data: Any, source: str = "curves") -> Curves:
        """Curves from parsed JSON; channels are matched by name, missing ones stay 0."""
        if not isinstance(data, dict) or "frames" not in data or "fps" not in data:
            raise CurvesFileError(f"{source}: expected a JSON object with 'fps', 'names' and 'frames'")
        try:
            names = list(data.get("names") or ARKIT_NAMES)
            frames = np.asarray(data["frames"], dtype=np.float32).reshape(-1, len(names))
            fps = float(data["fps"])
        except (TypeError, ValueError) as exc:
            raise CurvesFileError(f"{source}: frames must be rows of {len(names)} numbers ({exc})") from exc
        weights = np.zeros((len(frames), len(ARKIT_NAMES)), dtype=np.float32)
        known = [(i, ARKIT_INDEX[n]) for i, n in enumerate(names) if n in ARKIT_INDEX]
        if not known:
            raise CurvesFileError(f"{source}: none of its channel names are ARKit blendshape names")
        for src, dst in known:
            weights[:, dst] = frames[:, src]
        rot = data.get("head_rotation")
        try:
            return cls(
                fps,
                weights,
                None if rot is None else np.asarray(rot, np.float32),
                list(data.get("notes", [])),
            )
        except ValueError as exc:
            raise CurvesFileError(f"{source}: {exc}") from exc

    @classmethod
    def load_json(cls, path: Path) -> Curves:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CurvesFileError(f"{path}: no such file") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CurvesFileError(f"{path}: not a JSON curves file ({exc})") from exc
        return cls.from_json(data, str(path))
