"""``python -m furrow speech``: audio -> curves (.json / Live Link Face .csv) and --import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from furrow.curves import Curves
from furrow.io.livelink import read_livelink_csv

ROOT = Path(__file__).resolve().parents[2]
CARD = Path("/usr/share/pocketsphinx/test/data/cards/001.wav")  # "ten of clubs", 1.08 s

needs_data = pytest.mark.skipif(
    not CARD.is_file(), reason="Debian pocketsphinx-testdata is not installed (./scripts/setup)"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env_cache = str(ROOT / ".cache" / "numba")
    return subprocess.run(
        [sys.executable, "-m", "furrow", "-q", "speech", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NUMBA_CACHE_DIR": env_cache},
    )


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """In this process (the heavy imports happen once for all tests)."""
    from furrow.cli import main

    code = main(["-q", "speech", *args])
    out, err = capsys.readouterr()
    return code, out, err


@needs_data
def test_audio_to_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "curves.json"
    code, stdout, stderr = _main(capsys, str(CARD), "--out", str(out))
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    data = json.loads(out.read_text())
    assert data["fps"] == 25.0 and len(data["frames"]) == 27 and len(data["names"]) == 52  # 1.08 s
    c = Curves.from_json(data)
    assert c.channel("jawOpen").max() > 0.1  # the mouth opens on "ten of clubs"


@needs_data
def test_transcript_to_live_link_csv_and_import_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from furrow.speech.audio import load_audio

    csv = tmp_path / "take.csv"
    code, _, stderr = _main(
        capsys, str(CARD), "--transcript", "Ten of clubs.", "--fps", "29.97", "--seed", "3", "--out", str(csv)
    )
    assert code == 0, stderr
    take = read_livelink_csv(csv)
    assert take.fps == 29.97 and take.n_frames == round(load_audio(CARD).duration * 29.97)
    back = tmp_path / "back.json"
    code, _, stderr = _main(capsys, "--import", str(csv), "--out", str(back))
    assert code == 0, stderr
    c = Curves.load_json(back)
    assert c.fps == 29.97 and c.n_frames == take.n_frames


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.json"], "either an AUDIO file or --import"),
        ([str(CARD), "--out", "x.txt"], "unknown format '.txt'"),
        (["/no/such.wav", "--out", "x.json"], "no such file"),
        ([str(ROOT / "pyproject.toml"), "--out", "x.json"], "not readable audio"),
        (["--import", str(ROOT / "pyproject.toml"), "--out", "x.json"], "not a Live Link Face CSV"),
        ([str(CARD), "--fps", "0", "--out", "x.json"], "--fps 0"),
        ([str(CARD), "--out", "/no/such/folder/x.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    proc = _run(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("furrow: error:") and message in lines[0], proc.stderr


@needs_data
def test_a_transcript_that_does_not_fit_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = _main(
        capsys,
        str(CARD),
        "--transcript",
        "elephants rarely play the trombone",
        "--out",
        str(tmp_path / "x.json"),
    )
    assert code == 2
    assert stderr.startswith("furrow: error: --transcript") and "could not be aligned" in stderr
