"""Training DNPM + Detailed3DMM on the procedural corpus (or real maps), resumable, on a CPU.

One loop trains everything together, since every corpus map comes with the
identity and expression that made it:
  encoder path   x -> E -> w+_e -> G -> x_e        (DNPM: inversion / reconstruction)
  mapping path   (id, expr) -> M -> w+_m -> G -> x_m  (Detailed3DMM)
Losses, for both outputs (and an expression residual for the mapping path):
  - L1 + squared error on the low-pass maps (Gaussian, sigma 1 px): wrinkles, folds, lines
    must match;
  - L1 on local high-pass energy (8 px windows): pores and roughness must have the
    right depth in each region, though not the same pixels (they come from noise);
  - adversarial (non-saturating, with R1 on real maps every 4 steps), weight
    ``adv`` after a warm-up, so the noise-driven skin also looks like skin;
  - latent: M's w+ is pulled (weakly) towards the (detached) encoder's w+, so the
    mapping lands where the encoder puts real maps, and the encoder's w+ (strongly)
    towards the detached mapping's w+ for the same map (distillation: the codes that
    made each corpus map are known);
  - expression residual: (mapped map - the same person's mapped neutral map) against
    (corpus map - corpus neutral map), full band (the person's skin cancels in the
    corpus's change), L1 + squared error, weight ``expression``, and the squared error
    relative to each map's squared change, weight ``expression_rel`` (thin lines count
    as much as deep folds).
A held-out validation set (identities never trained on) is scored every
``eval_every`` steps; checkpoints are atomic, and a run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from .detailed3dmm import Detailed3DMM, identity_code
from .dnpm import W_GAIN, Discriminator, DNPMConfig, channels_last
from .procedural import DetailIdentity, ProceduralDetails

VAL_SEED_BASE = 10_000_000  # validation identities: seeds far from the training ones
REL_FLOOR = 10.0  # squared network units summed over a map: a neutral map's "change" is 0

# Expression "actions": ARKit channels that move together, sampled as units (left/right may differ).
ACTIONS: list[tuple[str, ...]] = [
    ("browInnerUp",),
    ("browOuterUpLeft", "browOuterUpRight"),
    ("browDownLeft", "browDownRight"),
    ("mouthSmileLeft", "mouthSmileRight"),
    ("cheekSquintLeft", "cheekSquintRight"),
    ("eyeSquintLeft", "eyeSquintRight"),
    ("eyeBlinkLeft", "eyeBlinkRight"),
    ("eyeWideLeft", "eyeWideRight"),
    ("noseSneerLeft", "noseSneerRight"),
    ("mouthPucker",),
    ("mouthFunnel",),
    ("mouthShrugLower",),
    ("mouthShrugUpper",),
    ("mouthStretchLeft", "mouthStretchRight"),
    ("mouthFrownLeft", "mouthFrownRight"),
    ("mouthDimpleLeft", "mouthDimpleRight"),
    ("mouthPressLeft", "mouthPressRight"),
    ("mouthUpperUpLeft", "mouthUpperUpRight"),
    ("mouthLowerDownLeft", "mouthLowerDownRight"),
    ("mouthRollLower",),
    ("mouthRollUpper",),
    ("mouthClose",),
    ("jawOpen",),
    ("cheekPuff",),
]


def random_expressions(n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """(n, 52) plausible expression mixes: some neutral, most a few actions at random strengths."""
    out = np.zeros((n, len(ARKIT_NAMES)), dtype=np.float32)
    for i in range(n):
        if rng.random() < 0.1:
            continue
        k = 1 + rng.poisson(1.5)
        for a in rng.choice(len(ACTIONS), size=min(k, len(ACTIONS)), replace=False):
            level = rng.random() ** 0.7
            for name in ACTIONS[a]:
                out[i, ARKIT_INDEX[name]] = float(np.clip(level * (1.0 + 0.25 * rng.normal()), 0.0, 1.0))
        out[i] += (rng.random(len(ARKIT_NAMES)) < 0.15) * rng.random(len(ARKIT_NAMES)) * 0.2
    result: npt.NDArray[np.float32] = np.clip(out, 0.0, 1.0)
    return result


def identities_for(seeds: npt.NDArray[np.int64] | npt.NDArray[np.signedinteger[Any]]) -> list[DetailIdentity]:
    return [DetailIdentity.random(int(s)) for s in seeds]


# --- losses ------------------------------------------------------------------------------------


def _gauss_kernel(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    return k / k.sum()


_LP = _gauss_kernel(1.0)


def low_pass(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, R, R) Gaussian blur, sigma 1 px (replicate edges)."""
    r = _LP.numel() // 2
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), _LP.view(1, 1, 1, -1))
    out: torch.Tensor = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), _LP.view(1, 1, -1, 1))
    return out


