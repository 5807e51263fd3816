"""Baking: per-frame ARKit weights -> a folder of 16-bit displacement PNGs plus ``bake.json``.

A bake streams: frames are computed in batches by a ``DetailSource`` and encoded
and written on worker threads (zlib releases the GIL) while the next batch is
computed, with a bounded number of batches in flight, so a 10-minute bake needs
no more memory than a few seconds of one. Frames go to a hidden staging folder
beside the target; only a finished bake replaces the target folder, so a
cancelled or failed bake (disk full, unwritable folder) leaves the previous bake
as it was and no partial frames behind. A target folder that holds anything but
a Furrow bake is never replaced.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

from .. import __version__
from ..heads.arkit import ARKIT_NAMES
from .png import DEFAULT_SCALE_MM, encode_displacement, png16_bytes
from .procedural import DetailIdentity

BAKE_JSON = "bake.json"
BAKE_FORMAT = 1
FRAME_PATTERN = "disp_{:05d}.png"  # numbered from 1, as Blender's image sequences count
RESOLUTIONS = (128, 256, 512, 1024, 2048)

Progress = Callable[[float, str], None]


class BakeError(Exception):
    """A bake that cannot be written (folder, disk, input); the message says what to do."""


class DetailSource(Protocol):
    """What computes displacement (mm) for one person over a batch of expressions."""

    name: str
    version: str

    def prepare(self, identity: DetailIdentity, resolution: int) -> None:
        """Do the per-person work once (it is the same on every frame of a bake)."""

    def frames(self, weights: torch.Tensor) -> torch.Tensor:
        """(B, 52) ARKit weights -> (B, R, R) heights in mm for the prepared person."""


@dataclass
class BakeInfo:
    """The contents of ``bake.json``: how to read the frames and where they came from."""

    resolution: int
    scale_mm: float
    fps: float
    frame_start: int  # the scene frame that shows disp_00001.png
    frame_count: int
    static: bool  # one pose, not an animation
    identity: dict[str, Any]
    model: dict[str, str]
    pattern: str = "disp_#####.png"
    mid_level: float = 0.5
    format: int = BAKE_FORMAT
    furrow: str = __version__
    seconds: float = 0.0
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def frame_path(self, folder: Path, index: int) -> Path:
        """The file of frame ``index`` (0-based within the bake)."""
        return Path(folder) / FRAME_PATTERN.format(index + 1)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, folder: Path) -> BakeInfo:
        path = Path(folder) / BAKE_JSON
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (OSError, ValueError, TypeError) as exc:
            raise BakeError(f"{path} is not a readable Furrow bake: {exc}") from exc


class ProceduralSource:
    """The procedural corpus as a detail source (the ground truth the neural model learns)."""

    name = "procedural"
    version = "1"

    def __init__(self, head: Any) -> None:
        self.head = head
        self._details: Any = None
        self._identity = DetailIdentity()
        self._static: torch.Tensor | None = None

    def prepare(self, identity: DetailIdentity, resolution: int) -> None:
        from .procedural import ProceduralDetails

        if self._details is None or self._details.resolution != resolution:
            self._details = ProceduralDetails(self.head, resolution)
        self._identity = identity
        self._static = self._details.identity_maps([identity])[0]

    def frames(self, weights: torch.Tensor) -> torch.Tensor:
        assert self._details is not None and self._static is not None, "prepare() first"
        ids = [self._identity] * int(weights.shape[0])
        out: torch.Tensor = self._details.expression_maps(weights, ids) + self._static
        return out


def is_bake_folder(folder: Path) -> bool:
    """True if ``folder`` holds a Furrow bake (so a re-bake may replace it)."""
    return (Path(folder) / BAKE_JSON).is_file()


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise BakeError(f"{out_dir} is a file; choose a folder for the bake")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_bake_folder(out_dir):
        raise BakeError(
            f"{out_dir} holds files that are not a Furrow bake; choose another bake name or folder "
            "(Furrow never deletes files it did not write)"
        )


def _friendly(exc: OSError, folder: Path) -> BakeError:
    if exc.errno == errno.ENOSPC:
        return BakeError(
            f"the disk is full while writing the bake into {folder}; free some space and bake again"
        )
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return BakeError(
            f"cannot write into {folder} (permission denied); save the .blend somewhere writable"
        )
    if exc.errno == errno.ENOENT:
        return BakeError(
            f"cannot write the bake into {folder}: the folder cannot be made there; choose another place"
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return BakeError(
            f"a file is in the way of the bake folder {folder}; rename it or choose another bake name"
        )
    return BakeError(f"cannot write the bake into {folder}: {exc.strerror or exc}")


def _write(path: Path, pixels: npt.NDArray[np.uint16], level: int) -> int:
    data = png16_bytes(pixels, level)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def bake(
    source: DetailSource,
    identity: DetailIdentity,
    weights: npt.ArrayLike,
    out_dir: Path,
    *,
    resolution: int = 512,
    fps: float = 25.0,
    frame_start: int = 1,
    static: bool = False,
    scale_mm: float = DEFAULT_SCALE_MM,
    batch: int = 16,
    writers: int = 2,
    level: int = 1,
    progress: Progress | None = None,
    extra: dict[str, Any] | None = None,
) -> BakeInfo:
    """Bake (T, 52) ``weights`` for ``identity`` into ``out_dir`` (replaced only when done).

    ``progress`` may raise (a cancel): the staging folder is removed and ``out_dir`` is untouched.
    """
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2 or w.shape[1] != len(ARKIT_NAMES) or w.shape[0] == 0:
        raise BakeError(f"a bake needs (frames, {len(ARKIT_NAMES)}) ARKit weights, not {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise BakeError("the ARKit weights hold NaN or infinite values")
    if resolution not in RESOLUTIONS:
        raise BakeError(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))}, not {resolution}")
    w = w.clamp(0.0, 1.0)
    out_dir = Path(out_dir)
    _check_target(out_dir)
    report = progress or (lambda fraction, message: None)
    t0 = time.perf_counter()
    # The per-person work first, before anything is written: a cancel (or a killed worker) during
    # it leaves nothing behind.
    report(0.0, f"Preparing {identity.age:.0f}-year-old skin at {resolution} px")
    source.prepare(identity, resolution)
    report(0.0, "Baking")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_stages(out_dir)
        stage = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(4)}"
        stage.mkdir()
    except OSError as exc:
        raise _friendly(exc, out_dir.parent) from exc

    n = int(w.shape[0])
    info = BakeInfo(
        resolution=resolution,
        scale_mm=float(scale_mm),
        fps=float(fps),
        frame_start=int(frame_start),
        frame_count=n,
        static=bool(static),
        identity=identity.as_dict(),
        model={"name": source.name, "version": source.version},
        extra=dict(extra or {}),
    )
    pending: deque[Future[int]] = deque()
    total = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, writers), thread_name_prefix="furrow-bake") as pool:
            for first in range(0, n, batch):
                maps = source.frames(w[first : first + batch])
                pixels = encode_displacement(maps.numpy(), scale_mm)
                for i in range(pixels.shape[0]):
                    pending.append(pool.submit(_write, info.frame_path(stage, first + i), pixels[i], level))
                while len(pending) > 2 * batch:  # bounded memory: at most ~3 batches in flight
                    total += pending.popleft().result()
                done = min(first + batch, n)
                report(0.98 * done / n, f"Baked frame {done} of {n}")
            while pending:
                total += pending.popleft().result()
        info.seconds = time.perf_counter() - t0
        info.bytes = total
        (stage / BAKE_JSON).write_text(json.dumps(info.to_json(), indent=2), encoding="utf-8")
        _swap_into_place(stage, out_dir)
    except OSError as exc:
        for f in pending:
            f.cancel()
        shutil.rmtree(stage, ignore_errors=True)
        raise _friendly(exc, out_dir) from exc
    except BaseException:
        for f in pending:
            f.cancel()
        shutil.rmtree(stage, ignore_errors=True)
        raise
    report(1.0, f"Baked {n} frame{'s' if n != 1 else ''} into {out_dir}")
    return info


STALE_SECONDS = 600.0


def _remove_stale_stages(out_dir: Path) -> None:
    """Staging folders of this bake left by a worker that was killed mid-bake (older than 10 min).

    Only hidden ``.<bake>.partial-*`` / ``.<bake>.old-*`` folders holding nothing but our frames
    and bake.json are removed: never anything a person put there."""
    now = time.time()
    for pattern in (f".{out_dir.name}.partial-*", f".{out_dir.name}.old-*"):
        for folder in out_dir.parent.glob(pattern):
            try:
                if not folder.is_dir() or now - folder.stat().st_mtime < STALE_SECONDS:
                    continue
                if all(
                    f.name == BAKE_JSON or (f.name.startswith("disp_") and f.suffix == ".png")
                    for f in folder.iterdir()
                ):
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def _swap_into_place(stage: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` (absent, empty, or an earlier bake) by ``stage``."""
    _check_target(out_dir)  # it may have changed while we baked
    old: Path | None = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(4)}"
        os.replace(out_dir, old)
    try:
        os.replace(stage, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
