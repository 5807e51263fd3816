"""``python -m furrow``: the backend from a terminal.

Subcommands run the same jobs the add-on runs, in this process. Errors are one
line on stderr and a non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from . import __version__, jobs
from .jobs.context import BaseContext

if TYPE_CHECKING:
    from .heads.model import HeadModel
    from .render.settings import RenderRequest

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class _CliContext(BaseContext):
    """Jobs run in the CLI's own process; progress goes to stderr."""

    def __init__(self, job_dir: Path, device: str, quiet: bool) -> None:
        super().__init__(job_dir, device)
        self._quiet = quiet

    def report(self, fraction: float, message: str) -> None:
        if not self._quiet:
            print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        super().warn(message)
        print(f"warning: {message}", file=sys.stderr)


def run_job(name: str, params: dict[str, Any], job_dir: Path, device: str, quiet: bool) -> jobs.JobOutput:
    ctx = _CliContext(job_dir, device, quiet)
    return jobs.resolve(name)(params, ctx)


def _cmd_check(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="furrow-check-") as tmp:
        out = run_job("check_backend", {}, Path(tmp), args.device, args.quiet)
    if args.json:
        print(json.dumps(out.data, indent=2))
    else:
        d = out.data
        print(
            f"Furrow {__version__}: Python {d['python']}, torch {d['torch']}, numpy {d['numpy']}, "
            f"device {d['device']} ({d['threads']} threads), CUDA {'yes' if d['cuda'] else 'no'}, "
            f"MPS {'yes' if d['mps'] else 'no'}"
        )
    return 0


HEAD_FORMATS = (".obj", ".glb")
MODEL_FORMS = "default, flame:PATH, facescape:PATH or a saved head PATH.npz"


def _check_output(out: Path) -> Path:
    """Fail early, before any model is loaded, on an output that cannot be written."""
    if out.suffix.lower() not in HEAD_FORMATS:
        raise jobs.JobInputError(
            f"--out {out}: unknown format {out.suffix or '(no extension)'!r}; use .obj or .glb"
        )
    folder = out.parent
    if not folder.is_dir():
        raise jobs.JobInputError(f"--out {out}: the folder {folder} does not exist")
    if out.is_dir():
        raise jobs.JobInputError(f"--out {out}: is a folder")
    return out


def _default_head() -> HeadModel:
    from .heads.default import load_default_head
    from .heads.model import HeadFileError

    try:
        return load_default_head()
    except HeadFileError as exc:  # not built yet, or unreadable: the message says how to fix it
        raise jobs.MissingDependencyError(str(exc)) from None


def _load_head(spec: str) -> HeadModel:
    """--model: ``default``, ``flame:PATH``, ``facescape:PATH`` or a saved head ``PATH.npz``."""
    from .heads.model import HeadFileError, HeadModel

    kind, sep, rest = spec.partition(":")
    try:
        if spec == "default":
            return _default_head()
        if sep and kind in ("flame", "facescape"):
            if not rest:
                raise jobs.JobInputError(f"--model {spec}: give the model file's path after '{kind}:'")
            path = Path(rest).expanduser()
            if not path.is_file():
                raise jobs.JobInputError(f"--model {spec}: {path} is not a file")
            if kind == "flame":
                from .heads.flame import flame_head_model

                return flame_head_model(path, default_head=_default_head())
            from .heads.facescape import facescape_head_model

            return facescape_head_model(path, default_head=_default_head())
        if spec.lower().endswith(".npz"):
            return HeadModel.load(Path(spec).expanduser())
    except HeadFileError as exc:
        raise jobs.JobInputError(str(exc)) from None
    raise jobs.JobInputError(f"--model {spec!r}: expected {MODEL_FORMS}")


