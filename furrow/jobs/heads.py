"""Jobs about heads: make a HeadModel file the add-on can load with numpy alone.

The default head is built at setup and ships inside the extension, so it only
has to be found. FLAME and FaceScape heads are built from the user's model file
(registration + deformation transfer of the ARKit shapes: seconds to a minute),
so the result is cached by the file's content hash and reused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..heads.model import FORMAT_VERSION, HeadFileError
from . import JobContext, JobInputError, JobOutput, MissingDependencyError

SOURCES = ("default", "flame", "facescape")
LABELS = {"flame": "FLAME", "facescape": "FaceScape"}


def _files_hash(paths: list[Path]) -> str:
    """Content hash of the model file and the companion files that change what is built from it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode("utf-8"))
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def prepare_head(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    """params: source (default|flame|facescape), path (the model file), cache_dir."""
    source = str(params.get("source", "default"))
    if source not in SOURCES:
        raise JobInputError(f"unknown head source {source!r}; use one of {', '.join(SOURCES)}")
    from ..heads.default import default_head_path

    default_path = default_head_path()
    if not default_path.is_file():
        raise MissingDependencyError(
            f"the default head is not built ({default_path}); run ./scripts/setup in the Furrow checkout "
            "or reinstall the extension"
        )
    if source == "default":
        return JobOutput(data={"head": str(default_path), "source": source})

    label = LABELS[source]
    path = Path(str(params.get("path", ""))).expanduser()
    if not str(params.get("path", "")):
        raise JobInputError(f"no {label} model file is set; choose it in Furrow's preferences")
    if not path.is_file():
        raise JobInputError(f"{label} model file not found: {path}; fix the path in Furrow's preferences")
    cache_dir = Path(str(params.get("cache_dir") or ctx.job_dir.parent.parent)) / "heads"
    ctx.progress(0.02, f"Reading {path.name}")
    inputs = [path]
    if source == "flame":
        from ..heads.flame import companion_files

        inputs += companion_files(path)
    cached = cache_dir / f"{source}-{_files_hash(inputs)}-v{FORMAT_VERSION}.npz"
    if cached.is_file():
        return JobOutput(data={"head": str(cached), "source": source, "cached": True})

    from ..heads.default import load_default_head

    ctx.progress(0.05, "Loading the default head (source of the ARKit shapes)")
    default = load_default_head()
    ctx.progress(0.1, f"Fitting the default head to {label} and transferring 52 ARKit shapes")

    def progress(fraction: float, message: str) -> None:  # the builders report 0..1 of their own work
        ctx.progress(0.1 + 0.85 * fraction, message)

    try:
        if source == "flame":
            from ..heads.flame import flame_head_model

            model = flame_head_model(path, default_head=default, progress=progress)
        else:
            from ..heads.facescape import facescape_head_model

            model = facescape_head_model(path, default_head=default, progress=progress)
    except HeadFileError as exc:
        raise JobInputError(str(exc)) from exc
    ctx.progress(0.95, "Saving")
    model.save(cached)
    return JobOutput(data={"head": str(cached), "source": source, "cached": False})
