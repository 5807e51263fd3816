"""The procedural detail corpus: UV displacement maps (mm) of skin, folds and expression wrinkles.

Why procedural: DNPM and Detailed3DMM need pairs (detail identity, ARKit
weights) -> displacement map to train on, and no such data ships with the
project. Every map lives in the head's UV space, and every wrinkle is placed and
oriented on the 3D surface: each texel knows its neutral 3D position (the UV
layout rasterised once), so a forehead furrow is a level line of height above
the brow curve, crow's feet are rays from the outer eye corner, the nasolabial
fold is a distance to a curve from the nose wing to the mouth corner, and so
on. The UV layout only carries those 3D patterns, so their directions follow
the face whatever the islands look like, and the subject's left (+X) is found
per texel rather than assumed to be one UV half.

Speed comes from doing the geometry once per (head, resolution): expression
wrinkles are a small bank of unit patterns per side and per family (a few
variants, chosen by the identity's seed), so a batch of expressions is one
response curve and a matrix product. Identity detail (pores, roughness, fine
crepe lines) is per-seed noise shaped by precomputed per-texel fields: a
grouped convolution per batch. Heights are float32 millimetres, negative into
the skin.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import weakref
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..heads.arkit import ARKIT_NAMES
from ..heads.model import HeadModel
from ..heads.regions import rasterise_layout, vertex_normals

F64 = npt.NDArray[np.float64]
Weights = Union[torch.Tensor, npt.NDArray[Any], Mapping[str, float], Sequence[Mapping[str, float]]]
ARKIT_INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}


# --- the detail identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class DetailIdentity:
    """The human controls of person-specific detail; ``seed`` picks the person's pores and wrinkle layout."""

    age: float = 35.0  # years; static folds and expression-wrinkle depth grow with it
    pore_size: float = 1.0  # x the regional pore radius
    pore_depth: float = 1.0  # x the regional pore depth
    roughness: float = 1.0  # x the fine skin relief
    wrinkle_depth: float = 1.0  # x static folds and expression wrinkles
    seed: int = 0

    @classmethod
    def random(cls, seed: int) -> DetailIdentity:
        """A plausible adult drawn from ``seed`` (the same seed gives the same person)."""
        rng = np.random.default_rng([seed, 0x5EED])
        return cls(
            age=float(rng.uniform(18.0, 85.0)),
            pore_size=float(np.exp(rng.normal(0.0, 0.25))),
            pore_depth=float(np.exp(rng.normal(0.0, 0.3))),
            roughness=float(np.exp(rng.normal(0.0, 0.3))),
            wrinkle_depth=float(np.exp(rng.normal(0.0, 0.3))),
            seed=int(seed),
        )

    def vector(self) -> npt.NDArray[np.float32]:
        """The controls as a normalised code (for mapping networks); the seed is not in it."""
        return np.array(
            [
                (self.age - 50.0) / 20.0,
                math.log(max(self.pore_size, 1e-3)),
                math.log(max(self.pore_depth, 1e-3)),
                math.log(max(self.roughness, 1e-3)),
                math.log(max(self.wrinkle_depth, 1e-3)),
            ],
            dtype=np.float32,
        )

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sample_identities(n: int, seed: int = 0) -> list[DetailIdentity]:
    """``n`` random identities, reproducible from ``seed``."""
    return [DetailIdentity.random(seed * 100_003 + i) for i in range(n)]


def age_lines(age: float) -> float:
    """How etched fine static lines are at ``age`` (0 young, 1 at ~70)."""
    t = min(max((age - 22.0) / 48.0, 0.0), 1.3)
    return t * t * (3.0 - 2.0 * min(t, 1.0))


def age_folds(age: float) -> float:
    """How deep the static folds (nasolabial, marionette, neck) are: later onset than lines."""
    t = min(max((age - 30.0) / 50.0, 0.0), 1.2)
    return 0.12 + math.pow(t, 1.3)


# --- small numeric helpers (numpy, used once per head) -------------------------------------------


def smoothstep(edge0: float, edge1: float, x: F64) -> F64:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    out: F64 = t * t * (3.0 - 2.0 * t)
    return out


def noise3(p: F64, cell: float, seed: int) -> F64:
    """Smooth value noise in [-1, 1] over 3D points (mm): the same texel pattern at every resolution."""
    table = np.random.default_rng([seed, 0x0153]).uniform(-1.0, 1.0, 1 << 14)
    q = p / cell
    i = np.floor(q).astype(np.int64)
    f = q - i
    s = f * f * (3.0 - 2.0 * f)

    def corner(dx: int, dy: int, dz: int) -> F64:
        h = ((i[:, 0] + dx) * 73856093) ^ ((i[:, 1] + dy) * 19349663) ^ ((i[:, 2] + dz) * 83492791)
        out: F64 = table[h & ((1 << 14) - 1)]
        return out

    out = np.zeros(len(p))
    for dx in (0, 1):
        wx = s[:, 0] if dx else 1.0 - s[:, 0]
        for dy in (0, 1):
            wy = s[:, 1] if dy else 1.0 - s[:, 1]
            for dz in (0, 1):
                wz = s[:, 2] if dz else 1.0 - s[:, 2]
                out += wx * wy * wz * corner(dx, dy, dz)
    return out


def crease(d: F64, width: F64 | float, shoulder: float = 0.25) -> F64:
    """A wrinkle's cross-section at distance ``d`` (mm): a narrow valley (-1 at 0), soft raised shoulders."""
    g = np.exp(-((d / width) ** 2))
    valley = 0.6 * g + 0.4 * np.exp(-np.abs(d) / (0.4 * width))
    out: F64 = -valley + shoulder * np.exp(-((d / (3.0 * width)) ** 2)) * (1.0 - g)
    return out


@dataclass
class _Surface:
    """Per-texel neutral geometry of the skin (gutters filled from the nearest island texel)."""

    p: F64  # (N, 3) mm, the texels where there is skin
    n: F64  # (N, 3) unit normals
    index: npt.NDArray[np.int64]  # (N,) flat texel index
    resolution: int
    masks: dict[str, F64]  # region -> (N,)
    lm: F64  # (68, 3) landmarks, mm
    mm_per_px: float  # the face's median texel size

    def scatter(self, values: F64) -> F64:
        out = np.zeros(self.resolution * self.resolution)
        out[self.index] = values
        return out.reshape(self.resolution, self.resolution)


