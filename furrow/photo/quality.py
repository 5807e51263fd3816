"""How much fine detail a photo can show of its face: the switch between detail paths.

Measured on the face's crop, resampled so the face is ``CROP_FACE_PX`` across (a small face is
enlarged, so it measures as blurred, which it is):

- ``face_px``: the face's size in the photo; below ``MIN_FACE_PX`` pores and fine lines are gone.
- ``sharpness``: high-frequency energy (std of a Laplacian of Gaussian) over the local contrast.
- ``noise``: the median absolute deviation of the finest band (sensor noise, grain).
- ``blockiness``: how much stronger luminance steps are on JPEG's 8 x 8 grid than off it.

A photo is ``sharp`` when the face is large enough, sharp enough and neither noisy nor blocky.
Thresholds were set on the sample photos and their degraded versions (tests/unit/test_photo_quality.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from .image import Photo, fine_noise, luma
from .landmarks import FaceLandmarks

F32 = npt.NDArray[np.float32]

CROP_FACE_PX = 256
MIN_FACE_PX = 128.0
MIN_SHARPNESS = 0.10
MAX_NOISE = 0.028
MAX_BLOCKINESS = 1.35
BLOCKS_INVISIBLE_FACE_PX = 600.0  # a face this large spans 75+ blocks: compression blocks are pore-sized


@dataclass
class ImageQuality:
    face_px: float
    sharpness: float
    noise: float
    blockiness: float
    sharp: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _blockiness(y: F32) -> float:
    """Ratio of mean |horizontal + vertical steps| on the 8-px grid to those off it (1 = none)."""
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    cols = np.arange(dx.shape[1])
    rows = np.arange(dy.shape[0])
    on = np.concatenate([dx[:, cols % 8 == 7].ravel(), dy[rows % 8 == 7].ravel()])
    off = np.concatenate([dx[:, cols % 8 != 7].ravel(), dy[rows % 8 != 7].ravel()])
    return float(on.mean() / max(off.mean(), 1e-6))


def estimate_quality(photo: Photo, landmarks: FaceLandmarks) -> ImageQuality:
    from PIL import Image
    from scipy.ndimage import gaussian_filter, gaussian_laplace  # type: ignore[import-untyped]

    x0, y0, x1, y1 = landmarks.box
    w, h = photo.size
    # The JPEG grid is only visible in the photo's own pixels: measure it on the uncropped luma
    # within the face box (aligned to the file's 8 x 8 grid).
    bx0, by0 = max(int(x0) // 8 * 8, 0), max(int(y0) // 8 * 8, 0)
    bx1, by1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    native = luma(photo.rgb[by0:by1, bx0:bx1])
    # JPEG's 8 px blocks matter only while they are a visible part of the face.
    small_blocks = landmarks.face_size > BLOCKS_INVISIBLE_FACE_PX
    blockiness = _blockiness(native) if min(native.shape) >= 16 and not small_blocks else 1.0

    face = landmarks.face_size
    pad = 0.1 * face
    box = (max(x0 + pad, 0), max(y0 + pad, 0), min(x1 - pad, w), min(y1 - pad, h))
    crop = Image.fromarray(photo.rgb).crop((round(box[0]), round(box[1]), round(box[2]), round(box[3])))
    k = CROP_FACE_PX / max(face, 1.0)
    size = (max(8, round(crop.size[0] * k)), max(8, round(crop.size[1] * k)))
    y = luma(np.asarray(crop.resize(size, Image.Resampling.BICUBIC)))
    contrast = float(np.std(gaussian_filter(y, 4.0))) + 0.02
    sharpness = float(np.std(gaussian_laplace(y, 1.0))) / contrast
    # Noise on the photo's own pixels (resampling would average it away).
    noise = fine_noise(native)
    reasons = []
    if face < MIN_FACE_PX:
        reasons.append(f"the face is small ({face:.0f} px across; fine detail needs {MIN_FACE_PX:.0f})")
    if sharpness < MIN_SHARPNESS:
        reasons.append(f"the face is blurred (sharpness {sharpness:.2f} < {MIN_SHARPNESS})")
    if noise > MAX_NOISE:
        reasons.append(f"the photo is noisy (noise {noise:.3f} > {MAX_NOISE})")
    if blockiness > MAX_BLOCKINESS:
        reasons.append(f"heavy JPEG compression (blockiness {blockiness:.2f} > {MAX_BLOCKINESS})")
    return ImageQuality(
        face_px=face,
        sharpness=sharpness,
        noise=noise,
        blockiness=blockiness,
        sharp=not reasons,
        reasons=reasons,
    )
