"""A HeadModel as one Blender mesh object: parts, UVs, vertex groups, ARKit shape keys.

Shape keys are absolute positions in Blender, so an identity change moves Basis
and every key by the same offset: whatever a key adds (the model's expression,
or an artist's own sculpting on it) is kept.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

import bpy
import numpy as np
import numpy.typing as npt

from ...furrow.heads.arkit import ARKIT_NAMES
from ...furrow.heads.model import PART_NAMES, FloatArray, HeadModel, IntArray

if TYPE_CHECKING:
    from ..properties import FurrowHead

UV_NAME = "UVMap"

_models: dict[str, tuple[float, HeadModel]] = {}


def load_model(path: str) -> HeadModel:
    """A head file, loaded once per Blender session (and again if it changed on disk)."""
    mtime = os.path.getmtime(path)
    cached = _models.get(path)
    if cached is None or cached[0] != mtime:
        _models[path] = (mtime, HeadModel.load(path))  # type: ignore[arg-type]
    return _models[path][1]


def _set_co(data: bpy.types.bpy_prop_collection[Any], co: npt.ArrayLike) -> None:
    data.foreach_set("co", np.ascontiguousarray(co, dtype=np.float32).ravel())


def _get_co(data: bpy.types.bpy_prop_collection[Any], n: int) -> FloatArray:
    co = np.empty(n * 3, dtype=np.float32)
    data.foreach_get("co", co)
    return co.reshape(n, 3)


def build_mesh(model: HeadModel, name: str, identity: Optional[FloatArray] = None) -> bpy.types.Mesh:
    """The mesh data: geometry at ``identity``, one UV map, material indices by part."""
    basis = model.evaluate_np(identity)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(model.n_vertices)
    _set_co(mesh.vertices, basis)
    mesh.loops.add(len(model.loop_vertices))
    mesh.loops.foreach_set("vertex_index", model.loop_vertices)
    mesh.polygons.add(model.n_polygons)
    mesh.polygons.foreach_set("loop_start", model.polygon_starts[:-1])
    mesh.update(calc_edges=True)
    uv = mesh.uv_layers.new(name=UV_NAME)
    uv.data.foreach_set("uv", model.uvs.astype(np.float32).ravel())
    mesh.polygons.foreach_set("material_index", slot_indices(model))
    mesh.shade_smooth()
    return mesh


def part_slots(model: HeadModel) -> list[str]:
    """Material slot order: the parts this head has, in PART_NAMES order."""
    return [p for p in PART_NAMES if p in model.parts and len(model.parts[p])]


def slot_indices(model: HeadModel) -> IntArray:
    slots = part_slots(model)
    lookup = np.array([slots.index(p) if p in slots else 0 for p in PART_NAMES], dtype=np.int32)
    result: IntArray = lookup[model.polygon_part()]
    return result


def add_parts_groups(obj: bpy.types.Object, model: HeadModel) -> None:
    for part in part_slots(model):
        group = obj.vertex_groups.new(name=part)
        group.add(model.parts[part].tolist(), 1.0, "REPLACE")


def add_shape_keys(obj: bpy.types.Object, model: HeadModel, basis: FloatArray) -> None:
    """Basis + the 52 ARKit keys (absolute positions = basis + the model's delta)."""
    obj.shape_key_add(name="Basis", from_mix=False)
    for i, name in enumerate(ARKIT_NAMES):
        key = obj.shape_key_add(name=name, from_mix=False)
        key.slider_min, key.slider_max = 0.0, 1.0
        key.value = 0.0  # a new key is not guaranteed to start at 0 (Blender 5.0 starts it at 1)
        _set_co(key.data, basis + model.expression_basis[i])
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    mesh.shape_keys.use_relative = True


def rebase_identity(obj: bpy.types.Object, offset: FloatArray) -> None:
    """Move the mesh, Basis and every shape key by the same per-vertex offset."""
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh)
    n = len(mesh.vertices)
    _set_co(mesh.vertices, _get_co(mesh.vertices, n) + offset)
    if mesh.shape_keys is not None:
        for key in mesh.shape_keys.key_blocks:
            _set_co(key.data, _get_co(key.data, n) + offset)
    mesh.update()