def _surface(head: HeadModel, resolution: int, gutter: float = 3.0) -> _Surface:
    from scipy.ndimage import distance_transform_edt, gaussian_filter  # type: ignore[import-untyped]

    from ..heads.regions import region_masks

    tri_id, bary = rasterise_layout(head, resolution)
    covered = tri_id >= 0
    corners = head.triangles[np.where(covered, tri_id, 0)]
    verts = head.vertices.astype(np.float64) * 1000.0
    pos = np.einsum("hwk,hwkc->hwc", bary, verts[corners])
    vn = vertex_normals(head.vertices.astype(np.float64), head.triangles)
    nrm = np.einsum("hwk,hwkc->hwc", bary, vn[corners])
    nrm /= np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-12)
    # Texel size from neighbours inside islands (before the gutters are filled).
    step = np.linalg.norm(np.diff(pos, axis=1), axis=-1)
    both = covered[:, 1:] & covered[:, :-1]
    mm_per_px = float(np.median(step[both])) if both.any() else 1.0
    dist, (iy, ix) = distance_transform_edt(~covered, return_indices=True)
    fill = covered | (dist <= gutter)
    pos, nrm = pos[iy, ix], nrm[iy, ix]
    index = np.flatnonzero(fill.reshape(-1))
    stored = head.region_masks
    masks = {}
    computed = None
    for name in stored:
        m = np.asarray(stored[name], dtype=np.float64)
        if m.shape != (resolution, resolution):
            computed = computed or region_masks(head, resolution, (tri_id, bary))
            m = computed[name].astype(np.float64)
        masks[name] = m
    # Softened masks: wrinkles fade out at region borders instead of being cut.
    sigma = 1.5 * resolution / 256.0

    def soften(mask: F64) -> F64:
        out: F64 = np.clip(gaussian_filter(mask.astype(np.float32), sigma) * 1.15, 0.0, 1.0)
        return out.reshape(-1)[index].astype(np.float64)

    # scipy's filters release the GIL: one mask per torch thread (0.7 s on one core at 1024 px).
    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        soft = dict(zip(masks, pool.map(soften, masks.values()), strict=True))
    lm = head.landmark_positions(head.vertices, "68").astype(np.float64) * 1000.0
    return _Surface(
        p=pos.reshape(-1, 3)[index],
        n=nrm.reshape(-1, 3)[index],
        index=index,
        resolution=resolution,
        masks=soft,
        lm=lm,
        mm_per_px=mm_per_px,
    )


# --- wrinkle families (unit patterns in mm, built once per head, resolution and variant) -------


@dataclass(frozen=True)
class _Pattern:
    name: str
    drivers: dict[str, float]  # ARKit name -> weight of that channel
    onset: float  # 0: responds from the first movement; > 0: a secondary line that appears late


def _lines(
    s: _Surface,
    across: F64,
    centres: Sequence[float],
    width: float,
    seed: int,
    *,
    breakup: float = 9.0,
    gaps: float = 0.5,
    wander: float = 0.5,
    shoulder: float = 0.25,
    lengths: Callable[[int], F64] | None = None,
) -> F64:
    """Creases at ``centres`` of the ``across`` coordinate (mm), broken up and varied along their length."""
    rng = np.random.default_rng([seed, 77])
    out = np.zeros(len(across))
    for k, c in enumerate(centres):
        d = across - c
        near = np.abs(d) < 8.0 * width + 2.0 * wander
        if wander > 0:  # each line meanders on its own, so a set never reads as parallel stripes
            d[near] += wander * noise3(s.p[near], 11.0, seed * 131 + 2000 + k)
            near &= np.abs(d) < 8.0 * width
        if not near.any():
            continue
        p = s.p[near]
        amp = smoothstep(-gaps, 0.45, noise3(p, breakup, seed * 131 + k)) * rng.uniform(0.6, 1.0)
        w = width * (1.0 + 0.3 * noise3(p, 5.0, seed * 131 + 1000 + k))
        h = amp * crease(d[near], w, shoulder)
        if lengths is not None:
            h *= lengths(k)[near]
        out[near] += h
    return out


def _side(x: F64, sign: int) -> F64:
    return smoothstep(-1.0, 1.0, sign * x)


