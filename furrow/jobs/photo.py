"""The photo job: a photo -> a fitted, textured, detailed head folder (furrow.photo.pipeline).

params of ``head_from_photo``:
  image        the photo's path
  out_dir      the result folder; replaced only when complete, and only if it is empty or an
               earlier photo result
  detail       "auto" (default), "model" or "image"
  age          the person's age for the detail model (default 40)
  estimate_age true: read the age from a sharp photo's fine shading where it can (``age`` where
               it cannot)
  focal_px     the camera's focal length in pixels (default: EXIF, else estimated)
  albedo_resolution, detail_resolution   texture sizes (default 1024)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from . import JobContext, JobInputError, JobOutput, MissingDependencyError


def _number(params: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise JobInputError(f"{key} {value!r} is not a number") from None
    if not (math.isfinite(x) and low <= x <= high):
        raise JobInputError(f"{key} {x:g} is outside {low:g}..{high:g}")
    return x


def head_from_photo(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    from ..heads.default import load_default_head
    from ..heads.model import HeadFileError
    from ..photo.image import PhotoError
    from ..photo.photometric import PhotometricSettings
    from ..photo.pipeline import PhotoSettings, check_out_dir, reconstruct, write_result

    image = str(params.get("image") or "")
    out_dir = str(params.get("out_dir") or "")
    if not image:
        raise JobInputError("no photo was given")
    if not out_dir:
        raise JobInputError("no output folder was given")
    age = _number(params, "age", 1.0, 110.0)
    focal = _number(params, "focal_px", 10.0, 1e6)
    sizes = {}
    for key in ("albedo_resolution", "detail_resolution"):
        value = _number(params, key, 128, 4096)
        sizes[key] = int(value) if value is not None else 1024
    settings = PhotoSettings(
        albedo_resolution=sizes["albedo_resolution"],
        detail_resolution=sizes["detail_resolution"],
        detail=str(params.get("detail") or "auto"),
        age=age,
        estimate_age=bool(params.get("estimate_age", False)),
        focal_px=focal,
        photometric=PhotometricSettings() if params.get("photometric", True) else None,
    )
    try:
        head = load_default_head()
    except HeadFileError as exc:
        raise MissingDependencyError(str(exc)) from None
    try:
        check_out_dir(Path(out_dir))  # before a minute of work, not after
        result = reconstruct(head, Path(image), settings, progress=lambda f, m: ctx.progress(0.9 * f, m))
        ctx.progress(0.92, "writing the head")
        files = write_result(head, result, Path(out_dir))
    except PhotoError as exc:
        raise JobInputError(str(exc)) from None
    for note in result.notes:
        ctx.warn(note)
    ctx.progress(1.0, "done")
    fit = result.fit
    yaw, pitch, roll = fit.camera.head_angles()
    return JobOutput(
        files=files,
        data={
            "out_dir": out_dir,
            "identity": [float(v) for v in fit.identity],
            "expression": [float(v) for v in fit.expression],
            "camera": fit.camera.as_dict(),
            "angles": [yaw, pitch, roll],
            "landmark_error_px": fit.landmark_error_px,
            "detail_path": result.detail_path,
            "detail_reason": result.detail_reason,
            "age": result.age,
            "age_source": result.age_source,
            "quality": result.quality.as_dict(),
            "seconds": result.seconds,
        },
    )


def prewarm() -> None:
    """What the first photo would load: MediaPipe, torch's optimiser machinery, the default head
    and its skin layouts (``furrow.photo.pipeline.warm_up``)."""
    from ..photo.pipeline import warm_up

    warm_up()
