"""A HeadModel as binary glTF 2.0 (.glb) with the 52 ARKit shapes as morph targets.

Layout: one scene, one node, one mesh, one primitive per part (each with its own
PBR metallic-roughness material). glTF attributes are per vertex, so a model
vertex that carries different UVs on different corners (a UV seam) becomes one
glTF vertex per distinct (vertex, UV) pair; ``GltfPrimitive.source_vertices``
says which model vertex each one came from. Polygons are written as the model's
own triangulation (glTF has no quads).

Every primitive carries all 52 targets in ARKit order, so target ``k`` means the
same shape everywhere, and ``mesh.extras.targetNames`` names them (Blender's
importer and three.js read that). A target that does not move any vertex of a
primitive is an accessor without a buffer view (all zeros by the spec); one that
moves few of them is a sparse accessor; the rest are dense.

Axes: glTF is Y up with the front toward +Z, so Blender's ``(x, y, z)`` is
written ``(x, z, -y)`` (a rotation: windings are kept). UVs are ``(u, 1 - v)``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from .. import __version__
from ..heads.arkit import ARKIT_NAMES
from ..heads.model import PART_NAMES, FloatArray, HeadModel, IntArray
from .atomic import atomic_path
from .head_mesh import PART_MATERIALS, posed_vertices, vertex_normals

GLB_MAGIC = 0x46546C67  # b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
FLOAT = 5126
TRIANGLES = 4


@dataclass(frozen=True)
class GltfPrimitive:
    """One part as written: its glTF vertices and where each came from."""

    part: str
    source_vertices: IntArray  # (n,) model vertex of each glTF vertex
    uvs: FloatArray  # (n, 2) in the model's convention (v up)
    indices: IntArray  # (m, 3) into this primitive's vertices


@dataclass(frozen=True)
class GlbResult:
    path: Path
    primitives: list[GltfPrimitive]
    n_vertices: int
    n_triangles: int
    n_targets: int
    n_bytes: int


def to_gltf_axes(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Blender axes (Z up, face toward -Y) -> glTF axes (Y up, front toward +Z)."""
    out: npt.NDArray[np.float32] = np.ascontiguousarray(
        np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1), dtype=np.float32
    )
    return out


