"""The body of ./scripts/demo (run with the .venv's Python after setup): render the bundled
speech sample on the default head with its baked details (wrinkles, folds, pores), then a contact
sheet of frames from the clip."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "samples" / "demo_speech.flac"
SHEET_FRAMES = 8


def sheet_frames(curves_path: Path, n_video_frames: int, count: int = SHEET_FRAMES) -> list[int]:
    """Frames for the sheet: spread over the speech (where the mouth is not at rest), so the sheet
    shows closures and open vowels rather than the silent lead-in."""
    import numpy as np

    from furrow.curves import Curves
    from furrow.speech.visemes import mouth_openness

    curves = Curves.load_json(curves_path)
    n = min(curves.n_frames, n_video_frames)
    active = np.flatnonzero(mouth_openness(curves.weights[:n]) > 0.05)
    lo, hi = (int(active[0]), int(active[-1])) if active.size else (0, n - 1)
    return sorted({round(float(x)) for x in np.linspace(lo, hi, count)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "out", help="folder for demo.mp4 and demo_sheet.png")
    # 384 px, 8 samples, preview: ~1 s a frame on 2 CPU cores, so the 4.8 s sample renders in ~2.5 min
    ap.add_argument("--res", type=int, default=384, help="width in pixels (default 384)")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples (default 8)")
    ap.add_argument(
        "--quality",
        choices=["preview", "final"],
        default="preview",
        help="Render Clip quality (default preview)",
    )
    ap.add_argument("--seconds", type=float, default=None, help="render only the first N seconds")
    ap.add_argument("--audio-only", action="store_true", help="ignore the sample's transcript")
    ap.add_argument("--no-details", action="store_true", help="skip Bake Details (no wrinkles or pores)")
    ap.add_argument(
        "--detail-res", type=int, default=None, help="size of the detail maps (default 512; --quick: 256)"
    )
    ap.add_argument(
        "--quick", action="store_true", help="a 1.5 s clip at 128 px, 4 samples (CI: checks the chain runs)"
    )
    ap.add_argument(
        "--photo",
        metavar="IMAGE",
        help="animate a head fitted to this face photo; 'astronaut' or 'grace_hopper' use a sample photo",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.res, args.samples, args.seconds = 128, 4, args.seconds or 1.5
        args.detail_res = args.detail_res or 256  # a 128 px frame shows no more than a 256 px map
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    clip, sheet = args.out / "demo.mp4", args.out / "demo_sheet.png"
    with tempfile.TemporaryDirectory(prefix="furrow-demo-") as tmp:
        curves_path = Path(tmp) / "curves.json"
        cmd = [sys.executable, "-m", "furrow", "render", str(SAMPLE), "--res", str(args.res)]
        cmd += ["--samples", str(args.samples), "--quality", args.quality]
        cmd += ["--curves", str(curves_path), "--out", str(clip)]
        if not args.audio_only:
            cmd += ["--transcript", str(SAMPLE.with_suffix(".txt"))]
        if args.photo:
            from furrow.photo.samples import SAMPLES, sample_photo

            cmd += ["--photo", str(sample_photo(args.photo) if args.photo in SAMPLES else Path(args.photo))]
        if args.seconds:
            cmd += ["--seconds", f"{args.seconds:g}"]
        if args.no_details:
            cmd += ["--no-details"]
        elif args.detail_res:
            cmd += ["--detail-res", str(args.detail_res)]
        print("demo: " + " ".join(Path(c).name if c == sys.executable else c for c in cmd), flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        if rc != 0:
            print(f"demo: error: the render failed (exit {rc}); see the line above", file=sys.stderr)
            return rc
        from PIL import Image

        from furrow.render.probe import probe, read_frame
        from furrow.render.sheet import contact_sheet

        info = probe(clip)
        video = info.of_kind("video")[0]
        n_video = video.n_frames or max(1, round(video.duration * video.fps))
        frames = sheet_frames(curves_path, n_video)
        paths, labels = [], []
        for i in frames:
            p = Path(tmp) / f"f{i:05d}.png"
            Image.fromarray(read_frame(clip, i, (video.width, video.height))).save(p)
            paths.append(p)
            labels.append(f"{i / video.fps:.2f} s")
        contact_sheet(paths, sheet, columns=4, labels=labels)
    summary = {"clip": str(clip), "sheet": str(sheet), "seconds": round(time.perf_counter() - t0, 1)}
    print(f"demo: wrote {clip} and {sheet} in {summary['seconds']} s", flush=True)
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
