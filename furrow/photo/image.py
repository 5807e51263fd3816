"""Reading an artist's photo: any format Pillow reads, EXIF orientation applied, clear errors.

Every way a file can be unusable (missing, empty, not an image, truncated, absurdly small or
large) becomes a ``PhotoError`` whose message names the file and says what to do, so the
Blender operator and the CLI can show it as it is.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

MIN_SIDE = 32  # px: below this no face detector finds anything
MAX_PIXELS = 120_000_000  # a 50 MP photo is fine; this is only a guard against decompression bombs
FILM_DIAGONAL_35MM = math.hypot(36.0, 24.0)


class PhotoError(ValueError):
    """A photo that cannot be used; the message names the file and the fix."""


@dataclass
class Photo:
    """An RGB photo upright as the camera saw it."""

    rgb: npt.NDArray[np.uint8]  # (H, W, 3)
    source: str  # the file name, or a description for arrays
    focal_px: float | None = None  # from EXIF when the file says it, in pixels of ``rgb``
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def _to_rgb(img: object, source: str, notes: list[str]) -> npt.NDArray[np.uint8]:
    from PIL import Image

    assert isinstance(img, Image.Image)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels become mid grey: black or white would read as hair or a bright wall.
        rgba = img.convert("RGBA")
        grey = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        img = Image.alpha_composite(grey, rgba)
        notes.append(f"{source}: transparent areas were filled with grey")
    elif img.mode in ("L", "I", "I;16", "I;16B", "F", "1"):
        if img.mode in ("I", "I;16", "I;16B", "F"):
            a = np.asarray(img, dtype=np.float64)
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / max(hi - lo, 1e-12) * 255.0
            img = Image.fromarray(a.round().astype(np.uint8))
        notes.append(f"{source}: a greyscale photo; the albedo will be grey")
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def _exif_focal_px(img: object, width: int, height: int) -> float | None:
    """Focal length in pixels from EXIF's 35 mm equivalent (the only focal a file states portably)."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    try:
        exif = img.getexif().get_ifd(0x8769)  # the Exif sub-IFD
    except Exception:  # a damaged EXIF block is not a reason to refuse the photo
        return None
    f35 = exif.get(0xA405)  # FocalLengthIn35mmFilm
    try:
        f35 = float(f35) if f35 is not None else 0.0
    except (TypeError, ValueError):
        return None
    if not 8.0 <= f35 <= 1200.0:
        return None
    # 35 mm equivalence is defined on the diagonal.
    return f35 / FILM_DIAGONAL_35MM * math.hypot(width, height)


def load_photo(source: str | Path | bytes | npt.NDArray[np.generic]) -> Photo:
    """A file path, encoded bytes or an (H, W[, C]) array -> an upright RGB ``Photo``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        return _from_array(source)
    notes: list[str] = []
    if isinstance(source, bytes):
        name, data = "the image", source
    else:
        path = Path(source)
        name = path.name or str(path)
        if not path.exists():
            raise PhotoError(f"{path}: no such file")
        if path.is_dir():
            raise PhotoError(f"{path}: is a folder; pick an image file (JPEG, PNG, ...)")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PhotoError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not data:
        raise PhotoError(f"{name}: the file is empty (0 bytes)")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise PhotoError(
                    f"{name}: {w}x{h} px is too large ({w * h / 1e6:.0f} MP); scale it below 120 MP"
                )
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(img) if orientation not in (None, 1) else img
            if orientation not in (None, 1):
                notes.append(f"{name}: turned upright as its EXIF orientation ({orientation}) says")
            rgb = _to_rgb(upright, name, notes)
            focal = _exif_focal_px(img, rgb.shape[1], rgb.shape[0])
    except UnidentifiedImageError as exc:
        raise PhotoError(
            f"{name}: not an image Furrow can read; use a JPEG, PNG, WebP or TIFF photo"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise PhotoError(f"{name}: too large to open safely ({exc}); scale it below 120 MP") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PhotoError):
            raise
        raise PhotoError(f"{name}: the image is damaged or truncated ({exc}); export it again") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    photo = Photo(rgb=rgb, source=name, focal_px=focal, notes=notes)
    _check_size(photo)
    return photo


def _from_array(a: npt.NDArray[np.generic]) -> Photo:
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise PhotoError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4); got {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:].astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
        rgb = a[..., :3].astype(np.float64)
        grey = 128.0 if a.dtype == np.uint8 else 0.5
        a = rgb * alpha + grey * (1.0 - alpha)
    if a.dtype != np.uint8:
        f = a.astype(np.float64)
        f = f * 255.0 if f.max() <= 1.0 else f
        a = np.clip(f, 0.0, 255.0).round().astype(np.uint8)
    photo = Photo(rgb=np.ascontiguousarray(a[..., :3]), source="the image")
    _check_size(photo)
    return photo


def _check_size(photo: Photo) -> None:
    w, h = photo.size
    if min(w, h) < MIN_SIDE:
        raise PhotoError(
            f"{photo.source}: {w}x{h} px is too small to find a face in; "
            f"use a photo at least {MIN_SIDE} px on each side (the face ideally 128 px or more)"
        )


def downscaled(rgb: npt.NDArray[np.uint8], max_pixels: int) -> tuple[npt.NDArray[np.uint8], float]:
    """``rgb`` shrunk (area filter) to at most ``max_pixels``, and the scale factor applied."""
    from PIL import Image

    h, w = rgb.shape[:2]
    if w * h <= max_pixels:
        return rgb, 1.0
    s = math.sqrt(max_pixels / (w * h))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX), dtype=np.uint8)
    return small, size[0] / w


def luma(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Rec. 601 luma in [0, 1]."""
    out: npt.NDArray[np.float32] = (
        rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ) / 255.0
    return out


def fine_noise(y: npt.NDArray[np.float32]) -> float:
    """Sensor noise and grain of a luma patch in its own pixels: the robust spread (MAD) of its
    finest band (resampling first would average it away). A clean render measures ~0.002, the
    sample photos 0.015-0.021, Gaussian noise of 12/255 a channel 0.026."""
    from scipy.ndimage import gaussian_filter  # type: ignore[import-untyped]

    if min(y.shape) < 8:
        return 0.0
    fine = y - gaussian_filter(y, 0.8)
    return float(np.median(np.abs(fine - np.median(fine))) * 1.4826)
