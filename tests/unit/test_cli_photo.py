"""``python -m furrow photo`` as a user runs it (a real subprocess, the real detector and models)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from furrow.heads.default import load_default_head
from furrow.photo.samples import sample_photo

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "furrow", "-q", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _obj_vertices(path: Path) -> np.ndarray:
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.array(rows, dtype=np.float64)


def test_photo_writes_a_fitted_textured_head(tmp_path: Path) -> None:
    photo = sample_photo("grace_hopper")
    out = tmp_path / "hopper"
    run = _run(
        "photo", str(photo), "--out", str(out), "--albedo-res", "512", "--detail-res", "256", "--estimate-age"
    )
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "head.obj" in run.stdout and "age 40, default: " in run.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "albedo.png", "displacement.png", "head.mtl", "head.obj", "params.json",
    ]  # fmt: skip
    params = json.loads((out / "params.json").read_text())
    head = load_default_head()
    assert params["format"] == "furrow-photo" and params["image_size"] == [512, 600]
    assert len(params["identity"]) == len(head.identity_names) and len(params["expression"]) == 52
    assert all(0.0 <= v <= 1.0 for v in params["expression"].values())
    lm68 = np.array(params["landmarks68"])
    assert lm68.shape == (68, 2)
    # Grace Hopper's face: the eyes' outer corners about 110 px apart, above the nose tip.
    assert 80 < lm68[45, 0] - lm68[36, 0] < 150 and lm68[[36, 45], 1].max() < lm68[30, 1]
    assert params["landmark_error_px"] < 2.0
    assert 10.0 < params["camera"]["fov_degrees"] < 60.0
    assert params["quality"]["sharp"] is True
    # Sharp, but her fine shading is not the model's relief: the automatic path keeps the model's map.
    assert params["detail"]["path"] == "model" and "evidence" in params["detail"]["reason"]
    # No --age; --estimate-age reads none from her shading (not the model's relief), so 40 stays.
    assert params["detail"]["age"] == 40.0
    assert params["detail"]["age_source"].startswith("default: the photo's fine shading is best explained")

    # The OBJ is her head: same topology as the default head, a different shape.
    verts = _obj_vertices(out / "head.obj")
    assert verts.shape == (head.n_vertices, 3)
    assert "map_Kd albedo.png" in (out / "head.mtl").read_text()

    # The albedo: skin-toned (red > green > blue), varied where the photo was seen, smooth elsewhere.
    albedo = np.asarray(Image.open(out / "albedo.png").convert("RGB")).astype(np.float64)
    assert albedo.shape == (512, 512, 3)
    face = albedo[90:300, 130:380]  # the front of the face in the head's UV layout
    r, g, b = face.reshape(-1, 3).mean(axis=0)
    assert r > g > b
    assert face.std(axis=(0, 1)).mean() > 10.0
    disp = Image.open(out / "displacement.png")
    assert disp.size == (256, 256) and disp.mode.startswith("I")


def test_bad_photos_fail_cleanly_and_keep_other_files(tmp_path: Path) -> None:
    text = tmp_path / "letter.jpg"
    text.write_text("Dear Sir,\n")
    run = _run("photo", str(text), "--out", str(tmp_path / "a"))
    assert run.returncode == 2 and "letter.jpg" in run.stderr and "not an image" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "a").exists()

    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(wall)
    run = _run("photo", str(wall), "--out", str(tmp_path / "b"))
    assert run.returncode == 2 and "no face found" in run.stderr and not (tmp_path / "b").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    run = _run("photo", str(sample_photo("grace_hopper")), "--out", str(mine), "--albedo-res", "256",
               "--detail-res", "256")  # fmt: skip
    assert run.returncode == 2 and "other files" in run.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written folder left
