"""DNPM: a style-based generator over UV displacement maps, its encoder and discriminator.

The generator follows StyleGAN2's synthesis network, sized for displacement
maps: a learned constant at ``start`` px, blocks that double the resolution,
each with two modulated 3x3 convolutions (weight demodulation) and a 1x1
output layer whose results are summed across scales (skip architecture). Each
layer reads its own style vector, so the latent is w+ of shape
(layers, w_dim). Per-layer noise inputs carry stochastic skin (pores): a bake
draws them once from the person's seed, so pores stay put while wrinkles move.

Modulation is applied to activations, not weights (x * s -> conv -> * demod),
which is the same maths as StyleGAN2's fused form but runs as one ordinary
convolution over the whole batch: several times faster on a CPU.

Every map shares one UV layout, so the networks are told where they are: a
fixed "layout" image (skin mask, the head's region masks, u and v) enters the
generator at every scale through a 1x1 convolution (a learned, position-aware
bias: the forehead knows it is the forehead) and the encoder as extra input
channels. It is stored with the weights.

Maps are in millimetres; the networks see them divided by ``cfg.unit_mm``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DNPMConfig:
    """Sizes of the networks; ``small`` trains on a 2-core CPU, ``large_*`` want a GPU."""

    resolution: int = 256
    start: int = 8  # the learned constant's size
    w_dim: int = 128
    # Narrow at high resolution: the 128 and 256 px layers cost most, and skin there is mostly
    # noise-driven pores; 15-20 ms a map on 2 cores (channels-last), so a bake keeps 25 frames/s.
    channels: dict[int, int] = field(
        default_factory=lambda: {8: 128, 16: 128, 32: 64, 64: 32, 128: 12, 256: 6}
    )
    encoder_channels: dict[int, int] = field(
        default_factory=lambda: {256: 8, 128: 16, 64: 32, 32: 64, 16: 96, 8: 128}
    )
    disc_channels: dict[int, int] = field(
        default_factory=lambda: {256: 8, 128: 16, 64: 32, 32: 64, 16: 64, 8: 64}
    )
    z_dim: int = 128
    mapping_layers: int = 4
    unit_mm: float = 0.25  # network units -> mm
    layout_channels: int = 18  # skin, 15 region masks, u, v (furrow.details.detailed3dmm.layout_image)
    learned_layout_from: int = 32  # levels from this size ...
    learned_layout_to: int = 64  # ... up to this one also add a learned per-texel feature map
    basis: int = 60  # full-resolution texel basis maps mixed by one extra style (0: none)

    def __post_init__(self) -> None:
        levels = self.levels
        if 2 ** round(math.log2(self.resolution)) != self.resolution or self.resolution <= self.start:
            raise ValueError(f"resolution {self.resolution} must be a power of two above {self.start}")
        for table in (self.channels, self.encoder_channels, self.disc_channels):
            missing = [r for r in levels if r not in table]
            if missing:
                raise ValueError(f"no channel count for {missing} px")

    @property
    def levels(self) -> list[int]:
        """Resolutions from the constant up to the output."""
        out, r = [], self.start
        while r <= self.resolution:
            out.append(r)
            r *= 2
        return out

    @property
    def num_ws(self) -> int:
        """Style vectors in w+: one per convolution, one per output layer and one for the basis."""
        blocks = len(self.levels) - 1
        return 1 + 2 * blocks + (blocks + 1) + (1 if self.basis else 0)

    def has_texel(self, size: int) -> bool:
        return bool(self.learned_layout_from) and self.learned_layout_from <= size <= self.learned_layout_to

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("channels", "encoder_channels", "disc_channels"):
            d[key] = {str(k): v for k, v in d[key].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DNPMConfig:
        d = dict(d)
        for key in ("channels", "encoder_channels", "disc_channels"):
            if key in d:
                d[key] = {int(k): int(v) for k, v in d[key].items()}
        return cls(**d)


def small_config() -> DNPMConfig:
    """256 px, narrow: ~1 GFLOP a map, trains on a 2-core CPU in a session."""
    return DNPMConfig()


def large_config(resolution: int = 512) -> DNPMConfig:
    """512 or 1024 px with StyleGAN2-like widths, for a GPU (and FaceScape data)."""
    widths = {8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    levels = [r for r in widths if r <= resolution]
    return DNPMConfig(
        resolution=resolution,
        w_dim=512,
        z_dim=512,
        mapping_layers=8,
        channels={r: widths[r] for r in levels},
        encoder_channels={r: max(16, widths[r] // 2) for r in levels},
        disc_channels={r: max(16, widths[r] // 2) for r in levels},
        learned_layout_to=128,
        basis=0,  # a GPU-sized synthesis network has the width for thin lines; 64 maps would be 67M texels
    )


CONFIGS = {
    "small": small_config,
    "large512": lambda: large_config(512),
    "large1024": lambda: large_config(1024),
}


# The encoder's (and the mapping networks') outputs are scaled up: w+ must vary by O(1) between
# maps for the styles to move anything, and Adam moves a weight by ~lr a step (an output-layer
# learning-rate multiplier, as StyleGAN's equalised learning rate).
W_GAIN = 10.0


# --- layers ------------------------------------------------------------------------------------


class ModulatedConv(nn.Module):
    """A conv whose input channels are scaled per sample by a style, with demodulation."""

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int = 3, demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.affine = nn.Linear(w_dim, cin)
        # Styles start near 1 but already depend on w (as StyleGAN's): a zero-initialised affine
        # layer gives the mapping networks no gradient, and the maps ignore w for hundreds of steps.
        nn.init.normal_(self.affine.weight, std=0.5 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, cin)
        weight = self.weight * self.scale
        x = F.conv2d(x * s[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            energy = (s * s) @ weight.pow(2).sum(dim=(2, 3)).t()  # (B, cout)
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated conv -> noise -> bias -> leaky ReLU."""

    def __init__(self, cin: int, cout: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv(cin, cout, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(cout))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x, w)
        if noise is not None:
            x = x + noise * self.noise_strength[None, :, None, None]
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * math.sqrt(2.0)


