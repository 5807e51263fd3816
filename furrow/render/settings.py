"""What a clip render is asked to do: the contract between the CLI, the runner and the operator."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

ASPECTS = ("square", "portrait")
"""square: 1:1; portrait: 4:5 (width:height), the social-media portrait frame."""
QUALITIES = ("final", "preview")
"""final: path-traced (random-walk) skin, OpenImageDenoise at its best, Subdivision at render level.
preview: ~2-3x faster per frame for drafts and the demo on a CPU: Burley (diffusion) skin instead of
random walk, the fast OIDN filter without prefiltering, Subdivision capped at level 1 for the render.
Still skin under a soft light, not plastic; the scene is put back afterwards."""


@dataclass(frozen=True)
class RenderSettings:
    """How frames look and how many there are. ``resolution`` is the width in pixels."""

    resolution: int = 512
    aspect: str = "square"
    samples: int = 32
    denoise: bool = True
    fps: float = 25.0
    seconds: Optional[float] = None  # render at most this much from the start; None: the whole range
    quality: str = "final"  # one of QUALITIES

    def problem(self) -> str:
        """Why these settings cannot render ('' when they can); one line."""
        if not 16 <= self.resolution <= 8192:
            return f"resolution {self.resolution}: give 16 to 8192 pixels"
        if self.aspect not in ASPECTS:
            return f"aspect {self.aspect!r}: use one of {', '.join(ASPECTS)}"
        if not 1 <= self.samples <= 65536:
            return f"samples {self.samples}: give 1 or more"
        if not (math.isfinite(self.fps) and 0 < self.fps <= 1000):
            return f"fps {self.fps:g}: give a frame rate above 0 (24, 25, 29.97, 30 ...)"
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            return f"seconds {self.seconds:g}: give a duration above 0"
        if self.quality not in QUALITIES:
            return f"quality {self.quality!r}: use one of {', '.join(QUALITIES)}"
        return ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, both even: H.264 in yuv420p needs even sizes."""
        width = self.resolution - self.resolution % 2
        height = width if self.aspect == "square" else round(width * 5 / 4)
        return width, height - height % 2


DETAIL_RESOLUTIONS = (256, 512, 1024, 2048)
"""Sizes of a detail bake's maps (Bake Details' choices): 512 shows wrinkles and folds at clip sizes."""


@dataclass(frozen=True)
class RenderRequest:
    """A whole headless job: audio in, MP4 out (the CLI hands this to the bpy-side runner as JSON).

    ``details``: bake wrinkles and pores for the animation before rendering (``detail_identity``:
    the skin's controls by name, e.g. {"age": 60, "seed": 3}; missing ones keep their defaults).
    ``photo``: the head is fitted to this photo (Head from Photo) rather than the default head."""

    audio: str
    out: str
    transcript: Optional[str] = None
    curves_out: Optional[str] = None  # also write the ARKit curves the head was animated with
    seed: int = 0
    settings: RenderSettings = field(default_factory=RenderSettings)
    details: bool = True
    detail_resolution: int = 512
    detail_identity: dict[str, Any] = field(default_factory=dict)
    photo: Optional[str] = None  # Head from Photo instead of the default head

    def problem(self) -> str:
        """Why this request cannot run ('' when it can); one line. The settings check themselves."""
        if self.detail_resolution not in DETAIL_RESOLUTIONS:
            sizes = ", ".join(map(str, DETAIL_RESOLUTIONS))
            return f"detail resolution {self.detail_resolution}: use one of {sizes}"
        return self.settings.problem()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RenderRequest:
        data: dict[str, Any] = json.loads(text)
        settings = RenderSettings(**data.pop("settings", {}))
        return cls(settings=settings, **data)

    @property
    def out_path(self) -> Path:
        return Path(self.out)
