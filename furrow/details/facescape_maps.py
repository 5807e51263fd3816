"""Real FaceScape displacement maps (the TU models' ``dpmap`` PNGs) as training data in millimetres.

What the files are, and where that is said (nothing here is copied from those sources):

* Layout: the TU-model zips (``facescape_trainset_001_100.zip`` ...) unpack to
  ``<identity>/models_reg/<k>_<expression>.obj|.jpg|.obj.mtl`` and
  ``<identity>/dpmap/<k>_<expression>.png``, identity 1-847, ``k_expression`` one of
  the 20 names in :data:`FACESCAPE_EXPRESSIONS` (``1_neutral`` ... ``20_brow_lower``).
  Sources: zhuhao-nju/facescape ``doc/doc_tu_model.md`` ("20 displacement maps
  (/dpmap/...png)", "texture maps and displacement maps reach 4K resolution"), and
  public scripts that read the zips (e.g. an extractor listing
  ``<id>/dpmap/<exp>.png`` beside ``<id>/models_reg/<exp>.obj``; a detail-editing
  preprocessor reading ``<input>/<id>/dpmap/<file>``). Textures are JPEGs in
  ``models_reg``; some subjects lack a dpmap (the info list has a "png-dpmap missing" flag).
* Pixels: one channel, uint16 (0-65535), 4096 x 4096. 32768 is no displacement,
  below it is inward along the normal, above it outward, and
  ``height_mm = (pixel - 32768) / 32768 * 0.914``. Source: the maintainer's answer in
  zhuhao-nju/facescape issue #23 ("Displacement Map的单位", 2020-07-19); the same
  formula with ``scale=0.914`` is ``dpmap2verts`` in yanght321/Detailed3DFace
  ``utils.py`` (the paper's first author) and zhuhao-nju/mvfr
  ``dpmap_pred/scripts/dpmap2mesh.py``, whose writers fill blank maps with 32768 and
  save uint16 arrays through PIL (a 16-bit greyscale PNG); readers elsewhere use
  ``cv2.IMREAD_UNCHANGED`` and get a 2-D uint16 array.
* The millimetre scale is nominal: the scans have no metric scale of their own, they
  were normalised by the inner eye-corner distance, and 0.914 assumes a typical
  ~40 mm between the eyes (issue #23). Hence ``half_range_mm``, default
  :data:`FACESCAPE_HALF_RANGE_MM`: the millimetres at 32768 codes from zero. Note that
  this is half of what ``png.py`` calls ``scale_mm`` (its full range), and that the
  zero is 32768, not 65535 / 2.
* Orientation: those ``dpmap2verts`` index row ``H - v * H`` and column ``u * W``, so
  row 0 is v = 1 and column 0 is u = 0: the convention of ``png.py`` already, and the
  loaders here do not flip anything.
* Symmetry: the frontal face's UV layout is mirror-symmetric about u = 0.5. The
  frontal texture coordinates (Detailed3DFace ``predef/front_texcoords.pkl``) come in
  pairs (u, v) <-> (1 - u, v) to 5e-5 (0.2 px at 4096), e.g. (0.5539, 0.7153) and
  (0.4461, 0.7153), (0.6046, 0.7054) and (0.3954, 0.7054). So flipping columns
  (c <-> W - 1 - c) gives the displacement of the mirrored face in the same layout;
  the rest of the head (scalp, ears, neck) was not checked. Random flips stay off by
  default.
* Face region: the authors crop rows 600-2500, columns 1100-3000 of the 4096 map for
  their networks (Detailed3DFace ``main.py`` pastes its 1900 px prediction there; the
  detail-editing preprocessor crops the same box). :data:`FACESCAPE_FACE_UV_BOX` is that
  box moved 2 px left so it is centred on u = 0.5 and flips stay exact.
* The maps hold some low-frequency error, which that preprocessor removes with a
  high-pass (bilateral filter minus a wide Gaussian blur) before training; nothing
  here filters.

The maps are in FaceScape's UV layout: they line up with a FaceScape head (the
bilinear model's ``texcoords``), not with other heads' layouts.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

PathLike = Union[str, Path]
UVBox = tuple[float, float, float, float]

FACESCAPE_ZERO = 32768  # the pixel value of no displacement
FACESCAPE_HALF_RANGE_MM = 0.914  # mm at FACESCAPE_ZERO codes from zero (nominal, see above)
FACESCAPE_MAP_SIZE = 4096
FACESCAPE_EXPRESSIONS = (
    "1_neutral",
    "2_smile",
    "3_mouth_stretch",
    "4_anger",
    "5_jaw_left",
    "6_jaw_right",
    "7_jaw_forward",
    "8_mouth_left",
    "9_mouth_right",
    "10_dimpler",
    "11_chin_raiser",
    "12_lip_puckerer",
    "13_lip_funneler",
    "14_sadness",
    "15_lip_roll",
    "16_grin",
    "17_cheek_blowing",
    "18_eye_closed",
    "19_brow_raiser",
    "20_brow_lower",
)
# (u_min, v_min, u_max, v_max): rows 600-2500, columns 1098-2998 of a 4096 px map.
FACESCAPE_FACE_UV_BOX: UVBox = (1098 / 4096, 1596 / 4096, 2998 / 4096, 3496 / 4096)
MAP_FOLDER = "dpmap"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}
_EXAMPLE = "<identity>/dpmap/<k>_<expression>.png, e.g. 1/dpmap/1_neutral.png"


class FaceScapeMapError(ValueError):
    """A folder without FaceScape displacement maps, or a file that is not one."""


def _natural_key(path: Path) -> tuple[tuple[int, int, str], ...]:
    """1 < 2 < 10 for identities and expression numbers alike."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.as_posix())
    )