class Generator(nn.Module):
    """w+ (B, num_ws, w_dim) [+ noise] -> (B, 1, R, R) displacement in network units."""

    def __init__(self, cfg: DNPMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        levels = cfg.levels
        c0 = cfg.channels[levels[0]]
        self.const = nn.Parameter(torch.randn(1, c0, cfg.start, cfg.start))
        self.layers = nn.ModuleList([StyleLayer(c0, c0, cfg.w_dim)])
        self.to_out = nn.ModuleList([ModulatedConv(c0, 1, cfg.w_dim, kernel=1, demodulate=False)])
        for lo, hi in itertools.pairwise(levels):
            self.layers.append(StyleLayer(cfg.channels[lo], cfg.channels[hi], cfg.w_dim))
            self.layers.append(StyleLayer(cfg.channels[hi], cfg.channels[hi], cfg.w_dim))
            self.to_out.append(ModulatedConv(cfg.channels[hi], 1, cfg.w_dim, kernel=1, demodulate=False))
        self.out_bias = nn.Parameter(torch.zeros(len(levels)))
        self.register_buffer("layout", torch.zeros(1, cfg.layout_channels, cfg.resolution, cfg.resolution))
        # x enters each level with the previous level's width (it is upsampled, then convolved)
        widths = [c0] + [cfg.channels[r] for r in levels[:-1]]
        self.layout_in = nn.ModuleList([nn.Conv2d(cfg.layout_channels, c, 1) for c in widths])
        # Learned per-texel features (zero at the start): every map shares the UV layout, so
        # where a fold or furrow can lie is learned once, here, and the styles gate it.
        self.texel = nn.ParameterList(
            [
                nn.Parameter(torch.zeros(1, c, r, r))
                for c, r in zip(widths, levels, strict=True)
                if cfg.has_texel(r)
            ]
        )
        self.texel_level = {r: i for i, r in enumerate(r for r in levels if cfg.has_texel(r))}
        # A full-resolution texel basis, mixed per map by the last style (a linear output layer):
        # wrinkles a texel or two wide, each always in its own place on the UV layout, are what a
        # narrow 256 px convolution stack learns slowest; here each is one map and one coefficient.
        if cfg.basis:
            self.basis = nn.Parameter(torch.zeros(cfg.basis, cfg.resolution * cfg.resolution))
            self.basis_affine = nn.Linear(cfg.w_dim, cfg.basis)
            nn.init.normal_(self.basis_affine.weight, std=1.0 / math.sqrt(cfg.w_dim))
            nn.init.zeros_(self.basis_affine.bias)
        # Styles in w+ order: conv0, out0, then per block conv_a, conv_b, out; then the basis.
        self.conv_ws = [0] + [3 * i + 2 + j for i in range(len(levels) - 1) for j in (0, 1)]
        self.out_ws = [1] + [3 * i + 4 for i in range(len(levels) - 1)]

    def layout_at(self, size: int) -> torch.Tensor:
        """The layout image averaged down to ``size`` px."""
        layout = self.get_buffer("layout")
        factor = layout.shape[-1] // size
        return layout if factor == 1 else F.avg_pool2d(layout, factor)

    def noise_shapes(self) -> list[int]:
        """The side of each layer's noise map."""
        levels = self.cfg.levels
        return [levels[0]] + [r for r in levels[1:] for _ in (0, 1)]

    def make_noise(self, seed: int, batch: int = 1) -> list[torch.Tensor]:
        """Noise maps drawn from ``seed`` (the same seed, the same pores), repeated over a batch."""
        gen = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFF)
        return [torch.randn(1, 1, r, r, generator=gen).expand(batch, 1, r, r) for r in self.noise_shapes()]

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        b = ws.shape[0]
        x = self.const.expand(b, -1, -1, -1)
        out: torch.Tensor | None = None
        layer = 0
        for level in range(len(self.cfg.levels)):
            if out is not None:
                x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
                out = F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False)
            size = self.cfg.levels[level]
            x = x + self.layout_in[level](self.layout_at(size))
            if size in self.texel_level:
                x = x + self.texel[self.texel_level[size]]
            for _ in range(1 if level == 0 else 2):
                nz = noise[layer] if noise is not None else None
                x = self.layers[layer](x, ws[:, self.conv_ws[layer]], nz)
                layer += 1
            y = self.to_out[level](x, ws[:, self.out_ws[level]]) + self.out_bias[level]
            out = y if out is None else out + y
        assert out is not None
        if self.cfg.basis:
            coef = self.basis_affine(ws[:, -1])
            r = self.cfg.resolution
            out = out + (coef.to(self.basis.dtype) @ self.basis).view(b, 1, r, r).to(out.dtype)
        return out