def _build(s: _Surface, variant: int) -> tuple[list[_Pattern], list[F64], dict[str, F64]]:
    """Every expression pattern (unit response, mm) and the static fold groups, for one variant."""
    rng = np.random.default_rng([variant, 2024])
    lm, p, m = s.lm, s.p, s.masks
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = smoothstep(0.05, 0.35, -s.n[:, 1])
    base = 1000 * (variant + 1)
    patterns: list[_Pattern] = []
    maps: list[F64] = []

    def add(name: str, drivers: dict[str, float], values: F64, onset: float = 0.0) -> None:
        patterns.append(_Pattern(name, drivers, onset))
        maps.append(values)

    sides = (("Left", 1), ("Right", -1))

    # Forehead: furrows along level lines of height above a flattened brow arc, wavy.
    brow = lm[17:27]
    a, c = np.linalg.lstsq(np.stack([brow[:, 0] ** 2, np.ones(10)], 1), brow[:, 2], rcond=None)[0]
    height = z - (c + 0.45 * a * x**2) + 2.0 * noise3(p, 16.0, base + 1)
    sp = rng.uniform(9.0, 12.0)
    start = rng.uniform(8.0, 11.0)
    centres = [start + k * sp + rng.normal(0.0, 1.0) for k in range(5)]
    fh = _lines(s, height, centres, 0.75, base + 2, gaps=0.35, breakup=14.0, wander=0.9) * 0.5 * m["forehead"]
    fine = [cc + 0.5 * sp + rng.normal(0.0, 0.6) for cc in centres]
    fh2 = _lines(s, height, fine, 0.45, base + 3, gaps=0.7) * 0.25 * m["forehead"]
    centre = np.exp(-((x / 26.0) ** 2))
    add("forehead_centre", {"browInnerUp": 1.0}, fh * centre)
    add("forehead_centre_fine", {"browInnerUp": 1.0}, fh2 * centre, 0.4)
    for side, sg in sides:
        lateral = (1.0 - centre) * _side(x, sg)
        drivers = {f"browOuterUp{side}": 1.0, "browInnerUp": 0.4}
        add(f"forehead_{side.lower()}", drivers, fh * lateral)
        add(f"forehead_{side.lower()}_fine", drivers, fh2 * lateral, 0.4)

    # Glabella: the vertical "11" lines, converging downward; a horizontal procerus line at the nasion.
    glab = 0.5 * (lm[21] + lm[22]) * 0.6 + lm[27] * 0.4
    env_g = np.clip(m["glabella"] * 1.4, 0.0, 1.0) * front
    across = np.abs(x) - 0.2 * (z - glab[2]) + 0.5 * noise3(p, 10.0, base + 4)
    g_lines = _lines(s, across, [rng.uniform(2.8, 4.0), rng.uniform(6.0, 7.5)], 0.7, base + 5, gaps=0.2)
    nasion = z - (lm[27, 2] - 1.0) + 0.6 * noise3(p, 8.0, base + 6)
    proc = _lines(s, nasion, [0.0, -3.5], 0.8, base + 7, gaps=0.3)
    proc *= (1.0 - smoothstep(5.0, 11.0, np.abs(x))) * np.clip(m["glabella"] + m["nose"], 0, 1) * front
    for side, sg in sides:
        add(f"glabella_{side.lower()}", {f"browDown{side}": 1.0}, 0.6 * g_lines * env_g * _side(x, sg))
        add(
            f"procerus_{side.lower()}",
            {f"browDown{side}": 0.6, f"noseSneer{side}": 0.8},
            0.35 * proc * _side(x, sg),
        )

    static_lines = 0.35 * fh + 0.35 * g_lines * env_g
    folds = np.zeros(len(p))

    for side, sg in sides:
        lo = side.lower()
        sd = _side(x, sg)
        # Crow's feet: rays fanning out from just outside the outer eye corner, curving slightly.
        corner = lm[45] if sg > 0 else lm[36]
        dx, dy = x - corner[0], y - corner[1]
        u = np.hypot(dx, dy) * np.sign(sg * dx) - 2.0
        v = z - corner[2]
        r = np.hypot(u, v)
        theta = np.arctan2(v, u) * (1.0 - 0.12 * np.clip(r / 20.0, 0, 2))
        angles = np.arange(-1.0, 0.75, rng.uniform(0.17, 0.22)) + rng.normal(0, 0.04)
        reach = rng.uniform(14.0, 24.0, len(angles))

        def ray_len(k: int, r: F64 = r, reach: F64 = reach) -> F64:
            return smoothstep(3.0, 8.0, r) * (1.0 - smoothstep(reach[k] - 6.0, reach[k], r))

        env_c = np.sqrt(m["crows_feet"]) * smoothstep(0.0, 3.0, u) * sd
        cf = np.zeros(len(p))
        for k, ang in enumerate(angles):
            cf += _lines(s, r * (theta - ang), [0.0], 0.55, base + 9 + 17 * k) * ray_len(k)
        cf *= env_c
        mids = angles[:-1] + 0.5 * np.diff(angles)
        cf2 = np.zeros(len(p))
        for k, ang in enumerate(mids):
            cf2 += _lines(
                s,
                r * (theta - ang),
                [0.0],
                0.4,
                base + 400 + 17 * k,
                gaps=0.8,
            ) * ray_len(k)
        cf2 *= env_c
        crow = {f"eyeSquint{side}": 0.6, f"cheekSquint{side}": 0.5, f"mouthSmile{side}": 0.5}
        add(f"crows_feet_{lo}", crow, 0.4 * cf)
        add(f"crows_feet_{lo}_fine", crow, 0.2 * cf2, 0.45)

        # Lower-eyelid creases: parallel to the lower lid.
        lid = lm[[45, 46, 47, 42]] if sg > 0 else lm[[36, 41, 40, 39]]
        z_lid = np.polyval(np.polyfit(lid[:, 0], lid[:, 2], 2), x)  # a smooth arc, not the polyline's kinks
        below = z_lid - z + 0.5 * noise3(p, 7.0, base + 30)
        inside = smoothstep(lid[:, 0].min() - 3.0, lid[:, 0].min() + 2.0, x) * (
            1.0 - smoothstep(lid[:, 0].max() - 2.0, lid[:, 0].max() + 3.0, x)
        )
        env_e = np.sqrt(np.clip(m["eyelid_lower"] + 0.5 * m["cheeks"], 0, 1)) * inside * sd * front
        lid_lines = _lines(
            s, below, [rng.uniform(2.5, 3.5), rng.uniform(5.0, 6.5), 8.5], 0.5, base + 31, gaps=0.6
        )
        add(
            f"eyelid_lower_{lo}",
            {f"eyeSquint{side}": 1.0, f"cheekSquint{side}": 0.4},
            0.3 * lid_lines * env_e,
        )
        static_lines += 0.4 * 0.3 * lid_lines * env_e + 0.35 * 0.4 * cf

        # Nasolabial fold: a curve from above the nose wing to beside the mouth corner.
        ala = lm[35] if sg > 0 else lm[31]
        mouth = lm[54] if sg > 0 else lm[48]
        p0 = np.array([ala[0] + sg * 5.0, ala[2] + 3.0])
        p2 = np.array([mouth[0] + sg * 6.0, mouth[2] - 9.0])
        p1 = 0.5 * (p0 + p2) + np.array([sg * 6.0, 0.0])
        t = np.linspace(0.0, 1.0, 64)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        tangent = np.gradient(curve, axis=0)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        normal *= np.sign(normal[:, :1] * sg)  # toward the cheek
        xz = np.stack([x, z], 1)
        j = np.argmin(((xz[:, None, :] - curve[None]) ** 2).sum(-1), axis=1)
        d = ((xz - curve[j]) * normal[j]).sum(1) + 0.8 * noise3(p, 9.0, base + 40)
        tt = j / 63.0
        along = smoothstep(0.0, 0.35, tt) * (1.0 - smoothstep(0.65, 1.0, tt))
        env_n = along * front * (y < lm[33, 1] + 30.0) * sd * (np.abs(d) < 18.0)
        w = 1.4 * (1.0 + 0.25 * noise3(p, 6.0, base + 41))
        groove = crease(d, w, 0.0) - 0.35 * np.exp(-((d / 4.0) ** 2))
        bulge = 0.6 * np.exp(-(((d - 5.5) / 3.5) ** 2))
        add(
            f"nasolabial_{lo}",
            {
                f"mouthSmile{side}": 1.0,
                f"noseSneer{side}": 0.6,
                f"cheekSquint{side}": 0.3,
                f"mouthUpperUp{side}": 0.3,
            },
            1.0 * (groove + bulge) * env_n,
        )
        folds += 0.7 * crease(d, 0.9 * w, 0.1) * env_n

        # Marionette line: from the mouth corner down toward the jaw (static, and deepened by a frown).
        q0 = np.array([mouth[0] + sg * 1.5, mouth[2] - 3.0])
        q1 = np.array([mouth[0] + sg * 5.0, mouth[2] - 20.0])
        seg = q1 - q0
        tq = np.clip(((xz - q0) @ seg) / (seg @ seg), 0.0, 1.0)
        dq = np.linalg.norm(xz - (q0 + tq[:, None] * seg), axis=1)
        env_m = (
            smoothstep(0.0, 0.2, tq) * (1.0 - smoothstep(0.7, 1.0, tq)) * front * sd * (y < lm[8, 1] + 25.0)
        )
        marionette = crease(dq, 1.1, 0.15) * env_m
        add(f"marionette_{lo}", {f"mouthFrown{side}": 0.7}, 0.4 * marionette)
        folds += 0.5 * marionette

        # Bunny lines: oblique creases on the side of the nasal bridge, running down and outward.
        b = 0.5 * (lm[28] + lm[29]) + np.array([sg * 6.0, 0.0, 0.0])
        ang = math.radians(rng.uniform(35.0, 50.0))
        along_b = (x - b[0]) * sg * math.sin(ang) - (z - b[2]) * math.cos(ang)
        across_b = (x - b[0]) * math.cos(ang) + (z - b[2]) * sg * math.sin(ang)
        env_b = (
            np.exp(-((along_b / 6.0) ** 2))
            * front
            * (y < lm[30, 1] + 25.0)
            * np.sqrt(np.clip(m["nose"] + m["cheeks"], 0.0, 1.0))
            * sd
        )
        bunny = _lines(
            s,
            across_b,
            [float(c) for c in np.array([-3.8, -1.3, 1.2, 3.7]) + rng.normal(0, 0.3, 4)],
            0.5,
            base + 50,
            gaps=0.3,
        )
        add(f"bunny_{lo}", {f"noseSneer{side}": 1.0}, 0.3 * bunny * env_b)

        # Neck bands: the platysma's cords, raised ridges diverging downward.
        top = lm[8, 2] - 18.0
        across_n = np.abs(x) - 0.25 * np.clip(top - z, 0.0, None) + 1.0 * noise3(p, 14.0, base + 60)
        cords = np.zeros(len(p))
        for k, cc in enumerate([rng.uniform(14.0, 20.0), rng.uniform(27.0, 34.0)]):
            dn = across_n - cc
            cords += (0.8 + 0.2 * k) * (
                np.exp(-((dn / 2.0) ** 2)) - 0.35 * np.exp(-(((np.abs(dn) - 4.5) / 1.5) ** 2))
            )
        env_k = (
            np.sqrt(m["neck"]) * smoothstep(0.2, 0.5, -s.n[:, 1]) * smoothstep(top + 4.0, top - 10.0, z) * sd
        )
        cords *= env_k * smoothstep(-0.9, 0.2, noise3(p, 25.0, base + 61))
        add(f"neck_{lo}", {f"mouthStretch{side}": 1.0, f"mouthFrown{side}": 0.6}, 0.8 * cords)

    # Perioral lines: short vertical lines fanning from the lip borders (pucker, funnel).
    mc = lm[48:68].mean(axis=0)
    upper = lm[48:55]
    lower = lm[[54, 55, 56, 57, 58, 59, 48]]
    perioral = np.zeros(len(p))
    lips = np.zeros(len(p))
    for contour, direction in ((upper, 1.0), (lower, -1.0)):
        o = mc - np.array([0.0, 0.0, direction * 30.0])
        theta = np.arctan2(x - o[0], direction * (z - o[2]))
        r = np.hypot(x - o[0], z - o[2])
        order = np.argsort(contour[:, 0])
        border = np.interp(x, contour[order, 0], contour[order, 2])
        t = direction * (z - border)
        n_lines = 11
        xs = np.linspace(-21.0, 21.0, n_lines) + rng.normal(0.0, 0.8, n_lines)
        length = rng.uniform(2.5, 6.5, n_lines)

        def extent(k: int, t: F64 = t, length: F64 = length) -> F64:
            return smoothstep(-0.5, 0.8, t) * (1.0 - smoothstep(length[k] - 2.0, length[k], t))

        perioral += _lines(
            s, r * theta, list(np.arctan2(xs, 30.0) * 30.0), 0.4, base + 70, gaps=0.9, lengths=extent
        )
        # Fine vertical lines on the red of the lips.
        xl = np.arange(-24.0, 24.0, 1.7) + rng.normal(0.0, 0.3)
        lips += _lines(
            s, r * theta, list(np.arctan2(xl, 30.0) * 30.0), 0.3, base + 80, gaps=0.7, shoulder=0.1
        )
    perioral *= m["perioral"] * front
    lips *= np.clip(m["lip_upper"] + m["lip_lower"], 0.0, 1.0)
    add("perioral", {"mouthPucker": 1.0, "mouthFunnel": 0.7}, 0.3 * perioral)
    add("lip_lines", {"mouthPucker": 1.0, "mouthFunnel": 0.6}, 0.12 * lips)
    static_lines += 0.25 * 0.3 * perioral + 0.06 * lips

    # Chin dimpling (peau d'orange) when the chin boss is pushed up.
    n = noise3(p, 2.4, base + 90) + 0.5 * noise3(p, 1.2, base + 91)
    add("chin", {"mouthShrugLower": 1.0}, -0.3 * np.clip(n - 0.05, 0.0, None) ** 1.2 * m["chin"])

    # Neck rings: horizontal static folds (age).
    ring_h = z + 1.5 * noise3(p, 20.0, base + 95)
    rings = _lines(
        s, ring_h, [lm[8, 2] - 35.0 - 13.0 * k for k in range(4)], 1.3, base + 96, gaps=0.5, breakup=18.0
    )
    folds += 0.5 * rings * np.sqrt(m["neck"]) * smoothstep(-0.3, 0.3, -s.n[:, 1])

    return patterns, maps, {"lines": static_lines, "folds": folds}


