"""Identity slider values: random draws and ``NAME=VALUE,...`` text (CLI and the add-on share these)."""

from __future__ import annotations

import math
import re

import numpy as np

from .model import FloatArray, HeadModel

SLIDER_LIMIT = 1.0
RANDOM_SCALE = 0.3  # std of a slider draw: varied, ordinary faces (checked by rendering the default head)
ASYMMETRY = 0.2  # a left/right pair differs by this fraction of RANDOM_SCALE
LATERAL_DAMPING = 0.25  # sliders that slide features sideways (nose_shift) move this much less
LATERAL_THRESHOLD = 0.5

_SIDES = {"l": "r", "r": "l", "left": "right", "right": "left"}
_SEPARATORS = re.compile(r"([_\-.\s]+|(?<=[a-z])(?=[A-Z]))")


def mirror_slider_name(name: str) -> str | None:
    """The name of a slider's left/right counterpart (``eye_l_size`` <-> ``eye_r_size``), or None."""
    tokens = _SEPARATORS.split(name)
    changed = False
    for i, token in enumerate(tokens):
        other = _SIDES.get(token.lower())
        if other is None:
            continue
        tokens[i] = other.upper() if token.isupper() else other.title() if token.istitle() else other
        changed = True
    return "".join(tokens) if changed else None


def mirror_pairs(names: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of sliders that are each other's mirror image by name."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        other = mirror_slider_name(name)
        j = index.get(other) if other is not None else None
        if j is not None and i < j:
            pairs.append((i, j))
    return pairs


def lateral_shift(model: HeadModel) -> FloatArray:
    """Per slider, in [0, 1]: how much of its motion is one sideways slide (1 for ``nose_shift``).

    A mirror-symmetric change moves the two halves of the face in opposite x
    directions, so its x motion sums to about zero; a slide to one side does not.
    """
    out = np.zeros(len(model.identity_names), np.float32)
    for basis in (model.identity_pos, model.identity_neg):
        total = np.abs(basis).sum(axis=(1, 2))
        net_x = np.abs(basis[:, :, 0].sum(axis=1))
        out = np.maximum(out, np.where(total > 0, net_x / np.maximum(total, 1e-30), 0.0))
    return out


def random_identity(
    model: HeadModel, rng: np.random.Generator, scale: float = RANDOM_SCALE, limit: float = SLIDER_LIMIT
) -> FloatArray:
    """A plausible random person: sliders from a normal of std ``scale``, clipped to ±``limit``.

    Most sliders land near zero and a few go further, which reads as a varied
    but ordinary face (a uniform draw pushes many sliders at once to their
    extremes: a caricature). Faces are nearly symmetric: a left/right pair of
    sliders (by name) shares one draw plus a small difference, and sliders that
    slide a feature sideways are damped. The same ``rng`` state gives the same face.
    """
    k = len(model.identity_names)
    common = rng.normal(0.0, scale, size=k)
    jitter = rng.normal(0.0, scale * ASYMMETRY, size=k)
    values = common.copy()
    paired = np.zeros(k, bool)
    for i, j in mirror_pairs(model.identity_names):
        values[i] = common[i] + jitter[i]
        values[j] = common[i] + jitter[j]
        paired[[i, j]] = True
    sideways = ~paired & (lateral_shift(model) > LATERAL_THRESHOLD)  # one side of a pair always "slides"
    values = np.where(sideways, values * LATERAL_DAMPING, values)
    result: FloatArray = np.clip(values, -limit, limit).astype(np.float32)
    return result


def parse_identity(model: HeadModel, text: str, limit: float = SLIDER_LIMIT) -> FloatArray:
    """``"nose_length=0.4, head_size=-0.2"`` -> the (K,) slider vector; sliders not named are 0.

    Raises ValueError with one line that says what is wrong and what is allowed.
    """
    values: dict[str, float] = {}
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError("no identity sliders given; write NAME=VALUE,... or 'random'")
    for item in items:
        if not item:
            continue
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            raise ValueError(f"identity item {item!r} is not NAME=VALUE")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"identity slider {name!r}: {raw!r} is not a number") from None
        if not math.isfinite(value) or abs(value) > limit:
            raise ValueError(f"identity slider {name!r}: {raw} is outside [-{limit:g}, {limit:g}]")
        if name in values:
            raise ValueError(f"identity slider {name!r} is given twice")
        values[name] = value
    return model.identity_vector(values)