class Mapping(nn.Module):
    """z -> w (an MLP, as in StyleGAN): for sampling new skin without an encoder."""

    def __init__(self, cfg: DNPMConfig) -> None:
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.net = nn.Sequential(
            *[m for a, b in itertools.pairwise(dims) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))]
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        out: torch.Tensor = self.net(z)
        return out


def init_leaky(module: nn.Module) -> nn.Module:
    """He-initialise a plain conv/linear stack with leaky ReLUs (zero biases). PyTorch's default
    init shrinks the signal ~5x a layer in such a stack: an encoder five blocks deep then gives
    the same w+ for every map, and never learns."""
    layers = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


def _down_block(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(cout, cout, 3, padding=1, stride=2),
        nn.LeakyReLU(0.2),
    )


class Encoder(nn.Module):
    """A map -> w+, reading coarse styles from deep features and
    fine styles from shallower ones (a feature pyramid, as pSp does for faces)."""

    def __init__(self, cfg: DNPMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        levels = cfg.levels[::-1]  # R ... start
        ch = cfg.encoder_channels
        self.stem = nn.Sequential(
            nn.Conv2d(1 + cfg.layout_channels, ch[levels[0]], 3, padding=1), nn.LeakyReLU(0.2)
        )
        # the generator's layout (stored once, with the generator)
        self.register_buffer(
            "layout", torch.zeros(1, cfg.layout_channels, cfg.resolution, cfg.resolution), persistent=False
        )
        self.blocks = nn.ModuleList([_down_block(ch[a], ch[b]) for a, b in itertools.pairwise(levels)])
        # Each style reads the pyramid level at its own layer's resolution, clamped to a few levels.
        gen_levels = cfg.levels
        res_of_ws = [gen_levels[0], gen_levels[0]]
        for r in gen_levels[1:]:
            res_of_ws += [r, r, r]
        if cfg.basis:
            res_of_ws.append(cfg.resolution)
        self.sources = sorted(set(min(max(r, cfg.start), cfg.start * 4) for r in res_of_ws))
        self.ws_source = [self.sources.index(min(max(r, cfg.start), cfg.start * 4)) for r in res_of_ws]
        self.heads = nn.ModuleList()
        for r in self.sources:
            n = sum(1 for s in self.ws_source if self.sources[s] == r)
            self.heads.append(
                nn.Sequential(
                    nn.AdaptiveAvgPool2d(4),
                    nn.Flatten(),
                    nn.Linear(ch[r] * 16, 256),
                    nn.LeakyReLU(0.2),
                    nn.Linear(256, n * cfg.w_dim),
                )
            )
        init_leaky(self)
        for head in self.heads:  # small w+ at the start, as the mapping networks'
            assert isinstance(head, nn.Sequential)
            last = head[-1]
            assert isinstance(last, nn.Linear)
            last.weight.data.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats: dict[int, torch.Tensor] = {}
        layout = self.get_buffer("layout").expand(x.shape[0], -1, -1, -1).to(x.dtype)
        h = self.stem(torch.cat([x, layout], 1))
        r = self.cfg.resolution
        feats[r] = h
        for block in self.blocks:
            h = block(h)
            r //= 2
            feats[r] = h
        b = x.shape[0]
        ws = torch.empty(b, self.cfg.num_ws, self.cfg.w_dim, device=x.device)
        for i, (r, head) in enumerate(zip(self.sources, self.heads, strict=False)):
            idx = [k for k, s in enumerate(self.ws_source) if s == i]
            ws[:, idx] = head(feats[r]).view(b, len(idx), self.cfg.w_dim).float()
        return ws * W_GAIN


class Discriminator(nn.Module):
    """A residual-free conv stack -> one realism score per map (and per-patch features)."""

    def __init__(self, cfg: DNPMConfig) -> None:
        super().__init__()
        levels = cfg.levels[::-1]
        ch = cfg.disc_channels
        self.stem = nn.Sequential(nn.Conv2d(1, ch[levels[0]], 3, padding=1), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*[_down_block(ch[a], ch[b]) for a, b in itertools.pairwise(levels)])
        c = ch[levels[-1]]
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c * cfg.start * cfg.start, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)
        )
        init_leaky(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.blocks(self.stem(x)))
        return out


def channels_last(module: nn.Module) -> nn.Module:
    """Store 4-D weights channels-last: oneDNN's fastest CPU convolutions (~1.4x on 2 cores)."""
    for p in module.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
    return module


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