# --- the generator --------------------------------------------------------------------------------


@dataclass
class _Bank:
    patterns: list[_Pattern]
    combined: torch.Tensor  # (V, 2 + K, R*R) float32 mm: static lines, static folds, then expression
    drivers: torch.Tensor  # (K, 52)
    onset: torch.Tensor  # (K,)
    pore_density: torch.Tensor  # (R, R) expected pores per texel
    pore_depth: torch.Tensor  # (R, R) mm
    rough: torch.Tensor  # (R, R) mm
    crepe: torch.Tensor  # (R, R) mm at age 70
    skin: torch.Tensor  # (R, R) 1 where there is skin (gutters included)
    position: npt.NDArray[np.float32]  # (R, R, 3) mm, 0 off the skin
    mm_per_px: float
    noise: dict[int, torch.Tensor] = field(default_factory=dict)  # skin noise entries, made on first use
    layouts: tuple[int, ...] = ()  # the wrinkle layouts held in ``combined``, in order
    fine_expression: torch.Tensor | None = None  # (V, K, R*R) above a model's band, made on first use
    fine_native: int = 0  # that model's resolution
    path: Path | None = None  # its file in ``bank_cache_dir()``, where its noise entries go too

    @property
    def static(self) -> torch.Tensor:
        return self.combined[:, :2]

    @property
    def expression(self) -> torch.Tensor:
        return self.combined[:, 2:]