def hp_energy(x: torch.Tensor, window: int = 8) -> torch.Tensor:
    """RMS of the high-pass band over ``window`` px tiles."""
    hp = x - low_pass(x)
    return torch.sqrt(F.avg_pool2d(hp * hp, window) + 1e-6)


def l1_l2(diff: torch.Tensor) -> torch.Tensor:
    """L1 plus squared error: L1's gradient is only the error's sign, which on a map is mostly
    set by skin noise no network can copy; the squared term lets a missing wrinkle, a few
    texels of large error, pull harder than the noise around it."""
    return diff.abs().mean() + diff.pow(2).mean()


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    lp = l1_l2(low_pass(pred) - low_pass(target))
    coarse = (F.avg_pool2d(pred, 4) - F.avg_pool2d(target, 4)).abs().mean()  # broad folds first
    tex = (hp_energy(pred) - hp_energy(target)).abs().mean()
    return lp + coarse + 0.5 * tex


# --- settings and state ------------------------------------------------------------------------


@dataclass
class TrainSettings:
    steps: int = 3000
    max_minutes: float = 60.0
    batch: int = 8
    lr: float = 1e-3
    lr_d: float = 5e-4
    texel_lr: float = 1.0  # learning-rate factor for the basis maps (they start at the corpus's PCA)
    adv: float = 0.02
    adv_start: int = 800
    latent: float = 0.02
    distill: float = 10.0  # encoder w+ -> the (detached) mapping w+ of the same map
    r1: float = 10.0
    clip: float = 5.0  # gradient-norm clip for the generator, encoder and mapping
    expression: float = 4.0  # weight of the expression-residual loss (mapping path)
    expression_rel: float = 1.0  # ... and of its squared error relative to each map's change
    seed: int = 0
    threads: int = 2
    eval_every: int = 200
    ckpt_every: int = 50
    sample_every: int = 250
    val_size: int = 32
    data: str = "procedural"  # or facescape:DIR
    bf16: bool = False  # bfloat16 autocast: ~2x faster where the CPU has native bf16 (AVX512-BF16, AMX)


