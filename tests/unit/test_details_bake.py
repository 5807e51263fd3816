"""Baking: the frames and bake.json a bake writes, identity constancy, and what a failed bake leaves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from furrow.cli import main as cli_main
from furrow.details import DetailIdentity, load_displacement_png
from furrow.details.bake import BAKE_JSON, BakeError, BakeInfo, ProceduralSource, bake
from furrow.details.detailed3dmm import Detailed3DMM, Detailed3DMMSource
from furrow.details.dnpm import DNPMConfig
from furrow.details.png import png16_bytes
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.default import load_default_head
from furrow.heads.regions import region_masks
from furrow.jobs.details import parse_identity

RES = 128


@pytest.fixture(scope="module")
def source() -> ProceduralSource:
    return ProceduralSource(load_default_head())


def brows(n_neutral: int = 2) -> np.ndarray:
    """Frames: neutral, brow raise, neutral ... (the last frames neutral)."""
    w = np.zeros((2 + n_neutral, len(ARKIT_NAMES)), dtype=np.float32)
    for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"):
        w[1, ARKIT_INDEX[name]] = 1.0
    return w


def test_png16_is_a_standard_16_bit_grey_png(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 65536, (5, 7)).astype(np.uint16)
    (tmp_path / "a.png").write_bytes(png16_bytes(pixels))
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "I;16" and im.size == (7, 5)
        assert np.array_equal(np.asarray(im, dtype=np.uint16), pixels)


def test_bake_writes_numbered_frames_and_bake_json(source: ProceduralSource, tmp_path: Path) -> None:
    out = tmp_path / "furrow" / "Head" / "details"
    person = DetailIdentity(age=62, seed=3)
    info = bake(source, person, brows(), out, resolution=RES, fps=29.97, frame_start=11)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bake.json", "disp_00001.png", "disp_00002.png", "disp_00003.png", "disp_00004.png"]
    data = json.loads((out / BAKE_JSON).read_text())
    assert data["resolution"] == RES and data["scale_mm"] == 8.0 and data["mid_level"] == 0.5
    assert data["fps"] == 29.97 and data["frame_start"] == 11 and data["frame_count"] == 4
    assert data["static"] is False and data["pattern"] == "disp_#####.png"
    assert data["identity"]["age"] == 62 and data["identity"]["seed"] == 3
    assert data["model"]["name"] == "procedural" and data["bytes"] == info.bytes > 0
    assert BakeInfo.load(out).frame_count == 4
    assert os.listdir(tmp_path / "furrow" / "Head") == ["details"]  # no staging folder left behind


def test_identity_detail_is_constant_across_a_bake(source: ProceduralSource, tmp_path: Path) -> None:
    """Frames with the same pose are identical; a brow raise changes the forehead and not the nose."""
    info = bake(source, DetailIdentity(age=55, seed=8), brows(), tmp_path / "b", resolution=RES)
    frames = [load_displacement_png(info.frame_path(tmp_path / "b", i)) for i in range(4)]
    assert np.array_equal(frames[0], frames[2]) and np.array_equal(frames[0], frames[3])
    masks = region_masks(load_default_head(), RES)
    change = np.abs(frames[1] - frames[0])
    assert change[masks["forehead"] > 0.5].mean() > 0.01  # mm: furrows across the forehead
    assert change[masks["nose"] > 0.5].max() < 1e-3


def test_neural_source_keeps_the_persons_noise(tmp_path: Path) -> None:
    """An (untrained) Detailed3DMM source: same pose, same map; the bake is deterministic per person."""
    levels = [8, 16, 32, 64, 128]
    cfg = DNPMConfig(
        resolution=128, w_dim=8, z_dim=8, channels={r: 8 for r in levels},
        encoder_channels={r: 8 for r in levels}, disc_channels={r: 8 for r in levels},
    )  # fmt: skip
    torch.manual_seed(0)
    Detailed3DMM(cfg).save(tmp_path / "m.pt")
    src = Detailed3DMMSource(tmp_path / "m.pt")
    a = bake(src, DetailIdentity(seed=4), brows(), tmp_path / "a", resolution=256)
    bake(src, DetailIdentity(seed=4), brows(), tmp_path / "b", resolution=256)
    c = bake(src, DetailIdentity(seed=5), brows(), tmp_path / "c", resolution=256)
    assert a.model["name"] == "detailed3dmm" and a.model["version"].startswith("m-")
    read = [
        [(d / f"disp_0000{i}.png").read_bytes() for i in (1, 3)] for d in (tmp_path / "a", tmp_path / "b")
    ]
    assert read[0][0] == read[0][1] == read[1][0]
    assert (tmp_path / "c" / "disp_00001.png").read_bytes() != read[0][0]
    assert c.resolution == 256  # upsampled from the model's 128 px


def test_static_bake_from_a_pose(source: ProceduralSource, tmp_path: Path) -> None:
    info = bake(source, DetailIdentity(), brows()[1], tmp_path / "s", resolution=RES, static=True)
    assert info.static and info.frame_count == 1


def test_rebake_replaces_only_its_own_folder(source: ProceduralSource, tmp_path: Path) -> None:
    out = tmp_path / "details"
    bake(source, DetailIdentity(), brows(), out, resolution=RES)
    (tmp_path / "other.txt").write_text("keep me")
    bake(source, DetailIdentity(), brows(0), out, resolution=RES)
    assert sorted(p.name for p in out.iterdir()) == ["bake.json", "disp_00001.png", "disp_00002.png"]
    assert (tmp_path / "other.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["details", "other.txt"]


def test_a_folder_of_other_files_is_never_replaced(source: ProceduralSource, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(BakeError, match="not a Furrow bake"):
        bake(source, DetailIdentity(), brows(), tmp_path / "mine", resolution=RES)
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]


def test_cancel_keeps_the_previous_bake_and_leaves_no_partial_frames(
    source: ProceduralSource, tmp_path: Path
) -> None:
    out = tmp_path / "details"
    bake(source, DetailIdentity(seed=1), brows(), out, resolution=RES)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class Cancel(Exception):
        pass

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.1:
            raise Cancel()

    weights = np.repeat(brows(), 20, axis=0)
    with pytest.raises(Cancel):
        bake(source, DetailIdentity(seed=2), weights, out, resolution=RES, batch=8, progress=progress)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["details"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_a_clear_error(source: ProceduralSource, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(BakeError, match="permission denied"):
            bake(source, DetailIdentity(), brows(), locked / "details", resolution=RES)
    finally:
        locked.chmod(0o700)


def test_disk_full_is_a_clear_error_and_removes_partial_frames(
    source: ProceduralSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk cannot be made here, so the file write raises ENOSPC on the third frame (a mock)."""
    import errno

    import furrow.details.bake as bake_module

    calls = {"n": 0}
    real = bake_module._write

    def failing(path: Path, pixels: np.ndarray, level: int) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, pixels, level)

    monkeypatch.setattr(bake_module, "_write", failing)
    with pytest.raises(BakeError, match="disk is full"):
        bake(source, DetailIdentity(), brows(), tmp_path / "details", resolution=RES, writers=1)
    assert os.listdir(tmp_path) == []


