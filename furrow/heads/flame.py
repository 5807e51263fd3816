"""FLAME (2020 ``generic_model.pkl``, 2023 ``flame2023*.pkl``) as a Furrow HeadModel.

FLAME files are Python 2 pickles of chumpy objects; they are read without chumpy
through :mod:`furrow.heads._pickle_compat`. The model dict holds (FLAME 2020):
``v_template`` (5023, 3) and ``shapedirs`` (5023, 3, 400: 300 identity + 100
expression components, unit-variance coefficients) and ``posedirs`` (5023, 3, 36)
and ``weights`` (5023, 5) and ``J`` (5, 3) as chumpy ``Ch``; ``f`` (9976, 3) and
``kintree_table`` (2, 5) as numpy arrays; ``J_regressor`` (5, 5023) as a scipy
``csc_matrix``; ``bs_style`` 'lbs' and ``bs_type`` 'lrotmin'. Joints: global,
neck, jaw, left eye, right eye (parents -1, 0, 1, 1, 1). Units metres, Y up, the
face toward +Z, the head's left on +X.

The forward pass (torch, batched): shape + expression blend, joints regressed from
the shaped template, pose correctives from (R - I) of the four non-root joints,
linear blend skinning. The HeadModel keeps FLAME's topology (triangles) and its
eyeballs (the vertices skinned to the eye joints), gets identity sliders from the
first shape components and the 52 ARKit shapes from the default head by
registration + deformation transfer; eye looks and the jaw use FLAME's own joints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt
import torch

from ._pickle_compat import LegacyPickleError, load_npy_or_pickle, load_pickle, to_array, to_sparse
from .arkit import ARKIT_INDEX, ARKIT_NAMES
from .model import HeadFileError, HeadModel, Landmarks
from .transfer import RegistrationOptions, auto_uvs, fit_similarity, transfer_from_head

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PathLike = Union[str, Path]
Progress = Callable[[float, str], None]

JOINT_NAMES: tuple[str, ...] = ("global", "neck", "jaw", "eye_left", "eye_right")
N_SHAPE_TOTAL = 300  # FLAME's identity components; the rest of shapedirs are expression components
SLIDER_STD = 2.0  # an identity slider at +-1 is +-2 standard deviations of that component

# FLAME (x, y, z) -> Blender (x, -z, y): a +90 degree turn about X, so handedness and winding keep
FLAME_TO_BLENDER: F64 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# companion files FLAME's download pages use, looked for beside the model when not given
UV_FILES = ("head_template.obj", "head_template_mesh.obj", "FLAME_texture.npz", "flame_uv.npz")
LANDMARK_FILES = (
    "landmark_embedding.npy",
    "flame_static_embedding.pkl",
    "mediapipe_landmark_embedding.npz",
    "mediapipe_landmark_embedding/mediapipe_landmark_embedding.npz",
)
MASK_FILES = ("FLAME_masks.pkl", "FLAME_masks/FLAME_masks.pkl")


def flame_to_blender(points: npt.ArrayLike) -> F64:
    """FLAME frame (Y up, face +Z) -> Blender frame (Z up, face -Y); same units."""
    p = np.asarray(points, dtype=np.float64)
    result: F64 = p @ FLAME_TO_BLENDER.T
    return result


def blender_to_flame(points: npt.ArrayLike) -> F64:
    p = np.asarray(points, dtype=np.float64)
    result: F64 = p @ FLAME_TO_BLENDER
    return result


# --- the model ---------------------------------------------------------------------


def batch_rodrigues(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3); exact identity at zero."""
    angle = torch.linalg.norm(rotvec, dim=-1, keepdim=True)
    axis = rotvec / torch.clamp(angle, min=1e-12)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    return eye + s * k + (1.0 - c) * (k @ k)


