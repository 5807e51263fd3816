"""``python -m furrow head`` as a user runs it (a real subprocess), and the identity helpers behind it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from furrow.heads.arkit import ARKIT_NAMES
from furrow.heads.identity import mirror_slider_name, parse_identity, random_identity
from furrow.heads.model import HeadModel
from tests.head_factory import make_head

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HEAD = ROOT / "furrow" / "data" / "default_head.npz"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "furrow", "--quiet", "head", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def head_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "synthetic.npz"
    make_head().save(path)
    return path


def _glb_json(path: Path) -> dict:  # type: ignore[type-arg]
    data = path.read_bytes()
    assert data[:4] == b"glTF" and struct.unpack_from("<I", data, 4)[0] == 2
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + length])  # type: ignore[no-any-return]


def _assert_one_line_error(out: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("furrow: error: "), out.stderr
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- the default head ---------------------------------------------------------------------------


def test_default_head_is_written_as_glb_and_obj(tmp_path: Path) -> None:
    assert DEFAULT_HEAD.is_file(), (
        f"{DEFAULT_HEAD} is missing: the default head is built by ./scripts/setup; run it first"
    )
    glb = _run("--model", "default", "--identity", "random", "--seed", "1", "--out", str(tmp_path / "d.glb"))
    assert glb.returncode == 0, glb.stderr
    mesh = _glb_json(tmp_path / "d.glb")["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert all(len(p["targets"]) == 52 for p in mesh["primitives"])
    obj = _run("--out", str(tmp_path / "d.obj"))  # --model default is the default
    assert obj.returncode == 0, obj.stderr
    assert (tmp_path / "d.mtl").is_file()
    n_v = sum(line.startswith("v ") for line in (tmp_path / "d.obj").read_text().splitlines())
    assert n_v == HeadModel.load(DEFAULT_HEAD).n_vertices


def test_flame_and_facescape_heads_are_written_with_arkit_targets(tmp_path: Path) -> None:
    """The dispatch to the FLAME / FaceScape loaders, on small files in their exact formats."""
    from tests.heads_fixtures import write_facescape, write_flame

    assert DEFAULT_HEAD.is_file(), f"{DEFAULT_HEAD} is missing: run ./scripts/setup first"
    flame = _run("--model", f"flame:{write_flame(tmp_path / 'flame.pkl')}", "--out", str(tmp_path / "f.glb"))
    assert flame.returncode == 0, flame.stderr
    mesh = _glb_json(tmp_path / "f.glb")["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert all(len(p["targets"]) == 52 for p in mesh["primitives"])
    fs = write_facescape(tmp_path / "facescape.npz").path
    out = _run(
        "--model", f"facescape:{fs}", "--identity", "random", "--seed", "3", "--out", str(tmp_path / "s.obj")
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.obj").stat().st_size > 0 and (tmp_path / "s.mtl").is_file()

    (tmp_path / "junk.pkl").write_bytes(b"junk")
    bad = _run("--model", f"flame:{tmp_path / 'junk.pkl'}", "--out", str(tmp_path / "j.glb"))
    _assert_one_line_error(bad, "junk.pkl", "not a FLAME model")
    assert not (tmp_path / "j.glb").exists()


# --- a saved head file ----------------------------------------------------------------------------


def test_saved_head_to_glb_with_named_sliders(head_file: Path, tmp_path: Path) -> None:
    out = _run(
        "--model",
        str(head_file),
        "--identity",
        "head-size=0.5, nose-length=-0.25",
        "--out",
        str(tmp_path / "h.glb"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"wrote {tmp_path / 'h.glb'}") and "52 ARKit morph targets" in out.stdout
    doc = _glb_json(tmp_path / "h.glb")
    assert doc["meshes"][0]["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert doc["materials"][0]["name"] == "skin"
    # The identity is baked into the base shape: wider than the neutral synthetic head (x up to 0.08).
    pos = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert pos["max"][0] == pytest.approx(0.08 * 1.05, rel=1e-3)  # bases are float16 on disk


def test_saved_head_to_obj_writes_the_mtl_beside_it(head_file: Path, tmp_path: Path) -> None:
    out = _run("--model", str(head_file), "--out", str(tmp_path / "h.obj"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.mtl", "h.obj"]
    text = (tmp_path / "h.obj").read_text()
    assert "mtllib h.mtl" in text and "g skin" in text and "\nvn " in text


def test_random_identity_is_reproducible_by_seed(head_file: Path, tmp_path: Path) -> None:
    outs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = _run(
            "--model",
            str(head_file),
            "--identity",
            "random",
            "--seed",
            seed,
            "--out",
            str(tmp_path / f"{name}.glb"),
        )
        assert out.returncode == 0 and f"seed {seed}" in out.stdout, out.stderr
        outs.append((tmp_path / f"{name}.glb").read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]
    unseeded = _run("--model", str(head_file), "--identity", "random", "--out", str(tmp_path / "d.glb"))
    assert (
        unseeded.returncode == 0 and "random identity seed " in unseeded.stdout
    )  # printed, so it can be redone


# --- bad input: exit 2, one line, nothing written -----------------------------------------------


@pytest.mark.parametrize(
    ("identity", "fragments"),
    [
        ("nose=0.3", ("no identity slider 'nose'", "head-size, nose-length")),
        ("head-size=big", ("'big' is not a number",)),
        ("head-size=1.5", ("outside [-1, 1]",)),
        ("head-size", ("is not NAME=VALUE",)),
        ("head-size=0.1,head-size=0.2", ("given twice",)),
        (",", ("no identity sliders given",)),
    ],
)
def test_bad_identity_is_one_clear_line(
    head_file: Path, tmp_path: Path, identity: str, fragments: tuple[str, ...]
) -> None:
    out = _run("--model", str(head_file), "--identity", identity, "--out", str(tmp_path / "h.glb"))
    _assert_one_line_error(out, "--identity", *fragments)
    assert list(tmp_path.iterdir()) == []


def test_bad_extension_is_one_clear_line(head_file: Path, tmp_path: Path) -> None:
    for name in ("h.fbx", "h"):
        out = _run("--model", str(head_file), "--out", str(tmp_path / name))
        _assert_one_line_error(out, "use .obj or .glb")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_one_clear_line(head_file: Path, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "taken.glb").mkdir()
    cases = [
        (tmp_path / "missing" / "h.glb", "does not exist"),
        (tmp_path / "a_file" / "h.obj", "does not exist"),
        (tmp_path / "taken.glb", "is a folder"),
        (Path("/proc/furrow-head.glb"), "cannot write /proc/furrow-head.glb"),  # a folder no one may write to
    ]
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes through permissions; /proc above covers that case
        cases.append((locked / "h.glb", "Permission denied"))
    for path, fragment in cases:
        out = _run("--model", str(head_file), "--out", str(path))
        _assert_one_line_error(out, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "locked", "taken.glb"]
    assert list(locked.iterdir()) == [] and list((tmp_path / "taken.glb").iterdir()) == []
    assert not Path("/proc/furrow-head.glb").exists()


def test_bad_model_is_one_clear_line(tmp_path: Path) -> None:
    out_path = str(tmp_path / "h.glb")
    _assert_one_line_error(_run("--model", "bfm", "--out", out_path), "expected default, flame:PATH")
    _assert_one_line_error(_run("--model", str(tmp_path / "no.npz"), "--out", out_path), "no such head file")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    _assert_one_line_error(_run("--model", str(tmp_path / "junk.npz"), "--out", out_path), "junk.npz")
    _assert_one_line_error(_run("--model", "flame:", "--out", out_path), "give the model file's path")
    _assert_one_line_error(_run("--model", f"flame:{tmp_path}/none.pkl", "--out", out_path), "is not a file")
    _assert_one_line_error(
        _run("--model", f"facescape:{tmp_path}/none.npz", "--out", out_path), "is not a file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.npz"]


def test_help_lists_the_head_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "furrow", "head", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "--identity" in out.stdout and ".glb" in out.stdout


# --- the identity helpers (the add-on's Random Identity button uses random_identity) -----------


def test_random_identity_is_seeded_bounded_and_varied() -> None:
    model = make_head()
    a = random_identity(model, np.random.default_rng(3))
    b = random_identity(model, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == (2,)
    np.testing.assert_array_equal(a, b)
    many = np.stack([random_identity(model, np.random.default_rng(s)) for s in range(500)])
    assert np.abs(many).max() <= 1.0
    assert 0.2 < many.std() < 0.4 and abs(many.mean()) < 0.05
    assert (many > 0).any() and (many < 0).any()


def test_random_identity_keeps_faces_nearly_symmetric() -> None:
    model = make_head(mirrored_sliders=True)
    assert model.identity_names[2:] == ["eye_l_size", "eye_r_size", "nose_shift"]
    many = np.stack([random_identity(model, np.random.default_rng(s)) for s in range(500)])
    left, right, shift = many[:, 2], many[:, 3], many[:, 4]
    assert np.corrcoef(left, right)[0, 1] > 0.9  # a mirrored pair shares its draw ...
    assert 0 < np.abs(left - right).mean() < 0.5 * np.abs(left).mean()  # ... with a small difference
    assert many[:, 4].std() < 0.5 * many[:, 0].std()  # sliding a feature sideways is damped
    assert (shift != 0).any()


def test_mirror_slider_names() -> None:
    pairs = {"eye_l_size": "eye_r_size", "ear_R_lobe": "ear_L_lobe", "left-brow": "right-brow"}
    pairs |= {"cheekSquintLeft": "cheekSquintRight"}
    for name, other in pairs.items():
        assert mirror_slider_name(name) == other and mirror_slider_name(other) == name
    for name in ("head_size", "shape000", "nose_shift", "lips"):
        assert mirror_slider_name(name) is None


def test_parse_identity_maps_names_to_the_slider_vector() -> None:
    model = make_head()
    np.testing.assert_array_equal(parse_identity(model, " nose-length = -0.5 "), [0.0, -0.5])
    np.testing.assert_array_equal(parse_identity(model, "head-size=1,nose-length=0.25,"), [1.0, 0.25])
    with pytest.raises(ValueError, match="this head has: head-size, nose-length"):
        parse_identity(model, "chin=0.1")
    with pytest.raises(ValueError, match="not a number"):
        parse_identity(model, "head-size=nan?")
    with pytest.raises(ValueError, match="outside"):
        parse_identity(model, "head-size=inf")
