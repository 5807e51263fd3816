"""Head meshes written as OBJ + MTL and as binary glTF, read back by hand and by Blender's own importers."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.model import PART_NAMES, HeadModel
from furrow.io import gltf as gltf_io
from furrow.io.gltf import GlbResult, write_glb
from furrow.io.obj import write_obj
from tests.head_factory import make_head

IDENTITY = np.array([0.5, -0.7], np.float32)  # head-size up, nose-length down (its own negative shape)


@pytest.fixture(scope="module")
def head() -> HeadModel:
    return make_head()


def _expression(**weights: float) -> np.ndarray:
    e = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, w in weights.items():
        e[ARKIT_INDEX[name]] = w
    return e


def _present_parts(model: HeadModel) -> list[str]:
    owner = model.polygon_part()
    return [name for i, name in enumerate(PART_NAMES) if (owner == i).any()]


# --- OBJ ------------------------------------------------------------------------------------------


def _parse_obj(path: Path) -> dict[str, Any]:
    v: list[list[float]] = []
    vt: list[list[float]] = []
    vn: list[list[float]] = []
    faces: list[tuple[str, str, list[list[int]]]] = []  # (group, material, corners [v, vt, vn?])
    group = material = ""
    mtllib = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "v":
            v.append([float(x) for x in rest.split()])
        elif key == "vt":
            vt.append([float(x) for x in rest.split()])
        elif key == "vn":
            vn.append([float(x) for x in rest.split()])
        elif key == "g":
            group = rest
        elif key == "usemtl":
            material = rest
        elif key == "mtllib":
            mtllib = rest
        elif key == "f":
            faces.append((group, material, [[int(i) for i in c.split("/")] for c in rest.split()]))
        else:
            assert key in {"o", "s"}, line
    return {"v": np.array(v), "vt": np.array(vt), "vn": np.array(vn), "f": faces, "mtllib": mtllib}


def _parse_mtl(path: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "newmtl":
            current = out.setdefault(rest, {})
        else:
            current[key] = rest
    return out


def _from_obj_axes(p: np.ndarray) -> np.ndarray:
    return np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1)


def test_obj_holds_every_vertex_uv_and_polygon_grouped_by_part(head: HeadModel, tmp_path: Path) -> None:
    expression = _expression(jawOpen=1.0, eyeBlinkLeft=0.5)
    result = write_obj(head, tmp_path / "head.obj", identity=IDENTITY, expression=expression)
    assert result.obj == tmp_path / "head.obj" and result.mtl == tmp_path / "head.mtl"
    obj = _parse_obj(result.obj)
    assert obj["mtllib"] == "head.mtl"

    posed = head.evaluate_np(IDENTITY, expression)
    assert obj["v"].shape == (head.n_vertices, 3)
    np.testing.assert_allclose(_from_obj_axes(obj["v"]), posed, atol=1e-6)
    assert len(obj["vt"]) == len(np.unique(head.uvs, axis=0)) < len(head.uvs)  # distinct UVs, seams shared
    assert len(obj["f"]) == head.n_polygons

    # One group + material per part, in PART_NAMES order, each holding exactly that part's polygons.
    parts = _present_parts(head)
    assert parts == list(PART_NAMES)  # the synthetic head has all six
    groups = list(dict.fromkeys(g for g, _, _ in obj["f"]))
    assert groups == parts
    assert all(g == m for g, m, _ in obj["f"])
    owner = head.polygon_part()
    polys = np.concatenate([np.flatnonzero(owner == PART_NAMES.index(p)) for p in parts])

    # Face corners: valid 1-based indices; vertices and UVs exactly the model's, loop by loop.
    sizes = head.polygon_sizes()
    assert [len(c) for _, _, c in obj["f"]] == sizes[polys].tolist()
    assert {3, 4} <= set(sizes.tolist())  # quads kept, triangles too
    for (group, _, corners), p in zip(obj["f"], polys, strict=True):
        assert PART_NAMES[owner[p]] == group
        loops = np.arange(head.polygon_starts[p], head.polygon_starts[p + 1])
        c = np.array(corners)
        assert c.min() >= 1 and c[:, 0].max() <= len(obj["v"]) and c[:, 1].max() <= len(obj["vt"])
        assert (c[:, 0] - 1).tolist() == head.loop_vertices[loops].tolist()
        np.testing.assert_allclose(obj["vt"][c[:, 1] - 1], head.uvs[loops], atol=1e-6)


def test_obj_normals_are_optional_unit_and_per_vertex(head: HeadModel, tmp_path: Path) -> None:
    plain = _parse_obj(write_obj(head, tmp_path / "plain.obj").obj)
    assert len(plain["vn"]) == 0 and all(len(c) == 2 for _, _, cs in plain["f"] for c in cs)
    obj = _parse_obj(write_obj(head, tmp_path / "n.obj", normals=True).obj)
    assert obj["vn"].shape == (head.n_vertices, 3)
    np.testing.assert_allclose(np.linalg.norm(obj["vn"], axis=1), 1.0, atol=1e-4)
    assert all(c[0] == c[2] for _, _, cs in obj["f"] for c in cs)
    # On the skin sphere the normal points away from the centre.
    skin = head.parts["skin"]
    outward = np.einsum("ij,ij->i", _from_obj_axes(obj["vn"])[skin], head.vertices[skin])
    assert (outward > 0).all()


def test_mtl_has_one_material_per_part_and_the_albedo_on_skin_only(head: HeadModel, tmp_path: Path) -> None:
    (tmp_path / "textures").mkdir()
    albedo = tmp_path / "textures" / "albedo.png"
    result = write_obj(head, tmp_path / "head.obj", albedo=albedo)
    mtl = _parse_mtl(result.mtl)
    assert list(mtl) == list(PART_NAMES)
    for name, fields in mtl.items():
        kd = [float(x) for x in fields["Kd"].split()]
        assert len(kd) == 3 and all(0 <= x <= 1 for x in kd), name
        assert ("map_Kd" in fields) == (name == "skin")
    assert mtl["skin"]["map_Kd"] == "textures/albedo.png"  # relative to the .mtl's folder
    assert mtl["skin"]["Kd"] != mtl["eyes"]["Kd"]

    (tmp_path / "out").mkdir()
    plain = write_obj(head, tmp_path / "out" / "h.obj")
    assert "map_Kd" not in _parse_mtl(plain.mtl)["skin"]
    outside = write_obj(head, tmp_path / "out" / "h2.obj", albedo=albedo)
    assert _parse_mtl(outside.mtl)["skin"]["map_Kd"] == albedo.as_posix()  # not under the folder: absolute


def test_obj_write_is_atomic(head: HeadModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "head.obj"
    write_obj(head, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["head.mtl", "head.obj"]

    calls = []
    real_write_text = Path.write_text

    def fail_on_second(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        calls.append(self)
        if len(calls) == 2:
            real_write_text(self, data[:10], *args, **kwargs)  # half of the .mtl is on disk ...
            raise OSError(28, "No space left on device")  # ... when the disk fills up
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_on_second)
    with pytest.raises(OSError, match="No space"):
        write_obj(head, target, identity=IDENTITY)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # the old files untouched, no temporary file left behind

    with pytest.raises(FileNotFoundError):
        write_obj(head, tmp_path / "missing" / "head.obj")
    assert not (tmp_path / "missing").exists()


# --- glTF: the container, read by hand --------------------------------------------------------------

COMPONENT = {5121: ("<u1", 1), 5123: ("<u2", 2), 5125: ("<u4", 4), 5126: ("<f4", 4)}
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _parse_glb(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67 and data[:4] == b"glTF"
    assert version == 2
    assert length == len(data) and length % 4 == 0
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    text = data[20 : 20 + json_len]
    stripped = text.rstrip(b" ")
    assert text[len(stripped) :] == b" " * (json_len - len(stripped)) and json_len - len(stripped) < 4
    doc = json.loads(text.decode("utf-8"))
    offset = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<II", data, offset)
    assert bin_type == 0x004E4942 and bin_len % 4 == 0
    assert offset + 8 + bin_len == length  # exactly two chunks
    binary = data[offset + 8 : offset + 8 + bin_len]
    assert doc["buffers"] == [{"byteLength": doc["buffers"][0]["byteLength"]}]  # no uri: the GLB chunk
    assert bin_len - 3 <= doc["buffers"][0]["byteLength"] <= bin_len
    assert binary[doc["buffers"][0]["byteLength"] :] == b"\0" * (bin_len - doc["buffers"][0]["byteLength"])
    return doc, binary


def _view_bytes(doc: dict[str, Any], binary: bytes, index: int) -> bytes:
    view = doc["bufferViews"][index]
    start = view.get("byteOffset", 0)
    return binary[start : start + view["byteLength"]]


def _read(doc: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    """Decode an accessor: dense, zero-initialised (no bufferView), or sparse."""
    acc = doc["accessors"][index]
    dtype, _ = COMPONENT[acc["componentType"]]
    width = WIDTH[acc["type"]]
    if "bufferView" in acc:
        raw = _view_bytes(doc, binary, acc["bufferView"])[acc.get("byteOffset", 0) :]
        out = np.frombuffer(raw, dtype, count=acc["count"] * width).reshape(acc["count"], width).copy()
    else:
        out = np.zeros((acc["count"], width), dtype)
    if "sparse" in acc:
        sp = acc["sparse"]
        idx_dtype, _ = COMPONENT[sp["indices"]["componentType"]]
        idx = np.frombuffer(
            _view_bytes(doc, binary, sp["indices"]["bufferView"]), idx_dtype, count=sp["count"]
        )
        values = np.frombuffer(
            _view_bytes(doc, binary, sp["values"]["bufferView"]), dtype, count=sp["count"] * width
        )
        assert (np.diff(idx.astype(np.int64)) > 0).all() and idx.max() < acc["count"]  # strictly increasing
        out[idx] = values.reshape(-1, width)
    return out


def _from_gltf_axes(p: np.ndarray) -> np.ndarray:
    return np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1)


@pytest.fixture(scope="module")
def glb(head: HeadModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[GlbResult, dict[str, Any], bytes]:
    result = write_glb(head, tmp_path_factory.mktemp("glb") / "head.glb", identity=IDENTITY)
    doc, binary = _parse_glb(result.path)
    return result, doc, binary


def test_glb_container_views_and_accessors_are_consistent(
    glb: tuple[GlbResult, dict[str, Any], bytes],
) -> None:
    result, doc, binary = glb
    assert doc["asset"]["version"] == "2.0"
    assert result.n_bytes == result.path.stat().st_size
    used_views: set[int] = set()
    for view in doc["bufferViews"]:
        assert view["buffer"] == 0 and view["byteOffset"] % 4 == 0
        assert view["byteOffset"] + view["byteLength"] <= doc["buffers"][0]["byteLength"]
        assert "byteStride" not in view  # one accessor per view: tightly packed
    for acc in doc["accessors"]:
        size = COMPONENT[acc["componentType"]][1]
        width = WIDTH[acc["type"]]
        assert acc["count"] >= 1
        if "bufferView" in acc:
            view = doc["bufferViews"][acc["bufferView"]]
            used_views.add(acc["bufferView"])
            assert acc.get("byteOffset", 0) % size == 0
            assert acc.get("byteOffset", 0) + acc["count"] * width * size <= view["byteLength"]
        if "sparse" in acc:
            sp = acc["sparse"]
            for part in ("indices", "values"):
                v = doc["bufferViews"][sp[part]["bufferView"]]
                used_views.add(sp[part]["bufferView"])
                assert "target" not in v  # sparse data is not a GPU buffer
            assert 1 <= sp["count"] <= acc["count"]
        if "min" in acc:
            data = _read(doc, binary, doc["accessors"].index(acc))
            assert acc["min"] == data.min(axis=0).tolist() and acc["max"] == data.max(axis=0).tolist()
    assert used_views == set(range(len(doc["bufferViews"])))  # no orphan views

    (mesh,) = doc["meshes"]
    assert doc["scenes"][doc["scene"]]["nodes"] == [0] and doc["nodes"][0]["mesh"] == 0
    assert mesh["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert mesh["weights"] == [0.0] * 52
    assert [doc["materials"][p["material"]]["name"] for p in mesh["primitives"]] == list(PART_NAMES)
    for prim in mesh["primitives"]:
        assert prim["mode"] == 4
        n = doc["accessors"][prim["attributes"]["POSITION"]]["count"]
        pos_acc = doc["accessors"][prim["attributes"]["POSITION"]]
        assert "min" in pos_acc and "max" in pos_acc  # required by the spec
        for name, kind in (("POSITION", "VEC3"), ("NORMAL", "VEC3"), ("TEXCOORD_0", "VEC2")):
            acc = doc["accessors"][prim["attributes"][name]]
            assert acc["count"] == n and acc["type"] == kind and acc["componentType"] == 5126
            assert doc["bufferViews"][acc["bufferView"]]["target"] == 34962
        ind = doc["accessors"][prim["indices"]]
        assert doc["bufferViews"][ind["bufferView"]]["target"] == 34963
        assert ind["count"] % 3 == 0 and _read(doc, binary, prim["indices"]).max() < n
        assert len(prim["targets"]) == 52
        for target in prim["targets"]:
            assert list(target) == ["POSITION"]
            acc = doc["accessors"][target["POSITION"]]
            assert acc["count"] == n and acc["type"] == "VEC3" and acc["componentType"] == 5126
        mat = doc["materials"][prim["material"]]["pbrMetallicRoughness"]
        assert len(mat["baseColorFactor"]) == 4 and mat["metallicFactor"] == 0.0


def test_glb_geometry_uvs_and_targets_match_the_model(
    head: HeadModel, glb: tuple[GlbResult, dict[str, Any], bytes]
) -> None:
    result, doc, binary = glb
    base = head.evaluate_np(IDENTITY)
    tri_part = head.polygon_part()[head.triangle_polygons]
    kinds = set()
    for prim, layout in zip(doc["meshes"][0]["primitives"], result.primitives, strict=True):
        src = layout.source_vertices
        pos = _from_gltf_axes(_read(doc, binary, prim["attributes"]["POSITION"]))
        np.testing.assert_array_equal(pos, base[src])
        normal = _read(doc, binary, prim["attributes"]["NORMAL"])
        np.testing.assert_allclose(np.linalg.norm(normal, axis=1), 1.0, atol=1e-5)
        uv = _read(doc, binary, prim["attributes"]["TEXCOORD_0"])
        np.testing.assert_allclose(uv[:, 0], layout.uvs[:, 0])
        np.testing.assert_allclose(uv[:, 1], 1.0 - layout.uvs[:, 1], atol=1e-7)  # glTF's v points down

        # Each corner of each of this part's triangles: the model's vertex and the model's UV for that loop.
        mask = tri_part == PART_NAMES.index(layout.part)
        idx = _read(doc, binary, prim["indices"]).reshape(-1, 3)
        np.testing.assert_array_equal(src[idx], head.triangles[mask])
        np.testing.assert_allclose(layout.uvs[idx], head.uvs[head.triangle_loops[mask]])
        pairs = {(int(v), tuple(u)) for v, u in zip(src, layout.uvs.tolist(), strict=True)}
        assert len(pairs) == len(src)  # one glTF vertex per distinct (vertex, uv)

        for k, target in enumerate(prim["targets"]):
            acc = doc["accessors"][target["POSITION"]]
            kinds.add("sparse" if "sparse" in acc else "dense" if "bufferView" in acc else "zeros")
            delta = _from_gltf_axes(_read(doc, binary, target["POSITION"]))
            np.testing.assert_array_equal(delta, head.expression_basis[k][src], err_msg=ARKIT_NAMES[k])
    assert kinds == {"sparse", "dense", "zeros"}

    seam_split = sum(len(p.source_vertices) for p in result.primitives)
    assert seam_split == result.n_vertices > head.n_vertices  # UV seams split vertices


def test_glb_expression_becomes_the_default_weights(head: HeadModel, tmp_path: Path) -> None:
    expression = _expression(jawOpen=0.75, mouthSmileLeft=0.25)
    result = write_glb(head, tmp_path / "pose.glb", expression=expression)
    doc, binary = _parse_glb(result.path)
    assert doc["meshes"][0]["weights"] == expression.tolist()
    prim = doc["meshes"][0]["primitives"][0]
    pos = _from_gltf_axes(_read(doc, binary, prim["attributes"]["POSITION"]))
    np.testing.assert_array_equal(
        pos, head.vertices[result.primitives[0].source_vertices]
    )  # base stays neutral


def test_glb_write_is_atomic(head: HeadModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "head.glb"
    target.write_bytes(b"previous")

    def broken(doc: dict[str, Any], binary: bytes) -> bytes:
        raise MemoryError("out of memory while packing")

    monkeypatch.setattr(gltf_io, "glb_bytes", broken)
    with pytest.raises(MemoryError):
        write_glb(head, target)
    monkeypatch.undo()

    real_write_bytes = Path.write_bytes

    def half_then_fail(self: Path, data: bytes) -> int:
        real_write_bytes(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError):
        write_glb(head, target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["head.glb"] and target.read_bytes() == b"previous"


# --- Blender's own importers ----------------------------------------------------------------------


@pytest.fixture
def bpy_empty() -> Any:
    import bpy  # conftest set BLENDER_USER_RESOURCES before any import of bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy


def _world_coords(bpy: Any, ob: Any, evaluated: bool = False) -> np.ndarray:
    if evaluated:
        depsgraph = bpy.context.evaluated_depsgraph_get()
        depsgraph.update()
        ob_eval = ob.evaluated_get(depsgraph)
        mesh = ob_eval.to_mesh()
    else:
        mesh = ob.data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    if evaluated:
        ob.evaluated_get(depsgraph).to_mesh_clear()
    m = np.array(ob.matrix_world)
    co = co.reshape(-1, 3)
    return co @ m[:3, :3].T + m[:3, 3]


def test_blender_imports_the_glb_with_arkit_shape_keys_that_move_the_right_vertices(
    head: HeadModel, tmp_path: Path, bpy_empty: Any
) -> None:
    bpy = bpy_empty
    result = write_glb(head, tmp_path / "head.glb", identity=IDENTITY)
    assert bpy.ops.import_scene.gltf(filepath=str(result.path)) == {"FINISHED"}
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(meshes) == 1
    ob = meshes[0]
    me = ob.data
    assert [m.name for m in me.materials] == list(PART_NAMES)
    keys = me.shape_keys.key_blocks
    assert [k.name for k in keys] == ["Basis", *ARKIT_NAMES]

    # Blender keeps the primitives' vertices in order (no merging by default).
    src = np.concatenate([p.source_vertices for p in result.primitives])
    assert len(me.vertices) == len(src)
    base = head.evaluate_np(IDENTITY)
    rest = _world_coords(bpy, ob)
    np.testing.assert_allclose(rest, base[src], atol=1e-6)

    for name in ("jawOpen", "eyeBlinkLeft", "tongueOut", "mouthSmileLeft"):
        keys[name].value = 1.0
        moved = _world_coords(bpy, ob, evaluated=True) - rest
        keys[name].value = 0.0
        expected = head.expression_basis[ARKIT_INDEX[name]][src]
        np.testing.assert_allclose(moved, expected, atol=1e-6, err_msg=name)
        assert (np.linalg.norm(moved, axis=1) > 1e-4).sum() == (np.linalg.norm(expected, axis=1) > 1e-4).sum()
    jaw = head.expression_basis[ARKIT_INDEX["jawOpen"]][src]
    lower_teeth = np.isin(src, head.parts["teeth_lower"])
    assert (jaw[lower_teeth, 2] < 0).all() and not jaw[np.isin(src, head.parts["eyes"])].any()

    # UVs: Blender flips glTF's v back, so every loop holds the model's UV for that corner.
    loop_vert = np.empty(len(me.loops), np.int32)
    me.loops.foreach_get("vertex_index", loop_vert)
    uv = np.empty(len(me.loops) * 2, np.float32)
    me.uv_layers.active.data.foreach_get("uv", uv)
    layout_uvs = np.concatenate([p.uvs for p in result.primitives])
    np.testing.assert_allclose(uv.reshape(-1, 2), layout_uvs[loop_vert], atol=1e-6)
    corners = {
        (int(src[v]), tuple(np.round(u, 5))) for v, u in zip(loop_vert, uv.reshape(-1, 2), strict=True)
    }
    model_corners = {
        (int(v), tuple(np.round(u, 5)))
        for v, u in zip(head.triangles.reshape(-1), head.uvs[head.triangle_loops.reshape(-1)], strict=True)
    }
    assert corners == model_corners
    assert len(me.polygons) == len(head.triangles)


def test_blender_imports_the_obj_with_quads_uvs_and_a_material_per_part(
    head: HeadModel, tmp_path: Path, bpy_empty: Any
) -> None:
    bpy = bpy_empty
    expression = _expression(jawOpen=1.0)
    result = write_obj(head, tmp_path / "head.obj", identity=IDENTITY, expression=expression, normals=True)
    assert bpy.ops.wm.obj_import(filepath=str(result.obj)) == {"FINISHED"}
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(meshes) == 1
    ob = meshes[0]
    me = ob.data
    assert len(me.vertices) == head.n_vertices and len(me.polygons) == head.n_polygons
    assert [m.name for m in me.materials] == list(PART_NAMES)
    np.testing.assert_allclose(_world_coords(bpy, ob), head.evaluate_np(IDENTITY, expression), atol=2e-6)

    # Polygons arrive grouped by part, each with its size, vertices and UVs as in the model.
    owner = head.polygon_part()
    polys = np.concatenate([np.flatnonzero(owner == i) for i in range(len(PART_NAMES))])
    sizes = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_total", sizes)
    mat = np.empty(len(me.polygons), np.int32)
    me.polygons.foreach_get("material_index", mat)
    assert sizes.tolist() == head.polygon_sizes()[polys].tolist()
    assert [me.materials[i].name for i in mat] == [PART_NAMES[owner[p]] for p in polys]
    loops = np.concatenate([np.arange(head.polygon_starts[p], head.polygon_starts[p + 1]) for p in polys])
    loop_vert = np.empty(len(me.loops), np.int32)
    me.loops.foreach_get("vertex_index", loop_vert)
    assert loop_vert.tolist() == head.loop_vertices[loops].tolist()
    uv = np.empty(len(me.loops) * 2, np.float32)
    me.uv_layers.active.data.foreach_get("uv", uv)
    np.testing.assert_allclose(uv.reshape(-1, 2), head.uvs[loops], atol=1e-6)
    colour = me.materials["skin"].node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value
    assert abs(colour[0] - 0.80) < 1e-3


def test_blender_imports_the_default_head_glb(tmp_path: Path, bpy_empty: Any) -> None:
    bpy = bpy_empty
    path = Path(__file__).resolve().parents[2] / "furrow" / "data" / "default_head.npz"
    assert path.is_file(), f"{path} is missing: the default head is built by ./scripts/setup; run it first"
    model = HeadModel.load(path)
    result = write_glb(model, tmp_path / "default.glb")
    assert bpy.ops.import_scene.gltf(filepath=str(result.path)) == {"FINISHED"}
    (ob,) = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    keys = ob.data.shape_keys.key_blocks
    assert [k.name for k in keys] == ["Basis", *ARKIT_NAMES]
    src = np.concatenate([p.source_vertices for p in result.primitives])
    rest = _world_coords(bpy, ob)
    np.testing.assert_allclose(rest, model.vertices[src], atol=1e-6)
    keys["jawOpen"].value = 1.0
    moved = _world_coords(bpy, ob, evaluated=True) - rest
    np.testing.assert_allclose(moved, model.expression_basis[ARKIT_INDEX["jawOpen"]][src], atol=1e-6)
    lower_teeth = np.isin(src, model.parts["teeth_lower"])
    assert moved[lower_teeth, 2].mean() < -1e-3  # the jaw drops the lower teeth
