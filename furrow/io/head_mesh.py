"""What the head writers share: the posed vertices, smooth normals, and a material per part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import numpy.typing as npt

from ..heads.model import PART_NAMES, FloatArray, HeadModel, IntArray


@dataclass(frozen=True)
class PartMaterial:
    """A plausible flat look for one part: linear base colour, roughness, and whether it is a thin sheet."""

    colour: tuple[float, float, float]
    roughness: float
    specular: float
    double_sided: bool = False


PART_MATERIALS: dict[str, PartMaterial] = {
    "skin": PartMaterial((0.80, 0.56, 0.45), 0.55, 0.25),
    "eyes": PartMaterial((0.90, 0.90, 0.88), 0.08, 0.50),
    "teeth_upper": PartMaterial((0.90, 0.86, 0.76), 0.30, 0.40),
    "teeth_lower": PartMaterial((0.90, 0.86, 0.76), 0.30, 0.40),
    "tongue": PartMaterial((0.72, 0.30, 0.32), 0.40, 0.30),
    "eyelashes": PartMaterial((0.05, 0.04, 0.035), 0.80, 0.10, double_sided=True),
}
assert set(PART_MATERIALS) == set(PART_NAMES)


def posed_vertices(
    model: HeadModel,
    identity: Optional[npt.ArrayLike] = None,
    expression: Optional[npt.ArrayLike] = None,
) -> FloatArray:
    """The model's vertices (V, 3) at the given identity sliders (K,) and ARKit weights (52,)."""
    if identity is None and expression is None:
        return np.ascontiguousarray(model.vertices, dtype=np.float32)
    return np.ascontiguousarray(model.evaluate_np(identity, expression), dtype=np.float32)


def vertex_normals(vertices: FloatArray, triangles: IntArray) -> FloatArray:
    """Area-weighted smooth normals (V, 3), unit length; a vertex on no triangle gets +Z."""
    v = vertices.astype(np.float64)
    tri = v[triangles]
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    acc = np.zeros_like(v)
    for k in range(3):
        np.add.at(acc, triangles[:, k], face)
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    out = np.where(length > 1e-20, acc / np.maximum(length, 1e-30), [0.0, 0.0, 1.0])
    result: FloatArray = out.astype(np.float32)
    return result


def polygon_part_names(model: HeadModel) -> list[tuple[str, IntArray]]:
    """(part name, polygon indices) for every part that owns polygons, in PART_NAMES order."""
    owner = model.polygon_part()
    out: list[tuple[str, IntArray]] = []
    for i, name in enumerate(PART_NAMES):
        polys = np.flatnonzero(owner == i).astype(np.int32)
        if polys.size:
            out.append((name, polys))
    return out
