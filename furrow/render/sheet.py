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