@dataclass
class FlameModel:
    """FLAME's arrays (FLAME frame, metres) and its forward pass."""

    path: Path
    v_template: F64  # (V, 3)
    faces: I64  # (F, 3)
    shapedirs: F64  # (V, 3, S + E)
    posedirs: F64  # (V, 3, 9 * (J - 1))
    j_regressor: F64  # (J, V) dense (5 x 5023 is small)
    parents: I64  # (J,) -1 for the root
    weights: F64  # (V, J)
    n_shape: int
    n_expression: int
    extra: dict[str, Any] = field(default_factory=dict)
    _tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, init=False, repr=False)

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_joints(self) -> int:
        return int(self.parents.shape[0])

    def tensors(self, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
        key = str(dtype)
        if key not in self._tensors:
            self._tensors[key] = {
                "template": torch.as_tensor(self.v_template, dtype=dtype),
                "shapedirs": torch.as_tensor(self.shapedirs, dtype=dtype),
                "posedirs": torch.as_tensor(self.posedirs, dtype=dtype),
                "regressor": torch.as_tensor(self.j_regressor, dtype=dtype),
                "weights": torch.as_tensor(self.weights, dtype=dtype),
            }
        return self._tensors[key]

    def forward(
        self,
        shape: Optional[torch.Tensor] = None,
        expression: Optional[torch.Tensor] = None,
        pose: Optional[torch.Tensor] = None,
        dtype: torch.dtype = torch.float64,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vertices (B, V, 3) and posed joints (B, J, 3) in the FLAME frame.

        shape (B, <=S) and expression (B, <=E) coefficients (unit variance; missing
        trailing ones are zero); pose (B, J*3) axis-angle per joint in JOINT_NAMES
        order, relative to the parent. Any may be None (zeros). Differentiable.
        """
        t = self.tensors(dtype)
        given = [x for x in (shape, expression, pose) if x is not None]
        batch = 1 if not given or given[0].dim() <= 1 else int(given[0].shape[0])

        def padded(x: Optional[torch.Tensor], n: int) -> torch.Tensor:
            if x is None:
                return torch.zeros(batch, n, dtype=dtype)
            x = x.reshape(batch, -1).to(dtype)
            if x.shape[1] > n:
                raise ValueError(f"{x.shape[1]} coefficients given, the model has {n}")
            return torch.nn.functional.pad(x, (0, n - x.shape[1]))

        coeffs = torch.cat([padded(shape, self.n_shape), padded(expression, self.n_expression)], dim=1)
        v_shaped = t["template"][None] + torch.einsum("bk,vck->bvc", coeffs, t["shapedirs"])
        joints = torch.einsum("jv,bvc->bjc", t["regressor"], v_shaped)
        nj = self.n_joints
        rot = (
            batch_rodrigues(pose.reshape(batch, nj, 3).to(dtype))
            if pose is not None
            else torch.eye(3, dtype=dtype).expand(batch, nj, 3, 3)
        )
        feature = (rot[:, 1:] - torch.eye(3, dtype=dtype)).reshape(batch, -1)
        v_posed = v_shaped + torch.einsum("bp,vcp->bvc", feature, t["posedirs"])
        # world transforms along the kinematic chain, then relative to the rest joints
        rel = joints.clone()
        par = self.parents
        rel[:, 1:] = joints[:, 1:] - joints[:, torch.as_tensor(np.maximum(par[1:], 0))]
        local = torch.zeros(batch, nj, 4, 4, dtype=dtype)
        local[:, :, :3, :3] = rot
        local[:, :, :3, 3] = rel
        local[:, :, 3, 3] = 1.0
        chain = [local[:, 0]]
        for j in range(1, nj):
            chain.append(chain[int(par[j])] @ local[:, j])
        world = torch.stack(chain, dim=1)  # (B, J, 4, 4)
        posed_joints = world[:, :, :3, 3]
        offset = torch.einsum("bjmn,bjn->bjm", world[:, :, :3, :3], joints)
        skin = world.clone()
        skin[:, :, :3, 3] = world[:, :, :3, 3] - offset
        blend = torch.einsum("vj,bjmn->bvmn", t["weights"], skin)
        verts = torch.einsum("bvmn,bvn->bvm", blend[:, :, :3, :3], v_posed) + blend[:, :, :3, 3]
        return verts, posed_joints

    def vertices_np(
        self,
        shape: Optional[npt.ArrayLike] = None,
        expression: Optional[npt.ArrayLike] = None,
        pose: Optional[npt.ArrayLike] = None,
    ) -> F64:
        """One evaluation as numpy (V, 3), FLAME frame."""

        def tens(a: Optional[npt.ArrayLike]) -> Optional[torch.Tensor]:
            return None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64)).reshape(1, -1)

        with torch.no_grad():
            v, _ = self.forward(tens(shape), tens(expression), tens(pose))
        result: F64 = v[0].numpy()
        return result

    def rest_joints(self) -> F64:
        result: F64 = self.j_regressor @ self.v_template
        return result


def _fail(path: Path, why: str) -> HeadFileError:
    return HeadFileError(f"{path}: {why}")


def load_flame(path: PathLike) -> FlameModel:
    """Read a FLAME model pickle; a wrong or damaged file is a HeadFileError naming it and the problem."""
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "no such FLAME model file")
    try:
        raw = load_pickle(p)
    except LegacyPickleError as exc:
        raise _fail(p, f"not a FLAME model: {exc}") from exc
    except OSError as exc:
        raise _fail(p, f"cannot be read ({exc.strerror or exc})") from exc
    if not isinstance(raw, dict):
        raise _fail(
            p, f"not a FLAME model: the pickle holds a {type(raw).__name__}, expected a dict of arrays"
        )
    for key in ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights"):
        if key not in raw:
            raise _fail(p, f"not a FLAME model: missing {key!r}")

    def arr(key: str) -> npt.NDArray[Any]:
        try:
            return to_array(raw[key], key)
        except LegacyPickleError as exc:
            raise _fail(p, f"not a FLAME model: {exc}") from exc

    def expect(key: str, a: npt.NDArray[Any], shape: Sequence[Optional[int]], what: str) -> None:
        if a.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, a.shape, strict=False)
        ):
            raise _fail(p, f"not a FLAME model: {key!r} has shape {tuple(a.shape)}, expected {what}")

    v = arr("v_template").astype(np.float64)
    expect("v_template", v, (None, 3), "(vertices, 3)")
    nv = v.shape[0]
    f = arr("f")
    expect("f", f, (None, 3), "(triangles, 3)")
    f = f.astype(np.int64)
    if f.size and (f.min() < 0 or f.max() >= nv):
        raise _fail(p, f"not a FLAME model: 'f' indexes vertices 0..{int(f.max())}, but there are {nv}")
    shapedirs = arr("shapedirs").astype(np.float64)
    expect("shapedirs", shapedirs, (nv, 3, None), f"({nv}, 3, components)")
    kin = arr("kintree_table")
    expect("kintree_table", kin, (2, None), "(2, joints)")
    nj = int(kin.shape[1])
    parents = np.asarray(kin[0], dtype=np.int64)
    parents = np.where((parents < 0) | (parents >= nj), -1, parents)
    if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, nj)):
        raise _fail(
            p, f"not a FLAME model: 'kintree_table' is not a tree rooted at joint 0 ({kin[0].tolist()})"
        )
    posedirs = arr("posedirs").astype(np.float64)
    expect("posedirs", posedirs, (nv, 3, 9 * (nj - 1)), f"({nv}, 3, {9 * (nj - 1)})")
    weights = arr("weights").astype(np.float64)
    expect("weights", weights, (nv, nj), f"({nv}, {nj})")
    try:
        reg = to_sparse(raw["J_regressor"], "J_regressor")
    except LegacyPickleError as exc:
        raise _fail(p, f"not a FLAME model: {exc}") from exc
    if tuple(reg.shape) != (nj, nv):
        raise _fail(
            p, f"not a FLAME model: 'J_regressor' has shape {tuple(reg.shape)}, expected ({nj}, {nv})"
        )
    total = shapedirs.shape[2]
    n_shape = min(N_SHAPE_TOTAL, total)
    extra = {k: raw[k] for k in ("bs_style", "bs_type") if isinstance(raw.get(k), str)}
    return FlameModel(
        path=p,
        v_template=v,
        faces=f,
        shapedirs=shapedirs,
        posedirs=posedirs,
        j_regressor=np.asarray(reg.toarray(), dtype=np.float64),
        parents=parents,
        weights=weights,
        n_shape=n_shape,
        n_expression=total - n_shape,
        extra=extra,
    )


# --- companion files -------------------------------------------------------------------


def load_flame_uvs(path: PathLike, n_faces: int) -> F64:
    """FLAME's texture-space UVs as per-corner (F, 3, 2): ``head_template*.obj`` or an npz with vt/ft."""
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "no such FLAME UV file")
    if p.suffix.lower() == ".obj":
        vt_list: list[tuple[float, float]] = []
        ft_list: list[list[int]] = []
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise _fail(p, f"cannot be read ({exc})") from exc
        for line in text.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "vt" and len(parts) >= 3:
                vt_list.append((float(parts[1]), float(parts[2])))
            elif parts[0] == "f":
                corners = [c.split("/") for c in parts[1:]]
                if any(len(c) < 2 or not c[1] for c in corners):
                    raise _fail(p, "the OBJ faces carry no texture coordinates (expected f v/vt ...)")
                idx = [int(c[1]) for c in corners]
                for k in range(1, len(idx) - 1):  # fan-triangulate, as the vertex faces are
                    ft_list.append([idx[0], idx[k], idx[k + 1]])
        vt = np.asarray(vt_list, dtype=np.float64).reshape(-1, 2)
        ft = np.asarray(ft_list, dtype=np.int64).reshape(-1, 3)
        ft = np.where(ft > 0, ft - 1, ft + vt.shape[0])
    else:
        try:
            with np.load(p, allow_pickle=False) as z:
                if "vt" not in z.files or "ft" not in z.files:
                    raise _fail(
                        p, f"not a FLAME UV file: expected arrays 'vt' and 'ft', found {sorted(z.files)}"
                    )
                vt = np.asarray(z["vt"], dtype=np.float64)
                ft = np.asarray(z["ft"], dtype=np.int64)
        except HeadFileError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise _fail(p, f"not a readable npz ({exc})") from exc
    if ft.shape != (n_faces, 3):
        raise _fail(p, f"its UV faces have shape {ft.shape}, expected ({n_faces}, 3) like the model's 'f'")
    if vt.ndim != 2 or vt.shape[1] < 2 or ft.min() < 0 or ft.max() >= vt.shape[0]:
        raise _fail(p, "its UV indices do not fit its texture coordinates")
    result: F64 = np.clip(vt[:, :2][ft], 0.0, 1.0)
    return result


@dataclass
class FlameLandmarks:
    """Landmarks from FLAME's embedding files: (ids, Landmarks) for the 68 iBUG and 478 MediaPipe sets."""

    ibug68: Optional[tuple[I64, Landmarks]] = None
    mediapipe478: Optional[tuple[I64, Landmarks]] = None
    sources: list[str] = field(default_factory=list)


def _lm(p: Path, faces: Any, bary: Any, n_faces: int) -> Landmarks:
    tri = np.asarray(faces, dtype=np.int64).reshape(-1)
    b = np.asarray(bary, dtype=np.float64).reshape(-1, 3)
    if tri.shape[0] != b.shape[0]:
        raise _fail(p, f"{tri.shape[0]} landmark triangles but {b.shape[0]} barycentric rows")
    if tri.size and (tri.min() < 0 or tri.max() >= n_faces):
        raise _fail(p, f"landmark triangles reach {int(tri.max())}, but the model has {n_faces}")
    b = b / np.where(np.abs(b.sum(axis=1, keepdims=True)) > 1e-12, b.sum(axis=1, keepdims=True), 1.0)
    return Landmarks(tri.astype(np.int32), b.astype(np.float32))


def load_flame_landmarks(paths: Sequence[PathLike], n_faces: int) -> FlameLandmarks:
    """Read landmark embeddings: DECA's ``landmark_embedding.npy`` (full 68), ``flame_static_embedding.pkl``
    (the inner 51 = iBUG 17..67) and ``mediapipe_landmark_embedding.npz`` (105 of the 478)."""
    out = FlameLandmarks()
    for raw_path in paths:
        p = Path(raw_path)
        if not p.is_file():
            raise _fail(p, "no such FLAME landmark file")
        try:
            if p.suffix.lower() == ".npz":
                with np.load(p, allow_pickle=False) as z:
                    data: Any = {k: z[k] for k in z.files}
            else:
                data = load_npy_or_pickle(p)
        except LegacyPickleError as exc:
            raise _fail(p, f"not a FLAME landmark embedding: {exc}") from exc
        except (OSError, ValueError, EOFError) as exc:
            raise _fail(p, f"not a FLAME landmark embedding ({exc})") from exc
        if not isinstance(data, dict):
            raise _fail(p, f"not a FLAME landmark embedding: holds a {type(data).__name__}, expected a dict")
        try:
            if "full_lmk_faces_idx" in data and "full_lmk_bary_coords" in data:
                lm = _lm(
                    p,
                    to_array(data["full_lmk_faces_idx"], "full_lmk_faces_idx"),
                    to_array(data["full_lmk_bary_coords"], "full_lmk_bary_coords"),
                    n_faces,
                )
                if len(lm) != 68:
                    raise _fail(p, f"'full_lmk_faces_idx' holds {len(lm)} landmarks, expected 68")
                out.ibug68 = (np.arange(68, dtype=np.int64), lm)
            elif "landmark_indices" in data and "lmk_face_idx" in data and "lmk_b_coords" in data:
                lm = _lm(
                    p,
                    to_array(data["lmk_face_idx"], "lmk_face_idx"),
                    to_array(data["lmk_b_coords"], "lmk_b_coords"),
                    n_faces,
                )
                ids = np.asarray(
                    to_array(data["landmark_indices"], "landmark_indices"), dtype=np.int64
                ).ravel()
                if ids.shape[0] != len(lm) or ids.min() < 0 or ids.max() >= 478:
                    raise _fail(p, "'landmark_indices' must give one MediaPipe index (0..477) per landmark")
                out.mediapipe478 = (ids, lm)
            elif ("lmk_face_idx" in data and "lmk_b_coords" in data) or "static_lmk_faces_idx" in data:
                fk, bk = (
                    ("lmk_face_idx", "lmk_b_coords")
                    if "lmk_face_idx" in data
                    else ("static_lmk_faces_idx", "static_lmk_bary_coords")
                )
                lm = _lm(p, to_array(data[fk], fk), to_array(data[bk], bk), n_faces)
                if len(lm) == 68:
                    ids = np.arange(68, dtype=np.int64)
                elif len(lm) == 51:
                    ids = np.arange(17, 68, dtype=np.int64)  # the static embedding skips the jaw line
                else:
                    raise _fail(p, f"{len(lm)} static landmarks, expected 51 (iBUG 17..67) or 68")
                if out.ibug68 is None or len(out.ibug68[0]) < len(ids):
                    out.ibug68 = (ids, lm)
            else:
                raise _fail(
                    p,
                    "not a FLAME landmark embedding: expected 'full_lmk_faces_idx'/'full_lmk_bary_coords', "
                    f"'lmk_face_idx'/'lmk_b_coords' (+ 'landmark_indices'); found {sorted(map(str, data))}",
                )
        except LegacyPickleError as exc:
            raise _fail(p, f"not a FLAME landmark embedding: {exc}") from exc
        out.sources.append(str(p))
    return out


def load_flame_masks(path: PathLike, n_vertices: int) -> dict[str, I64]:
    """``FLAME_masks.pkl``: vertex index sets per region (face, eye_region, left_eyeball, lips, ...)."""
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "no such FLAME mask file")
    try:
        raw = load_pickle(p)
    except LegacyPickleError as exc:
        raise _fail(p, f"not a FLAME mask file: {exc}") from exc
    if not isinstance(raw, dict):
        raise _fail(
            p, f"not a FLAME mask file: holds a {type(raw).__name__}, expected a dict of index arrays"
        )
    out: dict[str, I64] = {}
    for k, val in raw.items():
        idx = np.asarray(to_array(val, str(k)), dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
            raise _fail(p, f"mask {k!r} indexes vertex {int(idx.max())}, but the model has {n_vertices}")
        out[str(k)] = idx
    return out


def _discover(model_path: Path, names: Sequence[str]) -> list[Path]:
    return [model_path.parent / n for n in names if (model_path.parent / n).is_file()]


def companion_files(model_path: PathLike) -> list[Path]:
    """The UV, landmark and mask files beside a FLAME model that ``flame_head_model`` picks up."""
    path = Path(model_path)
    return [*_discover(path, UV_FILES), *_discover(path, LANDMARK_FILES), *_discover(path, MASK_FILES)]


# --- building the HeadModel ----------------------------------------------------------


def find_eyeballs(flame: FlameModel, masks: Optional[dict[str, I64]] = None) -> dict[str, I64]:
    """Vertex sets of FLAME's two eyeballs: the mask file's, else the vertices skinned to an eye joint."""
    if masks and "left_eyeball" in masks and "right_eyeball" in masks:
        return {"left": masks["left_eyeball"], "right": masks["right_eyeball"]}
    if flame.n_joints < 5:
        return {}
    out: dict[str, I64] = {}
    for side, j in (("left", 3), ("right", 4)):
        idx = np.flatnonzero(flame.weights[:, j] > 0.5).astype(np.int64)
        if idx.size:
            out[side] = idx
    return out


def _rotation_to_axis_angle(rot: F64) -> F64:
    angle = float(np.arccos(np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0)))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    norm = float(np.linalg.norm(axis))
    if norm < 1e-12:  # 180 degrees: axis from the symmetric part
        w, vec = np.linalg.eigh(rot)
        axis = vec[:, int(np.argmax(w))]
        norm = 1.0
    result: F64 = axis / norm * angle
    return result


