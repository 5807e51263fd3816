"""The procedural detail corpus on the default head: where wrinkles appear, what drives them, sizes in mm."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from furrow.details import (
    DetailIdentity,
    ProceduralDetails,
    load_displacement_png,
    sample_identities,
    save_displacement_png,
)
from furrow.heads.arkit import ARKIT_NAMES
from furrow.heads.default import default_head_path, load_default_head
from furrow.heads.regions import region_masks

RES = 128


@pytest.fixture(scope="module")
def details() -> ProceduralDetails:
    if not default_head_path().is_file():
        pytest.fail("the default head is missing: run ./scripts/setup (or ./scripts/build_default_head)")
    return ProceduralDetails(load_default_head(), RES)


@pytest.fixture(scope="module")
def masks() -> dict[str, np.ndarray]:
    return region_masks(load_default_head(), RES)


def expr(details: ProceduralDetails, poses: list[dict[str, float]]) -> np.ndarray:
    return details.expression_maps(poses).numpy()


def energy(h: np.ndarray, where: np.ndarray) -> float:
    return float((h[where] ** 2).sum())


def test_shapes_dtypes_and_mm_range(details: ProceduralDetails) -> None:
    ids = sample_identities(3, seed=5)
    w = torch.rand(3, len(ARKIT_NAMES))
    for out in (details.identity_maps(ids), details.expression_maps(w), details.maps(ids, w)):
        assert out.shape == (3, RES, RES) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert -6.0 < float(out.min()) and float(out.max()) < 3.0  # mm: folds, not centimetres
    full = details.maps(ids, torch.ones(3, len(ARKIT_NAMES)))
    assert float(full.min()) < -0.5  # a full expression gives folds of a good fraction of a mm
    # Off the skin (outside the UV islands and their gutters) there is no detail.
    off = details.skin == 0
    assert off.any() and float(full[:, off].abs().max()) == 0.0


def test_zero_weights_give_no_expression_detail(details: ProceduralDetails) -> None:
    out = details.expression_maps(torch.zeros(2, len(ARKIT_NAMES)), sample_identities(2))
    assert float(out.abs().max()) == 0.0
    assert details.expression_maps({}).abs().max() == 0.0


def test_forehead_furrows_only_in_the_forehead_and_only_when_brows_rise(
    details: ProceduralDetails, masks: dict[str, np.ndarray]
) -> None:
    raise_, other = expr(details, [{"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}, {}])
    inside = masks["forehead"] > 0.3
    outside = masks["forehead"] < 0.02
    assert energy(raise_, inside) > 0.0
    assert energy(raise_, inside) > 20.0 * energy(raise_, outside)
    assert float(np.abs(other).max()) == 0.0
    # Lowering the brows or smiling puts nothing into the forehead.
    frown, smile = expr(details, [{"browDownLeft": 1.0, "browDownRight": 1.0}, {"mouthSmileLeft": 1.0}])
    core = masks["forehead"] > 0.6
    assert energy(frown, core) < 0.05 * energy(raise_, core)
    assert energy(smile, core) == 0.0


def test_wrinkles_in_their_regions(details: ProceduralDetails, masks: dict[str, np.ndarray]) -> None:
    cases = {
        "glabella": {"browDownLeft": 1.0, "browDownRight": 1.0},
        "crows_feet": {"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0},
        "nasolabial": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
        "perioral": {"mouthPucker": 1.0},
        "chin": {"mouthShrugLower": 1.0},
        "neck": {"mouthStretchLeft": 1.0, "mouthStretchRight": 1.0},
        "eyelid_lower": {"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0},
    }
    forehead = masks["forehead"] > 0.3
    for region, pose in cases.items():
        (h,) = expr(details, [pose])
        near = masks[region] > 0.2
        assert energy(h, near) > 0.0, region
        assert energy(h, forehead) < 0.05 * energy(h, near) + 1e-9, region


def test_crows_feet_rise_monotonically(details: ProceduralDetails, masks: dict[str, np.ndarray]) -> None:
    crow = masks["crows_feet"] > 0.3
    for channel in ("eyeSquintLeft", "mouthSmileLeft", "cheekSquintLeft"):
        levels = np.linspace(0.0, 1.0, 6)
        maps = expr(details, [{channel: float(a)} for a in levels])
        e = [energy(h, crow) for h in maps]
        assert e[0] == 0.0
        assert all(b > a for a, b in itertools.pairwise(e)), (channel, e)


def test_left_channels_drive_the_left_side_only(details: ProceduralDetails) -> None:
    x = details.position_mm[..., 0]
    skin = details.skin.numpy() > 0
    left, right = skin & (x > 2.0), skin & (x < -2.0)  # the subject's left is +X
    base = {"browInnerUp": 0.3}
    for side, other in (("Left", right), ("Right", left)):
        pose = {
            f"browOuterUp{side}": 1.0,
            f"browDown{side}": 1.0,
            f"eyeSquint{side}": 1.0,
            f"cheekSquint{side}": 1.0,
            f"mouthSmile{side}": 1.0,
            f"noseSneer{side}": 1.0,
            f"mouthFrown{side}": 1.0,
            f"mouthStretch{side}": 1.0,
        }
        h0, h1 = expr(details, [base, {**base, **pose}])
        own = left if side == "Left" else right
        assert np.abs(h1 - h0)[own].max() > 0.2
        assert np.abs(h1 - h0)[other].max() == 0.0, side


def test_identity_is_deterministic_per_seed(details: ProceduralDetails) -> None:
    a, b, c = details.identity_maps([DetailIdentity(seed=3), DetailIdentity(seed=3), DetailIdentity(seed=4)])
    assert torch.equal(a, b)
    assert float((a - c).abs().mean()) > 1e-3
    assert DetailIdentity.random(7) == DetailIdentity.random(7) != DetailIdentity.random(8)
    assert sample_identities(4, seed=1) == sample_identities(4, seed=1)


def test_older_means_deeper_static_folds(details: ProceduralDetails, masks: dict[str, np.ndarray]) -> None:
    ages = [25.0, 45.0, 65.0, 85.0]
    maps = details.identity_maps([DetailIdentity(age=a, seed=2) for a in ages]).numpy()
    for region in ("nasolabial", "forehead", "crows_feet"):
        where = masks[region] > 0.3
        depth = [float(-np.percentile(h[where], 1)) for h in maps]
        assert all(b > a for a, b in itertools.pairwise(depth)), (region, depth)


def test_expression_wrinkles_follow_the_persons_layout_and_depth(details: ProceduralDetails) -> None:
    smile = {"mouthSmileLeft": 1.0, "eyeSquintLeft": 1.0}
    young, old = details.expression_maps([smile, smile], [DetailIdentity(age=25), DetailIdentity(age=75)])
    assert float(old.abs().sum()) > 1.2 * float(young.abs().sum())
    ids = [DetailIdentity(seed=0), DetailIdentity(seed=1)]
    a, b = details.expression_maps([smile, smile], ids)
    assert not torch.allclose(a, b)


def test_one_layout_gives_the_same_maps_in_less(details: ProceduralDetails) -> None:
    """A bake builds only its person's wrinkle layout; the maps are the same as from the full bank."""
    one = ProceduralDetails(load_default_head(), RES, layout=1)
    person = DetailIdentity(age=70, seed=5)  # seed 5 picks layout 1
    poses = [{}, {"browInnerUp": 1.0, "mouthSmileLeft": 0.8}]
    np.testing.assert_allclose(one.maps([person] * 2, poses), details.maps([person] * 2, poses), atol=1e-6)
    assert one.bank.combined.shape[0] == 1 and details.bank.combined.shape[0] == 2
    with pytest.raises(ValueError, match="seed 4 picks wrinkle layout 0; only \\[1\\] was built"):
        one.maps([DetailIdentity(seed=4)], poses[:1])


