"""The speech network: log-mel at 100 Hz -> per-frame ARKit weights for the speech channels.

Architecture (``SpeechNet``): a symmetric dilated temporal conv net. A 3-tap
input conv (80 mels -> C), then residual blocks, each a 3-tap dilated conv
(dilations 1, 2, 4, 8, 16, 1 by default; the shipped model has C = 192 and
dilations 1, 2, 4, 8, 16, 1, 2, 4, 8, 1), GELU and a 1x1 conv; the receptive
field is +-(1 + sum of dilations) frames (+-480 ms for the shipped model),
centred, so the mouth may anticipate upcoming phones (offline animation can look
ahead). Two 1x1 heads: sigmoid weights for
SPEECH_CHANNELS, and phone logits (Furrow's ARPAbet set) used only as an
auxiliary training loss. No normalisation layer looks across time, so the
output at a frame depends only on the features inside its receptive field and
chunked inference equals whole-signal inference.

Inference (``SpeechModel.predict``): features over the whole signal (blocked
STFT, one gain reference per recording), the network over 30 s windows with 1 s
of context on each side (more than the receptive field, so the stitch is exact),
then linear interpolation from the 100 Hz frame centres to the frame centres of
any fps, keeping every lip closure of the 100 Hz output on a frame (``keep_closures``). The weights file
also stores the mel filterbank the network was trained with, so inference needs
no librosa.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ..curves import Curves
from ..heads.arkit import ARKIT_INDEX, ARKIT_NAMES
from . import features as feat
from .phones import PHONES
from .visemes import keep_closures

# The network's closed runs shorter than this are not promoted onto a frame (``keep_closures``;
# its default, 30 ms, is for curves in general). Chosen on the adaptation recordings (never
# scored) as the value with the most closures found while at least 80% of the closures shown are
# right, the precision goal: for speech_v8 every closed 100 Hz frame (10 ms: recall
# 0.949, precision 0.815 there; 20 ms: 0.938 / 0.838; 30 ms: 0.938 / 0.845).
MIN_CLOSURE_S = 0.01

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "speech_v8.pt"
FORMAT = "furrow-speech-v1"
WINDOW_FRAMES = 3000  # 30 s per network window
CONTEXT_FRAMES = 100  # 1 s of context on each side (at least the net's receptive field: +-48 for speech_v8)

# The channels the network predicts when furrow.speech.visemes does not say otherwise.
DEFAULT_SPEECH_CHANNELS: tuple[str, ...] = (
    "jawOpen",
    "mouthClose",
    "mouthPucker",
    "mouthFunnel",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "tongueOut",
    "cheekPuff",
)

FloatArray = npt.NDArray[np.float32]


def _env_threads() -> Optional[int]:
    value = os.environ.get("FURROW_SPEECH_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


@contextmanager
def _torch_threads(n: Optional[int]) -> Iterator[None]:
    """Run with n intra-op threads (None: leave torch's setting), restoring it afterwards."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SpeechModelError(FileNotFoundError):
    """The speech model's weights are missing or not a Furrow speech model; the message says which."""


def speech_channels() -> tuple[str, ...]:
    """SPEECH_CHANNELS from furrow.speech.visemes, or the default list while it is not there."""
    try:
        from .visemes import SPEECH_CHANNELS
    except ImportError:
        return DEFAULT_SPEECH_CHANNELS
    return tuple(SPEECH_CHANNELS)


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.act = nn.GELU()
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.mix(self.act(self.conv(x)))
        return x + y


class SpeechNet(nn.Module):
    """(B, n_mels, T) features -> ((B, n_channels, T) weights in [0, 1], (B, n_phones, T) logits)."""

    def __init__(
        self,
        n_mels: int = feat.N_MELS,
        n_channels: int = len(DEFAULT_SPEECH_CHANNELS),
        n_phones: int = len(PHONES),
        width: int = 128,
        dilations: Sequence[int] = (1, 2, 4, 8, 16, 1),
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "n_mels": n_mels,
            "n_channels": n_channels,
            "n_phones": n_phones,
            "width": width,
            "dilations": list(dilations),
        }
        self.inp = nn.Conv1d(n_mels, width, 3, padding=1)
        self.blocks = nn.ModuleList([_Block(width, d) for d in dilations])
        self.act = nn.GELU()
        self.weights_head = nn.Conv1d(width, n_channels, 1)
        self.phone_head = nn.Conv1d(width, n_phones, 1)

    @property
    def receptive_radius(self) -> int:
        """Frames of context on each side that reach an output frame."""
        return 1 + sum(int(d) for d in self.config["dilations"])

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.inp(x)
        for block in self.blocks:
            h = block(h)
        out: torch.Tensor = self.act(h)
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return torch.sigmoid(self.weights_head(h)), self.phone_head(h)

    def weights_only(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.weights_head(self.trunk(x)))


def grow_net(net: SpeechNet, width: int, dilations: Sequence[int], seed: int = 0) -> SpeechNet:
    """A wider/deeper ``SpeechNet`` that computes exactly what ``net`` computes, to train on from there.

    Capacity can then be added to a trained model without starting over (a from-scratch run
    of a bigger net costs hours on the 2-core CPU). New channels get small random weights
    into them and zero weights out of them into the old channels and heads, so the old
    function is kept but gradients reach every new weight; new residual blocks (the old
    dilations must be a prefix of the new ones) start as identities (zero output conv).
    """
    cfg = net.config
    old_w, old_d = int(cfg["width"]), [int(d) for d in cfg["dilations"]]
    if width < old_w or list(dilations[: len(old_d)]) != old_d:
        raise ValueError(f"cannot grow width {old_w} {old_d} into width {width} {list(dilations)}")
    big = SpeechNet(int(cfg["n_mels"]), int(cfg["n_channels"]), int(cfg["n_phones"]), width, dilations)
    gen = torch.Generator().manual_seed(seed)
    old = net.state_dict()
    state = big.state_dict()
    with torch.no_grad():
        for key, dst in state.items():
            src = old.get(key)
            if src is None:  # a new block: its output conv starts at zero, so the block is an identity
                if key.startswith("blocks.") and ".mix." in key:
                    dst.zero_()
                continue
            if key.startswith(("weights_head.", "phone_head.")):
                dst.zero_()  # the heads do not read the new channels yet
            else:  # new channels: small random weights (a tenth of the fresh init's spread)
                dst.copy_(torch.randn(dst.shape, generator=gen) * dst.std().clamp_min(1e-3) * 0.1)
                if dst.dim() >= 2:
                    dst[: src.shape[0], src.shape[1] :] = 0.0  # new inputs do not reach old outputs
            dst[tuple(slice(0, n) for n in src.shape)] = src
    big.load_state_dict(state)
    return big


def frames_to_fps(weights_100: FloatArray, n_samples: int, fps: float) -> FloatArray:
    """Interpolate (T100, K) frames at centres (i + 0.5) / 100 s to round(duration * fps) frame centres."""
    n_out = max(1, round(n_samples / feat.SAMPLE_RATE * fps))
    if weights_100.shape[0] == 0:
        return np.zeros((n_out, weights_100.shape[1]), dtype=np.float32)
    src = (np.arange(weights_100.shape[0]) + 0.5) / feat.FEATURE_RATE
    dst = (np.arange(n_out) + 0.5) / fps
    # Index arithmetic once for all channels (np.interp per channel is slower for many channels).
    pos = np.clip(np.interp(dst, src, np.arange(len(src), dtype=np.float64)), 0, len(src) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(src) - 1)
    frac = (pos - lo).astype(np.float32)[:, None]
    out: FloatArray = (weights_100[lo] * (1.0 - frac) + weights_100[hi] * frac).astype(np.float32)
    return out


class SpeechModel:
    """A loaded speech network plus what inference needs (channel names, mel filterbank)."""

    def __init__(self, net: SpeechNet, channels: Sequence[str], filterbank: FloatArray) -> None:
        unknown = [c for c in channels if c not in ARKIT_INDEX]
        if unknown:
            raise ValueError(f"speech model channels are not ARKit names: {unknown}")
        if len(channels) != net.config["n_channels"]:
            raise ValueError("speech model: channel list and network output size differ")
        self.net = net.eval()
        self.channels = tuple(channels)
        self.filterbank = np.ascontiguousarray(filterbank, dtype=np.float32)
        self._columns = np.array([ARKIT_INDEX[c] for c in self.channels], dtype=np.int64)
        # Intra-op threads for inference; None = torch's default. On a CPU that other processes
        # keep busy, 1 thread is several times faster than 2 (threads wait on each other at every
        # layer), so a caller that knows the machine is shared may set it (or FURROW_SPEECH_THREADS).
        self.threads: Optional[int] = _env_threads()

    # --- persistence --------------------------------------------------------------

    def state(self, extra: Optional[dict[str, Any]] = None, half: bool = True) -> dict[str, Any]:
        sd = {
            k: (v.half() if half and v.is_floating_point() else v) for k, v in self.net.state_dict().items()
        }
        return {
            "format": FORMAT,
            "config": dict(self.net.config),
            "channels": list(self.channels),
            "phones": list(PHONES),
            "filterbank": torch.from_numpy(self.filterbank),
            "state_dict": sd,
            "features": {
                "sample_rate": feat.SAMPLE_RATE,
                "hop": feat.HOP,
                "win": feat.WIN,
                "n_fft": feat.N_FFT,
                "ref_percentile": feat.REF_PERCENTILE,
                "ref_floor": feat.REF_FLOOR,
                "scale": feat.SCALE,
            },
            **(extra or {}),
        }

    def save(self, path: Path, extra: Optional[dict[str, Any]] = None) -> None:
        from ..io.atomic import atomic_path

        with atomic_path(Path(path)) as tmp:
            torch.save(self.state(extra), str(tmp))

    @classmethod
    def load(cls, path: Path) -> SpeechModel:
        path = Path(path)
        if not path.is_file():
            raise SpeechModelError(
                f"{path}: the speech model's weights are missing (train them with scripts/train_speech)"
            )
        try:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise SpeechModelError(f"{path}: not readable as a Furrow speech model ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SpeechModelError(f"{path}: not a Furrow speech model (format {FORMAT!r} expected)")
        cfg = data["config"]
        net = SpeechNet(
            n_mels=int(cfg["n_mels"]),
            n_channels=int(cfg["n_channels"]),
            n_phones=int(cfg["n_phones"]),
            width=int(cfg["width"]),
            dilations=[int(d) for d in cfg["dilations"]],
        )
        net.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
        fb = data["filterbank"].float().numpy()
        return cls(net, [str(c) for c in data["channels"]], fb)

    # --- inference ----------------------------------------------------------------

    def features(self, audio: npt.ArrayLike) -> FloatArray:
        return feat.features(audio, self.filterbank)

    def frames(
        self, feats: FloatArray, window: int = WINDOW_FRAMES, context: int = CONTEXT_FRAMES
    ) -> FloatArray:
        """(T, n_channels) weights at 100 Hz from (T, n_mels) features, in overlapping windows
        (exactly the whole-signal result: the context covers the receptive field, however grown)."""
        context = max(context, self.net.receptive_radius)
        n = feats.shape[0]
        out = np.zeros((n, len(self.channels)), dtype=np.float32)
        if n == 0:
            return out
        x_all = torch.from_numpy(np.ascontiguousarray(feats.T))
        with torch.inference_mode(), _torch_threads(self.threads):
            for s in range(0, n, window):
                e = min(n, s + window)
                a, b = max(0, s - context), min(n, e + context)
                y = self.net.weights_only(x_all[None, :, a:b])[0]  # (K, b - a)
                out[s:e] = y[:, s - a : e - a].T.numpy()
        return out

    def predict(self, audio: npt.ArrayLike, fps: float, *, window: int = WINDOW_FRAMES) -> Curves:
        """ARKit curves (speech channels filled, the rest 0) for mono 16 kHz audio at ``fps``."""
        if not (fps > 0 and np.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps}")
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        with _torch_threads(self.threads):
            frames_100 = self.frames(self.features(samples), window=window)
        return Curves(float(fps), self.to_fps(frames_100, samples.size, fps))

    def to_fps(self, frames_100: FloatArray, n_samples: int, fps: float) -> FloatArray:
        """(n, 52) ARKit weights at ``fps`` from the network's (T, n_channels) 100 Hz frames:
        sampled at frame centres, with every lip closure of the 100 Hz output kept on a frame
        (``visemes.keep_closures``)."""
        sub = frames_to_fps(frames_100, n_samples, fps)
        weights = np.zeros((sub.shape[0], len(ARKIT_NAMES)), dtype=np.float32)
        weights[:, self._columns] = sub
        full_100 = np.zeros((frames_100.shape[0], len(ARKIT_NAMES)), dtype=np.float32)
        full_100[:, self._columns] = frames_100
        return keep_closures(weights, full_100, feat.FEATURE_RATE, fps, MIN_CLOSURE_S)


_CACHE: dict[str, SpeechModel] = {}
_LOCK = threading.Lock()


def load_default_model(path: Optional[Path] = None) -> SpeechModel:
    """The committed speech model (furrow/weights/speech_v8.pt), loaded once per process."""
    target = Path(path) if path is not None else WEIGHTS_PATH
    key = str(target.resolve())
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = SpeechModel.load(target)
            _CACHE[key] = model
        return model
