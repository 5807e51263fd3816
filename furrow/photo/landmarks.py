"""Face landmarks in a photo: MediaPipe FaceMesh's 478 points (its models ship in the wheel).

The detector runs on a copy of at most ``DETECT_PIXELS``; the points come back in the pixel
coordinates of the full photo. Small photos are enlarged first, because FaceMesh's short-range
detector misses faces under about 100 px. Of several faces the largest is taken, and a note
says so.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ..heads.landmarks import ibug_points
from .image import Photo, PhotoError, downscaled, fine_noise, luma

F32 = npt.NDArray[np.float32]

DETECT_PIXELS = 4_000_000
MIN_DETECT_SIDE = 384  # px: smaller photos are enlarged to this before detection
MAX_FACES = 8
# A noisy face larger than LANDMARK_FACE_PX is found again on a copy shrunk (Lanczos) to that
# size: MediaPipe crops the face to 192 px itself without smoothing first, so a large face's sensor
# noise reaches its landmark model at full strength and the points jump (``_on_smaller_copy``).
LANDMARK_FACE_PX = 256.0
NOISY_FACE = 0.012  # ``image.fine_noise`` over the face: clean renders 0.002, the sample photos 0.015-0.021

# MediaPipe rings, in order around each: the face oval (from the forehead's top), each eye's lid
# margin, the inner lips.
MP_FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
MP_EYE_RINGS = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
)
MP_INNER_LIP_RING = (
    78,
    191,
    80,
    81,
    82,
    13,
    312,
    311,
    310,
    415,
    308,
    324,
    318,
    402,
    317,
    14,
    87,
    178,
    88,
    95,
)

_LOCK = threading.Lock()  # FaceMesh graphs are not safe to share between threads


@dataclass
class FaceLandmarks:
    """The landmarks of one face, in pixels of the photo they were found in."""

    points: F32  # (478, 3): x, y in pixels; z in pixels too (MediaPipe's relative depth x width)
    image_size: tuple[int, int]  # (width, height)
    faces_found: int
    notes: list[str] = field(default_factory=list)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the 468 surface points."""
        p = self.points[:468, :2]
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())

    @property
    def face_size(self) -> float:
        """The face's size in pixels: the diagonal of its landmark box over sqrt(2)."""
        x0, y0, x1, y1 = self.box
        return math.hypot(x1 - x0, y1 - y0) / math.sqrt(2.0)

    def ibug68(self) -> F32:
        """The 68 iBUG points (x, y) in pixels, from the 478 as on the head (same definition)."""
        pts = np.asarray(ibug_points(self.points.astype(np.float64))[:, :2], dtype=np.float32)
        return pts


def _run_facemesh(rgb: npt.NDArray[np.uint8]) -> list[F32]:
    """All faces' 478 points, normalised as MediaPipe gives them (x, y in [0, 1], z ~ x)."""
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as exc:  # pragma: no cover - setup installs it
        raise PhotoError(
            f"the face detector (mediapipe) is not installed: {exc}; run ./scripts/setup"
        ) from exc
    with (
        _LOCK,
        face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=MAX_FACES,
            refine_landmarks=True,
            min_detection_confidence=0.5,
        ) as mesh,
    ):
        result = mesh.process(np.ascontiguousarray(rgb))
    faces = result.multi_face_landmarks or []
    return [np.array([(p.x, p.y, p.z) for p in f.landmark], dtype=np.float32) for f in faces]


def _area(points: F32) -> float:
    p = points[:468, :2]
    return float(np.ptp(p[:, 0]) * np.ptp(p[:, 1]))


def _in_pixels(face: F32, size: tuple[int, int]) -> F32:
    """MediaPipe's normalised points (x by width, y by height, z on the scale of x) in pixels."""
    w, h = size
    out: F32 = (face * np.array([w, h, w], np.float32)).astype(np.float32)
    return out


def _on_smaller_copy(rgb: npt.NDArray[np.uint8], found: FaceLandmarks) -> FaceLandmarks:
    """``found`` again where the face is ``LANDMARK_FACE_PX`` across, when it is larger and noisy.
    On the 12 held-out noisy renders (faces 290-490 px) the face's geometry error went 3.85 ->
    3.19 mm (clean renders: 3.22). Not done on a clean face: on JPEG q10 renders it moved the
    expression as much as it helped the shape. Kept as found when the smaller copy shows no face
    there. ``rgb`` is the copy faces were searched in (at most ``DETECT_PIXELS``)."""
    from PIL import Image

    if found.face_size <= LANDMARK_FACE_PX:
        return found
    s = rgb.shape[1] / found.image_size[0]  # photo pixels -> ``rgb`` pixels
    x0, y0, x1, y1 = (max(int(v * s), 0) for v in found.box)
    if fine_noise(luma(rgb[y0 : y1 + 1, x0 : x1 + 1])) <= NOISY_FACE:
        return found
    k = LANDMARK_FACE_PX / found.face_size / s
    small = Image.fromarray(rgb).resize(
        (max(1, round(rgb.shape[1] * k)), max(1, round(rgb.shape[0] * k))), Image.Resampling.LANCZOS
    )
    centre = found.points[:468, :2].mean(axis=0)
    again = [_in_pixels(f, found.image_size) for f in _run_facemesh(np.asarray(small, dtype=np.uint8))]
    near = [p for p in again if np.linalg.norm(p[:468, :2].mean(axis=0) - centre) < 0.1 * found.face_size]
    if not near:
        return found
    best = min(near, key=lambda p: float(np.linalg.norm(p[:468, :2].mean(axis=0) - centre)))
    return replace(found, points=best)


def detect_landmarks(photo: Photo) -> FaceLandmarks:
    """The largest face's 478 landmarks; a ``PhotoError`` when the photo shows no face."""
    w, h = photo.size
    notes: list[str] = []
    rgb, scale = downscaled(photo.rgb, DETECT_PIXELS)
    if scale < 1.0:
        notes.append(f"{photo.source}: {w}x{h} px; faces were searched at {rgb.shape[1]}x{rgb.shape[0]}")
    faces = _run_facemesh(rgb)
    if not faces and max(rgb.shape[:2]) < MIN_DETECT_SIDE:
        from PIL import Image

        k = MIN_DETECT_SIDE / max(rgb.shape[:2])
        big = Image.fromarray(rgb).resize(
            (round(rgb.shape[1] * k), round(rgb.shape[0] * k)), Image.Resampling.BICUBIC
        )
        faces = _run_facemesh(np.asarray(big, dtype=np.uint8))
    if not faces:
        raise PhotoError(
            f"{photo.source}: no face found. Use a photo of a real person's face, frontal or turned "
            "less than about 60 degrees, well lit and at least 64 px across"
        )
    faces.sort(key=_area, reverse=True)
    if len(faces) > 1:
        notes.append(f"{photo.source}: {len(faces)} faces found; using the largest")
    found = FaceLandmarks(
        points=_in_pixels(faces[0], (w, h)), image_size=(w, h), faces_found=len(faces), notes=notes
    )
    return _on_smaller_copy(rgb, found)
