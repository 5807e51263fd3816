"""Photo -> detailed head: landmarks, fit, albedo, detail, written into one output folder.

The folder holds ``head.obj`` (+ ``head.mtl``, the fitted identity and the photo's expression),
``albedo.png`` (sRGB, the skin's UV texture), ``displacement.png`` (16-bit, the person's fine
detail in the neutral pose, ``DEFAULT_SCALE_MM`` range) and ``params.json`` (identity, expression,
camera, 68 landmarks in the photo's pixels, the image quality and the detail path taken). It is
written into a temporary sibling folder and renamed into place when complete, and only ever
replaces an earlier photo result, never other files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..heads.arkit import ARKIT_NAMES
from ..heads.model import HeadModel
from .adam import Adam
from .fit import FitResult, FitSettings, LandmarkModel, fit_landmarks
from .image import Photo, PhotoError, load_photo
from .landmarks import FaceLandmarks, detect_landmarks
from .photometric import ROUND_ALBEDO_PX, PhotometricSettings, refine_photometric
from .quality import ImageQuality, estimate_quality
from .texture import ALBEDO_RESOLUTION, Albedo, project_albedo

FORMAT = "furrow-photo"
VERSION = 1
PARAMS_JSON = "params.json"
DETAIL_PATHS = ("auto", "image", "model")
DEFAULT_AGE = 40.0  # years: the detail model's age when the artist gives none

Progress = Callable[[float, str], None]


@dataclass
class PhotoSettings:
    albedo_resolution: int = ALBEDO_RESOLUTION
    detail_resolution: int = 1024
    detail: str = "auto"  # auto | image | model
    age: float | None = None  # None: DEFAULT_AGE; with estimate_age, where the photo gives none
    # Off by default: it reads an age from few sharp photos and gains 1-3% of the detail error
    # where it does (docs/PHOTO.md); `--estimate-age`, Blender's "Age from Photo" and
    # scripts/eval_photo turn it on.
    estimate_age: bool = False
    focal_px: float | None = None  # overrides EXIF
    fit: FitSettings = field(default_factory=FitSettings)
    photometric: PhotometricSettings | None = field(
        default_factory=PhotometricSettings
    )  # None: landmarks only


@dataclass
class PhotoResult:
    photo: Photo
    landmarks: FaceLandmarks
    fit: FitResult
    albedo: Albedo
    quality: ImageQuality
    detail_path: str
    detail_reason: str
    age: float  # the detail model's age: the artist's, the photo's estimate or DEFAULT_AGE
    age_source: str  # how that age was chosen (in params.json)
    displacement_mm: npt.NDArray[np.float32]  # (R, R)
    notes: list[str]
    seconds: dict[str, float]


def _check_detail_choice(detail: str) -> None:
    if detail not in DETAIL_PATHS:
        raise PhotoError(f"unknown detail path {detail!r}; use one of {', '.join(DETAIL_PATHS)}")
    if detail == "image":
        from ..details.detailed3dmm import weights_available

        if not weights_available():
            raise PhotoError(
                "detail from the image needs the trained detail model (furrow/weights/details_v2.pt); "
                "use detail 'model'"
            )


def _detail_path(settings: PhotoSettings, quality: ImageQuality) -> tuple[str, str]:
    """Which detail path runs, and why (the artist's override wins)."""
    _check_detail_choice(settings.detail)
    if settings.detail != "auto":
        return settings.detail, "chosen by the user"
    if not quality.sharp:
        return "model", "the photo is degraded (" + "; ".join(quality.reasons) + "): Detailed3DMM"
    from ..details.detailed3dmm import weights_available

    if not weights_available():
        return "model", "the photo is sharp, but there is no trained detail model to read it with"
    return "image", "the photo is sharp: shape from shading in the DNPM latent"


def _detail_age(
    head: HeadModel, fit: FitResult, photo: Photo, albedo: Albedo, landmarks: FaceLandmarks,
    settings: PhotoSettings, quality: ImageQuality,
) -> tuple[float, str, bool]:  # fmt: skip
    """The detail model's age, how it was chosen, and whether the photo gave it. With
    ``estimate_age`` a sharp photo's fine shading picks one (``detail.estimate_age``) and the
    artist's age is the fallback; without it, the artist's age; else ``DEFAULT_AGE``. A degraded
    photo has no fine shading to go on."""
    if settings.age is not None:
        fallback, source = float(settings.age), "given"
    else:
        fallback, source = DEFAULT_AGE, "default"
    if not settings.estimate_age:
        return fallback, source, False
    if not quality.sharp:
        return fallback, f"{source}: the photo is too degraded to estimate an age from", False
    from ..details.detailed3dmm import weights_available

    if not weights_available():
        return fallback, f"{source}: no trained detail model to estimate an age with", False
    from .detail import estimate_age

    try:
        estimate = estimate_age(head, fit, photo, albedo, landmarks)
    except PhotoError as exc:
        return fallback, f"{source}: {exc}", False
    low, high = min(estimate.errors), max(estimate.errors)
    if not estimate.decisive:
        return (
            fallback,
            (
                f"{source}: the photo's fine shading is best explained by the least relief the detail model "
                f"makes (age {low:.0f}): young skin, or shading that is not relief, so no age is read from it"
            ),
            False,
        )
    return (
        estimate.age,
        (
            f"estimated from the photo's fine shading (the detail model's map at ages {low:.0f}-{high:.0f} "
            f"that explains it best, over {estimate.texels} texels)"
        ),
        True,
    )


def _image_detail(
    head: HeadModel, fit: FitResult, photo: Photo, albedo: Albedo, landmarks: FaceLandmarks, age: float,
    settings: PhotoSettings, reason: str, progress: Progress,
) -> tuple[str, str, npt.NDArray[np.float32], list[str]]:  # fmt: skip
    """Detail from the photo; the automatic choice keeps the model's map where the photo's fine
    shading is not skin relief, and says so."""
    from .detail import MIN_EVIDENCE, detail_from_image

    auto = settings.detail == "auto"
    result = detail_from_image(
        head, fit, photo, albedo, landmarks, settings.detail_resolution, age=age,
        min_evidence=MIN_EVIDENCE if auto else None, progress=progress,
    )  # fmt: skip
    if not result.fitted:
        reason = (
            f"the photo is sharp, but its fine shading is not explained by skin relief "
            f"(evidence {result.evidence:.2f} < {MIN_EVIDENCE:.2f}): Detailed3DMM"
        )
        return "model", reason, result.displacement_mm, []
    return "image", f"{reason} (evidence {result.evidence:.2f})", result.displacement_mm, result.notes


def _model_detail(age: float, resolution: int) -> npt.NDArray[np.float32]:
    """The person's detail in the neutral pose from the trained Detailed3DMM (procedural if absent)."""
    import torch

    from ..details import DetailIdentity
    from ..details.detailed3dmm import Detailed3DMMSource, weights_available

    identity = DetailIdentity(age=age)
    if weights_available():
        source: Any = Detailed3DMMSource()
    else:  # a checkout without trained weights still gets skin detail
        from ..details.bake import ProceduralSource
        from ..heads.default import load_default_head

        source = ProceduralSource(load_default_head())
    if isinstance(source, Detailed3DMMSource):
        source.prepare(identity, resolution, expressions=False)  # neutral: skin only above its band
    else:
        source.prepare(identity, resolution)
    maps = source.frames(torch.zeros(1, len(ARKIT_NAMES)))
    out: npt.NDArray[np.float32] = maps[0].float().numpy()
    return out


def warm_up(head: HeadModel | None = None, detail_resolution: int = PhotoSettings.detail_resolution) -> None:
    """Load what the first photo of a session would (MediaPipe, scipy's solvers, the head, its skin
    layouts from disk, torch's first backward pass, then the detail model's skin at
    ``detail_resolution``, from disk or built the first time on a machine): ~2 s, plus ~3 s that
    first time, that a worker can spend while the artist picks the photo. A photo that arrives
    sooner waits for a half-built skin bank rather than building another."""
    import importlib

    import torch

    from ..heads.default import load_default_head
    from .texture import eye_zone, skin_layout

    for name in ("mediapipe.python.solutions.face_mesh", "scipy.optimize", "scipy.ndimage"):
        importlib.import_module(name)
    head = head or load_default_head()
    for size in (ROUND_ALBEDO_PX, ALBEDO_RESOLUTION):
        eye_zone(head, skin_layout(head, size))
    # torch's first backward pass and optimiser step (its engine and kernels start up).
    p = torch.zeros(64, requires_grad=True)
    opt = Adam([p], lr=0.1)
    (p * p).sum().backward()  # type: ignore[no-untyped-call]
    opt.step()
    _model_detail(DEFAULT_AGE, detail_resolution)  # the skin fields and noise, shared by every age


def reconstruct(
    head: HeadModel,
    image: str | Path | bytes | npt.NDArray[np.uint8],
    settings: PhotoSettings | None = None,
    progress: Progress | None = None,
) -> PhotoResult:
    """Run every step on one photo; ``progress(fraction, message)`` may raise to cancel."""
    s = settings or PhotoSettings()
    _check_detail_choice(s.detail)  # a bad choice fails before the work
    report = progress or (lambda f, m: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    report(0.0, "reading the photo")
    photo = load_photo(image)
    report(0.05, "finding the face")
    landmarks = detect_landmarks(photo)
    seconds["landmarks"] = time.perf_counter() - t0
    report(0.15, "fitting the head")
    t = time.perf_counter()
    focal = s.focal_px if s.focal_px is not None else photo.focal_px
    model = LandmarkModel(head)
    fit = fit_landmarks(head, landmarks, focal_px=focal, settings=s.fit, model=model)
    seconds["fit"] = time.perf_counter() - t
    model_notes: list[str] = []
    if s.photometric is not None and s.photometric.rounds > 0:
        report(0.35, "refining the head against the photo's shading")
        t = time.perf_counter()
        start = project_albedo(head, fit, photo, landmarks, resolution=ROUND_ALBEDO_PX)
        refined = refine_photometric(
            head, fit, photo, landmarks, start, s.photometric, model=model, fit_settings=s.fit,
            albedo_resolution=s.albedo_resolution,
            progress=lambda f, m: report(0.35 + 0.35 * f, m),
        )  # fmt: skip
        fit, albedo = refined.fit, refined.albedo
        model_notes = refined.notes
        seconds["photometric"] = time.perf_counter() - t
    else:
        report(0.45, "projecting the albedo")
        t = time.perf_counter()
        albedo = project_albedo(head, fit, photo, landmarks, resolution=s.albedo_resolution)
        seconds["albedo"] = time.perf_counter() - t
    report(0.7, "estimating detail")
    t = time.perf_counter()
    quality = estimate_quality(photo, landmarks)
    path, reason = _detail_path(s, quality)
    age, age_source, estimated = _detail_age(head, fit, photo, albedo, landmarks, s, quality)
    if estimated:
        report(0.72, f"estimated age {age:.0f}")
    detail_notes: list[str] = []
    if path == "image":
        path, reason, displacement, detail_notes = _image_detail(
            head, fit, photo, albedo, landmarks, age, s, reason, lambda f, m: report(0.7 + 0.28 * f, m)
        )
    else:
        displacement = _model_detail(age, s.detail_resolution)
    seconds["detail"] = time.perf_counter() - t
    notes = [*photo.notes, *landmarks.notes, *fit.notes, *model_notes, *albedo.notes, *detail_notes]
    if focal is None:
        notes.append(f"no focal length in the file: estimated {fit.camera.fov_degrees:.0f} degrees of view")
    seconds["total"] = time.perf_counter() - t0
    return PhotoResult(
        photo=photo,
        landmarks=landmarks,
        fit=fit,
        albedo=albedo,
        quality=quality,
        detail_path=path,
        detail_reason=reason,
        age=age,
        age_source=age_source,
        displacement_mm=displacement,
        notes=list(dict.fromkeys(notes)),
        seconds=seconds,
    )


def params_dict(head: HeadModel, r: PhotoResult) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": r.photo.source,
        "image_size": list(r.photo.size),
        "head": head.name,
        "identity": {n: float(v) for n, v in zip(head.identity_names, r.fit.identity, strict=True)},
        "expression": {n: float(v) for n, v in zip(ARKIT_NAMES, r.fit.expression, strict=True)},
        "camera": r.fit.camera.as_dict(),
        "landmarks68": np.round(r.landmarks.ibug68(), 2).tolist(),
        "landmarks68_note": "pixels of the upright photo (EXIF orientation applied), x right, y down",
        "landmark_error_px": r.fit.landmark_error_px,
        "faces_found": r.landmarks.faces_found,
        "quality": r.quality.as_dict(),
        "detail": {
            "path": r.detail_path,
            "reason": r.detail_reason,
            "age": r.age,
            "age_source": r.age_source,
        },
        "albedo": {
            "resolution": int(r.albedo.image.shape[0]),
            "seen_fraction": r.albedo.seen_fraction,
        },
        "notes": r.notes,
        "seconds": r.seconds,
    }


def check_out_dir(out_dir: Path) -> None:
    """Refuse to replace anything but an earlier photo result (or an empty folder)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PhotoError(f"{out_dir} is a file; give a folder for the results")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        marker = out_dir / PARAMS_JSON
        try:
            ours = json.loads(marker.read_text()).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise PhotoError(
                f"{out_dir} already holds other files; give a new folder "
                "(Furrow only replaces its own results)"
            )


def write_result(head: HeadModel, r: PhotoResult, out_dir: Path) -> list[Path]:
    """Write the result folder atomically (a sibling temp folder renamed into place)."""
    from PIL import Image

    from ..details.png import DEFAULT_SCALE_MM, save_displacement_png
    from ..io.obj import write_obj

    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would outlive the rename
    except OSError as exc:
        raise PhotoError(f"cannot write into {out_dir.parent}: {exc.strerror or exc}") from exc
    try:
        Image.fromarray(r.albedo.srgb8()).save(tmp / "albedo.png", optimize=False, compress_level=4)
        save_displacement_png(tmp / "displacement.png", r.displacement_mm, DEFAULT_SCALE_MM)
        write_obj(
            head, tmp / "head.obj", identity=r.fit.identity, expression=r.fit.expression,
            albedo=tmp / "albedo.png", normals=True,
        )  # fmt: skip
        params = params_dict(head, r)
        params["displacement"] = {
            "file": "displacement.png",
            "resolution": int(r.displacement_mm.shape[0]),
            "scale_mm": DEFAULT_SCALE_MM,
            "note": "16-bit grey; height = (value / 65535 - 0.5) * scale_mm, neutral pose",
        }
        (tmp / PARAMS_JSON).write_text(json.dumps(params, indent=1))
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}-old-{time.time_ns()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PhotoError(f"cannot write the results into {out_dir}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out_dir.iterdir())