def split_primitives(model: HeadModel) -> list[GltfPrimitive]:
    """The model's triangles grouped by part, vertices split per distinct (vertex, UV) pair."""
    uv_table, uv_id = np.unique(model.uvs.astype(np.float32), axis=0, return_inverse=True)
    uv_id = uv_id.reshape(-1).astype(np.int64)
    n_uv = max(1, int(uv_table.shape[0]))
    tri_part = model.polygon_part()[model.triangle_polygons]
    out: list[GltfPrimitive] = []
    for i, name in enumerate(PART_NAMES):
        mask = tri_part == i
        if not mask.any():
            continue
        keys = model.triangles[mask].astype(np.int64) * n_uv + uv_id[model.triangle_loops[mask]]
        unique, inverse = np.unique(keys.reshape(-1), return_inverse=True)
        out.append(
            GltfPrimitive(
                part=name,
                source_vertices=(unique // n_uv).astype(np.int32),
                uvs=uv_table[unique % n_uv].astype(np.float32),
                indices=inverse.reshape(-1, 3).astype(np.int32),
            )
        )
    return out


def _floats(values: npt.NDArray[np.float32]) -> list[float]:
    # float(np.float32) is exact, so the JSON bounds equal the stored values bit for bit.
    return [float(x) for x in values.astype(np.float32)]


class _Builder:
    """Accumulates buffer views (each 4-byte aligned) and accessors for one binary buffer."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.length = 0
        self.buffer_views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: bytes, target: Optional[int] = None) -> int:
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        pad = (-len(data)) % 4
        self.blobs.append(data + b"\0" * pad)
        self.length += len(data) + pad
        self.buffer_views.append(view)
        return len(self.buffer_views) - 1

    def accessor(self, fields: dict[str, Any]) -> int:
        self.accessors.append(fields)
        return len(self.accessors) - 1

    def floats(
        self, array: npt.NDArray[np.float32], kind: str, bounds: bool = False, target: Optional[int] = None
    ) -> int:
        array = np.ascontiguousarray(array, dtype="<f4")
        fields: dict[str, Any] = {
            "bufferView": self.view(array.tobytes(), target),
            "componentType": FLOAT,
            "count": int(array.shape[0]),
            "type": kind,
        }
        if bounds:
            fields["min"] = _floats(array.min(axis=0))
            fields["max"] = _floats(array.max(axis=0))
        return self.accessor(fields)

    def indices(self, indices: IntArray, n_vertices: int) -> int:
        small = n_vertices <= 0xFFFF
        data = np.ascontiguousarray(indices.reshape(-1), dtype="<u2" if small else "<u4")
        return self.accessor(
            {
                "bufferView": self.view(data.tobytes(), ELEMENT_ARRAY_BUFFER),
                "componentType": UNSIGNED_SHORT if small else UNSIGNED_INT,
                "count": int(data.shape[0]),
                "type": "SCALAR",
            }
        )

    def morph_positions(self, deltas: npt.NDArray[np.float32]) -> int:
        """A target's POSITION deltas (n, 3): no buffer view if all zero, sparse if that is smaller."""
        deltas = np.ascontiguousarray(deltas, dtype="<f4")
        n = int(deltas.shape[0])
        moved = np.flatnonzero(np.any(deltas != 0, axis=1))
        fields: dict[str, Any] = {"componentType": FLOAT, "count": n, "type": "VEC3"}
        lo = deltas.min(axis=0) if n else np.zeros(3, np.float32)
        hi = deltas.max(axis=0) if n else np.zeros(3, np.float32)
        fields["min"], fields["max"] = _floats(lo), _floats(hi)
        index_size = 2 if n <= 0xFFFF else 4
        if moved.size == 0:
            return self.accessor(fields)
        if moved.size * (index_size + 12) < n * 12:
            idx = moved.astype("<u2" if index_size == 2 else "<u4")
            fields["sparse"] = {
                "count": int(moved.size),
                "indices": {
                    "bufferView": self.view(idx.tobytes()),
                    "componentType": UNSIGNED_SHORT if index_size == 2 else UNSIGNED_INT,
                },
                "values": {"bufferView": self.view(np.ascontiguousarray(deltas[moved]).tobytes())},
            }
            return self.accessor(fields)
        fields["bufferView"] = self.view(deltas.tobytes(), ARRAY_BUFFER)
        return self.accessor(fields)

    def binary(self) -> bytes:
        return b"".join(self.blobs)


def build_gltf(
    model: HeadModel,
    identity: Optional[npt.ArrayLike] = None,
    expression: Optional[npt.ArrayLike] = None,
) -> tuple[dict[str, Any], bytes, list[GltfPrimitive]]:
    """The glTF JSON document, its binary buffer and the primitives' layout.

    The base shape is the head at ``identity``; ``expression`` (52,) becomes the
    mesh's default morph weights (zeros when None), so the targets stay exact.
    """
    base = posed_vertices(model, identity, None)
    if not np.isfinite(base).all():
        raise ValueError("the head's vertices are not all finite at this identity")
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    if expression is not None:
        weights = np.asarray(expression, np.float32).reshape(len(ARKIT_NAMES))
    normals = vertex_normals(base, model.triangles)
    basis = model.expression_basis
    prims = split_primitives(model)
    b = _Builder()
    materials: list[dict[str, Any]] = []
    primitives: list[dict[str, Any]] = []
    for prim in prims:
        src = prim.source_vertices
        look = PART_MATERIALS[prim.part]
        material: dict[str, Any] = {
            "name": prim.part,
            "pbrMetallicRoughness": {
                "baseColorFactor": [*look.colour, 1.0],
                "metallicFactor": 0.0,
                "roughnessFactor": look.roughness,
            },
        }
        if look.double_sided:
            material["doubleSided"] = True
        materials.append(material)
        uv = np.stack([prim.uvs[:, 0], 1.0 - prim.uvs[:, 1]], axis=1).astype(np.float32)
        attributes = {
            "POSITION": b.floats(to_gltf_axes(base[src]), "VEC3", bounds=True, target=ARRAY_BUFFER),
            "NORMAL": b.floats(to_gltf_axes(normals[src]), "VEC3", target=ARRAY_BUFFER),
            "TEXCOORD_0": b.floats(uv, "VEC2", target=ARRAY_BUFFER),
        }
        targets = [{"POSITION": b.morph_positions(to_gltf_axes(basis[k][src]))} for k in range(len(basis))]
        primitives.append(
            {
                "attributes": attributes,
                "indices": b.indices(prim.indices, int(src.shape[0])),
                "material": len(materials) - 1,
                "mode": TRIANGLES,
                "targets": targets,
            }
        )
    binary = b.binary()
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": f"Furrow {__version__}"},
        "scene": 0,
        "scenes": [{"name": "Scene", "nodes": [0]}],
        "nodes": [{"name": model.name, "mesh": 0}],
        "meshes": [
            {
                "name": model.name,
                "primitives": primitives,
                "weights": _floats(weights),
                "extras": {"targetNames": list(ARKIT_NAMES)},
            }
        ],
        "materials": materials,
        "accessors": b.accessors,
        "bufferViews": b.buffer_views,
        "buffers": [{"byteLength": len(binary)}],
    }
    return doc, binary, prims


def glb_bytes(doc: dict[str, Any], binary: bytes) -> bytes:
    """A GLB container: 12-byte header, JSON chunk padded with spaces, BIN chunk padded with zeros."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    binary += b"\0" * ((-len(binary)) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<III", GLB_MAGIC, GLB_VERSION, total),
            struct.pack("<II", len(text), CHUNK_JSON),
            text,
            struct.pack("<II", len(binary), CHUNK_BIN),
            binary,
        ]
    )


def write_glb(
    model: HeadModel,
    path: Path,
    *,
    identity: Optional[npt.ArrayLike] = None,
    expression: Optional[npt.ArrayLike] = None,
) -> GlbResult:
    """Write ``path`` (.glb) atomically: it appears complete or not at all."""
    path = Path(path)
    doc, binary, prims = build_gltf(model, identity, expression)
    data = glb_bytes(doc, binary)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return GlbResult(
        path=path,
        primitives=prims,
        n_vertices=sum(int(p.source_vertices.shape[0]) for p in prims),
        n_triangles=sum(int(p.indices.shape[0]) for p in prims),
        n_targets=len(ARKIT_NAMES),
        n_bytes=len(data),
    )
