"""HeadModel: the contract every head (default, FLAME, FaceScape) is delivered in.

Geometry is in metres, Blender axes (Z up, the face looking toward -Y, the
head's left on +X). Polygons keep their quads (subdivision wants them) in
Blender's loop layout: ``loop_vertices`` lists every polygon's corners one after
another and ``polygon_starts`` says where each polygon begins, so per-corner
UVs line up with loops exactly as in a Blender mesh.

Identity sliders are signed: ``+s`` blends ``identity_pos`` in, ``-s`` blends
``identity_neg`` in (MakeHuman's incr/decr target pairs; a symmetric model
stores ``identity_neg = -identity_pos``). Expression deltas are the 52 ARKit
shapes, added on top of the identity shape.

Loading and ``evaluate_np`` need only numpy, so the add-on uses them inside
Blender; ``evaluate`` (torch, batched, differentiable) is for the backend.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import numpy.typing as npt

from .arkit import ARKIT_NAMES

if TYPE_CHECKING:  # torch is imported only when evaluate() runs: Blender loads heads with numpy alone
    import torch

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]
AnyFloat = npt.NDArray[np.floating[Any]]

PART_NAMES: tuple[str, ...] = ("skin", "eyes", "teeth_upper", "teeth_lower", "tongue", "eyelashes")
REGION_NAMES: tuple[str, ...] = (
    "forehead",
    "glabella",
    "brows",
    "eyelid_upper",
    "eyelid_lower",
    "crows_feet",
    "nose",
    "nasolabial",
    "cheeks",
    "lip_upper",
    "lip_lower",
    "perioral",
    "chin",
    "jaw_line",
    "neck",
)
FORMAT_VERSION = 1


class HeadFileError(ValueError):
    """A head file that is missing, truncated or not what was expected; the message names it."""


@dataclass(frozen=True)
class Landmarks:
    """Points fixed on the surface: triangle index + barycentric weights (sum to 1)."""

    triangles: IntArray  # (N,)
    barycentric: FloatArray  # (N, 3)

    def __len__(self) -> int:
        return int(self.triangles.shape[0])


@dataclass
class HeadModel:
    name: str
    vertices: FloatArray  # (V, 3) neutral, metres
    loop_vertices: IntArray  # (L,) vertex of each polygon corner
    polygon_starts: IntArray  # (P + 1,) polygon p = loops[starts[p]:starts[p+1]]
    uvs: FloatArray  # (L, 2) per corner, in [0, 1]
    triangles: IntArray  # (F, 3) vertex indices
    triangle_loops: IntArray  # (F, 3) loop indices (for per-corner UVs)
    triangle_polygons: IntArray  # (F,) the polygon each triangle came from
    parts: dict[str, IntArray]  # part name -> vertex indices (disjoint, cover all vertices)
    identity_names: list[str]
    identity_pos: FloatArray  # (K, V, 3) delta at slider +1
    identity_neg: FloatArray  # (K, V, 3) delta at slider -1
    expression_basis: FloatArray  # (52, V, 3) deltas, ARKIT_NAMES order
    landmarks68: Landmarks
    landmarks478: Landmarks
    region_masks: dict[str, FloatArray]  # name -> (R, R) weights in [0,1] over UV space (row 0 = v=1)
    meta: dict[str, Any] = field(default_factory=dict)  # provenance: source package, version, units
    _torch: dict[str, dict[str, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_triangles(
        cls,
        *,
        name: str,
        vertices: AnyFloat,
        faces: npt.NDArray[np.integer[Any]],
        corner_uvs: AnyFloat,
        parts: dict[str, IntArray],
        identity_names: list[str],
        identity: AnyFloat,
        expression_basis: AnyFloat,
        landmarks68: Landmarks,
        landmarks478: Landmarks,
        region_masks: dict[str, FloatArray],
        meta: dict[str, Any],
    ) -> HeadModel:
        """A head whose polygons are its triangles (FLAME, FaceScape, a user's mesh).

        ``corner_uvs`` is (F, 3, 2); ``identity`` (K, V, 3) is symmetric (-1 = -delta).
        """
        nf = int(faces.shape[0])
        ident = identity.astype(np.float32)
        return cls(
            name=name,
            vertices=vertices.astype(np.float32),
            loop_vertices=faces.reshape(-1).astype(np.int32),
            polygon_starts=np.arange(0, 3 * nf + 1, 3, dtype=np.int32),
            uvs=corner_uvs.reshape(-1, 2).astype(np.float32),
            triangles=faces.astype(np.int32),
            triangle_loops=np.arange(3 * nf, dtype=np.int32).reshape(nf, 3),
            triangle_polygons=np.arange(nf, dtype=np.int32),
            parts=parts,
            identity_names=identity_names,
            identity_pos=ident,
            identity_neg=-ident,
            expression_basis=expression_basis.astype(np.float32),
            landmarks68=landmarks68,
            landmarks478=landmarks478,
            region_masks=region_masks,
            meta=meta,
        )

    # --- shape --------------------------------------------------------------------

    @property
    def expression_names(self) -> tuple[str, ...]:
        return ARKIT_NAMES

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_polygons(self) -> int:
        return int(self.polygon_starts.shape[0] - 1)

    def polygon_sizes(self) -> IntArray:
        return np.diff(self.polygon_starts).astype(np.int32)

    def polygon_part(self) -> IntArray:
        """Index into PART_NAMES of each polygon (by its first corner's vertex)."""
        owner = np.zeros(self.n_vertices, dtype=np.int32)
        for i, name in enumerate(PART_NAMES):
            if name in self.parts:
                owner[self.parts[name]] = i
        result: IntArray = owner[self.loop_vertices[self.polygon_starts[:-1]]]
        return result

    # --- evaluation ---------------------------------------------------------------

    def tensors(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The bases as torch tensors on ``device``, flattened to (K, V*3); cached per device."""
        import torch

        key = str(device)
        if key not in self._torch:
            v = self.n_vertices * 3
            self._torch[key] = {
                "neutral": torch.from_numpy(self.vertices.reshape(-1)).to(device),
                "id_pos": torch.from_numpy(self.identity_pos.reshape(-1, v)).to(device),
                "id_neg": torch.from_numpy(self.identity_neg.reshape(-1, v)).to(device),
                "expr": torch.from_numpy(self.expression_basis.reshape(-1, v)).to(device),
            }
        return self._torch[key]

    def evaluate(
        self,
        identity: Optional[torch.Tensor] = None,
        expression: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Vertices (B, V, 3) for identity sliders (B, K) and ARKit weights (B, 52).

        Batched and differentiable in both inputs. Either may be None (zeros);
        a (K,) or (52,) vector is a batch of one. A batch of identities with one
        expression (or the reverse) broadcasts.
        """
        import torch

        ref = identity if identity is not None else expression
        device = ref.device if ref is not None else torch.device("cpu")
        t = self.tensors(device)
        out = t["neutral"].unsqueeze(0)
        if identity is not None:
            ident = identity.reshape(-1, len(self.identity_names)).to(t["id_pos"].dtype)
            out = out + torch.relu(ident) @ t["id_pos"] + torch.relu(-ident) @ t["id_neg"]
        if expression is not None:
            expr = expression.reshape(-1, len(ARKIT_NAMES)).to(t["expr"].dtype)
            out = torch.addmm(out, expr, t["expr"])  # fused: one pass over the (B, V*3) result
        return out.reshape(-1, self.n_vertices, 3)

    def evaluate_np(
        self, identity: Optional[npt.ArrayLike] = None, expression: Optional[npt.ArrayLike] = None
    ) -> FloatArray:
        """One identity (K,) and expression (52,) -> (V, 3), with numpy alone (no torch)."""
        out = self.vertices.astype(np.float32, copy=True)
        if identity is not None:
            out += self.identity_delta(identity)
        if expression is not None:
            weights = np.asarray(expression, dtype=np.float32).reshape(len(ARKIT_NAMES))
            out += np.einsum("e,evd->vd", weights, self.expression_basis)
        return out

    def identity_delta(self, identity: npt.ArrayLike) -> FloatArray:
        """Offset (V, 3) of the identity sliders (K,) from the neutral head."""
        s = np.asarray(identity, dtype=np.float32).reshape(len(self.identity_names))
        pos = np.einsum("k,kvd->vd", np.maximum(s, 0), self.identity_pos)
        neg = np.einsum("k,kvd->vd", np.maximum(-s, 0), self.identity_neg)
        delta: FloatArray = (pos + neg).astype(np.float32)
        return delta

    def identity_vector(self, values: dict[str, float]) -> FloatArray:
        """Slider values by name -> the (K,) vector; an unknown name is a ValueError listing the real ones."""
        vec = np.zeros(len(self.identity_names), dtype=np.float32)
        index = {n: i for i, n in enumerate(self.identity_names)}
        for name, value in values.items():
            if name not in index:
                known = ", ".join(self.identity_names)
                raise ValueError(f"no identity slider {name!r}; this head has: {known}")
            vec[index[name]] = float(value)
        return vec

    def landmark_positions(self, vertices: FloatArray, which: str = "68") -> FloatArray:
        """Landmark points (N, 3) on the given vertex positions (any identity/expression)."""
        lm = self.landmarks68 if which == "68" else self.landmarks478
        corners = vertices[self.triangles[lm.triangles]]  # (N, 3, 3)
        result: FloatArray = np.einsum("nk,nkd->nd", lm.barycentric, corners).astype(np.float32)
        return result

    # --- files --------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """One .npz (compressed arrays + a JSON header); written atomically."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "vertices": self.vertices,
            "loop_vertices": self.loop_vertices,
            "polygon_starts": self.polygon_starts,
            "uvs": self.uvs,
            "triangles": self.triangles,
            "triangle_loops": self.triangle_loops,
            "triangle_polygons": self.triangle_polygons,
            "identity_pos": self.identity_pos.astype(np.float16),
            "identity_neg": self.identity_neg.astype(np.float16),
            "expression_basis": self.expression_basis.astype(np.float16),
            "lm68_tri": self.landmarks68.triangles,
            "lm68_bary": self.landmarks68.barycentric,
            "lm478_tri": self.landmarks478.triangles,
            "lm478_bary": self.landmarks478.barycentric,
        }
        for name, idx in self.parts.items():
            arrays[f"part:{name}"] = idx
        for name, mask in self.region_masks.items():
            arrays[f"region:{name}"] = (np.clip(mask, 0, 1) * 255).round().astype(np.uint8)
        header = {
            "format": "furrow-head",
            "version": FORMAT_VERSION,
            "name": self.name,
            "identity_names": self.identity_names,
            "expression_names": list(ARKIT_NAMES),
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> HeadModel:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except FileNotFoundError as exc:
            raise HeadFileError(f"{path}: no such head file") from exc
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise HeadFileError(f"{path}: not a readable Furrow head file ({exc})") from exc
        try:
            header = json.loads(bytes(data.pop("header")).decode("utf-8"))
            if header.get("format") != "furrow-head" or header.get("version") != FORMAT_VERSION:
                raise HeadFileError(
                    f"{path}: expected a furrow-head file, version {FORMAT_VERSION}; "
                    f"found {header.get('format')!r} version {header.get('version')!r}"
                )
            if header["expression_names"] != list(ARKIT_NAMES):
                raise HeadFileError(f"{path}: its expression basis is not the 52 ARKit shapes in order")
            f32 = np.float32
            return cls(
                name=header["name"],
                vertices=data["vertices"].astype(f32),
                loop_vertices=data["loop_vertices"].astype(np.int32),
                polygon_starts=data["polygon_starts"].astype(np.int32),
                uvs=data["uvs"].astype(f32),
                triangles=data["triangles"].astype(np.int32),
                triangle_loops=data["triangle_loops"].astype(np.int32),
                triangle_polygons=data["triangle_polygons"].astype(np.int32),
                parts={k[5:]: v.astype(np.int32) for k, v in data.items() if k.startswith("part:")},
                identity_names=list(header["identity_names"]),
                identity_pos=data["identity_pos"].astype(f32),
                identity_neg=data["identity_neg"].astype(f32),
                expression_basis=data["expression_basis"].astype(f32),
                landmarks68=Landmarks(data["lm68_tri"].astype(np.int32), data["lm68_bary"].astype(f32)),
                landmarks478=Landmarks(data["lm478_tri"].astype(np.int32), data["lm478_bary"].astype(f32)),
                region_masks={
                    k[7:]: (v.astype(f32) / 255.0) for k, v in data.items() if k.startswith("region:")
                },
                meta=dict(header.get("meta", {})),
            )
        except KeyError as exc:
            raise HeadFileError(f"{path}: truncated head file, {exc.args[0]!r} is missing") from exc
