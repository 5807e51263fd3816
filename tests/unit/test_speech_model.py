"""The speech model: features, output shape/range at any fps, chunking, silence, committed weights."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from furrow.heads.arkit import ARKIT_INDEX  # noqa: E402
from furrow.speech import features as feat  # noqa: E402
from furrow.speech.model import (  # noqa: E402
    WEIGHTS_PATH,
    SpeechModel,
    SpeechModelError,
    SpeechNet,
    frames_to_fps,
    grow_net,
    load_default_model,
    speech_channels,
)

FPS = (24.0, 25.0, 30.0, 60.0, 23.976, 29.97)


@pytest.fixture(scope="module")
def model() -> Iterator[SpeechModel]:
    # One intra-op thread: the same results, and several times faster on a busy CI CPU.
    m = load_default_model()
    before = m.threads
    m.threads = 1
    yield m
    m.threads = before


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * feat.SAMPLE_RATE)
    t = np.arange(n) / feat.SAMPLE_RATE
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 3.7 * t)) * (np.sin(2 * np.pi * 0.13 * t) > -0.4)
    x = 0.05 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 130 * t)
    return (x * env).astype(np.float32)


def test_features_rate_and_gain_invariance(model: SpeechModel) -> None:
    fb = model.filterbank  # librosa's, stored with the weights (no librosa import needed)
    assert fb.shape == (feat.N_MELS, feat.N_FFT // 2 + 1)
    x = _speechlike(2.0) + 0.01 * np.random.default_rng(1).standard_normal(32000).astype(np.float32)
    f = feat.features(x, fb)
    assert f.shape == (200, feat.N_MELS)
    assert feat.features(x[:16001], fb).shape[0] == 101  # ceil(N / 160)
    g = feat.features(x * 0.05, fb)  # -26 dB
    assert np.abs(f - g).max() < 1e-3
    assert feat.features(np.zeros(0, np.float32), fb).shape == (0, feat.N_MELS)


def test_frames_to_fps_is_centre_aligned() -> None:
    ramp = ((np.arange(100) + 0.5) / 100.0).astype(np.float32)[:, None]  # value = time of the frame
    out = frames_to_fps(ramp, 16000, 25.0)
    assert out.shape == (25, 1)
    np.testing.assert_allclose(out[:, 0], (np.arange(25) + 0.5) / 25.0, atol=1e-5)


def _mouth_track(n: int, closed: list[tuple[int, int]]) -> np.ndarray:
    """(n, 52) at 100 Hz: an open jaw, with the lips shut (jaw up, mouthClose on) over ``closed``."""
    w = np.zeros((n, 52), np.float32)
    w[:, ARKIT_INDEX["jawOpen"]] = 0.3
    for a, b in closed:
        w[a:b, ARKIT_INDEX["jawOpen"]] = 0.08
        w[a:b, ARKIT_INDEX["mouthClose"]] = 0.1
    return w


def test_keep_closures_shows_a_closure_that_falls_between_frames() -> None:
    from furrow.curves import Curves
    from furrow.speech.visemes import is_closed, keep_closures

    # lips shut 440-470 ms at 100 Hz, between the 24 fps centres at 437.5 and 479 ms; a 10 ms blip at 700 ms
    full = _mouth_track(100, [(44, 47), (70, 71)])
    assert is_closed(full).sum() == 4
    n = 24
    centres = (np.arange(n) + 0.5) / 24.0
    sampled = frames_to_fps(full, 16000, 24.0)
    assert not is_closed(sampled).any()  # plain sampling loses the "M"
    kept = keep_closures(sampled, full, 100.0, 24.0)
    shut = np.flatnonzero(is_closed(kept))
    # the two frames whose intervals [417, 458) and [458, 500) ms hold the closure, each with
    # the most closed 100 Hz frame of its interval
    assert shut.tolist() == [10, 11]
    assert abs(centres[10] - 0.4375) < 1e-9
    np.testing.assert_array_equal(kept[10], full[44])
    np.testing.assert_array_equal(kept[11], full[46])
    # the 10 ms blip (shorter than any real bilabial) is not promoted; every other frame is untouched
    mask = np.ones(n, bool)
    mask[shut] = False
    np.testing.assert_array_equal(kept[mask], sampled[mask])
    # a long closure (400-500 ms): frames 9-11 hold part of it and show it, no other frame changes
    long = _mouth_track(100, [(40, 50)])
    sampled = frames_to_fps(long, 16000, 24.0)
    kept = keep_closures(sampled, long, 100.0, 24.0)
    assert np.flatnonzero(is_closed(kept)).tolist() == [9, 10, 11]
    np.testing.assert_array_equal(np.delete(kept, [9], axis=0), np.delete(sampled, [9], axis=0))
    # at 100 fps and above every frame is already shown
    np.testing.assert_array_equal(keep_closures(full, full, 100.0, 100.0), full)
    # Curves.resample follows the same rule going down in rate (a 100 fps capture keyed at 24 fps)
    down = Curves(100.0, full).resample(24.0)
    assert np.flatnonzero(is_closed(down.weights)).tolist() == [10, 11]
    open_24 = frames_to_fps(full, 16000, 24.0)
    assert not is_closed(Curves(24.0, open_24).resample(100.0).weights).any()  # nothing to add going up


@pytest.mark.parametrize("fps", FPS)
def test_shape_and_range_at_any_fps(model: SpeechModel, fps: float) -> None:
    x = _speechlike(3.3)
    curves = model.predict(x, fps)
    assert curves.fps == fps
    assert curves.n_frames == round(3.3 * fps)
    assert curves.weights.shape == (round(3.3 * fps), 52)
    assert float(curves.weights.min()) >= 0.0 and float(curves.weights.max()) <= 1.0
    others = [i for n, i in ARKIT_INDEX.items() if n not in model.channels]
    assert not curves.weights[:, others].any()


def test_chunked_equals_unchunked(model: SpeechModel) -> None:
    x = _speechlike(70.0, seed=3)
    f = model.features(x)
    whole = model.frames(f, window=10**9)
    chunked = model.frames(f, window=1000)  # 10 s windows with 1 s context each side
    assert whole.shape == chunked.shape == (7000, len(model.channels))
    assert np.abs(whole - chunked).max() < 1e-4


def test_single_thread_gives_the_same_curves(model: SpeechModel) -> None:
    x = _speechlike(2.0, seed=5)
    before = torch.get_num_threads()
    model.threads = None
    try:
        default = model.predict(x, 30.0).weights
    finally:
        model.threads = 1
    one = model.predict(x, 30.0).weights
    assert torch.get_num_threads() == before
    assert np.abs(default - one).max() < 1e-4


def test_silence_is_near_neutral(model: SpeechModel) -> None:
    for audio in (np.zeros(3 * 16000, np.float32), 1e-4 * np.random.default_rng(0).standard_normal(48000)):
        w = model.predict(audio.astype(np.float32), 25.0).weights
        assert float(w.max()) < 0.15, float(w.max())


def test_short_and_empty_audio(model: SpeechModel) -> None:
    assert model.predict(np.zeros(0, np.float32), 30.0).n_frames == 1
    assert model.predict(np.zeros(100, np.float32), 30.0).n_frames == 1


def test_missing_weights_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechModelError, match="missing"):
        SpeechModel.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(SpeechModelError, match=r"bad\.pt"):
        SpeechModel.load(bad)


def test_save_load_round_trip(model: SpeechModel, tmp_path: Path) -> None:
    torch.manual_seed(0)
    channels = speech_channels()
    net = SpeechNet(n_channels=len(channels), width=16, dilations=(1, 2))
    m = SpeechModel(net, channels, model.filterbank)
    m.save(tmp_path / "m.pt")
    m2 = SpeechModel.load(tmp_path / "m.pt")
    x = _speechlike(1.0)
    assert np.abs(m.predict(x, 30).weights - m2.predict(x, 30).weights).max() < 5e-3  # float16 storage


def test_committed_weights(model: SpeechModel) -> None:
    assert WEIGHTS_PATH.is_file()
    assert WEIGHTS_PATH.stat().st_size < 20e6
    assert model.channels == speech_channels()
    assert load_default_model() is model  # cached per process


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_mouth_opens_on_vowels_not_in_silence(model: SpeechModel, tmp_path: Path) -> None:
    from furrow.speech.audio import load_audio

    wav = tmp_path / "aa.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(wav), "Ah, father saw a large dark car on the farm."],
        check=True,
        capture_output=True,
    )
    speech = load_audio(wav).samples
    silence = np.zeros_like(speech)
    jaw = ARKIT_INDEX["jawOpen"]
    open_speech = model.predict(speech, 30.0).weights[:, jaw]
    open_silence = model.predict(silence, 30.0).weights[:, jaw]
    assert float(np.percentile(open_speech, 90)) > 0.2
    assert float(open_speech.mean()) > float(open_silence.mean()) + 0.1


def test_grown_net_starts_as_the_trained_one_and_can_learn(model: SpeechModel) -> None:
    """Wider and deeper from the committed weights: the same curves at first, and a training step
    reaches the new channels and blocks (their gradients are not zero)."""
    width = model.net.config["width"]
    big = grow_net(model.net, width + 32, [*model.net.config["dilations"], 2, 1])
    x = torch.from_numpy(model.features(_speechlike(2.0))).T[None]
    with torch.no_grad():
        torch.testing.assert_close(big(x)[0], model.net(x)[0], atol=1e-5, rtol=0)
    w, p = big(x)
    (w.sum() + p.sum()).backward()
    assert float(big.blocks[0].conv.weight.grad[:width, width:].abs().sum()) > 0  # old <- new channels
    assert float(big.blocks[-1].mix.weight.grad.abs().sum()) > 0  # the new block
    assert float(big.weights_head.weight.grad[:, width:].abs().sum()) > 0
    with pytest.raises(ValueError):
        grow_net(model.net, width - 32, model.net.config["dilations"])


def test_chunks_stay_exact_for_a_net_that_sees_past_the_default_context(model: SpeechModel) -> None:
    """A grown net whose receptive field (+-176 frames) exceeds the 1 s context: 3 s windows
    still give the whole-signal result (the context widens to the receptive field)."""
    big = grow_net(model.net, model.net.config["width"], [*model.net.config["dilations"], 64, 64])
    with torch.no_grad():
        for block in big.blocks[-2:]:  # make the new blocks do something
            block.mix.weight.normal_(0.0, 0.05)
    grown = SpeechModel(big, model.channels, model.filterbank)
    grown.threads = 1
    assert big.receptive_radius > 100
    feats = grown.features(_speechlike(8.0))
    np.testing.assert_allclose(grown.frames(feats, window=300), grown.frames(feats, window=10_000), atol=1e-5)
