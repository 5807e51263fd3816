"""Held-out scores of a Detailed3DMM against the procedural corpus it learned from.

- encoder: map -> w+ -> map, error in mm and PSNR (peak = the PNG's 8 mm range),
  full band and low-pass (sigma 1 px: what is left when the pores, which come
  from noise and cannot match pixel for pixel, are set aside);
- mapping: (identity, ARKit weights) -> map, error in mm per face region;
- expression response: for each action, the mean absolute change from the
  neutral map inside the region where its wrinkles belong, at strengths 0..1;
  it must rise monotonically (and does for the procedural truth). The change in a
  control region (the nose, for actions that do not touch it) is reported too.
All on identities whose seeds training never draws (>= 10^7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from ..heads.model import HeadModel
from ..heads.regions import region_masks
from .detailed3dmm import Detailed3DMM, identity_code
from .procedural import ProceduralDetails
from .training import PSNR_PEAK_MM, VAL_SEED_BASE, identities_for, low_pass, random_expressions

# action -> (its ARKit channels, the region its wrinkles must appear in)
RESPONSES: dict[str, tuple[tuple[str, ...], str]] = {
    "brow raise -> forehead": (("browInnerUp", "browOuterUpLeft", "browOuterUpRight"), "forehead"),
    "brow down -> glabella": (("browDownLeft", "browDownRight"), "glabella"),
    "smile -> crow's feet": (
        ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"), "crows_feet"
    ),
    "smile -> nasolabial": (("mouthSmileLeft", "mouthSmileRight"), "nasolabial"),
    "sneer -> nose": (("noseSneerLeft", "noseSneerRight"), "nose"),
    "squint -> lower lid": (("eyeSquintLeft", "eyeSquintRight"), "eyelid_lower"),
    "pucker -> perioral": (("mouthPucker",), "perioral"),
    "shrug lower -> chin": (("mouthShrugLower",), "chin"),
    "stretch -> neck": (("mouthStretchLeft", "mouthStretchRight"), "neck"),
}  # fmt: skip
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
REGIONS = (
    "forehead",
    "glabella",
    "crows_feet",
    "eyelid_lower",
    "nose",
    "nasolabial",
    "cheeks",
    "perioral",
    "chin",
    "neck",
)


@dataclass
class DetailScores:
    n: int
    encoder: dict[str, float]
    mapping: dict[str, float]
    zero_map: dict[str, float]  # the error of predicting no detail at all: the scale of the numbers
    mapping_by_region: dict[str, dict[str, float]]
    response: dict[str, dict[str, Any]] = field(default_factory=dict)


def _errors(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    m = mask.expand_as(target)
    err = (pred - target)[m]
    lp = (low_pass(pred[:, None]) - low_pass(target[:, None]))[:, 0][m]
    rmse, rmse_lp = float(err.pow(2).mean().sqrt()), float(lp.pow(2).mean().sqrt())
    return {
        "mae_mm": float(err.abs().mean()),
        "psnr_db": 20 * math.log10(PSNR_PEAK_MM / max(rmse, 1e-9)),
        "mae_lp_mm": float(lp.abs().mean()),
        "psnr_lp_db": 20 * math.log10(PSNR_PEAK_MM / max(rmse_lp, 1e-9)),
    }


def _decode(model: Detailed3DMM, ws: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    per = [model.generator.make_noise(s) for s in seeds]
    noise = [torch.cat([p[k] for p in per]) for k in range(len(per[0]))]
    return model.decode(ws, noise)


@torch.inference_mode()
def evaluate(
    model: Detailed3DMM, head: HeadModel, n: int = 64, batch: int = 16, persons: int = 8
) -> DetailScores:
    res = model.cfg.resolution
    corpus = ProceduralDetails(head, res)
    skin = corpus.skin > 0
    masks = {k: torch.from_numpy(v > 0.5) for k, v in region_masks(head, res).items()}
    ids = identities_for(VAL_SEED_BASE + 5000 + np.arange(n))
    expr = random_expressions(n, np.random.default_rng(777))
    preds_e, preds_m, targets = [], [], []
    for i in range(0, n, batch):
        sl = slice(i, i + batch)
        target = corpus.maps(ids[sl], expr[sl])
        seeds = [p.seed for p in ids[sl]]
        preds_e.append(_decode(model, model.encode(target), seeds))
        preds_m.append(_decode(model, model.ws(identity_code(ids[sl]), torch.from_numpy(expr[sl])), seeds))
        targets.append(target)
    target, pe, pm = torch.cat(targets), torch.cat(preds_e), torch.cat(preds_m)
    by_region = {r: _errors(pm, target, masks[r] & skin) for r in REGIONS if r in masks}
    scores = DetailScores(
        n=n,
        encoder=_errors(pe, target, skin),
        mapping=_errors(pm, target, skin),
        zero_map=_errors(torch.zeros_like(target), target, skin),
        mapping_by_region=by_region,
    )
    # Expression response: mean |map(level) - map(0)| in the region, averaged over a few people.
    people = identities_for(VAL_SEED_BASE + 9000 + np.arange(persons))
    for label, (channels, region) in RESPONSES.items():
        w = np.zeros((len(LEVELS), len(ARKIT_NAMES)), dtype=np.float32)
        for name in channels:
            w[:, ARKIT_INDEX[name]] = LEVELS
        mask = masks[region] & skin
        curves = {"model": np.zeros(len(LEVELS)), "truth": np.zeros(len(LEVELS))}
        control = {"model": 0.0, "truth": 0.0}
        for person in people:
            code = identity_code([person] * len(LEVELS))
            model_maps = _decode(model, model.ws(code, torch.from_numpy(w)), [person.seed] * len(LEVELS))
            truth_maps = corpus.maps([person] * len(LEVELS), w)
            for key, maps in (("model", model_maps), ("truth", truth_maps)):
                delta = (maps - maps[:1]).abs()
                curves[key] += delta[:, mask].mean(dim=1).numpy() / len(people)
                if region != "nose":
                    control[key] += float(delta[-1][masks["nose"] & skin].mean()) / len(people)
        scores.response[label] = {
            "region": region,
            "model_mm": [round(float(v), 4) for v in curves["model"]],
            "truth_mm": [round(float(v), 4) for v in curves["truth"]],
            "monotonic": bool(np.all(np.diff(curves["model"]) > 0)),
            "truth_monotonic": bool(np.all(np.diff(curves["truth"]) > 0)),
            "nose_control_mm": round(control["model"], 4) if region != "nose" else None,
        }
    return scores


def scores_markdown(s: DetailScores) -> str:
    """The tables of the model card."""
    lines = [
        f"Held-out: {s.n} maps of identities never trained on (seeds >= 10^7), random expression mixes.",
        "",
        "| path | error (mm) | PSNR (dB) | low-pass error (mm) | low-pass PSNR (dB) |",
        "|---|---|---|---|---|",
    ]
    rows = (
        ("encoder (map -> w+ -> map)", s.encoder),
        ("mapping (identity, ARKit -> map)", s.mapping),
        ("no detail at all (reference)", s.zero_map),
    )
    for name, e in rows:
        lines.append(
            f"| {name} | {e['mae_mm']:.4f} | {e['psnr_db']:.1f} | "
            f"{e['mae_lp_mm']:.4f} | {e['psnr_lp_db']:.1f} |"
        )
    lines += [
        "",
        "Mapping error per region:",
        "",
        "| region | error (mm) | low-pass error (mm) |",
        "|---|---|---|",
    ]
    for region, e in s.mapping_by_region.items():
        lines.append(f"| {region} | {e['mae_mm']:.4f} | {e['mae_lp_mm']:.4f} |")
    lines += [
        "",
        "Expression response: mean |change from neutral| (mm) in the region at strength "
        f"{', '.join(map(str, LEVELS))}:",
        "",
        "| action -> region | model | procedural truth | monotonic | nose (control) at 1.0 |",
        "|---|---|---|---|---|",
    ]
    for label, r in s.response.items():
        control = "-" if r["nose_control_mm"] is None else f"{r['nose_control_mm']:.4f}"
        lines.append(
            f"| {label} | {' '.join(f'{v:.3f}' for v in r['model_mm'])} | "
            f"{' '.join(f'{v:.3f}' for v in r['truth_mm'])} | "
            f"{'yes' if r['monotonic'] else 'NO'} | {control} |"
        )
    return "\n".join(lines)