def _eye_rotations(head: HeadModel) -> dict[tuple[int, str], F64]:
    """Per ARKit key and eye side ('left' = +X), the rotation (Blender frame) the default head's eye makes."""
    eyes = head.parts.get("eyes")
    out: dict[tuple[int, str], F64] = {}
    if eyes is None or len(eyes) < 6:
        return out
    skin = head.parts.get("skin")
    mid = float(np.median(head.vertices[skin, 0])) if skin is not None and len(skin) else 0.0
    for side, sel in (("left", head.vertices[eyes, 0] > mid), ("right", head.vertices[eyes, 0] <= mid)):
        idx = np.asarray(eyes)[sel]
        if idx.size < 3:
            continue
        p0 = head.vertices[idx].astype(np.float64)
        for k in range(len(ARKIT_NAMES)):
            d = head.expression_basis[k, idx].astype(np.float64)
            if np.abs(d).max() < 1e-7:
                continue
            sim = fit_similarity(p0, p0 + d, scale=False)
            if np.linalg.norm(_rotation_to_axis_angle(sim.rotation)) > 1e-3:
                out[(k, side)] = sim.rotation
    return out


def _identity_name(k: int) -> str:
    return f"shape{k:03d}"


def flame_head_model(
    pkl_path: PathLike,
    *,
    uv_path: Optional[PathLike] = None,
    landmark_path: Optional[Union[PathLike, Sequence[PathLike]]] = None,
    masks_path: Optional[PathLike] = None,
    n_shape: int = 20,
    default_head: Optional[HeadModel] = None,
    discover: bool = True,
    jaw_from_flame: bool = True,
    options: Optional[RegistrationOptions] = None,
    progress: Optional[Progress] = None,
) -> HeadModel:
    """A HeadModel from a FLAME pickle, with the default head's ARKit shapes transferred onto it.

    Identity: sliders ``shape000``... are the first ``n_shape`` identity components;
    FLAME's coefficients have unit variance, so a slider at +-1 is +-2 standard
    deviations (``SLIDER_STD``). Expression: the 52 ARKit shapes of ``default_head``
    (the built-in one when None) by registration + deformation transfer onto the
    skin; the eye-look shapes turn FLAME's eyeballs about its eye joints by the angle
    the default head's eyes turn; ``jawOpen`` (when ``jaw_from_flame``) is FLAME's
    own jaw rotation, baked with its pose correctives, by the angle that drops the
    chin as far as the transferred shape does (FLAME's lips and chin follow its
    learned jaw better than a transferred one). Companion files (UVs, landmark
    embeddings, masks) are used when given or, with ``discover``, when they lie beside
    the model under their usual names. FLAME has no teeth or tongue: those parts are
    absent. Without a UV file the layout is :func:`auto_uvs`.
    """
    t0 = time.perf_counter()

    def report(frac: float, msg: str) -> None:
        if progress is not None:
            progress(frac, msg)

    path = Path(pkl_path)
    report(0.0, f"Reading {path.name}")
    flame = load_flame(path)
    used: dict[str, list[str]] = {}
    uv_file = Path(uv_path) if uv_path is not None else None
    if uv_file is None and discover:
        found = _discover(path, UV_FILES)
        uv_file = found[0] if found else None
    if landmark_path is None:
        lm_files: list[Path] = _discover(path, LANDMARK_FILES) if discover else []
    elif isinstance(landmark_path, (str, Path)):
        lm_files = [Path(landmark_path)]
    else:
        lm_files = [Path(x) for x in landmark_path]
    mask_file = Path(masks_path) if masks_path is not None else None
    if mask_file is None and discover:
        found = _discover(path, MASK_FILES)
        mask_file = found[0] if found else None

    nv = flame.n_vertices
    faces = flame.faces
    masks = load_flame_masks(mask_file, nv) if mask_file is not None else None
    if mask_file is not None:
        used["masks"] = [str(mask_file)]
    eyeballs = find_eyeballs(flame, masks)
    eye_ids = np.unique(np.concatenate(list(eyeballs.values()))) if eyeballs else np.zeros(0, np.int64)
    skin_mask = np.ones(nv, dtype=bool)
    skin_mask[eye_ids] = False
    skin_ids = np.flatnonzero(skin_mask).astype(np.int64)

    neutral = flame_to_blender(flame.v_template)
    if uv_file is not None:
        corner_uvs = load_flame_uvs(uv_file, faces.shape[0])
        used["uv"] = [str(uv_file)]
    else:
        corner_uvs = auto_uvs(neutral, faces, [eyeballs[s] for s in ("left", "right") if s in eyeballs])
    lms = load_flame_landmarks(lm_files, faces.shape[0]) if lm_files else FlameLandmarks()
    if lms.sources:
        used["landmarks"] = lms.sources

    if default_head is None:
        report(0.05, "Loading the default head")
        from .default import load_default_head

        default_head = load_default_head()
    report(0.1, "Fitting the default head to FLAME")
    tr = transfer_from_head(
        default_head,
        neutral,
        faces,
        target_skin=skin_ids,
        target_corner_uvs=corner_uvs,
        target_landmarks68=lms.ibug68,
        target_landmarks478=lms.mediapipe478,
        options=options,
    )
    report(0.8, "FLAME's eyes and jaw")
    basis = tr.expression_basis.astype(np.float64)

    # eyeballs turn about FLAME's eye joints as the default head's eyes do
    joints_b = flame_to_blender(flame.rest_joints())
    eye_joint = {}
    if flame.n_joints >= 5:
        for j in (3, 4):
            eye_joint["left" if joints_b[j, 0] > joints_b[:, 0].mean() else "right"] = j
    eye_rot = _eye_rotations(default_head)
    for (k, side), rot_b in eye_rot.items():
        if side not in eyeballs or side not in eye_joint:
            continue
        rot_f = FLAME_TO_BLENDER.T @ rot_b @ FLAME_TO_BLENDER
        pose = np.zeros(flame.n_joints * 3)
        j = eye_joint[side]
        pose[3 * j : 3 * j + 3] = _rotation_to_axis_angle(rot_f)
        moved = flame_to_blender(flame.vertices_np(pose=pose)) - neutral
        idx = eyeballs[side]
        basis[k, idx] = moved[idx]

    jaw_angle = 0.0
    ji = ARKIT_INDEX["jawOpen"]
    if jaw_from_flame and flame.n_joints >= 3:
        tri_all = np.asarray(tr.landmarks68.triangles, dtype=np.int64)
        chin_corners = faces[tri_all[8]]
        w = np.asarray(tr.landmarks68.barycentric[8], dtype=np.float64)
        drop = float(np.linalg.norm(w @ basis[ji, chin_corners]))
        chin_f = blender_to_flame(w @ neutral[chin_corners])
        jaw_f = flame.rest_joints()[2]
        radius = float(np.hypot(chin_f[1] - jaw_f[1], chin_f[2] - jaw_f[2]))
        if drop > 1e-5 and radius > 1e-4:
            jaw_angle = float(np.clip(drop / radius, 0.05, 0.6))
            pose = np.zeros(flame.n_joints * 3)
            pose[6] = jaw_angle
            moved = flame_to_blender(flame.vertices_np(pose=pose)) - neutral
            if float(w @ moved[chin_corners, 2]) > 0:  # opened upward: this file's jaw axis is the other way
                pose[6] = -jaw_angle
                moved = flame_to_blender(flame.vertices_np(pose=pose)) - neutral
            moved[eye_ids] = 0.0
            basis[ji] = moved

    n_id = int(max(0, min(n_shape, flame.n_shape)))
    ident = SLIDER_STD * flame.shapedirs[:, :, :n_id]  # (V, 3, K) FLAME frame
    ident_b = np.einsum("ij,vjk->kvi", FLAME_TO_BLENDER, ident).astype(np.float32)

    parts: dict[str, npt.NDArray[np.int32]] = {"skin": skin_ids.astype(np.int32)}
    if eye_ids.size:
        parts["eyes"] = eye_ids.astype(np.int32)
    stats = {k: round(float(v), 6) for k, v in tr.stats.items()}
    model = HeadModel.from_triangles(
        name=f"FLAME ({path.name})",
        vertices=neutral,
        faces=faces,
        corner_uvs=corner_uvs,
        parts=parts,
        identity_names=[_identity_name(k) for k in range(n_id)],
        identity=ident_b,
        expression_basis=basis,
        landmarks68=tr.landmarks68,
        landmarks478=tr.landmarks478,
        region_masks=tr.region_masks,
        meta={
            "source": "FLAME",
            "version": _flame_version(path),
            "file": str(path),
            "units": "m",
            "axes": "Blender (Z up, face -Y); FLAME (x, y, z) -> (x, -z, y)",
            "identity": f"first {n_id} FLAME shape components; slider 1 = {SLIDER_STD:g} std",
            "expression": "52 ARKit shapes transferred from the default head (deformation transfer)"
            + (f"; jawOpen = FLAME jaw rotation {np.degrees(jaw_angle):.1f} deg" if jaw_angle else "")
            + ("; eye looks turn FLAME's eye joints" if eye_rot else ""),
            "uv": "FLAME texture space"
            if uv_file is not None
            else "automatic (cylindrical): no FLAME UV file",
            "landmarks68": "FLAME embedding"
            if lms.ibug68 is not None and len(lms.ibug68[0]) == 68
            else (
                "FLAME static embedding (17..67) + transferred jaw line"
                if lms.ibug68 is not None
                else "transferred from the default head"
            ),
            "landmarks478": (
                f"{len(lms.mediapipe478[0])} from FLAME's MediaPipe embedding, the rest transferred"
                if lms.mediapipe478 is not None
                else "transferred from the default head"
            ),
            "companion_files": used,
            "transfer": stats,
            "jaw_open_radians": jaw_angle,
            "seconds": round(time.perf_counter() - t0, 3),
        },
    )
    report(1.0, "FLAME head ready")
    return model


def _flame_version(path: Path) -> str:
    m = re.search(r"(20\d\d)", path.name)
    if m:
        return m.group(1)
    return "2020" if path.name == "generic_model.pkl" else "unknown"
