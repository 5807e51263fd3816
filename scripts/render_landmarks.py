"""Developer tool: render the default head (or any head file) to check it by eye.

    .venv/bin/python scripts/render_landmarks.py OUTDIR [--head FILE] [--size 512]
        [--what landmarks,regions,expressions,identity]

Writes PNGs into OUTDIR: the 68 iBUG points (numbered) and the 478 MediaPipe points on the neutral
head, the UV region masks (in UV space and on the head), a grid of expressions and a grid of
identity sliders at +-1. Renders with Blender's Workbench engine through bpy (about 0.2 s a view).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from furrow.heads.arkit import ARKIT_INDEX  # noqa: E402
from furrow.heads.model import REGION_NAMES, HeadModel  # noqa: E402

PART_COLOURS = {
    "skin": (0.80, 0.72, 0.66),
    "eyes": (0.95, 0.95, 0.95),
    "teeth_upper": (1.0, 1.0, 0.85),
    "teeth_lower": (1.0, 0.95, 0.75),
    "tongue": (0.85, 0.35, 0.35),
    "eyelashes": (0.1, 0.1, 0.1),
}
REGION_COLOURS = np.array(
    [
        (0.90, 0.10, 0.10), (0.10, 0.60, 0.90), (0.95, 0.80, 0.10), (0.20, 0.80, 0.20),
        (0.60, 0.20, 0.90), (1.00, 0.50, 0.00), (0.00, 0.80, 0.70), (0.90, 0.30, 0.70),
        (0.50, 0.90, 0.30), (0.90, 0.20, 0.30), (0.30, 0.20, 0.90), (0.70, 0.70, 0.20),
        (0.20, 0.40, 0.30), (0.60, 0.30, 0.10), (0.40, 0.80, 0.90),
    ]
)  # fmt: skip
VIEWS = {  # name: (camera offset from the target, target, orthographic width in metres)
    "front": ((0.0, -0.6, 0.0), (0.0, -0.02, -0.02), 0.27),
    "three_quarter": ((0.35, -0.5, 0.05), (0.0, -0.02, -0.02), 0.30),
    "side": ((0.6, 0.0, 0.0), (0.0, -0.02, -0.02), 0.30),
    "eyes": ((0.0, -0.6, 0.0), (0.0, -0.08, 0.015), 0.10),
    "mouth": ((0.0, -0.6, 0.0), (0.0, -0.09, -0.055), 0.09),
}


class Renderer:
    """A fresh Workbench scene per picture: the head mesh, optional marker spheres, one camera."""

    def __init__(self, size: int) -> None:
        import bpy

        self.bpy = bpy
        self.size = size

    def _scene(self) -> object:
        bpy = self.bpy
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.shading.light = "STUDIO"
        scene.display.shading.color_type = "VERTEX"
        scene.render.resolution_x = scene.render.resolution_y = self.size
        scene.render.resolution_percentage = 100
        return scene

    def _mesh(self, name: str, verts: np.ndarray, loops: np.ndarray, starts: np.ndarray,
              colours: np.ndarray, per_corner: bool = False) -> None:  # fmt: skip
        bpy = self.bpy
        me = bpy.data.meshes.new(name)
        me.vertices.add(len(verts))
        me.vertices.foreach_set("co", np.asarray(verts, np.float32).ravel())
        me.loops.add(len(loops))
        me.loops.foreach_set("vertex_index", np.asarray(loops, np.int32))
        me.polygons.add(len(starts) - 1)
        me.polygons.foreach_set("loop_start", np.asarray(starts[:-1], np.int32))
        me.update(calc_edges=True)
        attr = me.color_attributes.new("colour", "FLOAT_COLOR", "CORNER" if per_corner else "POINT")
        rgba = np.ones((len(colours), 4), np.float32)
        rgba[:, :3] = colours
        attr.data.foreach_set("color", rgba.ravel())
        me.polygons.foreach_set("use_smooth", np.ones(len(starts) - 1, bool))
        ob = bpy.data.objects.new(name, me)
        bpy.context.scene.collection.objects.link(ob)

    def _markers(self, points: np.ndarray, colours: np.ndarray, radius: float) -> None:
        # One octahedron per point: cheap and round enough at these sizes.
        unit = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
        faces = np.array(
            [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
        )
        n = len(points)
        verts = (points[:, None, :] + radius * unit[None]).reshape(-1, 3)
        loops = (faces[None] + 6 * np.arange(n)[:, None, None]).reshape(-1)
        starts = np.arange(0, len(loops) + 1, 3)
        self._mesh("markers", verts, loops, starts, np.repeat(colours, 6, axis=0))

    def render(self, path: Path, head: HeadModel, verts: np.ndarray, view: str,
               colours: np.ndarray | None = None, per_corner: bool = False,
               points: np.ndarray | None = None, point_colours: np.ndarray | None = None,
               radius: float = 0.0008) -> None:  # fmt: skip
        bpy = self.bpy
        self._scene()
        if colours is None:
            colours, per_corner = part_colours(head), True
        self._mesh("head", verts, head.loop_vertices, head.polygon_starts, colours, per_corner)
        if points is not None and point_colours is not None:
            self._markers(points, point_colours, radius)
        offset, target, width = VIEWS[view]
        cam_data = bpy.data.cameras.new("camera")
        cam_data.type = "ORTHO"
        cam_data.ortho_scale = width
        cam = bpy.data.objects.new("camera", cam_data)
        bpy.context.scene.collection.objects.link(cam)
        from mathutils import Vector

        loc = Vector(target) + Vector(offset)
        cam.location = loc
        cam.rotation_euler = (Vector(target) - loc).to_track_quat("-Z", "Y").to_euler()
        bpy.context.scene.camera = cam
        bpy.context.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)


def part_colours(head: HeadModel) -> np.ndarray:
    """Per-corner colours by part; the eyes get an iris and pupil drawn through their UVs, as a
    material would (the disc convention in ``head.meta["eye_uv"]``), so gaze and UVs show together."""
    per_vertex = np.ones((head.n_vertices, 3))
    for name, ids in head.parts.items():
        per_vertex[ids] = PART_COLOURS.get(name, (0.0, 1.0, 0.0))
    colours = per_vertex[head.loop_vertices]
    paint_irises(head, colours, (0.25, 0.4, 0.65), (0.05, 0.05, 0.05))
    return colours


def paint_irises(
    head: HeadModel, colours: np.ndarray, iris: tuple[float, float, float], pupil: tuple[float, float, float]
) -> None:
    """Colour the eyes' corners inside the iris and pupil discs of their UVs (``head.meta["eye_uv"]``)."""
    eye_uv = head.meta.get("eye_uv", {})
    on_eye = np.isin(head.loop_vertices, head.parts.get("eyes", np.zeros(0, np.int32)))
    for key in ("eye_l", "eye_r"):
        if key not in eye_uv:
            continue
        disc = eye_uv[key]
        r = np.linalg.norm(head.uvs - np.asarray(disc["center"]), axis=1) / disc["radius"]
        fraction = eye_uv["iris_uv_fraction"]
        colours[on_eye & (r < fraction)] = iris
        colours[on_eye & (r < 0.4 * fraction)] = pupil


