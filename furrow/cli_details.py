"""``python -m furrow details``: bake displacement frames from curves, or encode a map into w+."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import jobs


def add_parser(sub: Any) -> None:
    details = sub.add_parser(
        "details",
        help="bake per-frame displacement maps (16-bit PNG + bake.json) from ARKit curves or a pose; "
        "or --encode a displacement map into the DNPM latent and decode it again",
        description="Bake fine detail (pores, lines, expression wrinkles) for the built-in head's UV "
        "layout: one 16-bit PNG per frame of --curves (0.5 = no displacement, height = (v - 0.5) * "
        "scale_mm), or one map for --pose. --encode MAP.png inverts a map into w+ and re-decodes it.",
    )
    details.add_argument(
        "--curves", metavar="FILE", help="ARKit curves: .json ({fps, names, frames}) or .csv"
    )
    details.add_argument("--pose", metavar="NAME=W,...", help="a static bake of one pose, e.g. browInnerUp=1")
    details.add_argument("--encode", metavar="MAP.png", help="encode a displacement map and re-decode it")
    details.add_argument(
        "--identity",
        metavar="NAME=VALUE,...",
        help="detail identity: age, pore_size, pore_depth, roughness, wrinkle_depth, seed "
        "(e.g. age=60,seed=3)",
    )
    details.add_argument("--res", type=int, default=512, metavar="PX", help="map size (default 512)")
    details.add_argument("--frame-start", type=int, default=1, help="scene frame of the first curves frame")
    details.add_argument(
        "--model",
        choices=["auto", "neural", "procedural"],
        default="auto",
        help="auto (default): the trained Detailed3DMM; procedural: the corpus generator",
    )
    details.add_argument(
        "--scale-mm", type=float, help="--encode: the map's scale (default: its bake.json, else 8 mm)"
    )
    details.add_argument("--out", required=True, metavar="DIR", help="the bake folder (replaced when done)")
    details.set_defaults(func=cmd_details)


def _pose(text: str) -> dict[str, float]:
    pose: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise jobs.JobInputError(
                f"--pose {text!r}: write NAME=WEIGHT pairs, e.g. browInnerUp=1,jawOpen=0.3"
            )
        try:
            pose[name.strip()] = float(value)
        except ValueError:
            raise jobs.JobInputError(f"--pose: {value!r} is not a number") from None
    return pose


def cmd_details(args: argparse.Namespace) -> int:
    from .cli import run_job

    given = [a for a in (args.curves, args.pose, args.encode) if a is not None]
    if len(given) != 1:
        raise jobs.JobInputError("give one of --curves FILE, --pose NAME=W,... or --encode MAP.png")
    out = Path(args.out).expanduser()
    if args.encode is not None:
        return _encode(args, Path(args.encode).expanduser(), out)
    params: dict[str, Any] = {
        "out_dir": str(out),
        "identity": args.identity or "",
        "resolution": args.res,
        "frame_start": args.frame_start,
        "model": args.model,
    }
    with tempfile.TemporaryDirectory(prefix="furrow-details-") as tmp:
        if args.curves is not None:
            params["curves"] = _curves_json(Path(args.curves).expanduser(), Path(tmp))
        else:
            params["weights"] = _pose(args.pose)
        result = run_job("bake_details", params, Path(tmp), args.device, args.quiet)
    d = result.data
    mb = d["bytes"] / 1e6
    print(
        f"wrote {d['frame_count']} frame{'s' if d['frame_count'] != 1 else ''} of {d['resolution']} px into "
        f"{out} ({mb:.1f} MB, {d['seconds']:.2f} s, model {d['model']['name']}); scale {d['scale_mm']:g} mm"
    )
    for warning in result.warnings:
        print(f"note: {warning}")
    return 0


def _curves_json(path: Path, tmp: Path) -> str:
    """The curves as JSON for the job (a Live Link Face CSV is converted)."""
    from .curves import CurvesFileError

    if not path.is_file():
        raise jobs.JobInputError(f"--curves {path}: no such file")
    if path.suffix.lower() != ".csv":
        return str(path)
    from .io.livelink import read_livelink_csv

    try:
        curves = read_livelink_csv(path)
    except CurvesFileError as exc:
        raise jobs.JobInputError(str(exc)) from None
    out = tmp / "curves.json"
    curves.save_json(out)
    return str(out)


def _encode(args: argparse.Namespace, path: Path, out: Path) -> int:
    """Map -> w+ -> map: writes decoded.png, wplus.npy and encode.json (errors in mm and dB)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from .details.bake import BAKE_JSON
    from .details.detailed3dmm import WEIGHTS, load_cached, weights_available
    from .details.png import DEFAULT_SCALE_MM, load_displacement_png, save_displacement_png
    from .details.training import PSNR_PEAK_MM
    from .jobs.details import parse_identity

    if not path.is_file():
        raise jobs.JobInputError(f"--encode {path}: no such file")
    if not weights_available():
        raise jobs.MissingDependencyError(f"the trained detail model is missing ({WEIGHTS})")
    scale = args.scale_mm
    if scale is None:
        info = path.parent / BAKE_JSON
        try:
            scale = float(json.loads(info.read_text())["scale_mm"]) if info.is_file() else DEFAULT_SCALE_MM
        except (ValueError, KeyError, OSError):
            scale = DEFAULT_SCALE_MM
    if not (math.isfinite(scale) and scale > 0):
        raise jobs.JobInputError(f"--scale-mm {scale}: give a positive number")
    try:
        height = load_displacement_png(path, scale)
    except (ValueError, OSError) as exc:
        raise jobs.JobInputError(f"--encode {path}: {exc}") from None
    if height.ndim != 2 or height.shape[0] != height.shape[1] or height.shape[0] < 16:
        raise jobs.JobInputError(
            f"--encode {path}: a square map is needed, not {height.shape[1]}x{height.shape[0]}"
        )
    model = load_cached()
    native = model.cfg.resolution
    identity = parse_identity(args.identity or "")
    with torch.inference_mode():
        x = torch.from_numpy(height)[None, None]
        x_native = F.interpolate(
            x, size=(native, native), mode="area" if x.shape[-1] > native else "bilinear"
        )
        ws = model.encode(x_native[:, 0])
        decoded = model.decode(ws, model.generator.make_noise(identity.seed))
        back = F.interpolate(decoded[:, None], size=height.shape, mode="bicubic", align_corners=False)[0, 0]
    err = back.numpy() - height
    rmse = float(np.sqrt(np.mean(err**2)))
    try:
        out.mkdir(parents=True, exist_ok=True)
        save_displacement_png(out / "decoded.png", back.numpy(), scale)
        np.save(out / "wplus.npy", ws[0].numpy())
        report = {
            "input": str(path),
            "resolution": int(height.shape[0]),
            "model_resolution": native,
            "scale_mm": scale,
            "wplus_shape": list(ws.shape[1:]),
            "mae_mm": float(np.mean(np.abs(err))),
            "rmse_mm": rmse,
            "psnr_db": 20 * math.log10(PSNR_PEAK_MM / max(rmse, 1e-9)),
        }
        (out / "encode.json").write_text(json.dumps(report, indent=2))
    except OSError as exc:
        raise jobs.JobInputError(f"cannot write into {out}: {exc.strerror or exc}") from None
    print(
        f"encoded {path.name} into w+ {tuple(ws.shape[1:])} and decoded it: "
        f"mean error {report['mae_mm']:.3f} mm, "
        f"PSNR {report['psnr_db']:.1f} dB; wrote {out / 'decoded.png'}",
        file=sys.stdout,
    )
    return 0