def test_bad_weights_and_resolution_are_clear_errors(source: ProceduralSource, tmp_path: Path) -> None:
    with pytest.raises(BakeError, match="ARKit weights"):
        bake(source, DetailIdentity(), np.zeros((3, 10)), tmp_path / "x", resolution=RES)
    with pytest.raises(BakeError, match="NaN"):
        bake(source, DetailIdentity(), np.full((2, 52), np.nan), tmp_path / "x", resolution=RES)
    with pytest.raises(BakeError, match="resolution"):
        bake(source, DetailIdentity(), brows(), tmp_path / "x", resolution=300)
    assert not (tmp_path / "x").exists()


def test_identity_parsing() -> None:
    person = parse_identity("age=60,seed=3,pore_size=1.5")
    assert person == DetailIdentity(age=60, seed=3, pore_size=1.5)
    assert parse_identity({"wrinkle_depth": 2}) == DetailIdentity(wrinkle_depth=2.0)
    from furrow.jobs import JobInputError

    for bad in ("age", "hair=1", "age=old", "age=500", "pore_size=-1"):
        with pytest.raises(JobInputError):
            parse_identity(bad)


def test_cli_bakes_a_pose_and_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bake"
    args = [
        "-q",
        "details",
        "--pose",
        "browInnerUp=1",
        "--res",
        "128",
        "--model",
        "procedural",
        "--out",
        str(out),
    ]
    assert cli_main([*args, "--identity", "age=70,seed=2"]) == 0
    assert "wrote 1 frame of 128 px" in capsys.readouterr().out
    assert json.loads((out / BAKE_JSON).read_text())["identity"]["age"] == 70
    assert cli_main(["details", "--pose", "nope=1", "--out", str(tmp_path / "y")]) == 2
    assert "not an ARKit blendshape name" in capsys.readouterr().err
    assert cli_main(["details", "--out", str(tmp_path / "y")]) == 2
    assert cli_main(["details", "--curves", str(tmp_path / "none.json"), "--out", str(tmp_path / "y")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_permission_denied_while_writing_is_a_clear_error(
    source: ProceduralSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root (CI) folders cannot be made unwritable, so the write raises EACCES (a mock)."""
    import furrow.details.bake as bake_module

    def denied(path: Path, pixels: np.ndarray, level: int) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(bake_module, "_write", denied)
    with pytest.raises(BakeError, match="permission denied"):
        bake(source, DetailIdentity(), brows(), tmp_path / "details", resolution=RES)
    assert os.listdir(tmp_path) == []


def test_cancel_during_preparation_writes_nothing(source: ProceduralSource, tmp_path: Path) -> None:
    class Cancel(Exception):
        pass

    def progress(fraction: float, message: str) -> None:
        if message.startswith("Preparing"):
            raise Cancel()

    with pytest.raises(Cancel):
        bake(source, DetailIdentity(), brows(), tmp_path / "details", resolution=RES, progress=progress)
    assert os.listdir(tmp_path) == []


def test_stale_staging_folders_of_a_killed_worker_are_cleared(
    source: ProceduralSource, tmp_path: Path
) -> None:
    """A worker killed mid-bake leaves .details.partial-*; the next bake removes it (only if it is ours)."""
    stale = tmp_path / ".details.partial-dead"
    stale.mkdir()
    (stale / "disp_00001.png").write_bytes(b"x")
    foreign = tmp_path / ".details.partial-mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for folder in (stale, foreign):
        os.utime(folder, (1, 1))
    bake(source, DetailIdentity(), brows(), tmp_path / "details", resolution=RES)
    assert sorted(os.listdir(tmp_path)) == [".details.partial-mine", "details"]


def test_a_file_in_the_way_is_a_clear_error(source: ProceduralSource, tmp_path: Path) -> None:
    (tmp_path / "furrow").write_text("a file")
    with pytest.raises(BakeError, match="file is in the way"):
        bake(source, DetailIdentity(), brows(), tmp_path / "furrow" / "Head" / "details", resolution=RES)