def _cmd_head(args: argparse.Namespace) -> int:
    import secrets

    import numpy as np

    from .heads.identity import parse_identity, random_identity

    out = _check_output(Path(args.out).expanduser())
    model = _load_head(args.model)
    note = ""
    if args.identity is None:
        identity = np.zeros(len(model.identity_names), np.float32)
    elif args.identity.strip() == "random":
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        identity = random_identity(model, np.random.default_rng(seed))
        note = f", random identity seed {seed}"
    else:
        try:
            identity = parse_identity(model, args.identity)
        except ValueError as exc:
            raise jobs.JobInputError(f"--identity: {exc}") from None
    try:
        if out.suffix.lower() == ".glb":
            from .io.gltf import write_glb

            glb = write_glb(model, out, identity=identity)
            summary = (
                f"wrote {out} ({glb.n_vertices} vertices, {glb.n_triangles} triangles, "
                f"{glb.n_targets} ARKit morph targets{note})"
            )
        else:
            from .io.obj import write_obj

            obj = write_obj(model, out, identity=identity, normals=True)
            summary = f"wrote {out} and {obj.mtl.name} ({obj.n_vertices} vertices, {obj.n_faces} faces{note})"
    except OSError as exc:
        raise jobs.JobInputError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(summary)
    return 0


SPEECH_FORMATS = (".json", ".csv")


def _speech_output(out: Path) -> Path:
    if out.suffix.lower() not in SPEECH_FORMATS:
        raise jobs.JobInputError(
            f"--out {out}: unknown format {out.suffix or '(no extension)'!r}; "
            "use .json or .csv (Live Link Face)"
        )
    if not out.parent.is_dir():
        raise jobs.JobInputError(f"--out {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise jobs.JobInputError(f"--out {out}: is a folder")
    return out


def _cmd_speech(args: argparse.Namespace) -> int:
    import math

    from .curves import Curves, CurvesFileError

    out = _speech_output(Path(args.out).expanduser())
    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise jobs.JobInputError(f"--fps {args.fps:g}: give a frame rate above 0 (24, 25, 29.97, 30, 60 ...)")
    if (args.audio is None) == (args.import_csv is None):
        raise jobs.JobInputError("give either an AUDIO file or --import LLF.csv (one of them)")
    curves: Curves
    if args.import_csv is not None:
        if args.transcript is not None:
            raise jobs.JobInputError("--transcript goes with an AUDIO file, not with --import")
        from .io.livelink import read_livelink_csv

        try:
            curves = read_livelink_csv(Path(args.import_csv).expanduser())
        except CurvesFileError as exc:
            raise jobs.JobInputError(str(exc)) from None
        if args.fps is not None:
            curves = curves.resample(args.fps)
    else:
        from .speech.align import AlignmentError, read_transcript
        from .speech.audio import AudioError
        from .speech.pipeline import audio_to_curves

        audio = Path(args.audio).expanduser()
        if not audio.is_file():
            raise jobs.JobInputError(f"{audio}: no such file")
        transcript = None if args.transcript is None else read_transcript(args.transcript)

        def progress(fraction: float, message: str) -> None:
            if not args.quiet:
                print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)

        try:
            curves = audio_to_curves(
                audio, args.fps or 25.0, transcript=transcript, seed=args.seed, progress=progress
            )
        except AudioError as exc:
            raise jobs.JobInputError(str(exc)) from None
        except AlignmentError as exc:
            raise jobs.JobInputError(f"--transcript: {exc}") from None
    try:
        if out.suffix.lower() == ".csv":
            from .io.livelink import write_livelink_csv

            write_livelink_csv(curves, out)
        else:
            curves.save_json(out)
    except OSError as exc:
        raise jobs.JobInputError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({curves.n_frames} frames at {curves.fps:g} fps, {curves.duration:.2f} s)")
    for note in curves.notes:
        print(f"note: {note}")
    return 0


RUNNER = Path(__file__).resolve().parent.parent / "addon" / "headless.py"
"""The bpy-side runner: furrow/ never imports bpy, so rendering runs in a child Python that does."""


