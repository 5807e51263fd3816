"""Jobs about fine detail: bake per-frame displacement maps for a head's animation.

params of ``bake_details``:
  out_dir      the bake folder (``//furrow/<object>/<bake>/`` resolved by the add-on); replaced only
               when the bake succeeds, and only if it is empty or an earlier Furrow bake
  curves       path to a curves JSON (the head's shape-key values per frame), or
  weights      one pose for a static bake: {ARKit name: weight} (missing names are 0)
  identity     {age, pore_size, pore_depth, roughness, wrinkle_depth, seed} (missing: defaults)
  resolution   128..2048 (default 512)
  frame_start  the scene frame of the first curves frame (default 1)
  head         a HeadModel file (default: the built-in head)
  model        "auto" (the trained Detailed3DMM on the default head, else procedural),
               "neural" or "procedural"
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import JobContext, JobInputError, JobOutput, MissingDependencyError

IDENTITY_FIELDS = ("age", "pore_size", "pore_depth", "roughness", "wrinkle_depth", "seed")
MODELS = ("auto", "neural", "procedural")


def parse_identity(raw: Any) -> Any:
    """A DetailIdentity from a dict or an ``age=60,seed=3`` string; bad values are JobInputErrors."""
    from ..details import DetailIdentity

    if raw is None or raw == "":
        return DetailIdentity()
    if isinstance(raw, str):
        pairs: dict[str, Any] = {}
        for part in raw.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise JobInputError(f"identity {raw!r}: write it as name=value pairs, e.g. age=60,seed=3")
            pairs[key.strip()] = value.strip()
        raw = pairs
    if not isinstance(raw, dict):
        raise JobInputError("identity must be a mapping of name -> value")
    unknown = sorted(set(raw) - set(IDENTITY_FIELDS))
    if unknown:
        raise JobInputError(f"unknown identity control {unknown[0]!r}; use {', '.join(IDENTITY_FIELDS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = int(value) if key == "seed" else float(value)
        except (TypeError, ValueError):
            raise JobInputError(f"identity {key}={value!r} is not a number") from None
        if key != "seed" and not math.isfinite(values[key]):
            raise JobInputError(f"identity {key} must be finite")
    if not 0.0 <= values.get("age", 35.0) <= 120.0:
        raise JobInputError(f"age {values['age']} is outside 0..120 years")
    for key in ("pore_size", "pore_depth", "roughness", "wrinkle_depth"):
        if not 0.0 <= values.get(key, 1.0) <= 4.0:
            raise JobInputError(f"{key} {values[key]} is outside 0..4")
    return DetailIdentity(**values)


def static_weights(raw: Any) -> npt.NDArray[np.float32]:
    """{name: weight} -> (1, 52)."""
    from ..details.procedural import arkit_weights

    if not isinstance(raw, dict):
        raise JobInputError("weights must be a mapping of ARKit name -> weight")
    try:
        row: npt.NDArray[np.float32] = arkit_weights(raw).numpy()
    except (TypeError, ValueError) as exc:
        raise JobInputError(str(exc)) from None
    return row


# Kept between jobs in the worker: building a source (the head's UV rasterisation, skin fields,
# wrinkle patterns) takes 5-12 s, a re-bake should not pay it again.
_SOURCES: dict[tuple[str, str], Any] = {}


def detail_source(head_path: str | None, model: str, ctx: JobContext | None = None) -> Any:
    """The detail source for a head: the trained model on the default head's UVs, else procedural."""
    from ..details.bake import ProceduralSource
    from ..heads.default import default_head_path
    from ..heads.model import HeadFileError, HeadModel

    if model not in MODELS:
        raise JobInputError(f"unknown detail model {model!r}; use one of {', '.join(MODELS)}")
    default = default_head_path()
    path = Path(head_path) if head_path else default
    is_default = path.resolve() == default.resolve()
    if model in ("auto", "neural"):
        from ..details.detailed3dmm import Detailed3DMMSource, weights_available

        if is_default and weights_available():
            key = ("detailed3dmm", str(default))
            if key not in _SOURCES:
                _SOURCES[key] = Detailed3DMMSource()
            return _SOURCES[key]
        if model == "neural":
            if not is_default:
                raise JobInputError("the trained detail model works on the built-in head's UV layout only")
            raise MissingDependencyError("the trained detail model is missing from furrow/weights/")
        if ctx is not None and not is_default:
            ctx.warn("this head has its own UV layout: details come from the procedural model")
    key = ("procedural", str(path.resolve()))
    if key not in _SOURCES:
        try:
            head = HeadModel.load(path)
        except HeadFileError as exc:
            raise JobInputError(str(exc)) from exc
        _SOURCES[key] = ProceduralSource(head)
    return _SOURCES[key]


def bake_details(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    from ..curves import Curves, CurvesFileError
    from ..details.bake import BakeError, bake

    out_dir = str(params.get("out_dir") or "")
    if not out_dir:
        raise JobInputError("no bake folder was given")
    identity = parse_identity(params.get("identity"))
    resolution = int(params.get("resolution", 512))
    fps, static = 25.0, False
    if params.get("curves"):
        try:
            curves = Curves.load_json(Path(str(params["curves"])))
        except (CurvesFileError, OSError) as exc:
            raise JobInputError(str(exc)) from exc
        weights, fps = curves.weights, curves.fps
    elif params.get("weights") is not None:
        weights, static = static_weights(params["weights"]), True
    else:
        raise JobInputError("a bake needs animation curves or a pose")
    source = detail_source(params.get("head"), str(params.get("model", "auto")), ctx)
    try:
        info = bake(
            source,
            identity,
            weights,
            Path(out_dir),
            resolution=resolution,
            fps=float(params.get("fps", fps)),
            frame_start=int(params.get("frame_start", 1)),
            static=static,
            progress=ctx.progress,
        )
    except BakeError as exc:
        raise JobInputError(str(exc)) from exc
    return JobOutput(files=[Path(out_dir) / "bake.json"], data=info.to_json())
