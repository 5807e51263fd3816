"""A portrait stage for a head: a camera that frames the face and a soft three-light rig.

Objects are named "Furrow Camera", "Furrow Key" ... and reused if they exist, so
staging twice does not pile up lights. Nothing else in the scene is touched.
"""

from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np
import numpy.typing as npt
from mathutils import Vector

CAMERA = "Furrow Camera"
LIGHTS = {
    # name: (energy W, size m, azimuth deg (0 = in front), elevation deg, distance m, colour)
    "Furrow Key": (16.0, 0.7, -35.0, 30.0, 1.1, (1.0, 0.95, 0.9)),
    "Furrow Fill": (4.0, 1.2, 45.0, 5.0, 1.3, (0.9, 0.95, 1.0)),
    "Furrow Rim": (14.0, 0.4, 160.0, 35.0, 1.0, (1.0, 1.0, 1.0)),
}


def _object(name: str, data: Any, scene: bpy.types.Scene) -> bpy.types.Object:
    obj = bpy.data.objects.get(name)
    if obj is None:
        obj = bpy.data.objects.new(name, data)
    else:
        obj.data = data
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    return obj


def face_frame(obj: bpy.types.Object) -> tuple[npt.NDArray[np.float32], float]:
    """Centre and height of the face region of a head (world space), from its bounding box."""
    box = np.array([(obj.matrix_world @ Vector(c)).to_tuple() for c in obj.bound_box], dtype=np.float32)
    lo, hi = box.min(axis=0), box.max(axis=0)
    height = float(hi[2] - lo[2])
    centre = np.array([(lo[0] + hi[0]) / 2, lo[1], lo[2] + 0.6 * height], dtype=np.float32)
    return centre, height


def stage_head(context: bpy.types.Context, obj: bpy.types.Object, *, zoom: float = 1.0) -> bpy.types.Object:
    """Point a camera at the face of ``obj`` and light it; returns the camera (made the scene's)."""
    scene = context.scene
    assert scene is not None
    centre, height = face_frame(obj)
    cam_data = bpy.data.cameras.get(CAMERA) or bpy.data.cameras.new(CAMERA)
    cam_data.lens = 85.0
    cam_data.sensor_width = 36.0
    cam = _object(CAMERA, cam_data, scene)
    # Distance so the face (about 0.75 of the head's height) fills ~80% of the frame height.
    fov = 2 * math.atan(cam_data.sensor_width / (2 * cam_data.lens))
    distance = (0.75 * height / 0.8) / (2 * math.tan(fov / 2)) / zoom
    cam.location = (float(centre[0]), float(centre[1]) - distance, float(centre[2]))
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    for name, (energy, size, azimuth, elevation, dist, colour) in LIGHTS.items():
        light_data = bpy.data.lights.get(name) or bpy.data.lights.new(name, "AREA")
        assert isinstance(light_data, bpy.types.AreaLight)
        light_data.energy, light_data.size, light_data.color = energy, size, colour
        light = _object(name, light_data, scene)
        az, el = math.radians(azimuth), math.radians(elevation)
        offset = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
        light.location = tuple(float(x) for x in centre + dist * offset)
        # Area lights shine along their -Z: aim it at the face centre.
        direction = centre - np.array(light.location)
        light.rotation_euler = _look_rotation(direction)
    if scene.world is None:
        scene.world = bpy.data.worlds.new("Furrow World")
    scene.world.color = (0.03, 0.03, 0.035)
    return cam


def _look_rotation(direction: npt.NDArray[np.floating[Any]]) -> tuple[float, float, float]:
    euler = Vector(tuple(float(x) for x in direction)).to_track_quat("-Z", "Y").to_euler()
    return (euler.x, euler.y, euler.z)
