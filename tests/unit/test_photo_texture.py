"""The rasteriser and the albedo projection: every skin texel gets a colour, the photo's where seen."""

from __future__ import annotations

import numpy as np

from furrow.heads.default import load_default_head
from furrow.heads.regions import rasterise_layout
from furrow.photo import detect_landmarks, load_photo
from furrow.photo.fit import fit_landmarks
from furrow.photo.samples import sample_photo
from furrow.photo.texture import face_mask, project_albedo, push_pull
from furrow.raster import rasterize


def test_the_uv_layout_puts_each_texel_at_its_centre_and_the_rasteriser_keeps_the_nearest() -> None:
    head = load_default_head()
    skin = np.zeros(head.n_vertices, bool)
    skin[head.parts["skin"]] = True
    tris = np.flatnonzero(skin[head.triangles].all(axis=1))
    tri_id, bary = rasterise_layout(head, 128)  # the heads' and details' layout (uv_raster inside)
    # Every covered texel's weights put it at its own centre in UV space, inside its triangle.
    rows, cols = np.nonzero(tri_id >= 0)
    corners = head.uvs[head.triangle_loops[tri_id[rows, cols]]].astype(np.float64)  # (N, 3, 2)
    uv = np.einsum("nk,nkd->nd", bary[rows, cols], corners)
    np.testing.assert_allclose(uv[:, 0], (cols + 0.5) / 128, atol=1e-6)
    np.testing.assert_allclose(uv[:, 1], 1.0 - (rows + 0.5) / 128, atol=1e-6)
    assert bary[rows, cols].min() > -1e-6 and set(np.unique(tri_id[rows, cols])) <= set(tris.tolist())
    # The covered share is the skin triangles' UV area (up to the edges' pixels).
    t = head.uvs[head.triangle_loops[tris]].astype(np.float64)
    area = 0.5 * np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])).sum()
    assert abs(len(rows) / 128**2 - area) < 0.1 * area
    # Two overlapping squares: the nearer one wins wherever they overlap, whatever the order.
    xy = np.array([[10, 10], [50, 10], [50, 50], [10, 50], [30, 30], [70, 30], [70, 70], [30, 70]], float)
    tris2 = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for near_first in (True, False):
        depth = np.array([1.0] * 4 + [2.0] * 4) if near_first else np.array([2.0] * 4 + [1.0] * 4)
        r = rasterize(xy, tris2, 80, 80, depth=depth)
        overlap = r.tri[35:45, 35:45]
        assert np.all(overlap < 2) if near_first else np.all(overlap >= 2)
        assert r.covered[15, 15] and r.covered[65, 65] and not r.covered[5, 5]


def test_push_pull_fills_every_hole_smoothly() -> None:
    values = np.zeros((64, 64, 3), np.float32)
    weights = np.zeros((64, 64), np.float32)
    values[10:20, 10:20] = (1.0, 0.5, 0.25)
    weights[10:20, 10:20] = 1.0
    filled = push_pull(values, weights)
    assert np.allclose(filled[10:20, 10:20], (1.0, 0.5, 0.25), atol=1e-5)
    assert np.allclose(filled, (1.0, 0.5, 0.25), atol=1e-4)  # one colour seen: it fills everything


def test_albedo_covers_the_skin_and_comes_from_the_face() -> None:
    head = load_default_head()
    photo = load_photo(sample_photo("astronaut"))
    lm = detect_landmarks(photo)
    fit = fit_landmarks(head, lm)
    albedo = project_albedo(head, fit, photo, lm, resolution=256)
    assert albedo.image.shape == (256, 256, 3) and np.isfinite(albedo.image).all()
    tri_id, _ = rasterise_layout(head, 256)
    skin = tri_id >= 0
    assert albedo.image[skin].min() > 0.0  # no black holes anywhere on the skin
    seen = albedo.seen > 0.5
    assert 0.25 < seen[skin].mean() < 0.8  # the face, not the back of the head
    # Nothing from outside the face's outline is taken: the mask excludes hair and background.
    mask = face_mask(lm)
    x0, y0, x1, y1 = lm.box
    assert mask[int(y0) - 5, int(x0) - 5] == 0 and mask[int((y0 + y1) / 2), int((x0 + x1) / 2)]


