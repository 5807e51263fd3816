"""The FaceScape bilinear model (v1.6 ``facescape_bm_v1.6_*.npz``) as a Furrow HeadModel.

The npz (written uncompressed by ``np.savez``) holds, as the official toolkit
(``toolkit/src/facescape_bm.py``) reads it: ``shape_bm_core`` float32
(3 * 26278, 52, 50 or 300): a core tensor over (vertex coordinate, expression,
identity factor) whose expression slices are absolute shapes, slice 0 the neutral
face; ``id_mean`` / ``id_var`` (identity factors' mean and variance: the first
factor is the mean shape, about -+1/sqrt(847), the others have variance 1/847);
``fv_indices`` / ``ft_indices`` (triangles, 1-based) and ``texcoords`` (UVs);
``lm_list_v16`` (the 68 iBUG landmarks as 0-based vertex indices); plus the
frontal-face subset, vertex colour model, symmetry and version maps and an
expression GMM, which a HeadModel does not need. A vertex is
``core . id . exp`` with ``exp = (1, w_1..w_51)`` after the toolkit turns slices
1..51 into offsets from slice 0. Units are millimetres, Y up, the face toward +Z,
the head's left on +X (the frame FLAME uses).

The ``*_id_exp.npz`` variant applies PCA to the expressions too (no neutral slice):
it is refused with a message. v1.0-1.3 shipped loose ``core_847_*.npy`` files, not
an npz: also refused, with a message saying which file to use.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ._pickle_compat import read_npy_header
from .flame import FLAME_TO_BLENDER, Progress, flame_to_blender
from .model import HeadFileError, HeadModel, Landmarks
from .transfer import RegistrationOptions, auto_uvs, transfer_from_head

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PathLike = Union[str, Path]

MM = 0.001
SLIDER_STD = 2.0  # an identity slider at +-1 is +-2 standard deviations of that factor
N_EXPRESSIONS = 52
REQUIRED = ("shape_bm_core", "fv_indices", "id_mean", "id_var")


def _fail(path: Path, why: str) -> HeadFileError:
    return HeadFileError(f"{path}: {why}")


def npz_member(path: Path, zf: zipfile.ZipFile, key: str) -> npt.NDArray[Any]:
    """One array of an npz, memory-mapped when stored uncompressed (the 300-identity core is 4.9 GB)."""
    name = key + ".npy"
    info = zf.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise ValueError(f"bad zip entry for {key!r}")
            n_name = int.from_bytes(local[26:28], "little")
            n_extra = int.from_bytes(local[28:30], "little")
            f.seek(info.header_offset + 30 + n_name + n_extra)
            shape, fortran, dtype = read_npy_header(f)
            offset = f.tell()
        if dtype.hasobject:
            raise ValueError(f"{key!r} is an object array")
        count = int(np.prod(shape)) if shape else 1
        if offset + count * dtype.itemsize > path.stat().st_size:
            raise EOFError(f"{key!r} ends past the end of the file")
        return np.memmap(
            path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
        )
    with zf.open(name) as member:
        fmt: Any = np.lib.format  # untyped in numpy's stubs
        arr: npt.NDArray[Any] = fmt.read_array(member, allow_pickle=False)
        return arr


class FaceScapeModel:
    """The bilinear model's arrays (FaceScape frame, millimetres) and its evaluation."""

    def __init__(self, path: PathLike) -> None:
        p = Path(path)
        self.path = p
        if not p.is_file():
            raise _fail(p, "no such FaceScape model file")
        if "_id_exp" in p.name:
            raise _fail(
                p,
                "this FaceScape model has PCA on the expressions too (no neutral face); use "
                "facescape_bm_v1.6_847_50_52_id_front.npz (or _id.npz / _300_52_id.npz)",
            )
        if p.suffix.lower() == ".npy":
            raise _fail(
                p, "a FaceScape v1.0-1.3 core file; use the v1.6 bilinear model npz (facescape_bm_v1.6_*.npz)"
            )
        try:
            zf = zipfile.ZipFile(p)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _fail(
                p, f"not a FaceScape bilinear model npz: truncated or not a zip archive ({exc})"
            ) from exc
        with zf:
            names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
            for key in REQUIRED:
                if key not in names:
                    raise _fail(p, f"not a FaceScape bilinear model: missing {key!r}")
            try:
                core = npz_member(p, zf, "shape_bm_core")
                small = {
                    k: np.asarray(npz_member(p, zf, k))
                    for k in ("fv_indices", "ft_indices", "texcoords", "id_mean", "id_var", "lm_list_v16")
                    if k in names
                }
            except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as exc:
                raise _fail(p, f"truncated or damaged FaceScape model ({exc})") from exc
        if core.ndim != 3 or core.shape[0] % 3 or core.shape[1] != N_EXPRESSIONS:
            raise _fail(
                p,
                f"'shape_bm_core' has shape {tuple(core.shape)}, "
                "expected (3 x vertices, 52, identity factors)",
            )
        self.core = core  # (3V, 52, K), possibly memory-mapped
        self.n_vertices = int(core.shape[0] // 3)
        self.n_identity = int(core.shape[2])
        self.id_mean = np.asarray(small["id_mean"], dtype=np.float64).ravel()
        self.id_var = np.asarray(small["id_var"], dtype=np.float64).ravel()
        if self.id_mean.shape != (self.n_identity,) or self.id_var.shape != (self.n_identity,):
            raise _fail(
                p, f"'id_mean'/'id_var' should hold {self.n_identity} values like the core's last axis"
            )
        fv = np.asarray(small["fv_indices"], dtype=np.int64)
        if fv.ndim != 2 or fv.shape[1] != 3:
            raise _fail(p, f"'fv_indices' has shape {fv.shape}, expected (triangles, 3)")
        self.triangles = self._zero_based(fv, self.n_vertices, "fv_indices")
        self.corner_uvs: Optional[F64] = None
        if "ft_indices" in small and "texcoords" in small:
            tc = np.asarray(small["texcoords"], dtype=np.float64)
            ft = np.asarray(small["ft_indices"], dtype=np.int64)
            if ft.shape == fv.shape and tc.ndim == 2 and tc.shape[1] >= 2:
                self.corner_uvs = np.clip(
                    tc[:, :2][self._zero_based(ft, tc.shape[0], "ft_indices")], 0.0, 1.0
                )
        self.landmarks68: Optional[I64] = None
        if "lm_list_v16" in small:
            lm = np.asarray(small["lm_list_v16"], dtype=np.int64).ravel()
            if lm.shape == (68,) and lm.min() >= 0 and lm.max() < self.n_vertices:
                self.landmarks68 = lm
        self._neutral_core: Optional[F64] = None

    def _zero_based(self, idx: I64, n: int, key: str) -> I64:
        lo, hi = int(idx.min()), int(idx.max())
        if lo >= 1 and hi <= n:
            return idx - 1  # the toolkit writes these straight into OBJ files: 1-based
        if lo >= 0 and hi < n:
            return idx
        raise _fail(self.path, f"{key!r} indexes {lo}..{hi}, but there are {n} entries")

    @property
    def neutral_core(self) -> F64:
        """(3V, K) float64: the neutral expression slice, the only part a HeadModel needs."""
        if self._neutral_core is None:
            self._neutral_core = np.asarray(self.core[:, 0, :], dtype=np.float64)
        return self._neutral_core

    def evaluate(
        self, identity: Optional[npt.ArrayLike] = None, expression: Optional[npt.ArrayLike] = None
    ) -> F64:
        """Vertices (V, 3) in mm, FaceScape frame: identity factors (K,) (default id_mean) and the
        51 expression weights on top of the neutral (the toolkit's ``exp[1:]``)."""
        ident = self.id_mean if identity is None else np.asarray(identity, dtype=np.float64)
        shape = self.neutral_core @ ident
        if expression is not None:
            w = np.asarray(expression, dtype=np.float64).ravel()
            if w.shape[0] != N_EXPRESSIONS - 1:
                raise ValueError(f"{w.shape[0]} expression weights, expected {N_EXPRESSIONS - 1}")
            active = np.flatnonzero(w)
            for e in active:
                shape = shape + w[e] * (
                    np.asarray(self.core[:, e + 1, :], dtype=np.float64) @ ident - self.neutral_core @ ident
                )
        result: F64 = shape.reshape(-1, 3)
        return result


def _vertex_landmarks(triangles: I64, vertex_ids: I64) -> Landmarks:
    """Landmarks at vertices: a triangle using each vertex, weight 1 on that corner."""
    first = np.full(int(triangles.max()) + 1, -1, dtype=np.int64)
    flat = triangles.ravel()
    order = np.arange(flat.size)[::-1]
    first[flat[order]] = order  # the lowest corner index using each vertex wins
    corner = first[vertex_ids]
    if np.any(corner < 0):
        raise ValueError("a landmark vertex is used by no triangle")
    tri = corner // 3
    bary = np.zeros((vertex_ids.size, 3), dtype=np.float32)
    bary[np.arange(vertex_ids.size), corner % 3] = 1.0
    return Landmarks(tri.astype(np.int32), bary)


def facescape_head_model(
    npz_path: PathLike,
    *,
    n_identity: int = 20,
    default_head: Optional[HeadModel] = None,
    options: Optional[RegistrationOptions] = None,
    progress: Optional[Progress] = None,
) -> HeadModel:
    """A HeadModel from FaceScape's bilinear model: its mean neutral face, identity sliders, the default
    head's ARKit shapes.

    Identity: sliders ``id00``... move the first ``n_identity`` identity factors
    from ``id_mean`` by ``SLIDER_STD`` standard deviations (sqrt(id_var)) at +-1;
    factor 0 is the overall mean shape, so ``id00`` mostly scales the head. The 51
    FaceScape expression slices have no names (they are not ARKit's), so the ARKit
    basis comes from ``default_head`` (the built-in one when None) by registration
    + deformation transfer, guided by the file's 68 landmarks. The mesh has no eyes,
    teeth or tongue: only the skin part.
    """
    t0 = time.perf_counter()

    def report(frac: float, msg: str) -> None:
        if progress is not None:
            progress(frac, msg)

    path = Path(npz_path)
    report(0.0, f"Reading {path.name}")
    fs = FaceScapeModel(path)
    nv = fs.n_vertices
    tri = fs.triangles
    native = fs.evaluate()
    height = float(np.ptp(native[:, 1]))
    if 50.0 < height < 1000.0:
        unit = MM  # the released models: millimetres (a head about 250 mm tall)
    elif 0.05 < height < 1.0:
        unit = 1.0  # already metres (a re-exported model)
    else:
        raise _fail(path, f"the mean face is {height:g} units tall; expected millimetres (about 250)")
    neutral = flame_to_blender(native * unit)
    corner_uvs = fs.corner_uvs
    uv_note = "FaceScape texcoords"
    if corner_uvs is None:
        corner_uvs = auto_uvs(neutral, tri, [])
        uv_note = "automatic (cylindrical): the file has no texcoords/ft_indices"
    lm68 = None
    if fs.landmarks68 is not None:
        lm68 = (np.arange(68, dtype=np.int64), _vertex_landmarks(tri, fs.landmarks68))
    if default_head is None:
        report(0.05, "Loading the default head")
        from .default import load_default_head

        default_head = load_default_head()
    report(0.1, "Fitting the default head to FaceScape")
    tr = transfer_from_head(
        default_head,
        neutral,
        tri,
        target_corner_uvs=corner_uvs,
        target_landmarks68=lm68,
        options=options,
    )
    report(0.85, "Identity sliders")
    k = int(max(0, min(n_identity, fs.n_identity)))
    sd = np.sqrt(np.maximum(fs.id_var[:k], 0.0))
    ident_f = (fs.neutral_core[:, :k] * (SLIDER_STD * sd)).T.reshape(k, nv, 3) * unit
    ident = np.einsum("ij,kvj->kvi", FLAME_TO_BLENDER, ident_f).astype(np.float32)
    stats = {key: round(float(val), 6) for key, val in tr.stats.items()}
    model = HeadModel.from_triangles(
        name=f"FaceScape ({path.name})",
        vertices=neutral,
        faces=tri,
        corner_uvs=corner_uvs,
        parts={"skin": np.arange(nv, dtype=np.int32)},
        identity_names=[f"id{i:02d}" for i in range(k)],
        identity=ident,
        expression_basis=tr.expression_basis,
        landmarks68=tr.landmarks68,
        landmarks478=tr.landmarks478,
        region_masks=tr.region_masks,
        meta={
            "source": "FaceScape bilinear model",
            "file": str(path),
            "units": "m (file: mm)" if unit == MM else "m (file: m)",
            "axes": "Blender (Z up, face -Y); FaceScape (x, y, z) -> (x, -z, y)",
            "identity": f"first {k} identity factors around id_mean; slider 1 = {SLIDER_STD:g} std",
            "identity_factors_in_file": fs.n_identity,
            "expression": "52 ARKit shapes transferred from the default head (deformation transfer)",
            "uv": uv_note,
            "landmarks68": "lm_list_v16 (file)" if lm68 is not None else "transferred from the default head",
            "landmarks478": "transferred from the default head",
            "transfer": stats,
            "seconds": round(time.perf_counter() - t0, 3),
        },
    )
    report(1.0, "FaceScape head ready")
    return model
