"""The portrait framing of a head: where the camera stands and where a point lands in the picture.

The add-on's stage (addon/scene/stage.py) places its camera with
``portrait_camera``; tests and tools use ``project`` to find, say, the lips in
a rendered frame without Blender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class PortraitCamera:
    """A camera looking along +Y (Blender rotation (90 deg, 0, 0)) at ``centre``, the face's middle."""

    location: Vec3
    centre: Vec3
    lens: float = 85.0  # mm
    sensor_width: float = 36.0  # mm, across the picture's larger side (Blender's sensor fit AUTO)


def portrait_camera(
    lo: npt.ArrayLike, hi: npt.ArrayLike, *, lens: float = 85.0, sensor_width: float = 36.0, zoom: float = 1.0
) -> PortraitCamera:
    """Frame a head from its world bounding box (``lo``, ``hi``; Z up, face toward -Y).

    The face is taken as the box's upper part (centre at 60% of the height, on the
    front plane); the camera stands far enough for the face (about 0.75 of the
    head's height) to fill ~80% of the frame height at ``zoom`` 1.
    """
    lo_, hi_ = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    height = float(hi_[2] - lo_[2])
    centre = (float(lo_[0] + hi_[0]) / 2, float(lo_[1]), float(lo_[2] + 0.6 * height))
    fov = 2 * math.atan(sensor_width / (2 * lens))
    distance = (0.75 * height / 0.8) / (2 * math.tan(fov / 2)) / zoom
    location = (centre[0], centre[1] - distance, centre[2])
    return PortraitCamera(location, centre, lens, sensor_width)


def project(
    points: npt.ArrayLike, camera: PortraitCamera, width: int, height: int
) -> npt.NDArray[np.float64]:
    """World points (N, 3) -> pixel coordinates (N, 2): x to the right, y down, (0, 0) the top-left corner."""
    d = np.asarray(points, np.float64).reshape(-1, 3) - np.asarray(camera.location, np.float64)
    scale = camera.lens / camera.sensor_width * max(width, height)
    u = width / 2 + scale * d[:, 0] / d[:, 1]
    v = height / 2 - scale * d[:, 2] / d[:, 1]
    return np.stack([u, v], axis=1)