def test_a_persons_skin_filters_only_their_noise_and_is_the_same_in_any_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A photo's or a bake's one person filters only the noise entry their seed picks (a third of a
    1024 px setup); in a batch, in any order, each person gets the same skin as alone."""
    from furrow.details import procedural

    people = [DetailIdentity(seed=s) for s in (3, 11, 26, 40)]
    monkeypatch.setattr(procedural, "_CACHE", {})
    alone = ProceduralDetails(load_default_head(), 64, variants=0)
    first = alone.identity_maps(people[:1])
    assert len(alone.bank.noise) == 1
    monkeypatch.setattr(procedural, "_CACHE", {})
    batch = ProceduralDetails(load_default_head(), 64, variants=0)
    maps = batch.identity_maps(people[::-1])
    assert len(batch.bank.noise) > 1  # the four seeds use more than one entry
    np.testing.assert_allclose(maps[-1], first[0], atol=1e-6)
    assert float(first.abs().max()) > 0.01


def test_a_bank_asked_for_by_two_threads_is_built_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Head from Photo's prewarm builds the skin bank on a thread; a photo that arrives meanwhile
    waits for it instead of building a second one (twice the time and memory)."""
    import threading

    from furrow.details import procedural

    monkeypatch.setattr(procedural, "_CACHE", {})
    monkeypatch.setattr(procedural, "bank_cache_dir", lambda: tmp_path)  # nothing stored yet
    built: list[int] = []
    real = procedural._surface

    def counted(*args: object, **kwargs: object) -> object:
        built.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(procedural, "_surface", counted)
    head = load_default_head()
    out: list[ProceduralDetails] = []
    threads = [
        threading.Thread(target=lambda: out.append(ProceduralDetails(head, 96, variants=0))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 2 and out[0].bank is out[1].bank and len(built) == 1


def test_a_new_session_loads_the_bank_it_built_and_rebuilds_a_damaged_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Banks (and the noise entries people used) are kept on disk: a new session loads them
    instead of building (3-14 s at 512-1024 px), with the same maps; a damaged file is rebuilt."""
    from furrow.details import procedural

    monkeypatch.setattr(procedural, "bank_cache_dir", lambda: tmp_path)
    head = load_default_head()
    person, poses = DetailIdentity(age=60, seed=5), [{}, {"browInnerUp": 1.0}]
    monkeypatch.setattr(procedural, "_CACHE", {})
    first = ProceduralDetails(head, 64, layout=1).maps([person] * 2, poses)
    files = sorted((p.name for p in tmp_path.iterdir()), key=lambda n: "-noise" in n)
    assert len(files) == 2 and files[0].endswith(".npz") and "-noise" in files[1], files

    def no_build(*args: object) -> None:
        raise AssertionError("built again")

    monkeypatch.setattr(procedural, "_CACHE", {})
    with monkeypatch.context() as m:
        m.setattr(procedural, "_build_bank", no_build)
        m.setattr(procedural, "_filter_noise", no_build)
        again = ProceduralDetails(head, 64, layout=1)
        np.testing.assert_array_equal(again.maps([person] * 2, poses), first)
    (tmp_path / files[0]).write_bytes(b"not a bank")
    monkeypatch.setattr(procedural, "_CACHE", {})
    rebuilt = ProceduralDetails(head, 64, layout=1).maps([person] * 2, poses)
    np.testing.assert_array_equal(rebuilt, first)
    # The folder keeps to its budget: the least recently used files go first.
    monkeypatch.setattr(procedural, "BANK_CACHE_BYTES", 1)
    monkeypatch.setattr(procedural, "_CACHE", {})
    ProceduralDetails(head, 48, variants=0)
    assert len(list(tmp_path.iterdir())) == 1


def test_weights_as_array_dict_or_tensor(details: ProceduralDetails) -> None:
    w = np.zeros(len(ARKIT_NAMES), dtype=np.float32)
    w[ARKIT_NAMES.index("browInnerUp")] = 0.7
    a = details.expression_maps(w)
    b = details.expression_maps({"browInnerUp": 0.7})
    c = details.expression_maps(torch.from_numpy(w)[None])
    assert torch.equal(a, b) and torch.equal(b, c)
    with pytest.raises(ValueError, match="ARKit"):
        details.expression_maps({"browUp": 1.0})
    with pytest.raises(ValueError, match="52"):
        details.expression_maps(torch.zeros(2, 51))


def test_png_round_trip_with_mm_scale(details: ProceduralDetails, tmp_path: Path) -> None:
    h = details.maps([DetailIdentity(age=60)], {"mouthSmileLeft": 1.0})[0].numpy()
    path = save_displacement_png(tmp_path / "disp_00001.png", h, scale_mm=8.0)
    from PIL import Image

    with Image.open(path) as im:
        assert im.mode.startswith("I;16") and im.size == (RES, RES)
        assert np.asarray(im)[0, 0] in (32767, 32768)  # 0.5 = no displacement
    back = load_displacement_png(path, scale_mm=8.0)
    assert back.dtype == np.float32
    assert np.abs(back - h).max() <= 8.0 / 65535


def test_maps_is_identity_plus_expression(details: ProceduralDetails) -> None:
    ids = sample_identities(5, seed=9)
    w = torch.rand(5, len(ARKIT_NAMES))
    both = details.maps(ids, w)
    assert torch.allclose(both, details.identity_maps(ids) + details.expression_maps(w, ids), atol=1e-5)
    with pytest.raises(ValueError, match="identities"):
        details.maps(ids[:2], w)


def test_pores_follow_the_regions(details: ProceduralDetails, masks: dict[str, np.ndarray]) -> None:
    young = details.identity_maps([DetailIdentity(age=18.0, seed=s) for s in range(4)]).numpy()
    rough = {r: float(np.mean([h[masks[r] > 0.6].std() for h in young])) for r in ("nose", "eyelid_upper")}
    assert rough["nose"] > 1.5 * rough["eyelid_upper"]  # big nose pores, fine eyelid skin
    deep = details.identity_maps([DetailIdentity(age=18.0, seed=0, pore_depth=2.0)]).numpy()[0]
    assert deep[masks["nose"] > 0.6].std() > 1.5 * young[0][masks["nose"] > 0.6].std()
