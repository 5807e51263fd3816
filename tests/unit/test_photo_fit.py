"""Fitting the default head to landmarks: known camera, identity and expression are recovered."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import torch

from furrow.heads.arkit import ARKIT_INDEX
from furrow.heads.default import load_default_head
from furrow.heads.identity import random_identity
from furrow.heads.model import HeadModel
from furrow.photo.camera import HEAD_TO_CAMERA, Camera, rotation_matrix
from furrow.photo.fit import FitResult, LandmarkModel, fit_landmarks
from furrow.photo.landmarks import FaceLandmarks

F64 = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def head() -> HeadModel:
    return load_default_head()


@pytest.fixture(scope="module")
def model(head: HeadModel) -> LandmarkModel:
    return LandmarkModel(head)


def face_vertices(head: HeadModel) -> npt.NDArray[np.int64]:
    v = head.vertices
    skin = np.zeros(head.n_vertices, bool)
    skin[head.parts["skin"]] = True
    return np.flatnonzero(skin & (v[:, 1] < -0.03) & (v[:, 2] > -0.1))  # the front of the face


def rigid_error_mm(a: F64, b: F64) -> float:
    """Mean distance (mm) after the best rotation + translation of ``a`` onto ``b``."""
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = (u @ d @ vt).T
    return float(1000 * np.linalg.norm((a - ca) @ rot.T + cb - b, axis=1).mean())


def synthetic(
    model: LandmarkModel,
    ident: F64,
    expr: F64,
    rvec: F64,
    focal: float,
    noise_px: float,
    rng: np.random.Generator,
) -> tuple[FaceLandmarks, Camera]:
    pts = model(torch.from_numpy(ident.astype(np.float32)), torch.from_numpy(expr.astype(np.float32))).numpy()
    rot = rotation_matrix(torch.tensor(rvec, dtype=torch.float32)).numpy().astype(np.float64) @ HEAD_TO_CAMERA
    cam = Camera(640, 640, focal, rot, np.array([0.01, -0.005, focal / 640 * 0.32]))
    # Where the detector would put the points: the embedding plus the calibration's offsets.
    seen = pts.astype(np.float64) + model.offset(rot)
    uv = cam.project(seen) + rng.normal(0.0, noise_px, (478, 2))
    lm = FaceLandmarks(
        points=np.c_[uv, np.zeros(478)].astype(np.float32), image_size=(640, 640), faces_found=1
    )
    return lm, cam


def test_recovers_expression_pose_and_shape(head: HeadModel, model: LandmarkModel) -> None:
    rng = np.random.default_rng(5)
    face = face_vertices(head)
    fitted_err, mean_err, expr_err = [], [], []
    for trial in range(3):
        ident = random_identity(head, rng).astype(np.float64)
        expr = np.zeros(52)
        expr[ARKIT_INDEX["jawOpen"]] = 0.35
        expr[ARKIT_INDEX["mouthSmileLeft"]] = expr[ARKIT_INDEX["mouthSmileRight"]] = 0.6
        expr[ARKIT_INDEX["browInnerUp"]] = 0.5
        expr[ARKIT_INDEX["eyeBlinkLeft"]] = 0.5 * trial
        rvec = rng.normal(0.0, 0.15, 3)
        lm, cam = synthetic(model, ident, expr, rvec, 900.0, 1.0, rng)
        fit = fit_landmarks(head, lm, focal_px=900.0 if trial == 0 else None, model=model)
        assert isinstance(fit, FitResult)
        assert (
            fit.landmark_error < 0.008
        )  # 1 px of noise per axis (0.3% of the face); priors cost a little more
        # yaw and roll within 3 degrees; pitch trades against face shape (brow and chin depth): 5
        assert np.allclose(fit.camera.head_angles(), cam.head_angles(), atol=[3.0, 5.0, 3.0])
        e = {n: float(fit.expression[i]) for n, i in ARKIT_INDEX.items()}
        assert abs(e["jawOpen"] - 0.35) < 0.15 and abs(e["eyeBlinkLeft"] - 0.5 * trial) < 0.3, e
        # The smile is found; its strength partly trades against identity sliders (mouth corners up),
        # and no frown is used to cancel an overshoot.
        assert min(e["mouthSmileLeft"], e["mouthSmileRight"]) > 0.3, e
        assert max(e["mouthFrownLeft"], e["mouthFrownRight"]) < 0.1, e
        expr_err.append(float(np.abs(fit.expression - expr).mean()))
        truth = head.evaluate_np(ident, expr)[face].astype(np.float64)
        fitted = head.evaluate_np(fit.identity, fit.expression)[face].astype(np.float64)
        fitted_err.append(rigid_error_mm(fitted, truth))
        mean_err.append(rigid_error_mm(head.evaluate_np(None, expr)[face].astype(np.float64), truth))
        assert not fit.notes
    assert np.mean(expr_err) < 0.05
    # Landmarks alone pin down part of a face's shape: clearly better than the average head.
    assert np.mean(fitted_err) < 0.8 * np.mean(mean_err)


def test_profile_and_inhuman_proportions_are_flagged(head: HeadModel, model: LandmarkModel) -> None:
    rng = np.random.default_rng(1)
    zero = np.zeros(len(head.identity_names))
    lm, _ = synthetic(model, zero, np.zeros(52), np.array([0.0, 1.25, 0.0]), 900.0, 0.5, rng)
    fit = fit_landmarks(head, lm, model=model)
    assert any("turned" in n and "side" in n for n in fit.notes)
    # A cartoon: eyes twice as far apart and a mouth twice as wide as any head has.
    lm, _ = synthetic(model, zero, np.zeros(52), np.zeros(3), 900.0, 0.5, rng)
    pts = lm.points.copy()
    centre = pts[:468, :2].mean(0)
    pts[:, 0] = centre[0] + 2.0 * (pts[:, 0] - centre[0]) * (pts[:, 1] < centre[1] + 10)
    odd = FaceLandmarks(points=pts, image_size=lm.image_size, faces_found=1)
    fit = fit_landmarks(head, odd, model=model)
    assert any("proportions" in n for n in fit.notes)
