"""Fitting the head to a photo's landmarks: camera, pose, identity sliders and ARKit expression.

A maximum-a-posteriori fit: a robust (Geman-McClure) reprojection error of the 478 MediaPipe
points embedded on the head, with Gaussian priors that keep identity sliders near the
population (``RANDOM_SCALE``) and nearly symmetric, and a sparse, bounded expression. The
camera starts from OpenCV's PnP on the neutral head over a few focal lengths (or the EXIF focal),
then camera and shape are refined in turn (see ``fit_landmarks``); the focal length has a weak
prior around a portrait lens, because landmarks alone pin it down only through perspective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from ..heads.arkit import ARKIT_NAMES
from ..heads.identity import RANDOM_SCALE, mirror_pairs
from ..heads.model import HeadModel
from .calibration import POSE_FEATURES, load_offsets, pose_features
from .camera import HEAD_TO_CAMERA, Camera, head_angles
from .landmarks import MP_FACE_OVAL, FaceLandmarks

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# MediaPipe regions whose points are weighted up (they carry expression). The face oval
# (MP_FACE_OVAL) gets no weight: it follows the silhouette, which slides over the head as it turns,
# and on 16 held-out Cycles renders the fit was better without it (face geometry 3.20 mm against
# 3.26 at weight 0.5; expression error 1.10 against 1.14).
MP_LIPS = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
)  # fmt: skip
MP_EYES = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
)  # fmt: skip
MP_BROWS = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 336, 296, 334, 293, 300, 285, 295, 282, 283, 276)
MP_IRIS = tuple(range(468, 478))

# ARKit shapes a face shows less often, or whose landmark motion is easily mimicked by noise or by a
# turned head (sideways jaw, rolled lips, puffed cheeks, gaze): their sparsity weight is raised.
SECONDARY_SHAPES = (
    "jawLeft", "jawRight", "jawForward", "mouthLeft", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft",
    "eyeLookUpLeft", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
)  # fmt: skip
SECONDARY_WEIGHT = 3.0
# Shapes that move the same points in opposite directions: both at once cancel, and a fit that
# uses both is compensating for something else (identity, detector bias).
ANTAGONISTS = (
    ("mouthSmileLeft", "mouthFrownLeft"), ("mouthSmileRight", "mouthFrownRight"),
    ("browDownLeft", "browOuterUpLeft"), ("browDownRight", "browOuterUpRight"),
    ("browDownLeft", "browInnerUp"), ("browDownRight", "browInnerUp"),
    ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"),
    ("eyeWideLeft", "eyeBlinkLeft"), ("eyeWideRight", "eyeBlinkRight"),
    ("mouthPucker", "mouthStretchLeft"), ("mouthPucker", "mouthStretchRight"),
    ("mouthRollLower", "mouthShrugLower"), ("mouthPressLeft", "mouthLowerDownLeft"),
    ("mouthPressRight", "mouthLowerDownRight"),
)  # fmt: skip


def expression_pairs() -> list[tuple[int, int]]:
    """Left/right ARKit pairs that move the two halves of the face alike (not gaze or sideways jaw)."""
    sideways = ("eyeLook", "jawLeft", "jawRight", "mouthLeft", "mouthRight")
    return [
        (i, j)
        for i, j in mirror_pairs(list(ARKIT_NAMES))
        if not any(ARKIT_NAMES[i].startswith(p) for p in sideways)
    ]


PORTRAIT_FOV = 30.0  # degrees, horizontal: the focal prior's centre when EXIF says nothing
PROFILE_YAW = 50.0  # degrees: beyond this a warning says the fit is less reliable
ODD_FACE_ERROR = (
    0.03  # median landmark error over face size above this: not human proportions (real photos: ~0.005)
)


@dataclass
class FitSettings:
    rounds: int = 6  # camera / shape alternations (robust weights from the second on)
    shape_steps: int = 2  # Gauss-Newton steps on the shape per alternation
    robust_scale: float = 0.02  # Geman-McClure scale, as a fraction of the face's size in pixels
    landmark_noise: float = 0.02  # expected landmark error (fraction of face size): the data term's sigma
    identity_scale: float = RANDOM_SCALE
    asymmetry_scale: float = 0.1  # sliders of a left/right pair differ by about this
    expression_asymmetry: float = 0.25  # so do the two halves of a smile, a blink, a brow raise
    antagonist_scale: float = 0.1  # a smile and a frown together: the smaller is rarely above this
    expression_l1: float = 1.0  # sparsity: a few ARKit shapes rather than many a little
    expression_l2: float = 0.5
    focal_prior: float = 0.25  # std of log(focal) around the prior (weak)
    fit_identity: bool = True
    fit_expression: bool = True


@dataclass
class FitResult:
    """The fitted head and camera, with the diagnostics an artist or a script may want."""

    identity: F32  # (K,) sliders
    expression: F32  # (52,) ARKit weights in [0, 1]
    camera: Camera
    landmark_error_px: float  # median over the 478 points
    face_size_px: float
    notes: list[str] = field(default_factory=list)

    @property
    def landmark_error(self) -> float:
        """Median landmark error as a fraction of the face's size."""
        return self.landmark_error_px / max(self.face_size_px, 1e-9)

    def expression_dict(self, threshold: float = 0.0) -> dict[str, float]:
        return {n: float(v) for n, v in zip(ARKIT_NAMES, self.expression, strict=True) if v > threshold}