LAYOUT_VARIANTS = 2  # wrinkle layouts, chosen by seed; the same at every resolution
SUPERSAMPLE = 2  # wrinkle patterns at and below SUPERSAMPLE_UP_TO px are built this much finer
SUPERSAMPLE_UP_TO = 256

# Per (head, resolution, layouts): a head is unhashable, so its id, checked against a weak reference.
_CACHE: dict[tuple[int, int, tuple[int, ...]], tuple[weakref.ref[HeadModel], _Bank]] = {}
_LOCK = threading.RLock()  # guards _CACHE and the banks' lazily made parts
_CACHE_BYTES = 600 * 2**20  # banks past this (oldest first) are dropped: a 1024 px one holds ~300 MB

# Per region: pores per mm^2, pore depth (mm), pore radius (mm), skin roughness (mm), crepe lines (mm).
_SKIN = {
    "default": (0.5, 0.05, 0.12, 0.012, 0.0),
    "nose": (1.3, 0.09, 0.2, 0.01, 0.0),
    "cheeks": (1.0, 0.07, 0.17, 0.012, 0.012),
    "nasolabial": (0.9, 0.06, 0.15, 0.012, 0.0),
    "chin": (0.9, 0.065, 0.16, 0.012, 0.0),
    "forehead": (0.7, 0.05, 0.12, 0.012, 0.0),
    "glabella": (0.8, 0.055, 0.13, 0.012, 0.0),
    "eyelid_upper": (0.2, 0.015, 0.06, 0.008, 0.03),
    "eyelid_lower": (0.25, 0.02, 0.07, 0.008, 0.035),
    "crows_feet": (0.4, 0.03, 0.1, 0.01, 0.03),
    "lip_upper": (0.0, 0.0, 0.1, 0.008, 0.0),
    "lip_lower": (0.0, 0.0, 0.1, 0.008, 0.0),
    "neck": (0.35, 0.035, 0.1, 0.014, 0.03),
}


def _bank(head: HeadModel, resolution: int, layouts: tuple[int, ...]) -> _Bank:
    """The patterns of wrinkle layouts ``layouts`` (none: skin only) and the skin fields."""
    with _LOCK:  # a worker's prewarm thread may be building this very bank: wait, do not redo it
        return _make_bank(head, resolution, layouts)


def _make_bank(head: HeadModel, resolution: int, layouts: tuple[int, ...]) -> _Bank:
    key = (id(head), resolution, layouts)
    if key in _CACHE and _CACHE[key][0]() is head:
        return _CACHE[key][1]
    path = bank_cache_dir() / _bank_file(head, resolution, layouts)
    stored = _load_bank(path, resolution, layouts)
    if stored is not None:
        _CACHE[key] = (weakref.ref(head), stored)
        _trim_cache()
        return stored
    bank = _build_bank(head, resolution, layouts)
    bank.path = path
    _save_arrays(path, _bank_arrays(bank))
    _CACHE[key] = (weakref.ref(head), bank)
    _trim_cache()
    return bank


def _build_bank(head: HeadModel, resolution: int, layouts: tuple[int, ...]) -> _Bank:
    s = _surface(head, resolution)
    # Wrinkles are built at SUPERSAMPLE x the resolution and area-averaged: a 0.5 mm crease on a
    # 1.6 mm texel, point-sampled, breaks into dashes that a model learns and upsampling turns to blobs.
    ss = SUPERSAMPLE if resolution <= SUPERSAMPLE_UP_TO else 1
    fine = _surface(head, resolution * ss, gutter=3.0 * ss + ss - 1) if ss > 1 and layouts else s
    patterns: list[_Pattern] = []
    combined = np.zeros((1, 2, resolution * resolution), dtype=np.float32)  # variants=0: skin only
    for i, v in enumerate(layouts):  # filled in place: float64 full-size copies would triple peak memory
        patterns, maps, groups = _build(fine, v)
        if i == 0:
            combined = np.zeros((len(layouts), 2 + len(maps), resolution * resolution), dtype=np.float32)
        for k, values in enumerate([groups["lines"], groups["folds"], *maps]):
            combined[i, k] = _area_average(fine.scatter(values), ss).reshape(-1)
        del maps, groups
    off_skin = np.ones(resolution * resolution, dtype=bool)
    off_skin[s.index] = False
    combined[:, :, off_skin] = 0.0
    drivers = np.zeros((len(patterns), len(ARKIT_NAMES)), dtype=np.float32)
    for k, pat in enumerate(patterns):
        for name, wgt in pat.drivers.items():
            drivers[k, ARKIT_INDEX[name]] = wgt
    # Skin fields: a per-region table blended by the (soft) region masks.
    fields = np.tile(np.array(_SKIN["default"]), (len(s.p), 1))
    for region, row in _SKIN.items():
        if region != "default":
            share = np.clip(s.masks[region] * 1.2, 0.0, 1.0)[:, None]
            fields = fields * (1.0 - share) + np.array(row)[None] * share
    area = s.mm_per_px**2
    radius_px = fields[:, 2] / s.mm_per_px
    density = np.clip(fields[:, 0] * area, 0.0, 0.45)
    # Pores smaller than a texel show only as much as their share of its area (a floor keeps texture).
    depth = fields[:, 1] * np.clip((radius_px / 0.5) ** 2, 0.3, 1.0)
    position = np.zeros((resolution * resolution, 3), dtype=np.float32)
    position[s.index] = s.p

    def t(values: npt.ArrayLike) -> torch.Tensor:
        return torch.from_numpy(s.scatter(np.asarray(values, dtype=np.float64)).astype(np.float32))

    bank = _Bank(
        patterns=patterns,
        combined=torch.from_numpy(combined),
        drivers=torch.from_numpy(drivers),
        onset=torch.tensor([pt.onset for pt in patterns], dtype=torch.float32),
        pore_density=t(density),
        pore_depth=t(depth),
        rough=t(fields[:, 3]),
        crepe=t(fields[:, 4]),
        skin=t(np.ones(len(s.p))),
        position=position.reshape(resolution, resolution, 3),
        mm_per_px=s.mm_per_px,
        layouts=layouts,
    )
    for tensor in (bank.combined, bank.pore_depth, bank.rough, bank.crepe):
        _no_denormals(tensor)
    return bank


