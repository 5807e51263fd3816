"""DNPM networks and the Detailed3DMM training step: shapes, the modulated conv's maths, learning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from furrow.details.detailed3dmm import ID_DIM, Detailed3DMM, identity_code
from furrow.details.dnpm import (
    CONFIGS,
    Discriminator,
    DNPMConfig,
    Encoder,
    Generator,
    ModulatedConv,
    large_config,
    small_config,
)
from furrow.details.procedural import LAYOUT_VARIANTS, DetailIdentity
from furrow.details.training import Trainer, TrainSettings, random_expressions
from furrow.heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from furrow.heads.default import load_default_head


def tiny(resolution: int = 32) -> DNPMConfig:
    levels = [8 * 2**i for i in range(int(math.log2(resolution // 8)) + 1)]
    return DNPMConfig(
        resolution=resolution,
        w_dim=16,
        z_dim=16,
        channels={r: 16 for r in levels},
        encoder_channels={r: 8 for r in levels},
        disc_channels={r: 8 for r in levels},
    )


def test_generator_encoder_discriminator_shapes() -> None:
    cfg = tiny(32)
    assert cfg.levels == [8, 16, 32]
    assert cfg.num_ws == 1 + 2 * 2 + 3 + 1  # convs + output layers + the texel basis
    g, e, d = Generator(cfg), Encoder(cfg), Discriminator(cfg)
    ws = torch.randn(3, cfg.num_ws, cfg.w_dim)
    noise = g.make_noise(seed=5, batch=3)
    assert [n.shape[-1] for n in noise] == g.noise_shapes() == [8, 16, 16, 32, 32]
    out = g(ws, noise)
    assert out.shape == (3, 1, 32, 32)
    assert e(out).shape == (3, cfg.num_ws, cfg.w_dim)
    assert d(out).shape == (3, 1)


def test_basis_style_mixes_full_resolution_maps() -> None:
    """The last style only scales the learned basis maps: changing it changes the map by exactly
    its coefficients times the basis, at full resolution."""
    cfg = tiny(32)
    g = Generator(cfg)
    with torch.no_grad():
        g.basis.normal_()
    ws = torch.randn(2, cfg.num_ws, cfg.w_dim)
    other = ws.clone()
    other[:, -1] += torch.randn(2, cfg.w_dim)
    noise = g.make_noise(seed=1, batch=2)
    with torch.no_grad():
        diff = g(other, noise) - g(ws, noise)
        expected = (g.basis_affine(other[:, -1]) - g.basis_affine(ws[:, -1])) @ g.basis
    assert torch.allclose(diff.view(2, -1), expected, atol=1e-4)
    assert diff.abs().max() > 0.1


def test_shipped_configs_have_the_documented_sizes() -> None:
    assert small_config().resolution == 256
    assert large_config(512).resolution == 512 and large_config(1024).levels[-1] == 1024
    assert set(CONFIGS) == {"small", "large512", "large1024"}
    assert DNPMConfig.from_dict(small_config().as_dict()) == small_config()
    with pytest.raises(ValueError):
        DNPMConfig(resolution=300)


def test_modulated_conv_equals_modulating_the_weights() -> None:
    """Activation-side modulation must be StyleGAN2's weight modulation + demodulation."""
    torch.manual_seed(0)
    conv = ModulatedConv(6, 5, w_dim=4)
    torch.nn.init.normal_(conv.affine.weight)
    x, w = torch.randn(2, 6, 9, 9), torch.randn(2, 4)
    fast = conv(x, w)
    s = conv.affine(w)
    ref = []
    for i in range(2):
        weight = conv.weight * conv.scale * s[i][None, :, None, None]
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        ref.append(F.conv2d(x[i : i + 1], weight, padding=1))
    assert torch.allclose(fast, torch.cat(ref), atol=1e-4)


