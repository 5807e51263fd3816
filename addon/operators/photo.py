"""Head from Photo: a head fitted to a face photo, with its albedo, detail and the photo's camera."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty
from mathutils import Matrix

from ...furrow.curves import Curves
from ...furrow.heads.arkit import ARKIT_NAMES
from ...furrow.protocol import Result
from ..jobs import JobOperator, OpResult
from ..scene import animation, details, head_mesh, materials

IMAGE_GLOB = "*.jpg;*.jpeg;*.png;*.webp;*.tif;*.tiff;*.bmp"
DETAIL_PATHS = [
    ("AUTO", "Automatic", "From the photo's quality: read from a sharp photo when its shading shows relief"),
    ("IMAGE", "From the Photo", "Shape from shading, kept skin-like by the detail model (sharp photos)"),
    ("MODEL", "Detail Model", "Detailed3DMM: the person's detail from the fitted head and the age"),
]


def _head_name(image: str) -> str:
    stem = Path(image).stem.replace("_", " ").strip() or "Photo"
    return f"{stem.title()} Head"


def _albedo(obj: bpy.types.Object, path: Path) -> None:
    """The photo's albedo into the skin material's Albedo node, linked to the base colour."""
    material = details.skin_material(obj)
    if material is None or material.node_tree is None:
        return
    nodes, links = material.node_tree.nodes, material.node_tree.links
    node: Any = nodes.get(materials.ALBEDO_NODE)
    bsdf: Any = nodes.get("Principled BSDF")
    if node is None or bsdf is None:
        return
    image = bpy.data.images.load(str(path), check_existing=False)
    image.name = f"{obj.name} Albedo"
    colourspace: Any = image.colorspace_settings
    if colourspace is not None:
        colourspace.name = "sRGB"
    node.image = image
    links.new(node.outputs["Color"], bsdf.inputs["Base Color"])


def _camera(
    context: bpy.types.Context, obj: bpy.types.Object, image: str, cam: dict[str, Any]
) -> bpy.types.Object:
    """A camera where the photo's was, with the photo behind the head as a reference."""
    scene = context.scene
    assert scene is not None
    width, height = int(cam["width"]), int(cam["height"])
    data = bpy.data.cameras.new(f"{obj.name} Camera")
    data.sensor_fit = "HORIZONTAL" if width >= height else "VERTICAL"
    data.sensor_width = data.sensor_height = 36.0
    data.lens = float(cam["focal_px"]) * 36.0 / max(width, height)
    data.clip_start = 0.01
    photo = bpy.data.images.load(image, check_existing=True)
    bg = data.background_images.new()
    bg.image = photo
    bg.alpha = 0.6
    bg.display_depth = "FRONT"
    data.show_background_images = True
    camera = bpy.data.objects.new(f"{obj.name} Camera", data)
    # Head points p map to OpenCV camera points R p + t; Blender cameras look along -Z with +Y up.
    rot = np.asarray(cam["rotation"], dtype=np.float64)
    t = np.asarray(cam["translation_m"], dtype=np.float64)
    world = np.eye(4)
    world[:3, :3] = rot.T @ np.diag([1.0, -1.0, -1.0])
    world[:3, 3] = -rot.T @ t
    camera.matrix_world = obj.matrix_world @ Matrix(world.tolist())
    (context.collection or scene.collection).objects.link(camera)
    scale = min(1.0, 1920.0 / max(width, height))
    scene.render.resolution_x = max(4, round(width * scale))
    scene.render.resolution_y = max(4, round(height * scale))
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    if scene.camera is None:
        scene.camera = camera
    return camera


_COLLECTIONS = ("objects", "meshes", "cameras", "materials", "images", "textures", "actions", "shape_keys")


def _datablocks() -> dict[str, set[Any]]:
    return {name: set(getattr(bpy.data, name)) for name in _COLLECTIONS}


def _remove_new(before: dict[str, set[Any]]) -> None:
    """Remove every data-block made since ``before`` (objects first, so the rest lose their users)."""
    for name in _COLLECTIONS:
        collection = getattr(bpy.data, name)
        if not hasattr(collection, "remove"):
            continue  # shape keys go with their mesh
        for block in [b for b in collection if b not in before[name]]:
            collection.remove(block)