@dataclass
class TrainState:
    step: int = 0
    elapsed: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Owns the models, optimisers and data; ``run`` trains until steps or time run out."""

    def __init__(self, head: Any, cfg: DNPMConfig, settings: TrainSettings, out_dir: Path) -> None:
        self.cfg, self.settings, self.out_dir = cfg, settings, Path(out_dir)
        torch.manual_seed(settings.seed)
        self.model = Detailed3DMM(cfg)
        self.disc = Discriminator(cfg)
        # The basis maps (started from the corpus's principal components, init_basis) have their
        # own learning-rate factor: each texel gets a gradient from itself only.
        texel = [p for n, p in self.model.generator.named_parameters() if n == "basis"]
        texel_ids = {id(p) for p in texel}
        gen_params = [
            p
            for p in [*self.model.generator.parameters(), *self.model.encoder.parameters()]
            if id(p) not in texel_ids
        ]
        groups: list[dict[str, Any]] = [
            {"params": gen_params, "lr_scale": 1.0},
            {"params": list(self.model.mapping.parameters()), "lr_scale": 1.0},
            {"params": texel, "lr_scale": settings.texel_lr},
        ]
        self.opt = torch.optim.Adam(
            groups,
            lr=settings.lr,
            betas=(0.5, 0.99),
        )
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=settings.lr_d, betas=(0.5, 0.99))
        self.state = TrainState()
        # channels-last runs oneDNN's fastest convolutions on CPUs (~1.4x here)
        channels_last(self.model)
        channels_last(self.disc)
        self.corpus = ProceduralDetails(head, cfg.resolution)
        from .detailed3dmm import layout_image

        self.model.set_layout(layout_image(head, cfg.resolution)[:, : cfg.layout_channels])
        self.rng = np.random.default_rng(settings.seed)
        vrng = np.random.default_rng(12345)
        self.val_ids = identities_for(VAL_SEED_BASE + np.arange(settings.val_size))
        self.val_expr = random_expressions(settings.val_size, vrng)
        self.val_maps = self.corpus.maps(self.val_ids, self.val_expr)
        self.skin = self.corpus.skin > 0

    @torch.no_grad()
    def init_basis(self, samples: int = 2048) -> None:
        """Start the generator's texel basis at the principal components of corpus expression
        changes (map minus the same person's neutral map: the skin cancels). From zeros, the
        basis and the styles that mix it each wait for the other (no texel grows without a
        coefficient that tracks its action, and vice versa): after 1000 steps thin forehead
        lines still had no response to the brows. With the components, every action's change
        has a gradient from the first step; the basis keeps training."""
        rng = np.random.default_rng(self.settings.seed + 4242)
        rows = []
        for _ in range(max(1, samples // 128)):
            ids = identities_for(rng.integers(0, VAL_SEED_BASE, 128))
            expr = random_expressions(128, rng)
            change = self.corpus.maps(ids, expr) - self.corpus.maps(ids, np.zeros_like(expr))
            rows.append((change / self.cfg.unit_mm).view(len(ids), -1))
        _, _, v = torch.svd_lowrank(torch.cat(rows), q=self.cfg.basis + 10, niter=3)
        basis = v[:, : self.cfg.basis].T
        self.model.generator.basis.copy_(basis / basis.abs().amax(1, keepdim=True).clamp_min(1e-8))

    # --- data ------------------------------------------------------------------------------------

    def batch(self) -> tuple[list[DetailIdentity], torch.Tensor, torch.Tensor]:
        b = self.settings.batch
        ids = identities_for(self.rng.integers(0, VAL_SEED_BASE, b))
        expr = random_expressions(b, self.rng)
        maps = self.corpus.maps(ids, expr)
        return ids, torch.from_numpy(expr), maps

    def noise(self, ids: list[DetailIdentity]) -> list[torch.Tensor]:
        per = [self.model.generator.make_noise(i.seed) for i in ids]
        return [torch.cat([p[k] for p in per]) for k in range(len(per[0]))]

    # --- one step --------------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        s, m = self.settings, self.model
        ids, expr, maps = self.batch()
        x = (maps / self.cfg.unit_mm)[:, None].contiguous(memory_format=torch.channels_last)
        noise = self.noise(ids)
        code = identity_code(ids)
        use_adv = self.state.step >= s.adv_start and s.adv > 0

        b = len(ids)
        with self.autocast():
            ws_e = m.encoder(x).float()
            ws_m = m.mapping(code, expr)
            parts = [ws_e, ws_m]
            if s.expression > 0:  # the same people with a neutral face, for the expression residual
                parts.append(m.mapping(code, torch.zeros_like(expr)))
            out = m.generator(torch.cat(parts), [torch.cat([n] * len(parts)) for n in noise]).float()
        both = out[: 2 * b]
        x_e, x_m = both[:b], both[b:]
        rec_e = reconstruction_loss(x_e, x)
        rec_m = reconstruction_loss(x_m, x)
        lat = ((ws_m - ws_e.detach()) / W_GAIN).pow(2).mean()  # in the networks' own output units
        # The encoder also regresses the mapping's w+ for the same map: corpus maps come with the
        # codes that made them, and the mapping path finds w+ that decode to them long before
        # reconstruction alone teaches the encoder to read thin wrinkles out of pore noise.
        distill = ((ws_e - ws_m.detach()) / W_GAIN).pow(2).mean()
        loss = rec_e + rec_m + s.latent * lat + s.distill * distill
        if s.expression > 0:
            # Expression wrinkles are thin and sparse: a whole-map loss barely sees them, so the
            # change from the person's neutral map is matched on its own.
            neutral = (self.corpus.maps(ids, np.zeros_like(expr.numpy())) / self.cfg.unit_mm)[:, None]
            # Full band: the person's skin cancels exactly in the corpus's change, so nothing needs
            # blurring away, and a wrinkle one texel wide keeps its whole depth in the loss.
            change = x - neutral
            res = (x_m - out[2 * b :]) - change
            loss = loss + s.expression * l1_l2(res)
            # ... and relative to the size of each map's change: forehead lines are ~2% of a smile's
            # squared change, so on their own they hardly move Adam's steps; per map, a brow raise
            # missed counts as much as a smile missed.
            size = change.pow(2).sum(dim=(1, 2, 3)) + REL_FLOOR
            loss = loss + s.expression_rel * (res.pow(2).sum(dim=(1, 2, 3)) / size).mean()
        adv_g = torch.zeros(())
        if use_adv:
            for p in self.disc.parameters():
                p.requires_grad_(False)
            with self.autocast():
                adv_g = F.softplus(-self.disc(both).float()).mean()
            loss = loss + s.adv * adv_g
            for p in self.disc.parameters():
                p.requires_grad_(True)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], s.clip)
        self.opt.step()

        d_loss = torch.zeros(())
        if use_adv:
            real = x.detach().requires_grad_(self.state.step % 4 == 0)
            fake = torch.cat([both.detach()[: len(ids) // 2], both.detach()[len(ids) + len(ids) // 2 :]])
            with self.autocast():
                d_real = self.disc(real).float()
                d_fake = self.disc(fake).float()
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            if real.requires_grad:
                (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
                d_loss = d_loss + s.r1 * 0.5 * grad.float().pow(2).sum(dim=(1, 2, 3)).mean() * 4
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()  # type: ignore[no-untyped-call]
            self.opt_d.step()
        return {
            "loss": float(loss.detach()),
            "rec_e": float(rec_e.detach()),
            "rec_m": float(rec_m.detach()),
            "latent": float(lat.detach()),
            "distill": float(distill.detach()),
            "adv_g": float(adv_g.detach()),
            "d": float(d_loss.detach()),
        }

    def autocast(self) -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.settings.bf16)

    # --- evaluation ------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        m = self.model.eval()
        out: dict[str, float] = {}
        maps = self.val_maps
        noise = self.noise(self.val_ids)
        code = identity_code(self.val_ids)
        pred_e = m.decode(m.encode(maps), noise)
        pred_m = m.decode(m.ws(code, torch.from_numpy(self.val_expr)), noise)
        for name, pred in (("enc", pred_e), ("map", pred_m)):
            out.update({f"{name}_{k}": v for k, v in map_errors(pred, maps, self.skin).items()})
        m.train()
        return out

    def lr_factor(self) -> float:
        s = self.settings
        progress = max(
            self.state.step / max(s.steps, 1), self.state.elapsed / 60.0 / max(s.max_minutes, 1e-6)
        )
        warm = min(1.0, (self.state.step + 1) / 100)
        return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    # --- files -----------------------------------------------------------------------------------

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / "ckpt.pt"

    def save_checkpoint(self) -> None:
        from ..io.atomic import atomic_path

        self.out_dir.mkdir(parents=True, exist_ok=True)
        blob = {
            "config": self.cfg.as_dict(),
            "settings": asdict(self.settings),
            "model": self.model.state_dict(),
            "disc": self.disc.state_dict(),
            "opt": self.opt.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "state": asdict(self.state),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(blob, tmp)

    def load_checkpoint(self) -> bool:
        if not self.ckpt_path.is_file():
            return False
        blob = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        if DNPMConfig.from_dict(blob["config"]) != self.cfg:
            raise ValueError(f"{self.ckpt_path} was trained with another config; use another --out")
        self.model.load_state_dict(blob["model"])
        self.disc.load_state_dict(blob["disc"])
        self.opt.load_state_dict(blob["opt"])
        self.opt_d.load_state_dict(blob["opt_d"])
        self.state = TrainState(**blob["state"])
        self.rng.bit_generator.state = blob["rng"]
        torch.set_rng_state(blob["torch_rng"])
        return True

    def sample_sheet(self, path: Path, count: int = 4) -> Path:
        """Target | encoder | mapping for ``count`` validation maps, as an 8-bit PNG (+-0.6 mm window)."""
        from PIL import Image

        m = self.model.eval()
        with torch.no_grad():
            maps = self.val_maps[:count]
            ids = self.val_ids[:count]
            noise = self.noise(ids)
            enc = m.decode(m.encode(maps), noise)
            mapped = m.decode(m.ws(identity_code(ids), torch.from_numpy(self.val_expr[:count])), noise)
        m.train()
        rows = [torch.cat([a, b, c], 1) for a, b, c in zip(maps, enc, mapped, strict=False)]
        grid = torch.cat(rows, 0).numpy()
        pixels = np.clip(128 + grid / 0.6 * 127, 0, 255).astype(np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        return path

    # --- the loop --------------------------------------------------------------------------------

    def run(self, log: Callable[[str], None] = print) -> TrainState:
        s = self.settings
        torch.set_num_threads(s.threads)
        if self.state.step == 0 and self.cfg.basis:  # a fresh run (a resumed one has its basis)
            self.init_basis()
        start = time.perf_counter() - self.state.elapsed
        running: dict[str, float] = {}
        while self.state.step < s.steps and self.state.elapsed < s.max_minutes * 60:
            f = self.lr_factor()
            for group in self.opt.param_groups:
                group["lr"] = s.lr * f * group.get("lr_scale", 1.0)
            for group in self.opt_d.param_groups:
                group["lr"] = s.lr_d * f
            stats = self.step()
            self.state.step += 1
            self.state.elapsed = time.perf_counter() - start
            for k, v in stats.items():
                running[k] = 0.9 * running.get(k, v) + 0.1 * v
            if self.state.step % s.eval_every == 0 or self.state.step == s.steps:
                ev = self.evaluate()
                row = {"step": float(self.state.step), "minutes": self.state.elapsed / 60, **running, **ev}
                self.state.history.append(row)
                log(
                    f"step {self.state.step} {self.state.elapsed / 60:.1f} min loss {running['loss']:.4f} "
                    f"enc {ev['enc_mae']:.4f} mm ({ev['enc_psnr']:.1f} dB) "
                    f"map {ev['map_mae']:.4f} mm ({ev['map_psnr']:.1f} dB) d {running['d']:.3f}"
                )
            if self.state.step % s.sample_every == 0:
                self.sample_sheet(self.out_dir / "samples" / f"step_{self.state.step:06d}.png")
            if self.state.step % s.ckpt_every == 0:
                self.save_checkpoint()
        self.save_checkpoint()
        (self.out_dir / "history.json").write_text(json.dumps(self.state.history, indent=1))
        return self.state


PSNR_PEAK_MM = 8.0  # the 16-bit PNG's range (furrow.details.png.DEFAULT_SCALE_MM)


def map_errors(pred: torch.Tensor, target: torch.Tensor, skin: torch.Tensor) -> dict[str, float]:
    """Mean absolute error (mm) and PSNR (dB, peak = the PNG range) over skin, full band and low-pass."""
    mask = skin.expand_as(target)
    err = (pred - target)[mask]
    lp = (low_pass(pred[:, None]) - low_pass(target[:, None]))[:, 0][mask]
    rmse = float(err.pow(2).mean().sqrt())
    rmse_lp = float(lp.pow(2).mean().sqrt())
    return {
        "mae": float(err.abs().mean()),
        "psnr": 20 * math.log10(PSNR_PEAK_MM / max(rmse, 1e-9)),
        "mae_lp": float(lp.abs().mean()),
        "psnr_lp": 20 * math.log10(PSNR_PEAK_MM / max(rmse_lp, 1e-9)),
    }
