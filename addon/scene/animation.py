"""Curves <-> keyframes on a head's ARKit shape keys; sound strips; the scene's frame range.

Animation always goes into a new Action: an Action the keys already had is kept
(with a fake user so it survives saving) and named in the report, never
overwritten. Works with Blender 4.4+'s slotted actions and 4.2's legacy ones.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import bpy
import numpy as np

from ...furrow.curves import Curves
from ...furrow.heads.arkit import ARKIT_NAMES


def scene_fps(scene: bpy.types.Scene) -> float:
    return float(scene.render.fps) / float(scene.render.fps_base)


def _path(name: str) -> str:
    return f'key_blocks["{name}"].value'


def _fcurve(action: bpy.types.Action, key: bpy.types.Key, data_path: str) -> Any:
    if hasattr(action, "fcurve_ensure_for_datablock"):  # Blender 4.4+: slotted actions
        return action.fcurve_ensure_for_datablock(key, data_path)
    legacy: Any = action
    return legacy.fcurves.find(data_path) or legacy.fcurves.new(data_path)


def _fcurves(action: bpy.types.Action, key: bpy.types.Key) -> dict[str, Any]:
    """data_path -> F-Curve of ``action`` as it animates ``key``."""
    legacy: Any = action
    if hasattr(action, "layers") and getattr(action, "is_action_layered", False):
        anim = key.animation_data
        slot = anim.action_slot if anim is not None else None
        found: dict[str, Any] = {}
        for layer in action.layers:
            for strip in layer.strips:
                keyframe_strip: Any = strip  # a keyframe strip has channelbags
                bag = keyframe_strip.channelbag(slot) if slot is not None else None
                if bag is not None:
                    found.update({fc.data_path: fc for fc in bag.fcurves})
        return found
    if hasattr(legacy, "fcurves"):
        return {fc.data_path: fc for fc in legacy.fcurves}
    return {}


def apply_curves(obj: bpy.types.Object, curves: Curves, start_frame: int, name: str) -> tuple[Any, Any]:
    """Key every ARKit shape key of ``obj`` from ``curves`` (one key per frame, linear) in a new
    Action. Returns (new action, the action it replaced or None)."""
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    key = mesh.shape_keys
    anim = key.animation_data or key.animation_data_create()
    previous = anim.action
    if previous is not None:
        previous.use_fake_user = True  # kept, not overwritten
    action = bpy.data.actions.new(name)
    anim.action = action
    frames = start_frame + np.arange(curves.n_frames, dtype=np.float32)
    interpolation: Any = bpy.types.Keyframe.bl_rna.properties["interpolation"]
    linear = interpolation.enum_items["LINEAR"].value
    blocks = key.key_blocks
    for i, channel in enumerate(ARKIT_NAMES):
        if channel not in blocks:
            continue
        fc = _fcurve(action, key, _path(channel))
        points = fc.keyframe_points
        points.add(curves.n_frames)
        co = np.empty(2 * curves.n_frames, dtype=np.float32)
        co[0::2], co[1::2] = frames, curves.weights[:, i]
        points.foreach_set("co", co)
        points.foreach_set("interpolation", [linear] * curves.n_frames)
        fc.update()
    return action, previous


def read_curves(obj: bpy.types.Object, fps: float, start: int, end: int) -> Curves:
    """Sample the head's ARKit shape keys' animation at every frame in [start, end]."""
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    key = mesh.shape_keys
    anim = key.animation_data
    fcurves = _fcurves(anim.action, key) if anim is not None and anim.action is not None else {}
    frames = np.arange(start, end + 1, dtype=np.float32)
    weights = np.zeros((len(frames), len(ARKIT_NAMES)), dtype=np.float32)
    for i, channel in enumerate(ARKIT_NAMES):
        fc = fcurves.get(_path(channel))
        if fc is not None and not fc.mute:
            weights[:, i] = [fc.evaluate(float(f)) for f in frames]
        elif channel in key.key_blocks:
            weights[:, i] = key.key_blocks[channel].value
    return Curves(fps, weights)


def animation_sources(obj: bpy.types.Object) -> list[str]:
    """What animates the head's ARKit shape keys: any of "action", "nla", "drivers" (empty: none)."""
    mesh = obj.data
    if not isinstance(mesh, bpy.types.Mesh) or mesh.shape_keys is None:
        return []
    key = mesh.shape_keys
    anim = key.animation_data
    if anim is None:
        return []
    paths = {_path(n) for n in ARKIT_NAMES if n in key.key_blocks}
    found = []
    if anim.action is not None:
        fcurves = _fcurves(anim.action, key)
        if any(not fc.mute and len(fc.keyframe_points) for p, fc in fcurves.items() if p in paths):
            found.append("action")
    if anim.use_nla and any(not t.mute and len(t.strips) for t in anim.nla_tracks):
        found.append("nla")
    if any(d.data_path in paths and not d.mute for d in anim.drivers):
        found.append("drivers")
    return found