# --- banks on disk: a new session loads in ~0.1-0.5 s what takes 3-14 s to build at 512-1024 px ---

BANK_CACHE_VERSION = 1
BANK_CACHE_BYTES = 1500 * 2**20  # the folder's budget: the least recently used files go first
_BANK_TENSORS = ("combined", "drivers", "onset", "pore_density", "pore_depth", "rough", "crepe", "skin")


def bank_cache_dir() -> Path:
    """Where built banks are kept between sessions (``furrow/data/banks``, never committed)."""
    return Path(__file__).resolve().parents[1] / "data" / "banks"


def _bank_file(head: HeadModel, resolution: int, layouts: tuple[int, ...]) -> str:
    """A digest of everything a bank depends on: the head's surface, regions and landmarks, the
    size and layouts, the code that builds it (its source files) and the libraries' versions."""
    from .. import raster
    from ..heads import regions

    h = hashlib.sha1(
        f"v{BANK_CACHE_VERSION}-{resolution}-{layouts}-{np.__version__}-{torch.__version__}".encode()
    )
    for module in (__file__, regions.__file__, raster.__file__):
        h.update(Path(str(module)).read_bytes())
    arrays = [head.vertices, head.triangles, head.uvs, head.triangle_loops, head.parts["skin"]]
    arrays += [head.landmarks68.triangles, head.landmarks68.barycentric]
    arrays += [head.region_masks[k] for k in sorted(head.region_masks)]
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    name = "-".join(map(str, layouts)) or "skin"
    return f"bank-{resolution}-{name}-{h.hexdigest()[:20]}.npz"


def _bank_arrays(bank: _Bank) -> dict[str, npt.NDArray[Any]]:
    arrays = {k: getattr(bank, k).numpy() for k in _BANK_TENSORS}
    header = {
        "patterns": [asdict(p) for p in bank.patterns],
        "mm_per_px": bank.mm_per_px,
        "layouts": list(bank.layouts),
    }
    arrays["position"] = bank.position
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return arrays


def _load_bank(path: Path, resolution: int, layouts: tuple[int, ...]) -> _Bank | None:
    """The bank stored at ``path``; None when it is missing, damaged or not of this size."""
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(bytes(f["header"]).decode())
            tensors = {k: torch.from_numpy(np.array(f[k])) for k in _BANK_TENSORS}
            position = np.array(f["position"])
        t = tensors
        bank = _Bank(
            patterns=[_Pattern(**p) for p in header["patterns"]], combined=t["combined"],
            drivers=t["drivers"], onset=t["onset"], pore_density=t["pore_density"],
            pore_depth=t["pore_depth"], rough=t["rough"], crepe=t["crepe"], skin=t["skin"],
            position=position, mm_per_px=float(header["mm_per_px"]), layouts=tuple(header["layouts"]),
        )  # fmt: skip
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    if bank.skin.shape != (resolution, resolution) or bank.layouts != layouts:
        return None
    _touch(path)
    bank.path = path
    return bank


def _noise_file(bank: _Bank, entry: int) -> Path | None:
    return bank.path.with_name(f"{bank.path.stem}-noise{entry}.npy") if bank.path is not None else None


def _load_noise(bank: _Bank, entry: int, resolution: int) -> torch.Tensor | None:
    path = _noise_file(bank, entry)
    if path is None:
        return None
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if values.shape != (_NOISE_CHANNELS, resolution + 2 * _NOISE_MARGIN, resolution + 2 * _NOISE_MARGIN):
        return None
    _touch(path)
    return torch.from_numpy(values)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _save_arrays(path: Path, arrays: dict[str, npt.NDArray[Any]] | npt.NDArray[Any]) -> None:
    """Best effort (a read-only install builds again each session), atomic, within the budget."""
    from ..io.atomic import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            if isinstance(arrays, dict):
                np.savez(f, **arrays)
            else:
                np.save(f, arrays)
        _prune(path.parent, keep=path)
    except OSError:
        pass


def _prune(folder: Path, keep: Path) -> None:
    """Drop the least recently used files (never ``keep``, just written) while the folder is over
    ``BANK_CACHE_BYTES``."""
    files = []
    for f in folder.glob("bank-*"):
        if f == keep:
            continue
        try:
            st = f.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in files) + keep.stat().st_size
    for _, size, f in sorted(files, key=lambda t: t[0]):
        if total <= BANK_CACHE_BYTES:
            break
        f.unlink(missing_ok=True)
        total -= size


def _trim_cache() -> None:
    """Drop the oldest banks (never the newest) while the cache holds more than _CACHE_BYTES."""
    while len(_CACHE) > 1 and sum(_bank_bytes(b) for _, b in _CACHE.values()) > _CACHE_BYTES:
        _CACHE.pop(next(iter(_CACHE)))


def _bank_bytes(bank: _Bank) -> int:
    tensors = [bank.combined, *bank.noise.values(), bank.fine_expression]
    return sum(t.nbytes for t in tensors if t is not None) + bank.position.nbytes


def _area_average(values: F64, factor: int) -> F64:
    """Mean over ``factor`` x ``factor`` blocks: the box prefilter of a supersampled map."""
    if factor == 1:
        return values
    r = values.shape[0] // factor
    out: F64 = values.reshape(r, factor, r, factor).mean(axis=(1, 3))
    return out


def _no_denormals(x: torch.Tensor) -> None:
    """Zero Gaussian tails below 1e-12 mm in place: denormal floats make CPU arithmetic ~100x slower."""
    x[x.abs() < 1e-12] = 0.0