def _render_request(args: argparse.Namespace) -> RenderRequest:
    from .render.errors import RenderError
    from .render.mux import check_output, find_tool
    from .render.settings import RenderRequest, RenderSettings

    audio = Path(args.audio).expanduser()
    if not audio.is_file():
        raise jobs.JobInputError(f"{audio}: no such file")
    out = Path(args.out).expanduser().absolute()
    curves = None if args.curves is None else Path(args.curves).expanduser().absolute()
    try:
        check_output(out)
        if curves is not None:
            check_output(curves, ".json")
        if args.sheet is not None:
            check_output(Path(args.sheet).expanduser().absolute(), ".png")
        find_tool("ffmpeg")
    except RenderError as exc:
        raise jobs.JobInputError(str(exc)) from None
    settings = RenderSettings(
        resolution=args.res,
        aspect=args.aspect,
        samples=args.samples,
        denoise=not args.no_denoise,
        quality=args.quality,
        fps=args.fps,
        seconds=args.seconds,
    )
    identity: dict[str, Any] = {}
    if args.identity is not None:
        if args.no_details:
            raise jobs.JobInputError("--identity sets the skin's details: leave out --no-details to use it")
        from .jobs.details import parse_identity

        try:
            identity = parse_identity(args.identity).as_dict()
        except jobs.JobInputError as exc:
            raise jobs.JobInputError(f"--identity: {exc}") from None
    photo = None
    if args.photo is not None:
        photo_path = Path(args.photo).expanduser()
        if not photo_path.is_file():
            raise jobs.JobInputError(f"--photo {photo_path}: no such file")
        photo = str(photo_path.absolute())
    transcript = args.transcript
    if transcript is not None and Path(transcript).expanduser().is_file():
        transcript = str(Path(transcript).expanduser().absolute())  # the runner works elsewhere
    request = RenderRequest(
        audio=str(audio.absolute()),
        out=str(out),
        transcript=transcript,
        curves_out=None if curves is None else str(curves),
        seed=args.seed,
        settings=settings,
        details=not args.no_details,
        detail_resolution=args.detail_res,
        detail_identity=identity,
        photo=photo,
    )
    problem = request.problem()
    if problem:
        raise jobs.JobInputError(problem)
    return request