def test_skin_layout_is_kept_on_disk_and_rebuilt_when_damaged(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A new session loads the layout the last one built (the same texels, triangles and mirror);
    a damaged file is built again and replaced, never trusted."""
    from furrow.photo import texture

    monkeypatch.setattr(texture, "layout_cache_dir", lambda: tmp_path)
    monkeypatch.setattr(texture, "_LAYOUTS", {})
    head = load_default_head()
    built = texture.skin_layout(head, 128)
    files = list(tmp_path.glob("skin_layout-128-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.part"))
    texture._LAYOUTS.clear()  # a new session
    loaded = texture.skin_layout(head, 128)
    assert loaded is not built
    for a, b in (
        (built.index, loaded.index),
        (built.mirror, loaded.mirror),
        (built.raster.tri, loaded.raster.tri),
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(built.raster.bary, loaded.raster.bary)
    files[0].write_bytes(b"PK\x03\x04 not a whole file")
    texture._LAYOUTS.clear()
    again = texture.skin_layout(head, 128)
    np.testing.assert_array_equal(again.index, built.index)
    assert texture._load_layout(files[0], 128) is not None  # replaced by a good one


def test_glasses_frames_are_not_painted_into_the_albedo() -> None:
    """The astronaut with black frames drawn around her eyes (and a bridge): the skin under the
    frames takes its colour from the skin around it, not the frames' black; away from the eyes
    (the nasolabial folds' shadows) nothing is dropped."""
    from PIL import Image, ImageDraw

    from furrow.photo.landmarks import MP_EYE_RINGS
    from furrow.photo.texture import view_texels

    head = load_default_head()
    clean = load_photo(sample_photo("astronaut"))
    lm = detect_landmarks(clean)
    fit = fit_landmarks(head, lm)
    img = Image.fromarray(clean.rgb.copy())
    draw = ImageDraw.Draw(img)
    width = max(3, round(lm.face_size / 25))
    centres = []
    for ring in MP_EYE_RINGS:
        pts = lm.points[list(ring), :2].astype(np.float64)
        c = pts.mean(axis=0)
        centres.append(c)
        frame = c + 1.7 * (pts - c) + np.array([0.0, -0.05 * lm.face_size])
        draw.line([tuple(p) for p in [*frame, frame[0]]], fill=(5, 5, 5), width=width)
    bridge = [
        centres[0] + np.array([0.1, -0.06]) * lm.face_size,
        centres[1] - np.array([0.1, 0.06]) * lm.face_size,
    ]
    draw.line([tuple(p) for p in bridge], fill=(5, 5, 5), width=width)
    framed = load_photo(np.asarray(img))

    res = 512
    before = view_texels(head, fit, clean, lm, res)
    after = view_texels(head, fit, framed, lm, res)
    painted = before.visible & (np.abs(after.colour - before.colour).sum(axis=1) > 0.1)
    assert painted.sum() > 200  # the frames cover a few hundred texels
    index = before.layout.index[painted]
    a_clean = project_albedo(head, fit, clean, lm, resolution=res)
    a_framed = project_albedo(head, fit, framed, lm, resolution=res)
    luma = np.array([0.2126, 0.7152, 0.0722])
    lc = a_clean.image.reshape(-1, 3)[index] @ luma
    lf = a_framed.image.reshape(-1, 3)[index] @ luma
    # Under the frames: the framed albedo's luminance against the clean one's (measured 0.85; black ~0.1).
    ratio = float(np.median(lf / np.maximum(lc, 1e-6)))
    assert ratio > 0.6
    assert any("not skin" in n for n in a_framed.notes)
    # Away from the eyes the albedo is the clean photo's own (the frames changed nothing there).
    far = np.ones(res * res, bool)
    far[index] = False
    far &= a_clean.seen.reshape(-1) > 0.5
    rows = np.arange(res * res) // res
    far &= rows > res * 0.45  # below the eyes: nose, mouth, nasolabial folds
    # (The lighting is fitted without the frames, so the rest of the face keeps its colour.)
    diff = np.abs(a_framed.image.reshape(-1, 3)[far] - a_clean.image.reshape(-1, 3)[far]).max(axis=1)
    assert np.median(diff) < 0.01 and np.percentile(diff, 99) < 0.03


def test_the_fringe_over_the_forehead_stays_out_of_the_albedo() -> None:
    """The astronaut's fringe (and its shadow) above her brows is not painted onto the skin: what
    the albedo keeps there from the photo is skin-toned, and the notes say what was left out.
    Without ``_hairline`` the darkest 5% of it were at 0.46 of the cheeks' tone (hair)."""
    from furrow.photo.texture import above_brows, skin_layout

    head = load_default_head()
    photo = load_photo(sample_photo("astronaut"))
    lm = detect_landmarks(photo)
    albedo = project_albedo(head, fit_landmarks(head, lm), photo, lm, resolution=256)
    layout = skin_layout(head, 256)
    up = np.zeros(256 * 256, bool)
    up[layout.index[above_brows(head, layout)]] = True
    luma = albedo.image @ np.array([0.2126, 0.7152, 0.0722])
    cheeks = np.asarray(head.region_masks["cheeks"])
    step = cheeks.shape[0] // 256
    skin = np.median(luma[(cheeks[::step, ::step] > 0.5) & (albedo.seen > 0.5)])
    kept = up.reshape(256, 256) & (albedo.seen > 0.3)
    assert kept.sum() > 100  # the forehead below the fringe is still the photo's
    assert np.percentile(luma[kept] / skin, 5) > 0.75  # measured 0.85
    assert any("above the brows is hair" in n for n in albedo.notes)
