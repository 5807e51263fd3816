"""The pinhole camera of a photo, in OpenCV's convention, and head pose as a rotation vector.

Head space is Blender's (metres, Z up, the face looking toward -Y); camera space is OpenCV's
(x right, y down, z forward). ``HEAD_TO_CAMERA`` turns a head that faces the camera into
camera axes, and the fitted pose rotates the head before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

F64 = npt.NDArray[np.float64]

# head (X, Y, Z) -> camera (X, -Z, Y): image right = the subject's left (+X), image down = -Z.
HEAD_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def rotation_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rotation vector (3,) -> (3, 3), differentiable (the exponential of its skew matrix)."""
    zero = rvec.new_zeros(())
    x, y, z = rvec.unbind()
    skew = torch.stack([torch.stack([zero, -z, y]), torch.stack([z, zero, -x]), torch.stack([-y, x, zero])])
    out: torch.Tensor = torch.linalg.matrix_exp(skew)
    return out


def head_angles(rotation: F64) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees for a head-to-camera rotation (see ``Camera.head_angles``)."""
    # The head's forward axis (-Y) and up axis (+Z) in camera axes; facing the camera, fwd = -z.
    fwd = rotation @ np.array([0.0, -1.0, 0.0])
    up = rotation @ np.array([0.0, 0.0, 1.0])
    yaw = math.degrees(math.atan2(fwd[0], -fwd[2]))
    pitch = math.degrees(math.atan2(-fwd[1], math.hypot(fwd[0], fwd[2])))
    roll = math.degrees(math.atan2(up[0], -up[1]))
    return yaw, pitch, roll


@dataclass
class Camera:
    """A photo's camera: head points -> pixels. ``rotation``/``translation`` map head space to camera."""

    width: int
    height: int
    focal_px: float
    rotation: F64  # (3, 3), includes HEAD_TO_CAMERA
    translation: F64  # (3,) metres

    @property
    def centre(self) -> tuple[float, float]:
        return self.width / 2.0, self.height / 2.0

    def to_camera(self, points: F64) -> F64:
        out: F64 = np.asarray(points, np.float64) @ self.rotation.T + self.translation
        return out

    def project(self, points: F64) -> F64:
        """(N, 3) head-space points -> (N, 2) pixels (x right, y down; pixel centres at +0.5)."""
        c = self.to_camera(points)
        cx, cy = self.centre
        z = np.maximum(c[:, 2], 1e-6)
        out: F64 = np.stack([self.focal_px * c[:, 0] / z + cx, self.focal_px * c[:, 1] / z + cy], axis=1)
        return out

    @property
    def fov_degrees(self) -> float:
        """The horizontal field of view."""
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.focal_px)))

    def head_angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees of the head relative to looking straight into the camera.

        Yaw > 0: the head turns toward its left (image right); pitch > 0: chin up.
        """
        return head_angles(self.rotation)

    def as_dict(self) -> dict[str, object]:
        yaw, pitch, roll = self.head_angles()
        return {
            "width": self.width,
            "height": self.height,
            "focal_px": self.focal_px,
            "fov_degrees": self.fov_degrees,
            "rotation": self.rotation.tolist(),
            "translation_m": self.translation.tolist(),
            "yaw_pitch_roll_degrees": [yaw, pitch, roll],
        }
