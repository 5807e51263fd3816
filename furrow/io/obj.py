"""A HeadModel as Wavefront OBJ + MTL.

Vertex ``i`` of the file is vertex ``i`` of the model, posed at the chosen
identity and expression, in metres. Coordinates follow OBJ's usual convention
(Y up, the face toward +Z: Blender's ``(x, y, z)`` is written ``(x, z, -y)``),
which Blender's OBJ importer with its default axes turns back into Blender's.
Polygons keep their quads; every face corner carries its own UV (``vt`` rows
are the distinct UVs); one ``g`` + ``usemtl`` per part; the .mtl beside it has
one material per part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from ..heads.model import HeadModel
from .atomic import atomic_paths
from .head_mesh import PART_MATERIALS, polygon_part_names, posed_vertices, vertex_normals


@dataclass(frozen=True)
class ObjResult:
    obj: Path
    mtl: Path
    n_vertices: int
    n_uvs: int
    n_faces: int


def to_obj_axes(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Blender axes (Z up, face toward -Y) -> OBJ's conventional Y up, face toward +Z."""
    out: npt.NDArray[np.float32] = np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1)
    return out


def _rows(prefix: str, values: npt.NDArray[np.floating[Any]], digits: int) -> str:
    if values.size == 0:
        return ""
    cols = values.shape[1]
    line = prefix + (f" %.{digits}f" * cols) + "\n"
    return (line * values.shape[0]) % tuple(values.astype(np.float64).ravel().tolist())


def _safe_name(text: str) -> str:
    return "_".join(text.split()) or "head"


def mtl_text(parts: list[str], albedo: Optional[str] = None) -> str:
    lines = ["# Furrow head materials: one per part", ""]
    for name in parts:
        m = PART_MATERIALS[name]
        r, g, b = m.colour
        s = m.specular
        lines += [
            f"newmtl {name}",
            f"Kd {r:.4f} {g:.4f} {b:.4f}",
            "Ka 0.0000 0.0000 0.0000",
            f"Ks {s:.4f} {s:.4f} {s:.4f}",
            f"Ns {max(1.0, (1.0 - m.roughness) ** 2 * 900.0):.1f}",
            f"Pr {m.roughness:.4f}",
            "Pm 0.0000",
            "d 1.0000",
            "illum 2",
        ]
        if name == "skin" and albedo:
            lines.append(f"map_Kd {albedo}")
        lines.append("")
    return "\n".join(lines)


def _albedo_reference(albedo: Path, folder: Path) -> str:
    """The texture path as the .mtl should hold it: relative when it lies under the .mtl's folder."""
    albedo = Path(os.path.abspath(albedo))
    folder = Path(os.path.abspath(folder))
    ref = albedo.relative_to(folder).as_posix() if albedo.is_relative_to(folder) else albedo.as_posix()
    if "\n" in ref or "\r" in ref:
        raise ValueError(f"albedo path {str(albedo)!r} has a line break; an .mtl cannot hold it")
    return ref


def write_obj(
    model: HeadModel,
    path: Path,
    *,
    identity: Optional[npt.ArrayLike] = None,
    expression: Optional[npt.ArrayLike] = None,
    albedo: Optional[Path] = None,
    normals: bool = False,
) -> ObjResult:
    """Write ``path`` (.obj) and the .mtl beside it (same stem); both appear only when both are complete.

    ``identity`` (K,) sliders and ``expression`` (52,) ARKit weights pose the
    head (None: neutral). ``albedo`` puts ``map_Kd`` on the skin material.
    ``normals`` adds smooth per-vertex ``vn`` rows.
    """
    path = Path(path)
    mtl_path = path.with_suffix(".mtl")
    verts = posed_vertices(model, identity, expression)
    uv_table, uv_index = np.unique(model.uvs.astype(np.float32), axis=0, return_inverse=True)
    uv_index = uv_index.reshape(-1)
    groups = polygon_part_names(model)

    out: list[str] = [
        f"# Furrow head {model.name!r}: {model.n_vertices} vertices, {model.n_polygons} polygons",
        "# metres; Y up, the face looking toward +Z",
        f"mtllib {mtl_path.name}",
        f"o {_safe_name(model.name)}",
        _rows("v", to_obj_axes(verts), 6),
        _rows("vt", uv_table, 6),
    ]
    if normals:
        out.append(_rows("vn", to_obj_axes(vertex_normals(verts, model.triangles)), 5))
    out.append("s 1")

    starts = model.polygon_starts.tolist()
    v1 = (model.loop_vertices + 1).tolist()
    t1 = (uv_index + 1).tolist()
    for name, polys in groups:
        out.append(f"g {name}")
        out.append(f"usemtl {name}")
        faces: list[str] = []
        for p in polys.tolist():
            a, b = starts[p], starts[p + 1]
            if normals:
                corners = " ".join(f"{v1[k]}/{t1[k]}/{v1[k]}" for k in range(a, b))
            else:
                corners = " ".join(f"{v1[k]}/{t1[k]}" for k in range(a, b))
            faces.append("f " + corners)
        out.append("\n".join(faces))
    obj_text = "\n".join(s.rstrip("\n") for s in out if s) + "\n"
    albedo_ref = _albedo_reference(albedo, mtl_path.parent) if albedo is not None else None
    text_mtl = mtl_text([name for name, _ in groups], albedo_ref)

    with atomic_paths(path, mtl_path) as (tmp_obj, tmp_mtl):
        tmp_obj.write_text(obj_text, encoding="utf-8")
        tmp_mtl.write_text(text_mtl, encoding="utf-8")
    return ObjResult(path, mtl_path, model.n_vertices, int(uv_table.shape[0]), model.n_polygons)
