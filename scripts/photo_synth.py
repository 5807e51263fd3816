"""Synthetic photos of the default head with known identity, expression, pose and camera (through bpy).

Used by scripts/calibrate_landmarks, scripts/eval_photo and the photo tests. The head is coloured
per face corner so that a face detector has the cues it has in a real photo: skin, darker brows
and redder lips (from the head's UV region masks), white eyes with an iris. Workbench renders in
~0.2 s; Cycles (``engine="CYCLES"``) gives soft shadows for the benchmark.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from render_landmarks import paint_irises  # noqa: E402

from furrow.heads.model import HeadModel  # noqa: E402
from furrow.photo.camera import HEAD_TO_CAMERA, Camera  # noqa: E402

F64 = npt.NDArray[np.float64]

SKIN = np.array([0.72, 0.53, 0.43])
LIPS = np.array([0.62, 0.30, 0.30])
BROWS = np.array([0.16, 0.11, 0.08])


@dataclass
class View:
    """One synthetic photo: the person, their expression, head rotation (degrees) and the camera."""

    identity: F64
    expression: F64
    yaw: float = 0.0  # head turns to its left (image right) for > 0
    pitch: float = 0.0  # chin up for > 0
    roll: float = 0.0
    focal_px: float = 1200.0
    distance: float = 0.7  # metres from the camera to the head's centre
    size: int = 512
    light: tuple[float, float] = (0.0, 0.0)  # key light azimuth, elevation in degrees (Cycles)
    extra: dict[str, float] = field(default_factory=dict)
    # (R, R) mm along the normal, row 0 at v = 1 (a Furrow detail map): Cycles shades it as bump
    displacement: npt.NDArray[np.float32] | None = None


def sample_uv_mask(head: HeadModel, name: str) -> F64:
    """A region mask sampled at every face corner's UV (nearest texel)."""
    mask = np.asarray(head.region_masks[name], np.float64)
    r = mask.shape[0]
    u = np.clip((head.uvs[:, 0] * r).astype(int), 0, r - 1)
    v = np.clip(((1.0 - head.uvs[:, 1]) * r).astype(int), 0, r - 1)
    out: F64 = mask[v, u]
    return out


def face_colours(head: HeadModel, skin: F64 = SKIN) -> F64:
    """Per-corner linear RGB: skin, lips and brows from the region masks, eyes with an iris."""
    colours = np.tile(skin, (len(head.loop_vertices), 1))
    for names, colour in ((("lip_upper", "lip_lower"), LIPS), (("brows",), BROWS)):
        share = np.zeros(len(colours))
        for n in names:
            if n in head.region_masks:
                share = np.maximum(share, sample_uv_mask(head, n))
        share = np.clip(share * 1.5, 0.0, 1.0)[:, None]
        colours = colours * (1 - share) + colour[None] * share
    part_of_vertex = np.full(head.n_vertices, "", dtype=object)
    for name, ids in head.parts.items():
        part_of_vertex[ids] = name
    part = part_of_vertex[head.loop_vertices]
    colours[part == "eyes"] = (0.85, 0.85, 0.82)
    colours[np.isin(part, ["teeth_upper", "teeth_lower"])] = (0.9, 0.88, 0.8)
    colours[part == "tongue"] = (0.6, 0.25, 0.25)
    paint_irises(head, colours, (0.22, 0.16, 0.1), (0.02, 0.02, 0.02))
    return colours


def head_rotation(yaw: float, pitch: float, roll: float) -> F64:
    """Head-space rotation: yaw about +Z (toward the head's left), pitch about -X (chin up), roll about +Y
    (the crown toward image right): the conventions of ``Camera.head_angles``."""
    from scipy.spatial.transform import Rotation  # type: ignore[import-untyped]

    r = Rotation.from_euler("ZXY", [yaw, -pitch, roll], degrees=True)
    out: F64 = r.as_matrix()
    return out


def view_camera(view: View, centre: F64) -> Camera:
    """The ground-truth camera of a view: head rotated about ``centre``, camera on -Y looking at it."""
    rot = head_rotation(view.yaw, view.pitch, view.roll)
    cam_pos = centre + np.array([0.0, -view.distance, 0.0])
    # camera point = H2C (R (p - c) + c - cam_pos)
    rotation = HEAD_TO_CAMERA @ rot
    translation = HEAD_TO_CAMERA @ (centre - rot @ centre - cam_pos)
    return Camera(view.size, view.size, view.focal_px, rotation, translation)


def head_centre(head: HeadModel) -> F64:
    skin = head.vertices[head.parts["skin"]].astype(np.float64)
    c: F64 = 0.5 * (skin.min(0) + skin.max(0))
    c[1] = skin[:, 1].min() + 0.09  # the rotation centre sits inside the head, ~9 cm behind the nose
    c[2] = -0.01
    return c


