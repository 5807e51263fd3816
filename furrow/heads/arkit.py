"""The ARKit face blendshapes: names and canonical order.

Apple's ARKit defines 52 coefficients (ARFaceAnchor.BlendShapeLocation),
tongueOut included; Live Link Face, Faceit-style rigs and mocap retargeting
address shape keys by exactly these names. The order is Apple's documented one
(eyes, jaw and mouth, brows, cheeks, nose, tongue); Live Link Face's CSV uses
its own column order, which furrow.io maps by name.
"""

from __future__ import annotations

ARKIT_NAMES: tuple[str, ...] = (
    # left eye
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    # right eye
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    # jaw and mouth
    "jawForward",
    "jawLeft",
    "jawRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    # brows
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    # cheeks
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    # nose
    "noseSneerLeft",
    "noseSneerRight",
    # tongue
    "tongueOut",
)

ARKIT_INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT_NAMES)}


def mirror_name(name: str) -> str:
    """The left/right counterpart of an ARKit name (itself for centre shapes)."""
    if name.endswith("Left"):
        return name[: -len("Left")] + "Right"
    if name.endswith("Right"):
        return name[: -len("Right")] + "Left"
    return name


assert len(ARKIT_NAMES) == 52 and len(set(ARKIT_NAMES)) == 52