def animation_range(obj: bpy.types.Object) -> Optional[tuple[int, int]]:
    """The frames the shape keys' action spans (None without an action)."""
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    anim = mesh.shape_keys.animation_data
    if anim is None or anim.action is None:
        return None
    span = anim.action.frame_range
    lo, hi = float(span[0]), float(span[1])
    return int(np.floor(lo)), max(int(np.floor(lo)), int(np.ceil(hi)))


def sample_curves(scene: bpy.types.Scene, obj: bpy.types.Object, start: int, end: int) -> Curves:
    """The ARKit weights the head shows at every frame in [start, end] at the scene's fps.

    Keys from one action are evaluated from their F-Curves (fast, the scene is not touched). NLA
    strips and drivers only the animation system can combine: then the scene steps through the
    frames (modifiers off meanwhile, the current frame put back)."""
    fps = scene_fps(scene)
    if animation_sources(obj) in ([], ["action"]):
        return read_curves(obj, fps, start, end)
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    blocks = mesh.shape_keys.key_blocks
    present = [(i, blocks[n]) for i, n in enumerate(ARKIT_NAMES) if n in blocks]
    weights = np.zeros((end - start + 1, len(ARKIT_NAMES)), dtype=np.float32)
    current, subframe = scene.frame_current, scene.frame_subframe
    shown = [(m, m.show_viewport) for m in obj.modifiers]
    try:
        for m, _ in shown:
            m.show_viewport = False  # only the shape keys matter here
        for row, frame in enumerate(range(start, end + 1)):
            scene.frame_set(frame)
            for i, block in present:
                weights[row, i] = block.value
    finally:
        for m, visible in shown:
            m.show_viewport = visible
        scene.frame_set(current, subframe=subframe)
    return Curves(fps, weights)


def current_pose(obj: bpy.types.Object) -> dict[str, float]:
    """The ARKit shape-key values the head shows now (a still pose)."""
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh) and mesh.shape_keys is not None
    blocks = mesh.shape_keys.key_blocks
    return {n: float(blocks[n].value) for n in ARKIT_NAMES if n in blocks and not blocks[n].mute}


def add_sound(scene: bpy.types.Scene, filepath: str, start_frame: int) -> Any:
    """The audio as a sound strip at ``start_frame`` on the first free channel."""
    editor: Any = scene.sequence_editor or scene.sequence_editor_create()
    strips: Any = editor.strips if hasattr(editor, "strips") else editor.sequences  # renamed in 5.0
    used = {s.channel for s in strips}
    channel = next(c for c in range(1, 129) if c not in used)
    name = os.path.basename(filepath)
    return strips.new_sound(name=name, filepath=filepath, channel=channel, frame_start=start_frame)


def cover_frames(scene: bpy.types.Scene, start: int, n_frames: int) -> None:
    """Extend (never shrink) the scene's frame range to hold ``n_frames`` from ``start``."""
    last = start + n_frames - 1
    if scene.frame_start > start:
        scene.frame_start = start
    if scene.frame_end < last:
        scene.frame_end = last


def find_head(context: bpy.types.Context) -> Optional[bpy.types.Object]:
    """The active object if it has the ARKit shape keys (any rig that names them like ARKit)."""
    obj = context.active_object
    if obj is None or obj.type != "MESH":
        return None
    mesh = obj.data
    assert isinstance(mesh, bpy.types.Mesh)
    if mesh.shape_keys is None:
        return None
    names = {k.name for k in mesh.shape_keys.key_blocks}
    return obj if "jawOpen" in names and "mouthClose" in names else None