def find_displacement_maps(folder: PathLike) -> list[Path]:
    """Every ``dpmap/*.png`` under ``folder`` (recursive), identities and expressions in natural order.

    Only PNGs in folders named ``dpmap`` count, as the TU-model zips unpack them;
    textures and other images are ignored, and so are hidden files (``._*`` forks
    left by macOS unzips). ``folder`` may also be a ``dpmap`` folder itself.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FaceScapeMapError(f"{root}: no such folder (expected the unpacked FaceScape TU models)")
    maps: list[Path] = []
    others = 0
    for p in root.rglob("*"):
        if p.suffix.lower() != ".png" or p.name.startswith(".") or not p.is_file():
            continue
        if p.parent.name.lower() == MAP_FOLDER:
            maps.append(p)
        else:
            others += 1
    if not maps:
        ignored = f"; {others} other PNG file(s) were ignored" if others else ""
        raise FaceScapeMapError(
            f"{root}: no FaceScape displacement maps found: expected 16-bit PNGs in '{MAP_FOLDER}' "
            f"folders as the TU-model zips unpack them ({_EXAMPLE}){ignored}"
        )
    return sorted(maps, key=lambda p: _natural_key(p.relative_to(root)))


def facescape_map_key(path: PathLike) -> tuple[str, str]:
    """(identity, expression) of a dataset map: ``212/dpmap/16_grin.png`` -> ('212', '16_grin').

    Split training and validation sets by identity, not by file.
    """
    p = Path(path)
    return p.parent.parent.name, p.stem


def _check_png(path: Path, data: bytes) -> tuple[int, int]:
    """Walk the chunks (lengths, CRCs, IEND) and demand 16-bit greyscale; returns (width, height)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise FaceScapeMapError(f"{path}: not a PNG file")
    view = memoryview(data)
    pos = len(_PNG_SIGNATURE)
    header: Optional[tuple[int, int, int, int]] = None
    has_data = False
    while True:
        if pos + 12 > len(data):
            raise FaceScapeMapError(f"{path}: truncated PNG (it ends before its IEND chunk)")
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise FaceScapeMapError(
                f"{path}: truncated PNG (its {kind.decode('latin-1')!r} chunk runs past the end of the file)"
            )
        (crc,) = struct.unpack(">I", view[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            name = kind.decode("latin-1")
            raise FaceScapeMapError(f"{path}: damaged PNG (CRC mismatch in its {name!r} chunk)")
        if kind == b"IHDR":
            if length != 13:
                raise FaceScapeMapError(f"{path}: damaged PNG (IHDR of {length} bytes)")
            width, height, depth, colour = struct.unpack(">IIBB", view[pos + 8 : pos + 18])
            header = (width, height, depth, colour)
        elif kind == b"IDAT":
            has_data = True
        elif kind == b"IEND":
            break
        pos = end
    if header is None or not has_data:
        raise FaceScapeMapError(f"{path}: damaged PNG (no {'IHDR' if header is None else 'IDAT'} chunk)")
    width, height, depth, colour = header
    if depth != 16 or colour != 0:
        kind_text = _COLOUR_TYPES.get(colour, f"colour type {colour}")
        raise FaceScapeMapError(
            f"{path}: a FaceScape displacement map is a 16-bit greyscale PNG (uint16, 32768 = no "
            f"displacement), but this one is {depth}-bit {kind_text}: not a dpmap, or re-saved by an editor"
        )
    return width, height


def read_facescape_codes(path: PathLike) -> npt.NDArray[np.uint16]:
    """A dpmap's raw uint16 pixels (H, W), row 0 = v = 1; FaceScapeMapError for anything else."""
    from PIL import Image

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FaceScapeMapError(f"{p}: cannot read ({exc})") from exc
    width, height = _check_png(p, data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
                raise FaceScapeMapError(f"{p}: decoded as {image.mode}, not 16-bit greyscale")
            pixels = np.asarray(image)
    except FaceScapeMapError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise FaceScapeMapError(f"{p}: damaged PNG, its pixels do not decode ({exc})") from exc
    if pixels.shape != (height, width):
        raise FaceScapeMapError(f"{p}: decoded {pixels.shape}, but its header says {(height, width)}")
    codes: npt.NDArray[np.uint16] = pixels.astype(np.uint16, copy=False)
    return codes


def _pixel_box(uv_box: UVBox, height: int, width: int) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of a (u_min, v_min, u_max, v_max) box; rows run down from v = 1."""
    u0, v0, u1, v1 = uv_box
    if not (0.0 <= u0 < u1 <= 1.0 and 0.0 <= v0 < v1 <= 1.0):
        raise ValueError(f"uv_box {uv_box} is not (u_min, v_min, u_max, v_max) inside [0, 1]")
    c0, c1 = round(u0 * width), round(u1 * width)
    r0, r1 = round((1.0 - v1) * height), round((1.0 - v0) * height)
    if c1 <= c0 or r1 <= r0:
        raise ValueError(f"uv_box {uv_box} covers no whole pixel of a {width} x {height} map")
    return r0, r1, c0, c1


def resample(height_mm: torch.Tensor, resolution: int) -> torch.Tensor:
    """(H, W) -> (resolution, resolution) without aliasing: a box (area) filter where H and W are
    whole multiples of ``resolution`` (the mean is kept exactly), else bilinear with antialiasing
    (a triangle filter as wide as the step)."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, not {resolution}")
    h, w = height_mm.shape
    if (h, w) == (resolution, resolution):
        return height_mm
    x = height_mm[None, None]
    if h % resolution == 0 and w % resolution == 0:
        out = F.interpolate(x, size=(resolution, resolution), mode="area")
    else:
        size = (resolution, resolution)
        out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out[0, 0]


def _load_tensor(path: Path, resolution: int, half_range_mm: float, uv_box: Optional[UVBox]) -> torch.Tensor:
    if half_range_mm <= 0:
        raise ValueError(f"half_range_mm must be positive, not {half_range_mm}")
    codes = read_facescape_codes(path)
    if uv_box is not None:
        r0, r1, c0, c1 = _pixel_box(uv_box, *codes.shape)
        codes = codes[r0:r1, c0:c1]
    heights = torch.from_numpy(codes.astype(np.float32))
    heights.sub_(float(FACESCAPE_ZERO)).mul_(half_range_mm / FACESCAPE_ZERO)
    return resample(heights, resolution).contiguous()


def load_facescape_displacement(
    path: PathLike,
    resolution: int,
    half_range_mm: float = FACESCAPE_HALF_RANGE_MM,
    uv_box: Optional[UVBox] = None,
) -> npt.NDArray[np.float32]:
    """One dpmap as heights in mm, (resolution, resolution) float32, row 0 = v = 1 (as ``png.py``).

    ``uv_box`` (u_min, v_min, u_max, v_max) crops before resampling, e.g.
    :data:`FACESCAPE_FACE_UV_BOX` (the face at ~1900 px of the 4096 map); None keeps the
    whole map, which lines up with a FaceScape head's UV space.
    """
    heights = _load_tensor(Path(path), resolution, half_range_mm, uv_box).numpy()
    out: npt.NDArray[np.float32] = heights.astype(np.float32, copy=False)
    return out


class FaceScapeDisplacementDataset(Dataset[torch.Tensor]):
    """FaceScape dpmaps as (1, R, R) float32 tensors in mm, for training detail models.

    ``source``: a folder (searched with :func:`find_displacement_maps`) or a list of
    map paths (say, one identity split). ``hflip``: mirror columns with probability
    1/2, valid because the frontal UV layout is mirror-symmetric about u = 0.5 (see
    the module notes); it needs ``uv_box`` centred on u = 0.5. ``cache``: keep each
    resampled map in memory, so every 4K file is decoded once (R * R * 4 bytes a map:
    256 KB at 256 px, 4.4 GB for all 16,940 maps; 4 MB at 1024 px). DataLoader
    workers each hold their own cache: use ``persistent_workers=True``.
    """

    def __init__(
        self,
        source: Union[PathLike, Sequence[PathLike]],
        resolution: int,
        *,
        half_range_mm: float = FACESCAPE_HALF_RANGE_MM,
        uv_box: Optional[UVBox] = None,
        hflip: bool = False,
        cache: bool = True,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        if isinstance(source, (str, Path)):
            self.paths = find_displacement_maps(source)
        else:
            self.paths = [Path(p) for p in source]
            if not self.paths:
                raise FaceScapeMapError(f"no FaceScape displacement maps given (expected {_EXAMPLE})")
        if resolution < 1:
            raise ValueError(f"resolution must be positive, not {resolution}")
        if half_range_mm <= 0:
            raise ValueError(f"half_range_mm must be positive, not {half_range_mm}")
        if uv_box is not None:
            _pixel_box(uv_box, FACESCAPE_MAP_SIZE, FACESCAPE_MAP_SIZE)  # validates it
            if hflip and abs(uv_box[0] + uv_box[2] - 1.0) > 1e-6:
                raise ValueError(
                    f"hflip needs a uv_box centred on u = 0.5 (the layout's mirror line), not {uv_box}"
                )
        self.resolution = resolution
        self.half_range_mm = half_range_mm
        self.uv_box = uv_box
        self.hflip = hflip
        self.cache = cache
        self.generator = generator
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def keys(self) -> list[tuple[str, str]]:
        """(identity, expression) of every map, in order."""
        return [facescape_map_key(p) for p in self.paths]

    def heights(self, index: int) -> torch.Tensor:
        """(R, R) heights in mm of map ``index``, unflipped; the cached tensor itself: do not modify it."""
        n = len(self.paths)
        if not -n <= index < n:
            raise IndexError(f"map {index} of {n}")
        index %= n
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        heights = _load_tensor(self.paths[index], self.resolution, self.half_range_mm, self.uv_box)
        if self.cache:
            self._cache[index] = heights
        return heights

    def __getitem__(self, index: int) -> torch.Tensor:
        heights = self.heights(index)
        if self.hflip and bool(torch.rand((), generator=self.generator) < 0.5):
            return heights.flip(-1).unsqueeze(0)
        return heights.clone().unsqueeze(0)  # a copy: the caller may change it in place
