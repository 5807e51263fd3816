"""The artist's experience, checked over every Furrow operator and setting: a tooltip on each,
an undo step for each that changes the scene (real bpy with the add-on enabled)."""

from __future__ import annotations

from typing import Any

# operators that change nothing in the .blend (they read it, or talk to the backend)
READ_ONLY = {"furrow.check_backend", "furrow.cancel_job", "furrow.export_curves", "furrow.export_head"}


def _furrow_operators(bpy: Any) -> dict[str, Any]:
    ops = {}
    for name in dir(bpy.types):
        cls = getattr(bpy.types, name)
        idname = getattr(cls, "bl_idname", "")
        if name.startswith("FURROW_OT_") and idname.startswith("furrow."):
            ops[idname] = cls
    return ops


def test_every_operator_has_a_tooltip_and_scene_changes_can_be_undone(blender: Any) -> None:
    ops = _furrow_operators(blender)
    assert {
        "furrow.add_head",
        "furrow.animate_from_audio",
        "furrow.bake_details",
        "furrow.render_clip",
    } <= set(ops)
    for idname, cls in ops.items():
        rna = getattr(blender.ops.furrow, idname.split(".", 1)[1]).get_rna_type()
        assert len(rna.description.strip()) > 10, f"{idname} has no tooltip"
        if idname not in READ_ONLY:
            assert "UNDO" in cls.bl_options, f"{idname} changes the scene but has no undo step"


def _described(group: Any, where: str) -> list[str]:
    """Settings without a tooltip in ``group`` and in the groups it holds (Object.furrow.details)."""
    missing = []
    for prop in group.bl_rna.properties:
        if prop.identifier in {"rna_type", "name"}:
            continue
        if len(prop.description.strip()) < 5:
            missing.append(f"{where}.{prop.identifier}")
        if prop.type == "POINTER" and prop.fixed_type.identifier.startswith("Furrow"):
            missing += _described(prop.fixed_type, f"{where}.{prop.identifier}")
    return missing


def test_every_setting_and_operator_option_has_a_tooltip(blender: Any) -> None:
    bpy = blender
    missing = _described(bpy.context.window_manager.furrow, "WindowManager.furrow")
    head = bpy.types.Object.bl_rna.properties["furrow"].fixed_type
    assert "details" in head.properties  # the detail controls are checked too
    missing += _described(head, "Object.furrow")
    for idname in _furrow_operators(bpy):
        for prop in getattr(bpy.ops.furrow, idname.split(".", 1)[1]).get_rna_type().properties:
            if prop.identifier == "rna_type" or prop.identifier.startswith("filter_"):
                continue
            if getattr(prop, "is_hidden", False):
                continue
            if len(prop.description.strip()) < 5:
                missing.append(f"{idname}({prop.identifier})")
    assert not missing, f"settings without a tooltip: {missing}"
