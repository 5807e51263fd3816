"""Detailed3DMM: mapping networks (detail identity, ARKit weights) -> DNPM w+, and baking with them.

    w+ = M_id(identity code) + M_expr(ARKit weights, identity code)
    map = G(w+, noise(seed)) * unit_mm

The identity code is the detail identity's normalised controls (age, pore
size/depth, roughness, wrinkle depth) and a one-hot of its wrinkle layout
(seed mod the corpus's layout variants). Expression wrinkles depend on the
person too (an old face creases deeper), so M_expr reads the identity code as
well. G's noise is drawn from the person's seed once per bake, so pores stay
where they are on every frame: DECA's property (person detail fixed, expression
wrinkles moving) holds by construction, and tests check it on the maps.

Resolution: the small model works at 256 px. A bake at 512 px or more upsamples
the network's map (bicubic) and adds the person's skin above the network's
band: the procedural skin (pores, relief, crepe lines) at the bake's resolution
minus its own 256 px version, computed once per bake (the "identity work" a bake
caches).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..heads.arkit import ARKIT_NAMES
from .dnpm import W_GAIN, DNPMConfig, Encoder, Generator, channels_last
from .procedural import LAYOUT_VARIANTS, DetailIdentity, ProceduralDetails, high_band

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "details_v2.pt"
ID_DIM = 5 + LAYOUT_VARIANTS


def weights_available(path: Path = WEIGHTS) -> bool:
    return Path(path).is_file()


def identity_code(ids: Sequence[DetailIdentity]) -> torch.Tensor:
    """(B, ID_DIM): the normalised controls and the one-hot wrinkle layout."""
    out = torch.zeros(len(ids), ID_DIM)
    for i, ident in enumerate(ids):
        out[i, :5] = torch.from_numpy(ident.vector())
        out[i, 5 + int(ident.seed) % LAYOUT_VARIANTS] = 1.0
    return out


def layout_image(head: Any, resolution: int) -> torch.Tensor:
    """(1, 18, R, R): the skin mask, the 15 region masks and u, v; what tells the networks where they are."""
    from ..heads.model import REGION_NAMES
    from ..heads.regions import region_masks

    skin = ProceduralDetails(head, resolution, variants=0).skin
    masks = region_masks(head, resolution)
    v, u = torch.meshgrid(
        1.0 - (torch.arange(resolution) + 0.5) / resolution,
        (torch.arange(resolution) + 0.5) / resolution,
        indexing="ij",
    )
    planes = [skin, *(torch.from_numpy(masks[name]) for name in REGION_NAMES), u, v]
    return torch.stack(planes)[None].float()


def _mlp(din: int, hidden: int, dout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(din, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, dout),
    )


class MappingNets(nn.Module):
    """Identity code -> w+ offsets, (ARKit weights, identity code) -> w+ offsets."""

    def __init__(self, cfg: DNPMConfig, hidden: int = 256) -> None:
        super().__init__()
        self.cfg = cfg
        out = cfg.num_ws * cfg.w_dim
        self.identity = _mlp(ID_DIM, hidden, out)
        self.expression = _mlp(len(ARKIT_NAMES) + ID_DIM, hidden, out)
        # Small random outputs at the start (not zero): w must already vary with the codes, or
        # the generator's response to w, and with it every gradient to these nets, stays ~0.
        for net in (self.identity, self.expression):
            last = net[-1]
            assert isinstance(last, nn.Linear)
            nn.init.normal_(last.weight, std=0.5 / math.sqrt(hidden))
            nn.init.zeros_(last.bias)

    def forward(self, code: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        shape = (code.shape[0], self.cfg.num_ws, self.cfg.w_dim)
        w_id = self.identity(code).view(shape)
        w_ex = self.expression(torch.cat([weights, code], 1)).view(shape)
        out: torch.Tensor = (w_id + w_ex) * W_GAIN
        return out


class Detailed3DMM(nn.Module):
    """The DNPM generator and encoder with the Detailed3DMM mapping networks."""

    def __init__(self, cfg: DNPMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.encoder = Encoder(cfg)
        self.mapping = MappingNets(cfg)
        self.meta: dict[str, Any] = {}

    def set_layout(self, layout: torch.Tensor) -> None:
        """Give the generator and encoder the head's layout image (saved with the weights)."""
        if layout.shape[1:] != self.generator.get_buffer("layout").shape[1:]:
            raise ValueError(f"layout {tuple(layout.shape)} does not fit this config")
        self.generator.get_buffer("layout").copy_(layout)
        self.encoder.get_buffer("layout").copy_(layout)

    def ws(self, code: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """w+ for identity codes and ARKit weights, both (B, ...)."""
        out: torch.Tensor = self.mapping(code, weights)
        return out

    def decode(self, ws: torch.Tensor, noise: list[torch.Tensor] | None) -> torch.Tensor:
        """w+ -> (B, R, R) mm."""
        out: torch.Tensor = self.generator(ws, noise)[:, 0] * self.cfg.unit_mm
        return out

    def encode(self, maps_mm: torch.Tensor) -> torch.Tensor:
        """(B, R, R) mm -> w+."""
        out: torch.Tensor = self.encoder((maps_mm / self.cfg.unit_mm)[:, None])
        return out

    # --- files -----------------------------------------------------------------------------------

    def save(self, path: Path, meta: dict[str, Any] | None = None, half: bool = True) -> None:
        """Inference weights only (no discriminator or optimiser), float16 by default (half the size)."""
        from ..io.atomic import atomic_path

        state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in self.state_dict().items()}
        # The layout image is masks and coordinates in [0, 1]: 8 bits hold it (1.2 MB instead of 2.4).
        layout = state.pop("generator.layout").float()
        blob = {
            "config": self.cfg.as_dict(),
            "state": state,
            "layout_u8": (layout.clamp(0, 1) * 255).round().to(torch.uint8),
            "meta": dict(meta or self.meta),
        }
        with atomic_path(Path(path)) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Detailed3DMM:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        model = cls(DNPMConfig.from_dict(blob["config"]))
        state = {k: v.float() for k, v in blob["state"].items()}
        state["generator.layout"] = blob["layout_u8"].float() / 255.0
        model.load_state_dict(state)
        model.set_layout(state["generator.layout"])
        model.meta = dict(blob.get("meta", {}))
        model.eval()
        return model