def front_pixels(points: np.ndarray, view: str, size: int) -> np.ndarray:
    """Pixel coordinates of points in an orthographic front view (camera looking along +Y)."""
    _, target, width = VIEWS[view]
    x = (points[:, 0] - target[0]) / width * size + size / 2
    y = size / 2 - (points[:, 2] - target[2]) / width * size
    return np.stack([x, y], axis=1)


def label(path: Path, pixels: np.ndarray, texts: list[str], colour: tuple[int, int, int]) -> None:
    from PIL import Image, ImageDraw

    im = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(im)
    for (x, y), t in zip(pixels, texts, strict=True):
        draw.text((x + 3, y - 10), t, fill=colour)
    im.save(path)


def grid(paths: list[Path], out: Path, titles: list[str], cols: int = 3) -> None:
    from PIL import Image, ImageDraw

    ims = [Image.open(p).convert("RGB") for p in paths]
    w, h = ims[0].size
    rows = (len(ims) + cols - 1) // cols
    sheet = Image.new("RGB", (w * cols, h * rows), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for k, (im, t) in enumerate(zip(ims, titles, strict=True)):
        sheet.paste(im, ((k % cols) * w, (k // cols) * h))
        draw.text(((k % cols) * w + 6, (k // cols) * h + 6), t, fill=(255, 255, 0))
    sheet.save(out)
    for p in paths:
        p.unlink()


def render_landmarks(r: Renderer, head: HeadModel, out: Path) -> list[Path]:
    v = head.vertices
    p68 = head.landmark_positions(v, "68")
    p478 = head.landmark_positions(v, "478")
    c478 = np.tile([0.1, 0.75, 0.1], (478, 1))
    c478[468:] = (1.0, 0.2, 1.0)
    written = []
    for view in ("front", "eyes", "mouth"):
        path = out / f"landmarks68_{view}.png"
        rad = 0.0012 if view == "front" else 0.0005
        r.render(path, head, v, view, points=p68, point_colours=np.tile([0.9, 0.1, 0.1], (68, 1)), radius=rad)
        label(path, front_pixels(p68, view, r.size), [str(i) for i in range(68)], (255, 255, 0))
        written.append(path)
        path = out / f"landmarks478_{view}.png"
        r.render(path, head, v, view, points=p478, point_colours=c478, radius=rad * 0.6)
        written.append(path)
    path = out / "landmarks68_three_quarter.png"
    r.render(
        path,
        head,
        v,
        "three_quarter",
        points=p68,
        point_colours=np.tile([0.9, 0.1, 0.1], (68, 1)),
        radius=0.0012,
    )
    written.append(path)
    return written


def region_image(head: HeadModel) -> np.ndarray:
    """All masks over UV space, one colour each, on top of the UV layout in grey."""
    size = next(iter(head.region_masks.values())).shape[0]
    img = np.full((size, size, 3), 0.12)
    for k, name in enumerate(REGION_NAMES):
        m = head.region_masks[name][..., None]
        img = img * (1 - 0.8 * m) + 0.8 * m * REGION_COLOURS[k]
    return img


def render_regions(r: Renderer, head: HeadModel, out: Path) -> list[Path]:
    from PIL import Image, ImageDraw

    img = Image.fromarray((region_image(head) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for k, name in enumerate(REGION_NAMES):
        draw.text((4, 4 + 11 * k), name, fill=tuple(int(c * 255) for c in REGION_COLOURS[k]))
    written = [out / "regions_uv.png"]
    img.save(written[0])
    # Per-corner colours: sample every mask at the corner's UV (row 0 is v = 1).
    size = next(iter(head.region_masks.values())).shape[0]
    px = np.clip((head.uvs[:, 0] * size).astype(int), 0, size - 1)
    py = np.clip(((1.0 - head.uvs[:, 1]) * size).astype(int), 0, size - 1)
    col = part_colours(head)
    for k, name in enumerate(REGION_NAMES):
        m = head.region_masks[name][py, px][:, None]
        col = col * (1 - 0.85 * m) + 0.85 * m * REGION_COLOURS[k]
    for view in ("front", "three_quarter", "side"):
        path = out / f"regions_{view}.png"
        r.render(path, head, head.vertices, view, colours=col, per_corner=True)
        written.append(path)
    return written


def render_expressions(r: Renderer, head: HeadModel, out: Path, names: list[str]) -> Path:
    paths, titles = [], []
    for i, combo in enumerate(names):
        w = np.zeros(52, np.float32)
        if combo != "neutral":
            for n in combo.split("+"):
                w[ARKIT_INDEX[n]] = 1.0
        path = out / f"_expr{i}.png"
        r.render(path, head, head.evaluate_np(None, w), "three_quarter")
        paths.append(path)
        titles.append(combo)
    sheet = out / "expressions.png"
    grid(paths, sheet, titles)
    return sheet


def render_identity(r: Renderer, head: HeadModel, out: Path, names: list[str]) -> Path:
    paths, titles = [], []
    for i, name in enumerate(names):
        for value in (-1.0, 1.0):
            path = out / f"_id{i}_{value:+.0f}.png"
            r.render(path, head, head.evaluate_np(head.identity_vector({name: value}), None), "front")
            paths.append(path)
            titles.append(f"{name} = {value:+.0f}")
    sheet = out / "identity.png"
    grid(paths, sheet, titles, cols=4)
    return sheet


DEFAULT_EXPRESSIONS = [
    "neutral", "jawOpen", "mouthSmileLeft+mouthSmileRight", "eyeBlinkLeft",
    "browInnerUp+browOuterUpLeft+browOuterUpRight", "mouthPucker", "mouthFunnel", "tongueOut+jawOpen",
    "eyeLookOutLeft+eyeLookInRight",
]  # fmt: skip
DEFAULT_IDENTITY = ["head_round", "nose_width", "chin_height", "eye_l_size", "mouth_width", "head_age"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a Furrow head with landmarks, regions, shapes.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--head", type=Path, default=None, help="head file (default: the built default head)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--what", default="landmarks,regions,expressions,identity")
    parser.add_argument("--expressions", default=",".join(DEFAULT_EXPRESSIONS))
    parser.add_argument("--identity", default=",".join(DEFAULT_IDENTITY))
    args = parser.parse_args(argv)
    if args.head is None:
        from furrow.heads.default import load_default_head

        head = load_default_head()
    else:
        head = HeadModel.load(args.head)
    args.outdir.mkdir(parents=True, exist_ok=True)
    r = Renderer(args.size)
    what = set(args.what.split(","))
    written: list[Path] = []
    if "landmarks" in what:
        written += render_landmarks(r, head, args.outdir)
    if "regions" in what:
        written += render_regions(r, head, args.outdir)
    if "expressions" in what:
        written.append(render_expressions(r, head, args.outdir, args.expressions.split(",")))
    if "identity" in what:
        written.append(render_identity(r, head, args.outdir, args.identity.split(",")))
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
