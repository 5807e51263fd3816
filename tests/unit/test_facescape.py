"""FaceScape's bilinear model npz: reading it (memory-mapped), evaluating it, the HeadModel built from it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from furrow.heads.arkit import ARKIT_INDEX
from furrow.heads.facescape import FaceScapeModel, facescape_head_model
from furrow.heads.flame import flame_to_blender
from furrow.heads.model import REGION_NAMES, HeadFileError, HeadModel
from tests import heads_fixtures as hf

NAME = "facescape_bm_v1.6_847_50_52_id_front.npz"


@pytest.fixture(scope="module")
def fs_file(tmp_path_factory: pytest.TempPathFactory) -> hf.FaceScapeFile:
    return hf.write_facescape(tmp_path_factory.mktemp("facescape") / NAME)


@pytest.fixture(scope="module")
def default_head() -> hf.SyntheticHead:
    return hf.synthetic_default_head()


@pytest.fixture(scope="module")
def head(fs_file: hf.FaceScapeFile, default_head: hf.SyntheticHead) -> HeadModel:
    return facescape_head_model(fs_file.path, default_head=default_head.model, n_identity=8)


def test_the_file_has_the_toolkit_layout(fs_file: hf.FaceScapeFile) -> None:
    with np.load(fs_file.path, allow_pickle=True) as z:
        files = set(z.files)
        assert {
            "shape_bm_core",
            "fv_indices",
            "ft_indices",
            "texcoords",
            "id_mean",
            "id_var",
            "lm_list_v16",
        } <= files
        assert {
            "fv_indices_front",
            "v_indices_front",
            "sym_dict",
            "exp_gmm_means",
            "contour_line_left",
        } <= files
        assert z["shape_bm_core"].dtype == np.float32 and z["shape_bm_core"].shape[1] == 52
        assert z["fv_indices"].min() == 1  # 1-based, as the toolkit writes them into OBJ files
    with zipfile.ZipFile(fs_file.path) as zf:
        assert zf.getinfo("shape_bm_core.npy").compress_type == zipfile.ZIP_STORED


def test_load_and_evaluate(fs_file: hf.FaceScapeFile) -> None:
    m = FaceScapeModel(fs_file.path)
    assert isinstance(m.core, np.memmap)  # the 300-identity core is 4.9 GB: never read it all
    assert (m.n_vertices, m.n_identity) == (fs_file.neutral_mm.shape[0], 12)
    np.testing.assert_allclose(m.evaluate(), fs_file.neutral_mm, atol=1e-3)  # float32 core, mm
    assert m.triangles.min() == 0 and m.triangles.max() == m.n_vertices - 1
    assert m.corner_uvs is not None and m.corner_uvs.shape == (m.triangles.shape[0], 3, 2)
    assert m.landmarks68 is not None and m.landmarks68.shape == (68,)
    # expression weights sit on top of the neutral: w * (slice_e - slice_0), as the toolkit's residual core
    w = np.zeros(51)
    w[4] = 0.7
    core = fs_file.core.astype(np.float64)
    want = (core[:, 0] + 0.7 * (core[:, 5] - core[:, 0])) @ fs_file.id_mean
    np.testing.assert_allclose(m.evaluate(expression=w).ravel(), want, atol=1e-3)
    ident = fs_file.id_mean.copy()
    ident[2] += np.sqrt(fs_file.id_var[2])
    assert 1.0 < np.abs(m.evaluate(ident) - m.evaluate()).max() < 20.0  # one std moves millimetres


def test_a_compressed_file_reads_the_same(tmp_path: Path, fs_file: hf.FaceScapeFile) -> None:
    other = hf.write_facescape(tmp_path / NAME, compressed=True)
    m = FaceScapeModel(other.path)
    assert not isinstance(m.core, np.memmap)
    np.testing.assert_allclose(m.evaluate(), FaceScapeModel(fs_file.path).evaluate(), atol=1e-6)


def test_head_model(head: HeadModel, fs_file: hf.FaceScapeFile, tmp_path: Path) -> None:
    nv = fs_file.neutral_mm.shape[0]
    assert (
        head.n_vertices == nv and head.parts == {"skin": head.parts["skin"]} and len(head.parts["skin"]) == nv
    )
    np.testing.assert_allclose(head.vertices, flame_to_blender(fs_file.neutral_mm) * 1e-3, atol=1e-6)
    # metres, Blender axes: the nose is the frontmost (-Y) point and the crown is up
    assert 0.2 < np.ptp(head.vertices[:, 2]) < 0.4
    nose = head.landmark_positions(head.vertices)[30]
    assert nose[1] < head.vertices[:, 1].min() + 0.01
    # landmarks: the file's lm_list_v16 vertices exactly
    with np.load(fs_file.path) as z:
        lm_v = z["lm_list_v16"]
        tex = z["texcoords"]
        ft = z["ft_indices"] - 1
    np.testing.assert_allclose(head.landmark_positions(head.vertices), head.vertices[lm_v], atol=1e-7)
    np.testing.assert_allclose(head.uvs.reshape(-1, 3, 2), np.clip(tex[ft], 0, 1), atol=1e-7)
    # identity slider 3 at +1 = 2 std of factor 3
    m = FaceScapeModel(fs_file.path)
    ident = fs_file.id_mean.copy()
    ident[3] += 2 * np.sqrt(fs_file.id_var[3])
    want = flame_to_blender(m.evaluate(ident) * 1e-3)
    np.testing.assert_allclose(head.evaluate_np(identity=np.eye(8)[3]), want, atol=1e-5)
    assert head.identity_names[:2] == ["id00", "id01"]
    # ARKit shapes arrived: the jaw opens downward, the left mouth corner rises
    lms = head.landmark_positions(head.vertices)
    jaw = head.landmark_positions(head.evaluate_np(expression=np.eye(52)[ARKIT_INDEX["jawOpen"]])) - lms
    assert jaw[8, 2] < -0.01
    smile = (
        head.landmark_positions(head.evaluate_np(expression=np.eye(52)[ARKIT_INDEX["mouthSmileLeft"]])) - lms
    )
    assert smile[54, 2] > 0.002 and smile[54, 2] > 3 * abs(smile[48, 2])
    assert set(head.region_masks) == set(REGION_NAMES)
    head.save(tmp_path / "fs.npz")
    assert HeadModel.load(tmp_path / "fs.npz").identity_names == head.identity_names


def _broken(path: Path, fs_file: hf.FaceScapeFile, **changes: object) -> Path:
    with np.load(fs_file.path, allow_pickle=True) as z:
        data = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    np.savez(path, **data)
    return path


def _message(path: Path) -> str:
    with pytest.raises(HeadFileError) as info:
        FaceScapeModel(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_wrong_and_damaged_files(tmp_path: Path, fs_file: hf.FaceScapeFile) -> None:
    cut = tmp_path / NAME
    cut.write_bytes(fs_file.path.read_bytes()[: fs_file.path.stat().st_size // 2])
    assert "truncated" in _message(cut)
    assert "not a FaceScape bilinear model: missing 'shape_bm_core'" in _message(
        _broken(tmp_path / "a.npz", fs_file, shape_bm_core=None)
    )
    assert "'shape_bm_core' has shape (30, 52), expected" in _message(
        _broken(tmp_path / "b.npz", fs_file, shape_bm_core=np.zeros((30, 52), np.float32))
    )
    assert "'id_mean'/'id_var' should hold 12" in _message(
        _broken(tmp_path / "c.npz", fs_file, id_mean=np.zeros(3))
    )
    big = np.asarray(np.load(fs_file.path)["fv_indices"]) + 10**6
    assert "'fv_indices' indexes" in _message(_broken(tmp_path / "d.npz", fs_file, fv_indices=big))
    text = tmp_path / "e.npz"
    text.write_text("not a model")
    assert "not a zip archive" in _message(text)
    pca = tmp_path / "facescape_bm_v1.6_847_50_52_id_exp.npz"
    pca.write_bytes(fs_file.path.read_bytes())
    assert "PCA on the expressions" in _message(pca)
    old = tmp_path / "core_847_50_52.npy"
    np.save(old, np.zeros(3))
    assert "v1.0-1.3" in _message(old)
    assert "no such FaceScape model file" in _message(tmp_path / "absent.npz")
