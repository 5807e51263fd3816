"""Live Link Face CSV: round trips at integer and fractional rates, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from furrow.curves import Curves, CurvesFileError
from furrow.heads.arkit import ARKIT_INDEX
from furrow.io.livelink import (
    BLENDSHAPE_COUNT,
    LLF_COLUMNS,
    format_timecode,
    read_livelink_csv,
    write_livelink_csv,
)


def _curves(fps: float, n: int = 90, head: bool = True) -> Curves:
    rng = np.random.default_rng(7)
    rot = (rng.random((n, 3)) - 0.5).astype(np.float32) if head else None
    return Curves(fps, rng.random((n, 52)).astype(np.float32), rot)


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0, 23.976])
def test_round_trip(tmp_path: Path, fps: float) -> None:
    c = _curves(fps)
    path = tmp_path / "take.csv"
    write_livelink_csv(c, path)
    back = read_livelink_csv(path)
    assert back.fps == fps
    assert back.n_frames == c.n_frames
    np.testing.assert_allclose(back.weights, c.weights, atol=1e-5)
    assert back.head_rotation is not None and c.head_rotation is not None
    np.testing.assert_allclose(back.head_rotation, c.head_rotation, atol=1e-5)


def test_the_file_is_live_link_face_format(tmp_path: Path) -> None:
    c = _curves(29.97, n=40, head=False)
    w = c.weights.copy()
    w[:, ARKIT_INDEX["jawOpen"]] = 0.25
    w[:, ARKIT_INDEX["jawLeft"]] = 0.5
    c = Curves(29.97, w)
    path = tmp_path / "take.csv"
    write_livelink_csv(c, path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert header[-9:-6] == ["HeadYaw", "HeadPitch", "HeadRoll"] and header[-1] == "RightEyeRoll"
    assert len(header) == 2 + 61 == len(LLF_COLUMNS) and BLENDSHAPE_COUNT == 61
    assert header.index("JawRight") < header.index("JawLeft")  # the app's own order
    row = lines[31].split(",")
    assert row[0] == "00:00:01:00.030"  # frame 30 at 29.97 fps = 1.001 s: second 1, 0.03 of a frame
    assert row[1] == "61" and len(row) == len(header)
    assert float(row[header.index("JawOpen")]) == pytest.approx(0.25)
    assert float(row[header.index("JawLeft")]) == pytest.approx(0.5)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves nothing behind


def test_timecodes() -> None:
    assert format_timecode(0.0, 60) == "00:00:00:00.000"
    assert format_timecode(3723.5, 30) == "01:02:03:15.000"
    assert format_timecode(1 / 24 * 25, 24) == "00:00:01:01.000"


def test_reads_columns_by_name_in_any_order_and_case(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    lines = ["timecode,blendshapecount,jawopen,MOUTHCLOSE,HeadPitch,Unknown"]
    for i in range(60):
        lines.append(f"10:00:{i // 30:02d}:{i % 30:02d}.000,3,0.{i % 10},0.5,0.1,9")
    path.write_text("\n".join(lines) + "\n")
    c = read_livelink_csv(path)
    assert c.fps == 30.0 and c.n_frames == 60
    assert c.channel("jawOpen")[3] == pytest.approx(0.3)
    assert c.channel("mouthClose")[0] == pytest.approx(0.5)
    assert c.head_rotation is not None and c.head_rotation[0, 0] == pytest.approx(0.1)


def test_dropped_frames_are_resampled_onto_the_rate(tmp_path: Path) -> None:
    c = _curves(60.0, n=120, head=False)
    path = tmp_path / "take.csv"
    write_livelink_csv(c, path)
    lines = path.read_text().splitlines()
    del lines[50]  # a dropped frame
    path.write_text("\n".join(lines) + "\n")
    back = read_livelink_csv(path)
    assert back.fps == 60.0 and back.n_frames == 120


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "empty"),
        ("hello,world\n1,2\n", "Timecode"),
        ("Timecode,BlendShapeCount,Foo\n00:00:00:00.000,1,2\n", "no ARKit"),
        ("Timecode,BlendShapeCount,JawOpen\n", "no frames"),
        ("Timecode,BlendShapeCount,JawOpen\nnot-a-time,61,0.1\n00:00:00:01.000,61,0.1\n", "line 2"),
        ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,abc\n00:00:00:01.000,61,0.1\n", "line 2"),
        ("Timecode,BlendShapeCount,JawOpen\n00:00:00:05.000,61,0.1\n00:00:00:01.000,61,0.1\n", "increase"),
        ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0.1\n", "one frame"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CurvesFileError, match=match) as info:
        read_livelink_csv(path)
    assert str(path) in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(CurvesFileError, match="no such file"):
        read_livelink_csv(tmp_path / "nope.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x90" * 20)
    with pytest.raises(CurvesFileError, match=str(binary)):
        read_livelink_csv(binary)
