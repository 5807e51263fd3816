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

from ...furrow.render.framing import portrait_camera

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


def face_bounds(obj: bpy.types.Object) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """World-space bounding box (lo, hi) of a head."""
    box = np.array([(obj.matrix_world @ Vector(c)).to_tuple() for c in obj.bound_box], dtype=np.float32)
    return box.min(axis=0), box.max(axis=0)


def stage_head(context: bpy.types.Context, obj: bpy.types.Object, *, zoom: float = 1.0) -> bpy.types.Object:
    """Point a camera at the face of ``obj`` and light it; returns the camera (made the scene's)."""
    scene = context.scene
    assert scene is not None
    lo, hi = face_bounds(obj)
    framing = portrait_camera(lo, hi, lens=85.0, sensor_width=36.0, zoom=zoom)
    centre = np.array(framing.centre, dtype=np.float32)
    cam_data = bpy.data.cameras.get(CAMERA) or bpy.data.cameras.new(CAMERA)
    cam_data.lens = framing.lens
    cam_data.sensor_width = framing.sensor_width
    cam_data.sensor_fit = "AUTO"
    cam = _object(CAMERA, cam_data, scene)
    cam.location = framing.location
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