def _gauss(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(2.5 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    return k / k.sum()


def _line_kernel(length_px: float, angle: float) -> torch.Tensor:
    """A thin oriented line (for crepe lines): a Gaussian across, a box along."""
    r = max(2, math.ceil(length_px / 2))
    ax = torch.arange(-r, r + 1, dtype=torch.float32)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    along = xx * math.cos(angle) + yy * math.sin(angle)
    across = -xx * math.sin(angle) + yy * math.cos(angle)
    k = torch.exp(-0.5 * (across / 0.6) ** 2) * (along.abs() <= length_px / 2).float()
    k -= k.mean()
    return k / k.abs().sum()


_NOISE_CHANNELS = 4  # small pores, large pores, relief, crepe lines
_NOISE_ENTRIES = 16
_NOISE_MARGIN = 4  # texels; a window's shift also moves the regional fields, so keep it small


def _noise_entries(resolution: int) -> int:
    """How many noise entries a head's skin draws from at ``resolution`` (~65 MB of them at 1024 px)."""
    return max(4, min(_NOISE_ENTRIES, _NOISE_ENTRIES * 512**2 // resolution**2))


def _noise_bank(bank: _Bank, resolution: int, wanted: Iterable[int]) -> dict[int, torch.Tensor]:
    """Entries ``wanted`` of the head's prefiltered, field-weighted noise, each (4, R + 2m, R + 2m):
    pits at the regional pore density (two radii), band-limited relief, and oriented crepe lines;
    windows of it make a person's skin. Entries are filtered only when first asked for (one
    person's bake needs one of them), from one random draw, so each is the same whichever
    entries came first."""
    with _LOCK:
        missing = sorted(set(wanted) - bank.noise.keys())
        for e in list(missing):
            stored = _load_noise(bank, e, resolution)
            if stored is not None:
                bank.noise[e] = stored
                missing.remove(e)
        if missing:
            _filter_noise(bank, resolution, missing)
            for e in missing:
                path = _noise_file(bank, e)
                if path is not None:
                    _save_arrays(path, bank.noise[e].numpy())
        return bank.noise


def _filter_noise(bank: _Bank, resolution: int, missing: list[int]) -> None:
    m, size = _NOISE_MARGIN, resolution + 2 * _NOISE_MARGIN
    mmpx = bank.mm_per_px
    gen = torch.Generator().manual_seed(90210)
    u = torch.rand(_noise_entries(resolution), 3, size, size, generator=gen)[missing]
    density = F.pad(bank.pore_density[None, None], (m, m, m, m), mode="replicate")[0, 0]
    small_k, large_k, rough_k = _gauss(max(0.12 / mmpx, 0.45)), _gauss(max(0.22 / mmpx, 0.6)), _gauss(0.9)
    crepe_k = torch.stack([_line_kernel(max(3.0 / mmpx, 4.0), a) for a in (0.5, -0.6, 1.4)])[:, None]
    pits = (u[:, 0] < density).float() * (0.5 + u[:, 1])
    small = _sep_blur(pits, small_k) / small_k.max() ** 2
    large = _sep_blur(pits, large_k) / large_k.max() ** 2
    centred = u[:, 2] - 0.5
    relief = _sep_blur(centred, rough_k) * 6.0 + centred * 0.6
    lines = F.conv2d(_sep_blur(u[:, 1] - 0.5, small_k)[:, None], crepe_k, padding=crepe_k.shape[-1] // 2)
    crepe = -F.relu(lines).amax(dim=1) * 8.0

    # Premultiplied by the regional fields (pore depth, relief, crepe), so a map is a sum of windows.
    def pad(field: torch.Tensor) -> torch.Tensor:
        return F.pad(field[None, None], (m, m, m, m), mode="replicate")[0, 0]

    pore_depth, rough, crepe_amp = pad(bank.pore_depth), pad(bank.rough), pad(bank.crepe)
    out = torch.stack([small * pore_depth, large * pore_depth, relief * rough, crepe * crepe_amp], 1)
    for i, e in enumerate(missing):
        bank.noise[e] = out[i].clone()
    _trim_cache()  # the entries count toward the cache's bytes


class ProceduralDetails:
    """Displacement maps (mm) over ``head``'s UV space at ``resolution``; geometry is cached per head."""

    def __init__(
        self, head: HeadModel, resolution: int = 256, variants: int | None = None, layout: int | None = None
    ) -> None:
        """``variants``: wrinkle layouts to choose from by seed (default 2 at every resolution, so a
        person's wrinkles lie in the same places whatever the bake's size); 0 builds only the skin
        (pores, relief, crepe lines): no static folds or expression wrinkles, in a fraction of
        the setup time, for callers that need just the fine band. ``layout``: build only that one
        of the ``variants`` layouts (a bake of one person: half the setup time and memory); maps
        are then only for identities whose seed picks it."""
        if variants is None:
            variants = LAYOUT_VARIANTS
        if layout is not None and not 0 <= layout < variants:
            raise ValueError(f"layout {layout} is not one of the {variants} layouts")
        self.head = head
        self.resolution = resolution
        self.variants = variants
        self.bank = _bank(head, resolution, tuple(range(variants)) if layout is None else (layout,))

    @property
    def pattern_names(self) -> list[str]:
        return [p.name for p in self.bank.patterns]

    @property
    def position_mm(self) -> npt.NDArray[np.float32]:
        """(R, R, 3) the neutral 3D point of each texel in mm (+X = the subject's left); 0 off the skin."""
        return self.bank.position

    @property
    def skin(self) -> torch.Tensor:
        return self.bank.skin

    # --- identity --------------------------------------------------------------------------------

    def identity_maps(self, ids: Sequence[DetailIdentity]) -> torch.Tensor:
        """(B, R, R) person-specific detail: pores, skin relief, crepe lines, static lines and folds."""
        return self._compose(ids, None)

    def _compose(self, ids: Sequence[DetailIdentity], expression: torch.Tensor | None) -> torch.Tensor:
        """Identity detail, plus expression patterns at amplitudes ``expression`` (B, K) if given.

        A person's skin is a window of the head's prefiltered, field-weighted noise bank at a
        seed-chosen entry and offset (16 entries, 4 at 1024 px; 81 offsets) with per-person
        channel weights, so no filtering runs per map: one weighted sum of 4 windows each.
        """
        b, res = len(ids), self.resolution
        bank, margin = self.bank, _NOISE_MARGIN
        # Each person's noise entry and window offset, from their seed.
        picks = [
            (int(rng.integers(0, _noise_entries(res))), *map(int, rng.integers(0, 2 * margin + 1, 2)))
            for rng in (np.random.default_rng([int(ident.seed), 0xD07]) for ident in ids)
        ]
        noise = _noise_bank(bank, res, (e for e, _, _ in picks))
        ages = [float(i.age) for i in ids]
        line_age = torch.tensor([age_lines(a) for a in ages])
        fold_age = torch.tensor([age_folds(a) for a in ages])
        wdepth = torch.tensor([float(i.wrinkle_depth) for i in ids])
        # Static lines and folds (the variant's layout, deepened with age) and expression: one product.
        amps = torch.stack([line_age, fold_age], 1) * wdepth[:, None]
        if expression is None:
            h = self._mix(bank.static, amps, ids)
        else:
            h = self._mix(bank.combined, torch.cat([amps, expression], 1), ids)
        h = h.view(b, res, res)
        for i, (ident, (e, oy, ox)) in enumerate(zip(ids, picks, strict=True)):
            window = noise[e][:, oy : oy + res, ox : ox + res]
            # Larger pores with pore size and age: blend the two radii.
            mix = min(max((ident.pore_size * (1.0 + 0.25 * float(line_age[i])) - 0.7) / 0.8, 0.0), 1.0)
            coef = (
                -(1.0 - mix) * ident.pore_depth,
                -mix * ident.pore_depth,
                ident.roughness,
                (0.2 + float(line_age[i])) * ident.wrinkle_depth,
            )
            for c, value in enumerate(coef):
                h[i].add_(window[c], alpha=float(value))
        return h.mul_(bank.skin)

    # --- expression ------------------------------------------------------------------------------

    def expression_response(self, weights: Weights) -> torch.Tensor:
        """(B, K) how strongly each wrinkle pattern shows for a batch of ARKit weights."""
        w = arkit_weights(weights)
        drive = (w @ self.bank.drivers.T).clamp(0.0, 1.0)
        onset = self.bank.onset
        late = ((drive - onset) / (1.0 - onset)).clamp(0.0, 1.0)
        primary = drive**1.4
        secondary = late * late * (3 - 2 * late)
        return torch.where(onset > 0, secondary, primary)

    def expression_maps(self, weights: Weights, ids: Sequence[DetailIdentity] | None = None) -> torch.Tensor:
        """(B, R, R) expression wrinkles; with ``ids``, in each person's layout and depth (else variant 0)."""
        amps = self._expression_amps(weights, ids)
        return self._mix(self.bank.expression, amps, ids).view(-1, self.resolution, self.resolution)

    def maps(self, ids: Sequence[DetailIdentity], weights: Weights) -> torch.Tensor:
        """(B, R, R) identity + expression detail, mm (in one pass: equal to the sum of the two)."""
        return self._compose(ids, self._expression_amps(weights, ids))

    def _expression_amps(self, weights: Weights, ids: Sequence[DetailIdentity] | None) -> torch.Tensor:
        amps = self.expression_response(weights)
        if ids is not None:
            if len(ids) != amps.shape[0]:
                raise ValueError(f"{len(ids)} identities for {amps.shape[0]} expressions")
            scale = torch.tensor([i.wrinkle_depth * (0.6 + 0.7 * age_lines(i.age)) for i in ids])
            amps = amps * scale[:, None]
        return amps

    def _mix(
        self, bank: torch.Tensor, amps: torch.Tensor, ids: Sequence[DetailIdentity] | None
    ) -> torch.Tensor:
        """Per batch item, its variant's patterns weighted by ``amps``: one matrix product per variant."""
        if ids is None:
            return amps @ bank[0]
        variant = torch.tensor([self._layout_row(i) for i in ids])
        used = sorted(set(variant.tolist()))
        if len(used) == 1:
            return amps @ bank[used[0]]
        out = torch.empty(amps.shape[0], bank.shape[-1])
        for v in used:
            rows = (variant == v).nonzero().squeeze(1)
            out[rows] = amps[rows] @ bank[v]
        return out

    def _layout_row(self, ident: DetailIdentity) -> int:
        """The row of the bank that holds ``ident``'s wrinkle layout."""
        layouts = self.bank.layouts
        if not layouts:
            return 0
        layout = ident.seed % self.variants
        if layout not in layouts:
            built = list(layouts)
            raise ValueError(f"seed {ident.seed} picks wrinkle layout {layout}; only {built} was built")
        return layouts.index(layout)

    def fine_expression(self, native: int) -> torch.Tensor:
        """(V, K, R*R) the expression patterns above a ``native`` px map's band: each pattern minus
        its area-average to ``native`` px, upsampled bicubically (as a bake upsamples a model's map)."""
        bank = self.bank
        if bank.fine_expression is None or bank.fine_native != native:
            res, k = self.resolution, bank.expression.shape[1]
            fine = torch.empty(len(bank.layouts), k, res * res)
            for v in range(len(bank.layouts)):
                fine[v] = high_band(bank.expression[v].view(k, res, res), native).view(k, -1)
            bank.fine_expression, bank.fine_native = fine, native
            _trim_cache()  # the band is as large as the patterns it came from
        return bank.fine_expression

    def fine_expression_maps(
        self, weights: Weights, ids: Sequence[DetailIdentity], native: int
    ) -> torch.Tensor:
        """(B, R, R) the part of ``expression_maps(weights, ids)`` above a ``native`` px map's band."""
        amps = self._expression_amps(weights, ids)
        return self._mix(self.fine_expression(native), amps, ids).view(-1, self.resolution, self.resolution)


def high_band(maps: torch.Tensor, native: int) -> torch.Tensor:
    """(B, R, R) what a ``native`` px map cannot hold: ``maps`` minus their area-average to ``native``
    px, brought back up bicubically. Added to a bicubically upsampled ``native`` px map, it gives back
    the full band exactly when that map is the area-average."""
    res = maps.shape[-1]
    coarse = F.interpolate(
        F.interpolate(maps[:, None], size=(native, native), mode="area"),
        size=(res, res),
        mode="bicubic",
        align_corners=False,
    )
    return maps - coarse[:, 0]


def _sep_blur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of (B, R, R)."""
    r = k.numel() // 2
    y = F.conv2d(x[:, None], k.view(1, 1, 1, -1), padding=(0, r))
    y = F.conv2d(y, k.view(1, 1, -1, 1), padding=(r, 0))
    return y[:, 0]


def arkit_weights(weights: Weights) -> torch.Tensor:
    """ARKit weights as (B, 52) float32: a tensor/array (52,) or (B, 52), a dict, or a list of dicts."""
    if isinstance(weights, Mapping):
        weights = [weights]
    if isinstance(weights, Sequence) and not isinstance(weights, torch.Tensor | np.ndarray):
        rows = np.zeros((len(weights), len(ARKIT_NAMES)), dtype=np.float32)
        for i, row in enumerate(weights):
            for name, value in row.items():
                if name not in ARKIT_INDEX:
                    raise ValueError(f"{name!r} is not an ARKit blendshape name")
                rows[i, ARKIT_INDEX[name]] = value
        return torch.from_numpy(rows)
    w = torch.as_tensor(
        np.asarray(weights) if isinstance(weights, np.ndarray) else weights, dtype=torch.float32
    )
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2 or w.shape[1] != len(ARKIT_NAMES):
        raise ValueError(f"ARKit weights must be (B, {len(ARKIT_NAMES)}), not {tuple(w.shape)}")
    return w.clamp(0.0, 1.0)