def _cmd_render(args: argparse.Namespace) -> int:
    import importlib.util
    import os
    import subprocess

    request = _render_request(args)
    if importlib.util.find_spec("bpy") is None:
        raise jobs.MissingDependencyError(
            "render needs Blender's Python module in this Python: pip install bpy==5.0.1 "
            "(Python 3.11), or run this command with the .venv's python"
        )
    if not RUNNER.is_file():
        raise jobs.MissingDependencyError(f"the add-on's headless runner is missing: {RUNNER}")
    env = dict(os.environ)
    if args.debug:
        env["FURROW_DEBUG"] = "1"
    if args.quiet:
        env["FURROW_QUIET"] = "1"
    proc = subprocess.Popen([sys.executable, str(RUNNER), request.to_json()], env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        # The child got the same Ctrl+C: let it delete its frames and temporary file first.
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    if code == 0 and args.sheet is not None:
        from .render.sheet import sheet_from_video

        sheet = sheet_from_video(Path(request.out), Path(args.sheet).expanduser())
        print(f"wrote {sheet}")
    return code


def build_parser() -> argparse.ArgumentParser:
    from .render.settings import DETAIL_RESOLUTIONS

    parser = argparse.ArgumentParser(
        prog="python -m furrow",
        description="Furrow backend: detailed, animatable faces from audio and photos.",
    )
    parser.add_argument("--version", action="version", version=f"furrow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="torch device (default: auto, the best one present)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="check that the backend loads and computes")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(func=_cmd_check)

    head = sub.add_parser(
        "head",
        help="write a head as .obj (+ .mtl) or .glb (with the 52 ARKit morph targets)",
        description="Write a head mesh. The .glb holds the 52 ARKit shapes as named morph targets.",
    )
    head.add_argument("--model", default="default", metavar="MODEL", help=f"{MODEL_FORMS} (default: default)")
    head.add_argument(
        "--identity",
        metavar="random|NAME=VALUE,...",
        help="identity sliders: 'random', or values in [-1, 1] by name (default: all 0)",
    )
    head.add_argument("--seed", type=int, help="seed for --identity random (default: a fresh one, printed)")
    head.add_argument("--out", required=True, metavar="FILE", help="FILE.obj or FILE.glb")
    head.set_defaults(func=_cmd_head)

    speech = sub.add_parser(
        "speech",
        help="audio -> ARKit curves (.json, or Live Link Face .csv); or --import a Live Link Face CSV",
        description="Lip-sync and face curves from a voice recording (wav, flac, ogg, mp3 ...), "
        "or convert a Live Link Face CSV. .json: {fps, names, frames}; .csv: Live Link Face format.",
    )
    speech.add_argument("audio", nargs="?", metavar="AUDIO", help="the voice recording")
    speech.add_argument(
        "--transcript", metavar="TEXT|FILE", help="what is said (text, or a text file): exact phone timing"
    )
    speech.add_argument(
        "--fps", type=float, metavar="FPS", help="frame rate (default 25; with --import: the file's own)"
    )
    speech.add_argument(
        "--seed", type=int, default=0, help="seed for blinks and other random motion (default 0)"
    )
    speech.add_argument("--import", dest="import_csv", metavar="LLF.csv", help="read a Live Link Face CSV")
    speech.add_argument("--out", required=True, metavar="FILE", help="FILE.json or FILE.csv")
    speech.set_defaults(func=_cmd_speech)

    from .cli_details import add_parser as add_details_parser

    add_details_parser(sub)

    from .cli_photo import add_parser as add_photo_parser

    add_photo_parser(sub)

    render = sub.add_parser(
        "render",
        help="audio -> a lip-synced MP4 of the default head (Blender's Cycles, H.264 + AAC)",
        description="Render a talking head: Add Head, Animate from Audio, Bake Details and Render Clip in "
        "Blender (the bpy module of this Python), without a window.",
    )
    render.add_argument("audio", metavar="AUDIO", help="the voice recording (wav, flac, ogg, mp3 ...)")
    render.add_argument(
        "--transcript", metavar="TEXT|FILE", help="what is said (text, or a text file): exact phone timing"
    )
    render.add_argument("--res", type=int, default=512, metavar="PX", help="width in pixels (default 512)")
    render.add_argument(
        "--aspect", choices=["square", "portrait"], default="square", help="square 1:1 or portrait 4:5"
    )
    render.add_argument("--samples", type=int, default=32, metavar="N", help="Cycles samples (default 32)")
    render.add_argument("--no-denoise", action="store_true", help="skip OpenImageDenoise")
    render.add_argument(
        "--quality",
        choices=["final", "preview"],
        default="final",
        help="final (default) or preview: ~2-3x faster (Burley skin, fast denoise, Subdivision 1)",
    )
    render.add_argument("--fps", type=float, default=25.0, metavar="FPS", help="frame rate (default 25)")
    render.add_argument(
        "--seconds", type=float, metavar="S", help="render at most this many seconds (default: all of it)"
    )
    render.add_argument("--seed", type=int, default=0, help="seed for blinks and head motion (default 0)")
    render.add_argument(
        "--no-details",
        action="store_true",
        help="skip Bake Details: no wrinkles, folds or pores (a little faster)",
    )
    render.add_argument(
        "--detail-res",
        type=int,
        default=512,
        choices=DETAIL_RESOLUTIONS,
        metavar="PX",
        help="size of the detail maps: 256, 512 (default), 1024 or 2048",
    )
    render.add_argument(
        "--identity",
        metavar="NAME=VALUE,...",
        help="the skin's details: age (years), pore_size, pore_depth, roughness, wrinkle_depth "
        "(multipliers, 1 = typical), seed; e.g. age=60,seed=3 (default: age 35, all 1, seed 0)",
    )
    render.add_argument(
        "--photo", metavar="IMAGE", help="animate a head fitted to this face photo (Head from Photo)"
    )
    render.add_argument("--curves", metavar="FILE.json", help="also write the ARKit curves of the clip")
    render.add_argument("--sheet", metavar="FILE.png", help="also write a contact sheet of 8 frames")
    render.add_argument("--out", required=True, metavar="FILE.mp4", help="the clip to write")
    render.set_defaults(func=_cmd_render)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        code: int = args.func(args)
        return code
    except (jobs.JobInputError, jobs.MissingDependencyError) as exc:
        if args.debug:
            raise
        print(f"furrow: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("furrow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"furrow: error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILED
