"""The image-quality estimate separates a sharp portrait from blurred, compressed, noisy and tiny ones."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from furrow.photo import detect_landmarks, load_photo
from furrow.photo.quality import estimate_quality
from furrow.photo.samples import sample_photo


def test_quality_separates_sharp_from_degraded() -> None:
    base = Image.open(sample_photo("grace_hopper")).convert("RGB")
    jpeg = io.BytesIO()
    base.save(jpeg, "JPEG", quality=10)
    pixels = np.asarray(base).astype(np.float64)
    noisy = np.clip(pixels + np.random.default_rng(0).normal(0.0, 10.0, pixels.shape), 0, 255)
    cases = {
        "clean": (base, None),
        "blurred": (base.filter(ImageFilter.GaussianBlur(2)), "blurred"),
        "jpeg q10": (Image.open(io.BytesIO(jpeg.getvalue())), "JPEG"),
        "noise 10/255": (Image.fromarray(noisy.astype(np.uint8)), "noisy"),
        "face 64 px": (base.resize((171, 200), Image.Resampling.LANCZOS), "small"),
    }
    for name, (image, reason) in cases.items():
        photo = load_photo(np.asarray(image))
        q = estimate_quality(photo, detect_landmarks(photo))
        if reason is None:
            assert q.sharp and not q.reasons, (name, q)
        else:
            assert not q.sharp and any(reason in r for r in q.reasons), (name, q)