class SynthRenderer:
    """Renders ``View``s of a head with bpy; one scene, the mesh updated per view."""

    def __init__(
        self, head: HeadModel, engine: str = "WORKBENCH", samples: int = 16, threads: int = 0
    ) -> None:
        import bpy

        self.bpy = bpy
        self.head = head
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        if engine == "CYCLES":
            scene.render.engine = "CYCLES"
            scene.cycles.samples = samples
            scene.cycles.device = "CPU"
            scene.cycles.use_denoising = False
        else:
            scene.render.engine = "BLENDER_WORKBENCH"
            scene.display.shading.light = "STUDIO"
            scene.display.shading.color_type = "VERTEX"
        scene.render.resolution_percentage = 100
        scene.render.image_settings.file_format = "PNG"
        if threads > 0:
            scene.render.threads_mode = "FIXED"
            scene.render.threads = threads
        self.engine = engine
        self.centre = head_centre(head)
        self.colours = face_colours(head)
        self._build_mesh()
        cam_data = bpy.data.cameras.new("camera")
        cam_data.sensor_fit = "HORIZONTAL"
        cam_data.sensor_width = 36.0
        cam_data.clip_start = 0.05
        self.cam = bpy.data.objects.new("camera", cam_data)
        scene.collection.objects.link(self.cam)
        scene.camera = self.cam
        self.cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looks along +Y, image up = +Z
        if engine == "CYCLES":
            self._lights()

    def _build_mesh(self) -> None:
        bpy = self.bpy
        head = self.head
        me = bpy.data.meshes.new("head")
        me.vertices.add(head.n_vertices)
        me.vertices.foreach_set("co", head.vertices.astype(np.float32).ravel())
        me.loops.add(len(head.loop_vertices))
        me.loops.foreach_set("vertex_index", head.loop_vertices.astype(np.int32))
        me.polygons.add(head.n_polygons)
        me.polygons.foreach_set("loop_start", head.polygon_starts[:-1].astype(np.int32))
        me.update(calc_edges=True)
        attr = me.color_attributes.new("colour", "FLOAT_COLOR", "CORNER")
        rgba = np.ones((len(self.colours), 4), np.float32)
        rgba[:, :3] = self.colours
        attr.data.foreach_set("color", rgba.ravel())
        me.polygons.foreach_set("use_smooth", np.ones(head.n_polygons, bool))
        uv = me.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", head.uvs.astype(np.float32).ravel())
        self.mesh = me
        ob = bpy.data.objects.new("head", me)
        bpy.context.scene.collection.objects.link(ob)
        self.ob = ob
        if self.engine == "CYCLES":
            mat = bpy.data.materials.new("skin")
            mat.use_nodes = True
            nodes = mat.node_tree.nodes
            bsdf = nodes["Principled BSDF"]
            col = nodes.new("ShaderNodeVertexColor")
            col.layer_name = "colour"
            mat.node_tree.links.new(col.outputs["Color"], bsdf.inputs["Base Color"])
            bsdf.inputs["Roughness"].default_value = 0.55
            # Detail as bump (the shading a photo shows of it), off until a view carries a map.
            self.detail_image = bpy.data.images.new("detail", 8, 8, float_buffer=True)
            self.detail_image.colorspace_settings.name = "Non-Color"
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = self.detail_image
            tex.interpolation = "Cubic"
            disp = nodes.new("ShaderNodeDisplacement")
            disp.inputs["Midlevel"].default_value = 0.0
            self.detail_scale = disp.inputs["Scale"]
            self.detail_scale.default_value = 0.0
            mat.node_tree.links.new(tex.outputs["Color"], disp.inputs["Height"])
            output = nodes["Material Output"]
            mat.node_tree.links.new(disp.outputs["Displacement"], output.inputs["Displacement"])
            mat.displacement_method = "BUMP"
            me.materials.append(mat)

    def _lights(self) -> None:
        bpy = self.bpy
        world = bpy.data.worlds.new("world")
        world.use_nodes = True
        world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.35
        bpy.context.scene.world = world
        data = bpy.data.lights.new("key", "AREA")
        data.energy = 60.0
        data.size = 0.6
        self.key = bpy.data.objects.new("key", data)
        bpy.context.scene.collection.objects.link(self.key)

    def _set_detail(self, mm: npt.NDArray[np.float32] | None) -> None:
        if mm is None:
            self.detail_scale.default_value = 0.0
            return
        r = mm.shape[0]
        if tuple(self.detail_image.size) != (r, r):
            self.detail_image.scale(r, r)
        rgba = np.ones((r, r, 4), np.float32)
        rgba[..., :3] = np.asarray(mm, np.float32)[::-1, :, None]  # Blender's rows start at v = 0
        self.detail_image.pixels.foreach_set(rgba.ravel())
        self.detail_image.update()
        self.detail_scale.default_value = 0.001  # mm -> m

    def render(self, view: View, path: Path) -> Camera:
        """Write the view's PNG and return its true camera."""
        bpy = self.bpy
        scene = bpy.context.scene
        scene.render.resolution_x = scene.render.resolution_y = view.size
        verts = self.head.evaluate_np(view.identity, view.expression).astype(np.float64)
        rot = head_rotation(view.yaw, view.pitch, view.roll)
        posed = (verts - self.centre) @ rot.T + self.centre
        self.mesh.vertices.foreach_set("co", posed.astype(np.float32).ravel())
        self.mesh.update()
        self.cam.location = tuple(self.centre + np.array([0.0, -view.distance, 0.0]))
        self.cam.data.lens = view.focal_px * 36.0 / view.size
        if self.engine == "CYCLES":
            self._set_detail(view.displacement)
            az, el = (math.radians(a) for a in view.light)
            d = 1.2
            pos = self.centre + d * np.array(
                [math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)]
            )
            self.key.location = tuple(pos)
            direction = self.centre - pos
            from mathutils import Vector

            self.key.rotation_euler = Vector(tuple(direction)).to_track_quat("-Z", "Y").to_euler()
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        return view_camera(view, self.centre)