def identity_values(settings: FurrowHead) -> tuple[FloatArray, FloatArray]:
    """(wanted, applied) slider vectors of a head object."""
    wanted = np.array([s.value for s in settings.identity], dtype=np.float32)
    applied = np.array([s.applied for s in settings.identity], dtype=np.float32)
    return wanted, applied


def apply_identity(obj: bpy.types.Object, model: HeadModel) -> bool:
    """Bring the geometry to the sliders' values. False if nothing had to change."""
    settings: FurrowHead = obj.furrow  # type: ignore[attr-defined]
    wanted, applied = identity_values(settings)
    if np.array_equal(wanted, applied):
        return False
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh)
    if len(mesh.vertices) != model.n_vertices:
        raise ValueError(
            f"{obj.name} has {len(mesh.vertices)} vertices but its head model has {model.n_vertices}: "
            "its topology was edited, so identity sliders can no longer apply"
        )
    rebase_identity(obj, model.identity_delta(wanted) - model.identity_delta(applied))
    for slider in settings.identity:
        slider.applied = slider.value
    return True


def set_identity(obj: bpy.types.Object, model: HeadModel, values: FloatArray) -> None:
    """Set every identity slider and bring the geometry to them; on a ValueError (edited topology)
    the sliders go back to what the mesh has, so they never disagree."""
    settings: FurrowHead = obj.furrow  # type: ignore[attr-defined]
    if len(values) != len(settings.identity):
        raise ValueError(f"{obj.name} has {len(settings.identity)} sliders, expected {len(values)}")
    settings.suspend_updates = True
    try:
        for slider, value in zip(settings.identity, values, strict=True):
            slider.value = float(value)
    finally:
        settings.suspend_updates = False
    try:
        apply_identity(obj, model)
    except ValueError:
        for slider in settings.identity:
            slider.value = slider.applied
        raise
    settings.identity_error = ""


def create_head(
    context: bpy.types.Context,
    model: HeadModel,
    *,
    name: str,
    source: str,
    source_path: str,
    head_file: str,
) -> bpy.types.Object:
    """One object holding every part, ready to animate and to take detail bakes."""
    from . import materials, modifiers

    identity = np.zeros(len(model.identity_names), dtype=np.float32)
    basis = model.evaluate_np(identity)
    mesh = build_mesh(model, name, identity)
    obj = bpy.data.objects.new(name, mesh)
    for part in part_slots(model):
        mesh.materials.append(materials.for_part(name, part, model.meta))
    add_parts_groups(obj, model)
    add_shape_keys(obj, model, basis)
    modifiers.add_detail_stack(obj, UV_NAME)

    settings = obj.furrow  # type: ignore[attr-defined]
    settings.is_head = True
    settings.source = source
    settings.source_path = source_path
    settings.head_file = head_file
    for slider_name in model.identity_names:
        slider = settings.identity.add()
        slider.name = slider_name
    scene, view_layer = context.scene, context.view_layer
    assert scene is not None and view_layer is not None
    (context.collection or scene.collection).objects.link(obj)
    for other in context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    return obj


def head_path(settings: FurrowHead) -> str:
    """The head model file behind a head object (the default head resolves to the shipped one)."""
    if settings.head_file:
        return bpy.path.abspath(settings.head_file)
    from ...furrow.heads.default import default_head_path

    return str(default_head_path())


def head_path_default() -> str:
    """The built-in head's model file."""
    from ...furrow.heads.default import default_head_path

    return str(default_head_path())


def update_identity(obj: bpy.types.Object) -> None:
    """Apply slider changes; a problem is kept on the object for the panel, never raised."""
    settings: FurrowHead = obj.furrow  # type: ignore[attr-defined]
    try:
        model = load_model(head_path(settings))
        apply_identity(obj, model)
        settings.identity_error = ""
    except (OSError, ValueError) as exc:
        settings.identity_error = str(exc)
        print(f"Furrow: {obj.name}: identity not applied: {exc}")
