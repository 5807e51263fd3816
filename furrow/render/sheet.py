"""A contact sheet: a few frames of a clip side by side in one PNG, for a look at a glance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..io.atomic import atomic_path


def contact_sheet(
    frames: Sequence[Path],
    out: Path,
    *,
    columns: int = 4,
    labels: Sequence[str] | None = None,
    gap: int = 4,
) -> Path:
    """Tile ``frames`` (same size PNGs) in rows of ``columns``, each captioned with its label."""
    from PIL import Image, ImageDraw

    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    images = [Image.open(p).convert("RGB") for p in frames]
    w, h = images[0].size
    cols = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / cols)
    sheet = Image.new("RGB", (cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap), (16, 16, 18))
    draw = ImageDraw.Draw(sheet)
    for i, img in enumerate(images):
        x = gap + (i % cols) * (w + gap)
        y = gap + (i // cols) * (h + gap)
        sheet.paste(img.resize((w, h)), (x, y))
        if labels is not None and i < len(labels):
            draw.text((x + 4, y + 4), labels[i], fill=(235, 235, 235))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out


def sheet_from_video(video: Path, out: Path, *, count: int = 8, columns: int = 4) -> Path:
    """A contact sheet of ``count`` frames spread evenly over a clip, each labelled with its time:
    a quick look at a render without opening a player."""
    import tempfile

    from PIL import Image

    from .probe import probe, read_frame

    (stream, *_) = probe(video).of_kind("video")
    n = max(1, stream.n_frames)
    fps = stream.fps or 25.0
    picks = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(min(count, n))})
    with tempfile.TemporaryDirectory(prefix="furrow-sheet-") as tmp:
        paths = []
        for i in picks:
            path = Path(tmp) / f"{i:05d}.png"
            Image.fromarray(read_frame(video, i, (stream.width, stream.height))).save(path)
            paths.append(path)
        labels = [f"{i / fps:.2f} s" for i in picks]
        return contact_sheet(paths, out, columns=columns, labels=labels)