def test_noise_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    g = Generator(tiny(32))
    a, b, c = g.make_noise(3), g.make_noise(3), g.make_noise(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=False))
    assert not torch.equal(a[-1], c[-1])


def test_identity_code_holds_the_controls_and_the_layout() -> None:
    code = identity_code([DetailIdentity(age=70, seed=6), DetailIdentity(age=30, seed=7)])
    assert code.shape == (2, ID_DIM)
    assert code[0, 0] > code[1, 0]  # older
    assert code[0, 5:].argmax() == 6 % LAYOUT_VARIANTS and code[1, 5:].argmax() == 7 % LAYOUT_VARIANTS


def test_random_expressions_are_plausible_mixes() -> None:
    w = random_expressions(400, np.random.default_rng(0))
    assert w.shape == (400, len(ARKIT_NAMES)) and w.min() >= 0 and w.max() <= 1
    assert (w.max(1) == 0).mean() > 0.03  # some neutral faces
    assert (w[:, ARKIT_INDEX["browInnerUp"]] > 0.5).mean() > 0.02


def test_save_and_load_keep_the_outputs(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = Detailed3DMM(tiny(32))
    torch.nn.init.normal_(model.mapping.expression[-1].weight, std=0.1)
    path = tmp_path / "m.pt"
    model.save(path, {"note": "test"})
    back = Detailed3DMM.load(path)
    assert back.meta == {"note": "test"}
    code, w = identity_code([DetailIdentity(seed=2)]), torch.rand(1, 52)
    noise = model.generator.make_noise(2)
    with torch.no_grad():
        a, b = model.decode(model.ws(code, w), noise), back.decode(back.ws(code, w), noise)
    assert torch.allclose(a, b, atol=0.01 * float(a.abs().max()) + 1e-4)  # float16 storage


def test_a_few_training_steps_lower_the_loss(tmp_path: Path) -> None:
    """Both paths (encoder and mapping) learn the corpus at 32 px; a checkpoint resumes the run."""
    settings = TrainSettings(steps=60, batch=8, lr=3e-3, adv_start=40, eval_every=1000, val_size=8, threads=1)
    trainer = Trainer(load_default_head(), tiny(32), settings, tmp_path)
    before = trainer.evaluate()
    trainer.run(log=lambda line: None)
    after = trainer.evaluate()
    assert after["enc_mae_lp"] < 0.8 * before["enc_mae_lp"]
    assert after["map_mae_lp"] < 0.8 * before["map_mae_lp"]
    assert (tmp_path / "ckpt.pt").is_file()
    again = Trainer(load_default_head(), tiny(32), settings, tmp_path)
    assert again.load_checkpoint() and again.state.step == 60
    assert again.evaluate()["enc_mae"] == pytest.approx(after["enc_mae"], rel=1e-5)


def test_the_basis_starts_spanning_the_corpus_expression_changes(tmp_path: Path) -> None:
    """A fresh run's texel basis holds what expressions do to a map: a new person's
    brow raise (never sampled for it) is almost all inside its span."""
    settings = TrainSettings(steps=0, batch=4, val_size=4, threads=1)
    trainer = Trainer(load_default_head(), tiny(32), settings, tmp_path)
    assert not trainer.model.generator.basis.any()
    trainer.run(log=lambda line: None)  # no steps: only the start of a run
    basis = trainer.model.generator.basis.detach()  # (C, R*R)
    person = [DetailIdentity(age=55, seed=10_000_321)]
    w = np.zeros((1, len(ARKIT_NAMES)), dtype=np.float32)
    for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"):
        w[0, ARKIT_INDEX[name]] = 0.8
    change = (trainer.corpus.maps(person, w) - trainer.corpus.maps(person, np.zeros_like(w))).view(-1)
    q, _ = torch.linalg.qr(basis.T)
    inside = q @ (q.T @ change)
    assert float(change.norm()) > 0
    assert float(inside.norm() / change.norm()) > 0.95
