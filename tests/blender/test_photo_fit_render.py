"""Fitting recovers known parameters from synthetic photos: the default head rendered by Blender
(Workbench, coloured skin, lips and brows; scripts/photo_synth.py), found by the real MediaPipe
detector, fitted by furrow.photo.fit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from furrow.heads.arkit import ARKIT_INDEX  # noqa: E402
from furrow.heads.default import load_default_head  # noqa: E402
from furrow.heads.identity import random_identity  # noqa: E402
from furrow.photo import detect_landmarks, load_photo  # noqa: E402
from furrow.photo.fit import LandmarkModel, fit_landmarks  # noqa: E402


def test_fit_recovers_a_rendered_face(tmp_path: Path) -> None:
    from photo_synth import SynthRenderer, View

    head = load_default_head()
    model = LandmarkModel(head)
    assert model.calibrated  # the shipped calibration matches the default head
    renderer = SynthRenderer(head)
    rng = np.random.default_rng(11)
    cases = [
        ({}, 0.0, 0.0),
        ({"jawOpen": 0.45, "mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}, 20.0, 5.0),
        ({"eyeBlinkLeft": 0.7, "eyeBlinkRight": 0.7}, -15.0, -5.0),
    ]
    found = []
    for i, (shapes, yaw, pitch) in enumerate(cases):
        expr = np.zeros(52)
        for name, value in shapes.items():
            expr[ARKIT_INDEX[name]] = value
        ident = random_identity(head, rng).astype(np.float64)
        view = View(identity=ident, expression=expr, yaw=yaw, pitch=pitch, focal_px=1300.0, distance=0.7)
        cam = renderer.render(view, tmp_path / f"view{i}.png")
        lm = detect_landmarks(load_photo(tmp_path / f"view{i}.png"))
        fit = fit_landmarks(head, lm, focal_px=1300.0, model=model)
        # Yaw and roll within 4 degrees; pitch within 6: it trades against the face's depth profile.
        assert np.allclose(fit.camera.head_angles(), cam.head_angles(), atol=[4.0, 6.0, 4.0]), i
        assert fit.landmark_error < 0.01 and not fit.notes
        found.append(fit.expression)
    e = {name: np.array([f[ARKIT_INDEX[name]] for f in found]) for name in ARKIT_INDEX}
    # The open, smiling mouth reads as open and smiling; the closed eyes as closed (a blink and a
    # squint both close the lids); the neutral face has neither.
    assert abs(e["jawOpen"][1] - 0.45) < 0.15 and e["jawOpen"][[0, 2]].max() < 0.15
    smile = e["mouthSmileLeft"] + e["mouthSmileRight"]
    assert smile[1] > 0.5 and smile[1] > smile[0] + 0.2
    closed = e["eyeBlinkLeft"] + e["eyeBlinkRight"] + e["eyeSquintLeft"] + e["eyeSquintRight"]
    assert closed[2] > 1.2 and closed[2] > closed[0] + 0.8 and closed[0] < 0.6


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
