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
from typing import Any, Optional

from . import __version__, jobs
from .jobs.context import BaseContext

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


def build_parser() -> argparse.ArgumentParser:
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