class LandmarkModel:
    """The 478 landmarks as a linear function of identity and expression (a slice of the head's bases)."""

    def __init__(self, head: HeadModel, offsets: F64 | str | None = "auto") -> None:
        """``offsets``: (features, 478, 3) calibration coefficients (metres); "auto" reads the file."""
        lm = head.landmarks478
        tri = head.triangles[lm.triangles]  # (N, 3) vertex ids
        bary = lm.barycentric.astype(np.float64)

        def at(values: npt.NDArray[np.float32]) -> torch.Tensor:  # (..., V, 3) -> (..., N, 3)
            out = np.einsum("nk,...nkd->...nd", bary, values[..., tri, :].astype(np.float64))
            return torch.from_numpy(out.astype(np.float32))

        self.neutral = at(head.vertices)
        if isinstance(offsets, str):
            offsets = load_offsets(head)
        if offsets is None:
            offsets = np.zeros((len(POSE_FEATURES), len(lm), 3))
        self.offsets = np.asarray(offsets, np.float64).reshape(len(POSE_FEATURES), len(lm), 3)
        self.calibrated = bool(np.any(self.offsets))
        self.id_pos = at(head.identity_pos)
        self.id_neg = at(head.identity_neg)
        self.expr = at(head.expression_basis)
        self.n_identity = len(head.identity_names)
        self.pairs = mirror_pairs(head.identity_names)

    def offset(self, rotation: F64) -> F64:
        """The calibration's offsets (478, 3) for a head seen with this head-to-camera rotation."""
        yaw, pitch, _ = head_angles(rotation)
        out: F64 = np.einsum("f,fnd->nd", pose_features(yaw, pitch), self.offsets)
        return out

    def __call__(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """The raw embedded landmarks (no calibration offsets) for one identity and expression."""
        out = self.neutral
        out = out + torch.einsum("k,knd->nd", torch.relu(identity), self.id_pos)
        out = out + torch.einsum("k,knd->nd", torch.relu(-identity), self.id_neg)
        return out + torch.einsum("e,end->nd", expression, self.expr)


def landmark_weights() -> torch.Tensor:
    w = torch.ones(478)
    w[list(MP_FACE_OVAL)] = 0.0
    w[list(MP_LIPS)] = 2.0
    w[list(MP_EYES)] = 2.0
    w[list(MP_BROWS)] = 1.5
    w[list(MP_IRIS)] = 1.0
    return w


def _initial_pose(
    model: LandmarkModel, target: F64, size: tuple[int, int], focals: list[float]
) -> tuple[F64, F64, float]:
    """(rotation vector of the pose before HEAD_TO_CAMERA, translation, focal) by OpenCV's PnP."""
    import cv2

    obj = np.ascontiguousarray((model.neutral.numpy().astype(np.float64) @ HEAD_TO_CAMERA.T)[:468])
    img = np.ascontiguousarray(target[:468].astype(np.float64))
    no_distortion = np.zeros(4)
    best: tuple[float, F64, F64, float] | None = None
    for f in focals:
        k = np.array([[f, 0, size[0] / 2.0], [0, f, size[1] / 2.0], [0, 0, 1.0]])
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, no_distortion, flags=cv2.SOLVEPNP_EPNP)
        if not ok:
            continue
        ok, rvec, tvec = cv2.solvePnP(
            obj, img, k, no_distortion, np.asarray(rvec), np.asarray(tvec), True, flags=cv2.SOLVEPNP_ITERATIVE
        )
        r, t = np.asarray(rvec, np.float64).reshape(3), np.asarray(tvec, np.float64).reshape(3)
        if not ok or t[2] <= 0:
            continue
        cam = (obj @ _rodrigues(r).T + t)[:, :2] / (obj @ _rodrigues(r).T + t)[:, 2:3]
        err = float(np.median(np.linalg.norm(f * cam + np.array(size) / 2.0 - img, axis=1)))
        if best is None or err < best[0]:
            best = (err, r, t, f)
    if best is None:
        raise ValueError("could not place the head in the photo: the landmarks are degenerate")
    # cv2 rotates the points after HEAD_TO_CAMERA, as the fit's pose does: its rvec is the pose.
    return best[1], best[2], best[3]


def _rodrigues(rvec: F64) -> F64:
    """Rotation vector -> matrix (Rodrigues' formula)."""
    v = np.asarray(rvec, np.float64).reshape(3)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    out: F64 = np.eye(3) + math.sin(angle) * skew + (1.0 - math.cos(angle)) * (skew @ skew)
    return out


class _Problem:
    """Residuals and Jacobian of the MAP fit, for scipy's bounded least squares.

    x = [rotation vector (3), translation (3), log focal (1), identity sliders (K), expression (52)].
    """

    def __init__(
        self,
        model: LandmarkModel,
        target: F64,
        size: tuple[int, int],
        face: float,
        s: FitSettings,
        prior_f: float,
        fixed_focal: bool,
    ) -> None:
        self.model = model
        self.neutral = model.neutral.numpy().astype(np.float64)
        self.id_pos = model.id_pos.numpy().astype(np.float64)
        self.id_neg = model.id_neg.numpy().astype(np.float64)
        self.expr = model.expr.numpy().astype(np.float64)
        self.k = model.n_identity
        self.pairs = np.array(model.pairs, dtype=np.int64).reshape(-1, 2)
        self.target = target
        self.centre = np.array([size[0] / 2.0, size[1] / 2.0])
        self.sigma = s.landmark_noise * face
        self.s = s
        self.prior_f = prior_f
        self.fixed_focal = fixed_focal
        self.sqrt_w = np.sqrt(landmark_weights().numpy().astype(np.float64))
        self.robust = np.ones(len(target))
        self._neutral_flat = self.neutral.reshape(-1)
        self._pos_flat = self.id_pos.reshape(self.k, -1)
        self._neg_flat = self.id_neg.reshape(self.k, -1)
        self._expr_flat = self.expr.reshape(len(self.expr), -1)
        self._cache: tuple[tuple[bytes, bytes], F64] | None = None
        self.expr_pairs = np.array(expression_pairs(), dtype=np.int64).reshape(-1, 2)
        self.antagonists = np.array(
            [(ARKIT_NAMES.index(a), ARKIT_NAMES.index(b)) for a, b in ANTAGONISTS], dtype=np.int64
        )
        self.l1_weights = np.ones(len(ARKIT_NAMES))
        self.l1_weights[[ARKIT_NAMES.index(n) for n in SECONDARY_SHAPES]] = SECONDARY_WEIGHT

    def split(self, x: F64) -> tuple[F64, F64, float, F64, F64]:
        k = self.k
        return x[0:3], x[3:6], float(x[6]), x[7 : 7 + k], x[7 + k :]

    def points(self, ident: F64, expr: F64) -> F64:
        key = (ident.tobytes(), expr.tobytes())
        if self._cache is not None and self._cache[0] == key:  # the camera step keeps the shape
            return self._cache[1]
        flat = (
            self._neutral_flat
            + np.maximum(ident, 0.0) @ self._pos_flat
            + np.maximum(-ident, 0.0) @ self._neg_flat
            + expr @ self._expr_flat
        )
        out: F64 = flat.reshape(-1, 3)
        self._cache = (key, out)
        return out

    def project(self, x: F64) -> tuple[F64, F64, F64]:
        """(pixels (N, 2), camera points (N, 3), rotation incl. HEAD_TO_CAMERA)."""
        rvec, t, log_f, ident, expr = self.split(x)
        rot = _rodrigues(rvec) @ HEAD_TO_CAMERA
        pts = self.points(ident, expr)
        if self.model.calibrated:
            pts = pts + self.model.offset(rot)
        cam = pts @ rot.T + t
        z = np.maximum(cam[:, 2:3], 1e-4)
        return math.exp(log_f) * cam[:, :2] / z + self.centre, cam, rot

    def _data_scale(self) -> F64:
        out: F64 = (self.sqrt_w * np.sqrt(self.robust))[:, None] / self.sigma
        return out

    def residuals(self, x: F64) -> F64:
        s = self.s
        _, _, log_f, ident, expr = self.split(x)
        proj, _, _ = self.project(x)
        parts = [((proj - self.target) * self._data_scale()).reshape(-1)]
        parts.append(ident / s.identity_scale)
        if len(self.pairs):
            parts.append((ident[self.pairs[:, 0]] - ident[self.pairs[:, 1]]) / s.asymmetry_scale)
        parts.append(math.sqrt(2.0 * s.expression_l2) * expr)
        parts.append((expr[self.expr_pairs[:, 0]] - expr[self.expr_pairs[:, 1]]) / s.expression_asymmetry)
        # Opposing shapes together (a smile and a frown) cancel: the smaller one is penalised.
        a, b = expr[self.antagonists[:, 0]], expr[self.antagonists[:, 1]]
        parts.append(np.minimum(a, b) / s.antagonist_scale)
        parts.append(
            np.array([0.0 if self.fixed_focal else (log_f - math.log(self.prior_f)) / s.focal_prior])
        )
        return np.concatenate(parts)

    def shape_jacobian(self, x: F64, n_rows: int) -> F64:
        """d residuals / d (identity, expression), analytically; the camera is fixed in the shape step
        (its own step differentiates numerically over 7 numbers)."""
        s = self.s
        n, k = len(self.target), self.k
        jac = np.zeros((n_rows, len(x)))
        # Shape columns analytically: d pixel / d camera point, times the rotated bases.
        _, _, log_f, ident, _ = self.split(x)
        _, cam, rot = self.project(x)
        f = math.exp(log_f)
        z = np.maximum(cam[:, 2], 1e-4)
        dproj = np.zeros((n, 2, 3))
        dproj[:, 0, 0] = f / z
        dproj[:, 1, 1] = f / z
        dproj[:, 0, 2] = -f * cam[:, 0] / z**2
        dproj[:, 1, 2] = -f * cam[:, 1] / z**2
        dproj = np.einsum("nij,jk->nik", dproj * self._data_scale()[:, :, None], rot)  # per head-space point
        # The identity's derivative: the + basis above zero, the - basis (negated) below, the mean at 0.
        d_id = np.where(
            (ident > 0)[:, None, None],
            self.id_pos,
            np.where((ident < 0)[:, None, None], -self.id_neg, 0.5 * (self.id_pos - self.id_neg)),
        )
        jac[: 2 * n, 7 : 7 + k] = np.einsum("nij,knj->nik", dproj, d_id).reshape(2 * n, k)
        jac[: 2 * n, 7 + k :] = np.einsum("nij,enj->nie", dproj, self.expr).reshape(2 * n, -1)
        row = 2 * n
        jac[row : row + k, 7 : 7 + k] = np.eye(k) / s.identity_scale
        row += k
        for p, (i, j) in enumerate(self.pairs):
            jac[row + p, 7 + i] = 1.0 / s.asymmetry_scale
            jac[row + p, 7 + j] = -1.0 / s.asymmetry_scale
        row += len(self.pairs)
        jac[row : row + len(ARKIT_NAMES), 7 + k :] = np.eye(len(ARKIT_NAMES)) * math.sqrt(
            2.0 * s.expression_l2
        )
        row += len(ARKIT_NAMES)
        for p, (i, j) in enumerate(self.expr_pairs):
            jac[row + p, 7 + k + i] = 1.0 / s.expression_asymmetry
            jac[row + p, 7 + k + j] = -1.0 / s.expression_asymmetry
        row += len(self.expr_pairs)
        expr = self.split(x)[4]
        for p, (i, j) in enumerate(self.antagonists):
            jac[row + p, 7 + k + (i if expr[i] <= expr[j] else j)] = 1.0 / s.antagonist_scale
        return jac[:, 7:]

    def cost(self, x: F64) -> float:
        """The objective: squared residuals plus the expression's L1 term (twice, as squares are)."""
        l1 = self.s.expression_l1 * float(self.l1_weights @ self.split(x)[4])
        return float((self.residuals(x) ** 2).sum() + 2.0 * l1)

    def reweight(self, x: F64) -> None:
        """Geman-McClure weights from the current residuals (iteratively reweighted least squares)."""
        proj, _, _ = self.project(x)
        r2 = ((proj - self.target) ** 2).sum(-1)
        c2 = (self.s.robust_scale / self.s.landmark_noise * self.sigma) ** 2
        self.robust = (c2 / (r2 + c2)) ** 2


def _shape_step(problem: _Problem, x: F64, lower: F64, upper: F64) -> F64:
    """One Gauss-Newton step on identity and expression; variables that hit a bound stay there."""
    r = problem.residuals(x)
    jac = problem.shape_jacobian(x, len(r))
    y = x[7:].copy()
    free = np.ones(len(y), dtype=bool)
    # Sparse expression: an L1 term (linear, as weights are >= 0) besides the squares.
    lin = np.zeros(len(y))
    lin[problem.k :] = problem.s.expression_l1 * problem.l1_weights
    for _ in range(4):
        step = np.zeros(len(y))
        jf = jac[:, free]
        normal = jf.T @ jf + 1e-9 * np.eye(int(free.sum()))
        step[free] = np.linalg.solve(normal, -jf.T @ r - lin[free])
        new = y + step
        hit = free & ((new < lower) | (new > upper))
        if not hit.any():
            return new
        free &= ~hit
        y = np.where(hit, np.clip(new, lower, upper), y)
        r = problem.residuals(np.concatenate([x[:7], y]))
    return np.clip(y, lower, upper)


def _alternate(problem: _Problem, x: F64, lower: F64, upper: F64, rounds: int, shape_steps: int) -> F64:
    """Camera and shape in turn; robust weights from the second round on."""
    from scipy.optimize import least_squares  # type: ignore[import-untyped]

    x = x.copy()
    problem.robust[:] = 1.0
    for outer in range(rounds):
        shape = x[7:].copy()

        def cam_residuals(c: F64, shape: F64 = shape) -> F64:
            return problem.residuals(np.concatenate([c, shape]))

        sol = least_squares(cam_residuals, x[:7], bounds=(lower[:7], upper[:7]), method="trf", max_nfev=30)
        x[:7] = sol.x
        for _ in range(shape_steps):
            x[7:] = _shape_step(problem, x, lower[7:], upper[7:])
        if outer >= 1:
            problem.reweight(x)
    return x


def fit_landmarks(
    head: HeadModel,
    landmarks: FaceLandmarks,
    focal_px: float | None = None,
    settings: FitSettings | None = None,
    model: LandmarkModel | None = None,
) -> FitResult:
    """Fit camera, pose, identity and expression to one face's landmarks."""
    s = settings or FitSettings()
    model = model or LandmarkModel(head)
    w, h = landmarks.image_size
    face = landmarks.face_size
    target = landmarks.points[:, :2].astype(np.float64)
    prior_f = 0.5 * w / math.tan(math.radians(PORTRAIT_FOV) / 2.0)
    fixed_focal = focal_px is not None
    if fixed_focal:
        focals = [float(focal_px)]  # type: ignore[arg-type]
    else:
        focals = [0.5 * w / math.tan(math.radians(fov) / 2.0) for fov in (12.0, 20.0, 30.0, 45.0, 60.0)]
    k = model.n_identity
    n_expr = len(ARKIT_NAMES)
    problem = _Problem(model, target, (w, h), face, s, prior_f, fixed_focal)
    x = np.zeros(7 + k + n_expr)  # the camera part is set from PnP below
    big = np.inf
    lim = 1.0
    lower = np.concatenate([[-big] * 6, [math.log(min(focals)) - 1.0], [-lim] * k, [0.0] * n_expr])
    upper = np.concatenate([[big] * 6, [math.log(max(focals)) + 1.0], [lim] * k, [1.0] * n_expr])
    if not s.fit_identity:
        lower[7 : 7 + k], upper[7 : 7 + k] = -1e-9, 1e-9
    if not s.fit_expression:
        lower[7 + k :], upper[7 + k :] = 0.0, 1e-9
    if fixed_focal:
        rvec0, t0, f0 = _initial_pose(model, target, (w, h), focals)
        x[:7] = np.concatenate([rvec0, t0, [math.log(f0)]])
        lower[6], upper[6] = x[6] - 1e-9, x[6] + 1e-9
        x = _alternate(problem, x, lower, upper, s.rounds, s.shape_steps)
    else:  # a short fit from each focal length's PnP pose; the best (with the focal prior) goes on
        best: tuple[float, F64] | None = None
        for f in focals:
            r0, t0_f, _ = _initial_pose(model, target, (w, h), [f])
            x0 = x.copy()
            x0[:7] = np.concatenate([r0, t0_f, [math.log(f)]])
            x0 = _alternate(problem, x0, lower, upper, 2, 1)
            cost = problem.cost(x0)
            if best is None or cost < best[0]:
                best = (cost, x0)
        assert best is not None
        x = _alternate(problem, best[1], lower, upper, s.rounds, s.shape_steps)
    _, t, log_f, ident, expr = problem.split(x)
    proj, _, rot = problem.project(x)
    err = np.linalg.norm(proj - target, axis=1)[:468]
    camera = Camera(width=w, height=h, focal_px=math.exp(log_f), rotation=rot, translation=t.copy())
    result = FitResult(
        identity=ident.astype(np.float32),
        expression=np.clip(expr, 0.0, 1.0).astype(np.float32),
        camera=camera,
        landmark_error_px=float(np.median(err)),
        face_size_px=face,
        notes=list(landmarks.notes),
    )
    yaw, _, _ = camera.head_angles()
    if abs(yaw) > PROFILE_YAW:
        result.notes.append(
            f"the head is turned {abs(yaw):.0f} degrees to the side: the far side of the face is guessed, "
            "so the fit is less reliable; a frontal photo gives a better head"
        )
    if result.landmark_error > ODD_FACE_ERROR:
        result.notes.append(
            "the face's proportions fit a human head poorly (landmark error "
            f"{100 * result.landmark_error:.0f}% of the face's size): a drawing, a cartoon or a heavily "
            "distorted photo? The head is unreliable"
        )
    return result
