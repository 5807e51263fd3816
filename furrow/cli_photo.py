"""``python -m furrow photo IMAGE --out DIR``: a fitted, textured, detailed head from one photo."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from . import jobs


def add_parser(sub: Any) -> None:
    photo = sub.add_parser(
        "photo",
        help="a photo -> the fitted head (.obj + albedo.png + displacement.png + params.json)",
        description="Fit the built-in head to a face photo: shape and expression from MediaPipe's "
        "landmarks, the skin's albedo projected from the photo with its shading removed, and the "
        "person's fine detail. Writes DIR/head.obj (+ .mtl), albedo.png, displacement.png (16-bit, "
        "0.5 = none) and params.json (identity, expression, camera, 68 landmarks in pixels).",
    )
    photo.add_argument("image", metavar="IMAGE", help="the photo (JPEG, PNG, WebP, TIFF ...)")
    photo.add_argument(
        "--detail",
        choices=["auto", "model", "image"],
        default="auto",
        help="detail path: auto (default: the photo when it is sharp and its fine shading shows relief, "
        "else the model), model (Detailed3DMM at --age) or image (shape from shading in the DNPM latent)",
    )
    photo.add_argument(
        "--age", type=float, metavar="YEARS", help="the person's age for the detail model (default 40)"
    )
    photo.add_argument(
        "--estimate-age",
        action="store_true",
        help="read the age from a sharp photo's fine shading where it can (--age where it cannot; "
        "about 1 s; docs/PHOTO.md says how well it does)",
    )
    photo.add_argument(
        "--focal-px", type=float, metavar="PX", help="focal length in pixels (default: EXIF, else estimated)"
    )
    photo.add_argument(
        "--no-shading",
        action="store_true",
        help="skip the photometric refinement (shape from landmarks alone; a few seconds faster)",
    )
    photo.add_argument(
        "--albedo-res", type=int, default=1024, metavar="PX", help="albedo size (default 1024)"
    )
    photo.add_argument(
        "--detail-res", type=int, default=1024, metavar="PX", help="displacement size (default 1024)"
    )
    photo.add_argument("--out", required=True, metavar="DIR", help="the result folder (replaced when done)")
    photo.set_defaults(func=cmd_photo)


def cmd_photo(args: argparse.Namespace) -> int:
    from .cli import run_job

    image = Path(args.image).expanduser()
    if not image.exists():
        raise jobs.JobInputError(f"{image}: no such file")
    params = {
        "image": str(image.resolve()),
        "out_dir": str(Path(args.out).expanduser().resolve()),
        "detail": args.detail,
        "age": args.age,
        "estimate_age": args.estimate_age,
        "focal_px": args.focal_px,
        "albedo_resolution": args.albedo_res,
        "detail_resolution": args.detail_res,
        "photometric": not args.no_shading,
    }
    with tempfile.TemporaryDirectory(prefix="furrow-photo-") as tmp:
        result = run_job("head_from_photo", params, Path(tmp), args.device, args.quiet)
    d = result.data
    yaw, pitch, roll = d["angles"]
    print(
        f"wrote {d['out_dir']}: head.obj, albedo.png, displacement.png, params.json "
        f"(landmark error {d['landmark_error_px']:.1f} px; head turned {yaw:+.0f} deg, pitch {pitch:+.0f}, "
        f"roll {roll:+.0f}; detail: {d['detail_reason']}; age {d['age']:.0f}, {d['age_source']}; "
        f"{d['seconds']['total']:.1f} s)"
    )
    for warning in result.warnings:
        print(f"note: {warning}")
    return 0
