"""Jobs about speech: audio (+ transcript) -> curves.json in the job folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..curves import Curves
from . import JobContext, JobInputError, JobOutput


def animate_from_audio(params: dict[str, Any], ctx: JobContext) -> JobOutput:
    """params: audio (path), fps (float), transcript (text, optional), seed (int)."""
    from ..speech.audio import AudioError
    from ..speech.pipeline import audio_to_curves

    audio = Path(str(params.get("audio", "")))
    if not str(params.get("audio", "")):
        raise JobInputError("choose an audio file (wav, flac, ogg or mp3)")
    fps = float(params.get("fps", 25.0))
    try:
        curves: Curves = audio_to_curves(
            audio,
            fps,
            transcript=str(params.get("transcript") or "") or None,
            seed=int(params.get("seed", 0)),
            progress=ctx.progress,
        )
    except AudioError as exc:
        raise JobInputError(str(exc)) from exc
    out = ctx.job_dir / "curves.json"
    curves.save_json(out)
    return JobOutput(
        files=[out],
        data={"frames": curves.n_frames, "seconds": curves.duration, "fps": curves.fps},
        warnings=list(curves.notes),
    )