def weights_version(path: Path = WEIGHTS) -> str:
    """A short content hash: bakes record which weights made them."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{Path(path).stem}-{digest[:10]}"


_LOADED: dict[str, Detailed3DMM] = {}


def load_cached(path: Path = WEIGHTS) -> Detailed3DMM:
    key = str(Path(path).resolve())
    if key not in _LOADED:
        model = Detailed3DMM.load(path)
        channels_last(model)
        _LOADED[key] = model
    return _LOADED[key]


class Detailed3DMMSource:
    """A bake source: the trained model for the network's band, the person's fine skin above it."""

    name = "detailed3dmm"

    def __init__(self, path: Path = WEIGHTS, head: Any = None, precision: str = "auto") -> None:
        """``precision``: "float32", "bfloat16" (the generator's convolutions; ~2x faster where the
        CPU has native bf16, and within ~0.005 mm of float32), or "auto" (bf16 where native)."""
        self.model = load_cached(path)
        self.version = weights_version(path)
        self.head = head
        if precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"precision must be auto, float32 or bfloat16, not {precision!r}")
        native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        self.bf16 = precision == "bfloat16" or (precision == "auto" and native_bf16)
        self._code = torch.zeros(1, ID_DIM)
        self._noise: list[torch.Tensor] = []
        self._fine: torch.Tensor | None = None
        self._skin: ProceduralDetails | None = None
        self._identity = DetailIdentity()
        self._resolution = self.model.cfg.resolution

    def prepare(self, identity: DetailIdentity, resolution: int, expressions: bool = True) -> None:
        """Per-person work for a bake at ``resolution``. ``expressions=False`` is for a neutral still
        (a photo's detail): above the network's band it adds only the skin, not the fine edge of
        wrinkles, and skips building the person's wrinkle layout (~7 s at 1024 px)."""
        self._identity = identity
        self._code = identity_code([identity])
        self._noise = self.model.generator.make_noise(identity.seed)
        self._resolution = resolution
        self._fine = None
        self._skin = None
        native = self.model.cfg.resolution
        if resolution > native:
            from ..heads.default import load_default_head

            if self.head is None:  # kept: the skin fields are cached per head object
                self.head = load_default_head()
            # Above the network's band the corpus generator carries on for the same person: their
            # pores and static lines, and (per frame) the fine edge of each expression wrinkle.
            if expressions:
                skin = ProceduralDetails(self.head, resolution, layout=identity.seed % LAYOUT_VARIANTS)
                skin.fine_expression(native)  # built here, so the first frames are not the slow ones
                self._skin = skin
            else:
                skin = ProceduralDetails(self.head, resolution, variants=0)
            self._fine = high_band(skin.identity_maps([identity]), native)[0]

    @torch.inference_mode()
    def frames(self, weights: torch.Tensor) -> torch.Tensor:
        b = int(weights.shape[0])
        ws = self.model.ws(self._code.expand(b, -1), weights.float())
        noise = [n.expand(b, -1, -1, -1) for n in self._noise]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            maps = self.model.decode(ws, noise).float()
        native = self.model.cfg.resolution
        if self._resolution != native:
            mode = "bicubic" if self._resolution > native else "area"
            kwargs: dict[str, Any] = {"align_corners": False} if mode == "bicubic" else {}
            maps = F.interpolate(maps[:, None], size=(self._resolution,) * 2, mode=mode, **kwargs)[:, 0]
        if self._fine is not None:
            maps = maps + self._fine
        if self._skin is not None:
            maps += self._skin.fine_expression_maps(weights, [self._identity] * b, native)
        return maps
