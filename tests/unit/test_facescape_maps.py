"""FaceScape dpmaps: small synthetic PNGs in the dataset's format (16-bit grey, 32768 = 0,
(p - 32768) / 32768 * 0.914 mm, <identity>/dpmap/<k>_<expression>.png), read back in mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from furrow.details.facescape_maps import (
    FACESCAPE_FACE_UV_BOX,
    FACESCAPE_HALF_RANGE_MM,
    FaceScapeDisplacementDataset,
    FaceScapeMapError,
    facescape_map_key,
    find_displacement_maps,
    load_facescape_displacement,
)
from furrow.details.png import png16_bytes

STEP_MM = FACESCAPE_HALF_RANGE_MM / 32768  # one code


def to_codes(height_mm: np.ndarray) -> np.ndarray:
    """The dataset's encoding, written out independently of the loader."""
    return np.clip(np.rint(height_mm / FACESCAPE_HALF_RANGE_MM * 32768 + 32768), 0, 65535).astype(np.uint16)


def write_dpmap(path: Path, height_mm: np.ndarray, *, pil: bool = False) -> Path:
    """A 16-bit greyscale PNG: our unfiltered encoder, or PIL's (filtered rows), as the authors save them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = to_codes(height_mm)
    if pil:
        Image.fromarray(codes).save(path)
    else:
        path.write_bytes(png16_bytes(codes))
    return path


def dataset_tree(root: Path, size: int = 32) -> list[Path]:
    """Two identities as the TU-model zips unpack, with a texture, a stray PNG and a macOS fork."""
    rng = np.random.default_rng(0)
    maps = []
    for identity in ("10", "2"):
        for expression in ("10_dimpler", "2_smile", "1_neutral"):
            height = rng.normal(0, 0.1, (size, size))
            maps.append(write_dpmap(root / identity / "dpmap" / f"{expression}.png", height))
        (root / identity / "models_reg").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / identity / "models_reg" / "1_neutral.jpg")
        Image.new("RGB", (8, 8)).save(root / identity / "models_reg" / "preview.png")
    (root / "2" / "dpmap" / "._1_neutral.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    return maps


def test_finds_the_dataset_maps_in_natural_order(tmp_path: Path) -> None:
    dataset_tree(tmp_path)
    found = find_displacement_maps(tmp_path)
    assert [facescape_map_key(p) for p in found] == [
        (i, e) for i in ("2", "10") for e in ("1_neutral", "2_smile", "10_dimpler")
    ]
    assert find_displacement_maps(tmp_path / "10" / "dpmap") == found[3:]  # a dpmap folder itself


def test_folder_without_maps_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "1" / "models_reg").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "1" / "models_reg" / "1_neutral.png")
    with pytest.raises(FaceScapeMapError) as err:
        find_displacement_maps(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "dpmap" in message and "1 other PNG" in message
    with pytest.raises(FaceScapeMapError, match="no such folder"):
        find_displacement_maps(tmp_path / "missing")


@pytest.mark.parametrize("pil", [False, True])
def test_heights_come_back_in_mm(tmp_path: Path, pil: bool) -> None:
    rng = np.random.default_rng(1)
    height = rng.uniform(-0.9, 0.9, (24, 24))
    height[0, :4] = [0.0, -FACESCAPE_HALF_RANGE_MM, FACESCAPE_HALF_RANGE_MM, 0.5]
    path = write_dpmap(tmp_path / "1" / "dpmap" / "1_neutral.png", height, pil=pil)
    codes = np.asarray(Image.open(path))
    assert codes.dtype == np.uint16 and codes[0, 0] == 32768 and codes[0, 1] == 0 and codes[0, 2] == 65535
    out = load_facescape_displacement(path, 24)
    assert out.dtype == np.float32 and out.shape == (24, 24)
    expected = height.copy()
    expected[0, 2] = FACESCAPE_HALF_RANGE_MM * 32767 / 32768  # 65535 is one code short of +0.914
    assert np.abs(out - expected).max() <= STEP_MM / 2 + 1e-6
    assert out[0, 0] == 0.0
    doubled = load_facescape_displacement(path, 24, half_range_mm=2 * FACESCAPE_HALF_RANGE_MM)
    np.testing.assert_allclose(doubled, 2 * out, atol=1e-6)


def test_a_bump_at_the_top_left_is_at_u0_v1(tmp_path: Path) -> None:
    """Row 0 is v = 1, column 0 is u = 0, as png.py says; nothing flipped or transposed."""
    height = np.zeros((64, 64))
    height[:8, :16] = 0.5  # top-left, twice as wide as tall
    height[56:, 60:] = -0.3  # bottom-right
    out = load_facescape_displacement(write_dpmap(tmp_path / "dpmap" / "1_neutral.png", height), 16)
    res = out.shape[0]

    def at(u: float, v: float) -> float:
        return float(out[int((1 - v) * res), int(u * res)])

    assert at(0.05, 0.97) == pytest.approx(0.5, abs=STEP_MM)
    assert at(0.20, 0.97) == pytest.approx(0.5, abs=STEP_MM)  # the bump's width runs along u
    assert at(0.05, 0.80) == pytest.approx(0.0, abs=STEP_MM)
    assert at(0.97, 0.03) == pytest.approx(-0.3, abs=STEP_MM)
    assert at(0.97, 0.97) == pytest.approx(0.0, abs=STEP_MM)
    assert at(0.03, 0.03) == pytest.approx(0.0, abs=STEP_MM)


def test_resampling_keeps_the_mean_and_removes_stripes(tmp_path: Path) -> None:
    y, x = np.mgrid[0:256, 0:256] / 256.0
    smooth = 0.2 + 0.3 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y) + 0.1 * y
    path = write_dpmap(tmp_path / "dpmap" / "smooth.png", smooth)
    for res in (64, 100, 300):  # whole factor (box), fractional (antialiased), up
        out = load_facescape_displacement(path, res)
        assert out.shape == (res, res)
        assert abs(float(out.mean()) - float(smooth.mean())) < 2e-3

    stripes = np.where(np.arange(256) % 2 == 0, 0.5, -0.5)[None, :].repeat(256, axis=0)
    path = write_dpmap(tmp_path / "dpmap" / "stripes.png", stripes)
    assert np.abs(load_facescape_displacement(path, 64)).max() < 1e-4  # 2 px period, box of 4: gone
    assert np.abs(load_facescape_displacement(path, 100)).max() < 0.1 * 0.5  # point sampling: 0.5


def test_face_box_crops_before_resampling(tmp_path: Path) -> None:
    height = np.zeros((512, 512))
    r0, c0 = 512 - round(FACESCAPE_FACE_UV_BOX[3] * 512), round(FACESCAPE_FACE_UV_BOX[0] * 512)
    height[r0 : r0 + 4, c0 : c0 + 4] = 0.4  # the box's top-left corner
    out = load_facescape_displacement(
        write_dpmap(tmp_path / "dpmap" / "1_neutral.png", height), 8, uv_box=FACESCAPE_FACE_UV_BOX
    )
    assert out[0, 0] > 0.001 and np.abs(out.ravel()[1:]).max() < 1e-6


def test_not_sixteen_bit_grey_is_refused_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "1" / "dpmap"
    folder.mkdir(parents=True)
    cases = {
        "8bit.png": (Image.new("L", (8, 8), 128), "8-bit greyscale"),
        "rgb.png": (Image.new("RGB", (8, 8)), "8-bit RGB"),
        "rgba.png": (Image.new("RGBA", (8, 8)), "8-bit RGBA"),
    }
    for name, (image, what) in cases.items():
        image.save(folder / name)
        with pytest.raises(FaceScapeMapError) as err:
            load_facescape_displacement(folder / name, 8)
        assert str(folder / name) in str(err.value) and what in str(err.value)
        assert "16-bit greyscale" in str(err.value)
    (folder / "jpeg.png").write_bytes(b"\xff\xd8\xff\xe0 not a png")
    with pytest.raises(FaceScapeMapError, match="not a PNG"):
        load_facescape_displacement(folder / "jpeg.png", 8)


def test_truncated_or_corrupt_files_are_refused_by_name(tmp_path: Path) -> None:
    height = np.random.default_rng(2).normal(0, 0.2, (64, 64))
    good = write_dpmap(tmp_path / "dpmap" / "1_neutral.png", height)
    data = good.read_bytes()
    cut = good.with_name("2_smile.png")
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FaceScapeMapError, match="truncated") as err:
        load_facescape_displacement(cut, 16)
    assert str(cut) in str(err.value)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    bad = good.with_name("3_mouth_stretch.png")
    bad.write_bytes(bytes(flipped))
    with pytest.raises(FaceScapeMapError, match="damaged") as err:
        load_facescape_displacement(bad, 16)
    assert str(bad) in str(err.value)
    with pytest.raises(FaceScapeMapError, match="truncated"):
        FaceScapeDisplacementDataset([cut], 16)[0]


def test_dataset_tensors_cache_and_flips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    maps = dataset_tree(tmp_path, size=32)
    ds = FaceScapeDisplacementDataset(tmp_path, 8)
    assert len(ds) == len(maps) == 6
    item = ds[0]
    assert item.shape == (1, 8, 8) and item.dtype == torch.float32
    np.testing.assert_allclose(item[0].numpy(), load_facescape_displacement(ds.paths[0], 8), atol=1e-7)
    item.fill_(9.0)  # changing what came out does not reach the cache
    assert float(ds[0].abs().max()) < 1.0

    reads = []
    import furrow.details.facescape_maps as fm

    real = fm.read_facescape_codes
    monkeypatch.setattr(fm, "read_facescape_codes", lambda p: reads.append(p) or real(p))
    for _ in range(3):
        for i in range(len(ds)):
            ds[i]
    assert len(reads) == len(ds) - 1  # map 0 was already cached: each file read once
    uncached = FaceScapeDisplacementDataset(maps[:2], 8, cache=False)
    uncached[0], uncached[0]
    assert len(reads) == len(ds) - 1 + 2

    flips = FaceScapeDisplacementDataset(tmp_path, 8, hflip=True, generator=torch.Generator().manual_seed(0))
    plain = ds[1][0]
    seen = {bool(torch.equal(flips[1][0], plain.flip(-1))) for _ in range(20)}
    assert seen == {True, False}  # both ways, and a flip is an exact column mirror
    assert all(torch.equal(ds[1][0], plain) for _ in range(3))  # off by default
    with pytest.raises(ValueError, match="centred"):
        FaceScapeDisplacementDataset(tmp_path, 8, hflip=True, uv_box=(0.1, 0.2, 0.6, 0.8))
    FaceScapeDisplacementDataset(tmp_path, 8, hflip=True, uv_box=FACESCAPE_FACE_UV_BOX)
    with pytest.raises(FaceScapeMapError, match="no FaceScape displacement maps"):
        FaceScapeDisplacementDataset([], 8)
