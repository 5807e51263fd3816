"""Per-landmark offsets that match the head's 478-point embedding to what MediaPipe reports.

An offset depends on the view: the detector's face oval follows the silhouette, which slides over
the head as it turns. Each landmark's offset is a combination of ``pose_features`` (a constant,
sin yaw, sin^2 yaw, sin pitch) with 3D coefficients in head space.

Made by ``scripts/calibrate_landmarks`` from renders of the head (our own data) and stored next to
this module. The file names the head it was made for (name and vertex count); another head gets
no offsets, and its raw embedding is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..heads.model import HeadModel

F64 = npt.NDArray[np.float64]

DEFAULT_OFFSETS = Path(__file__).resolve().parent / "data" / "landmark_offsets.npz"


POSE_FEATURES = ("1", "sin_yaw", "sin2_yaw", "sin_pitch")


def pose_features(yaw_deg: float, pitch_deg: float) -> F64:
    """The weights of the offset components for a head at this yaw and pitch (degrees)."""
    sy, sp = np.sin(np.radians(yaw_deg)), np.sin(np.radians(pitch_deg))
    return np.array([1.0, sy, sy * sy, sp])


def save_offsets(path: Path, head: HeadModel, offsets: F64, stats: dict[str, Any]) -> None:
    header = {"head": head.name, "n_vertices": head.n_vertices, "features": POSE_FEATURES, "stats": stats}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            offsets=np.asarray(offsets, np.float32),
            header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
        )
    tmp.replace(path)


def load_offsets(head: HeadModel, path: Path = DEFAULT_OFFSETS) -> F64 | None:
    """The (features, 478, 3) offset coefficients in metres for ``head``; None when made for another head."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(bytes(z["header"]).decode("utf-8"))
        offsets: F64 = z["offsets"].astype(np.float64)
    if header.get("head") != head.name or header.get("n_vertices") != head.n_vertices:
        return None
    if offsets.shape != (len(POSE_FEATURES), 478, 3) or list(header.get("features", [])) != list(
        POSE_FEATURES
    ):
        return None
    return offsets