class FURROW_OT_head_from_photo(JobOperator):
    """Add a head fitted to a face photo: shape, the photo's expression as a pose, the skin's albedo
    and fine detail, and a camera that sees it as the photo did"""

    bl_idname = "furrow.head_from_photo"
    bl_label = "Head from Photo"
    job_name = "head_from_photo"
    browse_first = True
    prewarm = True  # MediaPipe, torch and the skin layouts load while the artist picks the photo

    filepath: StringProperty(  # type: ignore[valid-type]
        name="Photo", description="A photo of a face: JPEG, PNG, WebP or TIFF", subtype="FILE_PATH"
    )
    filter_glob: StringProperty(default=IMAGE_GLOB, options={"HIDDEN"})  # type: ignore[valid-type]
    use_expression: BoolProperty(  # type: ignore[valid-type]
        name="Apply Photo Expression",
        description="Pose the head as in the photo (the pose is kept as an action either way; "
        "off: the head starts neutral)",
        default=False,
    )
    add_camera: BoolProperty(  # type: ignore[valid-type]
        name="Camera from Photo",
        description="Add the photo's camera, with the photo as its background, and set the render size",
        default=True,
    )
    detail: EnumProperty(  # type: ignore[valid-type]
        name="Detail", description="Where the fine detail comes from", items=DETAIL_PATHS, default="AUTO"
    )
    age: FloatProperty(  # type: ignore[valid-type]
        name="Age", description="The person's age, for the detail model", default=40.0, min=1.0, max=110.0
    )
    estimate_age: BoolProperty(  # type: ignore[valid-type]
        name="Age from Photo",
        description="Read the age from a sharp photo's fine shading where it can (about a second; "
        "Age where it cannot: a degraded photo, or young or unclear skin)",
        default=False,
    )
    use_shading: BoolProperty(  # type: ignore[valid-type]
        name="Refine with Shading",
        description="Polish the head's shape against the photo's shading (a few seconds more; "
        "off: landmarks alone)",
        default=True,
    )

    def job_params(self, context: bpy.types.Context) -> dict[str, Any]:
        if not self.filepath:
            raise ValueError("Choose a photo of a face (JPEG, PNG, WebP or TIFF)")
        path = bpy.path.abspath(self.filepath)
        if not os.path.isfile(path):
            raise ValueError(f"Photo not found: {path}")
        folder, _temporary = details.bake_folder(_head_name(path), "photo")
        problem = details.folder_problem(folder)
        if problem:
            raise ValueError(problem)
        return {
            "image": path,
            "out_dir": str(folder),
            "detail": self.detail.lower(),
            "age": self.age,
            "estimate_age": self.estimate_age,
            "photometric": self.use_shading,
        }

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        scene = context.scene
        assert scene is not None
        folder = Path(str(result.data["out_dir"]))
        params = json.loads((folder / "params.json").read_text())
        model = head_mesh.load_model(head_mesh.head_path_default())
        identity = np.array([params["identity"][n] for n in model.identity_names], dtype=np.float32)
        expression = np.array([[params["expression"][n] for n in ARKIT_NAMES]], dtype=np.float32)
        before = _datablocks()
        try:
            obj = head_mesh.create_head(
                context, model, name=_head_name(self.filepath), source="DEFAULT", source_path="", head_file=""
            )
            head_mesh.set_identity(obj, model, identity)
            settings = obj.furrow  # type: ignore[attr-defined]
            settings.details.age = float(params["detail"]["age"])
            # The photo's expression: a one-key action, assigned only if asked (neutral by default).
            action, _previous = animation.apply_curves(
                obj,
                Curves(animation.scene_fps(scene), expression),
                scene.frame_current,
                f"{obj.name} Photo Pose",
            )
            action.use_fake_user = True
            if not self.use_expression:
                key = obj.data.shape_keys  # type: ignore[union-attr]
                if key is not None and key.animation_data is not None:
                    key.animation_data.action = None
            _albedo(obj, folder / "albedo.png")
            disp = params["displacement"]
            bake = details.Bake(
                folder, folder / disp["file"], 1, 1, int(disp["resolution"]), float(disp["scale_mm"]), True,
                str(params["detail"]["path"]),
            )  # fmt: skip
            details.wire(obj, bake, head_mesh.UV_NAME)
            if self.add_camera:
                _camera(context, obj, bpy.path.abspath(self.filepath), params["camera"])
        except Exception:
            _remove_new(before)  # no half-made head (or its action, images, materials) left behind
            raise
        context.view_layer.objects.active = obj  # type: ignore[union-attr]
        yaw, pitch, _roll = params["camera"]["yaw_pitch_roll_degrees"]
        age = (
            f"; age {params['detail']['age']:.0f}: {params['detail']['age_source']}"
            if self.estimate_age
            else ""
        )
        self.report(
            {"INFO"},
            f"Added {obj.name}: fitted to {params['source']} (landmark error "
            f"{params['landmark_error_px']:.1f} px, head turned {yaw:+.0f} deg, pitch {pitch:+.0f}); "
            f"detail: {params['detail']['reason']}{age}",
        )
        return {"FINISHED"}


CLASSES = (FURROW_OT_head_from_photo,)
