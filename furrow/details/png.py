"""Displacement maps as 16-bit grey PNGs with a known millimetre scale.

The convention of a bake (../shared/ARCHITECTURE.md): a pixel value ``v`` in
[0, 1] (65535 = 1) means ``height_mm = (v - 0.5) * scale_mm``; 0.5 is no
displacement, so Blender's Displace modifier takes it with mid-level 0.5 and
strength ``scale_mm / 1000`` (metres). Row 0 is v = 1 (the top of the image),
as Blender samples an image over UV space. ``bake.json`` records ``scale_mm``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..io.atomic import atomic_path

DEFAULT_SCALE_MM = 8.0  # +-4 mm of range at 0.12 um a step: pores to deep folds fit


def encode_displacement(
    height_mm: npt.ArrayLike, scale_mm: float = DEFAULT_SCALE_MM
) -> npt.NDArray[np.uint16]:
    """Heights (mm, negative = into the skin) -> uint16 pixels; out-of-range heights are clipped."""
    if scale_mm <= 0:
        raise ValueError(f"scale_mm must be positive, not {scale_mm}")
    h = np.asarray(height_mm, dtype=np.float64)
    v = np.clip(0.5 + h / scale_mm, 0.0, 1.0)
    out: npt.NDArray[np.uint16] = np.rint(v * 65535.0).astype(np.uint16)
    return out


def decode_displacement(pixels: npt.ArrayLike, scale_mm: float = DEFAULT_SCALE_MM) -> npt.NDArray[np.float32]:
    """uint16 pixels -> heights in mm."""
    v = np.asarray(pixels, dtype=np.float64) / 65535.0
    return ((v - 0.5) * scale_mm).astype(np.float32)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_bytes(pixels: npt.NDArray[np.uint16], level: int = 1) -> bytes:
    """A 16-bit grey PNG of (H, W) ``pixels``: rows unfiltered, zlib at ``level``.

    Why not PIL: its encoder tries every row filter, 16 ms for a 512 px map against
    9 ms here at level 1 (files ~25% larger than PIL's), and zlib releases the GIL,
    so a bake writes frames on worker threads while torch computes the next ones.
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint16:
        raise ValueError(f"a 16-bit map is (H, W) uint16, not {pixels.shape} {pixels.dtype}")
    h, w = pixels.shape
    rows = np.zeros((h, 1 + 2 * w), dtype=np.uint8)  # each row: filter type 0, then big-endian samples
    rows[:, 1:] = pixels.astype(">u2").view(np.uint8).reshape(h, 2 * w)
    header = struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)  # 16-bit greyscale, no interlace
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )


def save_displacement_png(
    path: Path, height_mm: npt.ArrayLike, scale_mm: float = DEFAULT_SCALE_MM, level: int = 1
) -> Path:
    """Write one (R, R) height map (mm) as a 16-bit grey PNG, atomically; returns the path."""
    pixels = encode_displacement(height_mm, scale_mm)
    if pixels.ndim != 2:
        raise ValueError(f"a displacement map is (R, R), not {pixels.shape}")
    data = png16_bytes(pixels, level)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def load_displacement_png(path: Path, scale_mm: float = DEFAULT_SCALE_MM) -> npt.NDArray[np.float32]:
    """Read a 16-bit grey displacement PNG back into heights in mm."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("I;16", "I;16B", "I"):
            raise ValueError(f"{path}: not a 16-bit grey PNG (mode {image.mode})")
        pixels = np.asarray(image, dtype=np.int64)
    return decode_displacement(pixels, scale_mm)
