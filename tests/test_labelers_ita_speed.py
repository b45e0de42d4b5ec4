"""The ITA labeler's fast paths (pixel subsampling of large regions, batched probs JSON) against the exact ones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.errors import UserError
from audit.labelers.ita import MST_RGB, ITALabeler, _probs_json, subsample


def scene(mst: int, *, rng: np.random.Generator, size: int) -> np.ndarray:
    """A shaded noisy skin disc of Monk tone ``mst`` on a random-colour background."""
    yy, xx = np.mgrid[:size, :size] / (size - 1)
    disc = (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < rng.uniform(0.05, 0.15)
    img = np.empty((size, size, 3), np.float64)
    img[:] = rng.integers(0, 256, 3)
    shade = 1.0 + 0.08 * (xx - 0.5) - 0.06 * (yy - 0.5)
    skin = MST_RGB[mst - 1] * shade[..., None] + rng.normal(0, 3.0, (size, size, 3))
    img[disc] = skin[disc]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def test_subsample_keeps_small_regions_and_strides_large_ones():
    small = np.zeros((128, 128, 3), np.uint8)
    assert subsample(small, max_pixels=128 * 128) is small
    big = np.random.default_rng(0).integers(0, 256, (512, 300, 3), dtype=np.uint8)
    got = subsample(big, max_pixels=128 * 128)
    k = 4  # 128 x 75 pixels <= 16384 < 171 x 100 (k = 3)
    np.testing.assert_array_equal(got, big[::k, ::k])
    assert got.shape[0] * got.shape[1] <= 128 * 128
    assert subsample(big, max_pixels=1).shape[:2] == (1, 1)


def test_max_pixels_must_be_positive():
    with pytest.raises(UserError, match="max_pixels"):
        ITALabeler(max_pixels=0)


def test_small_images_give_identical_tables_with_and_without_subsampling():
    rng = np.random.default_rng(1)
    imgs = [scene(int(m), rng=rng, size=int(s)) for m, s in zip(rng.integers(1, 11, 30), rng.integers(8, 129, 30))]
    ids = [str(i) for i in range(len(imgs))]
    fast = ITALabeler(faces=False).label(imgs, image_ids=ids)
    exact = ITALabeler(faces=False, max_pixels=None).label(imgs, image_ids=ids)
    pd.testing.assert_frame_equal(fast, exact)


def test_large_images_subsampled_agree_with_every_pixel():
    rng = np.random.default_rng(2)
    imgs = [scene(m, rng=rng, size=512) for m in range(1, 11)]
    ids = [str(i) for i in range(len(imgs))]
    fast = ITALabeler(faces=False).label(imgs, image_ids=ids).set_index(["image_id", "attribute"])
    exact = ITALabeler(faces=False, max_pixels=None).label(imgs, image_ids=ids).set_index(["image_id", "attribute"])
    for att in ("skin_tone", "skin_group", "ita_category", "skin_region"):
        assert (fast.xs(att, level=1)["value"] == exact.xs(att, level=1)["value"]).all(), att
    assert fast.xs("skin_tone", level=1)["value"].astype(int).tolist() == list(range(1, 11))
    ita_diff = (fast.xs("ita", level=1)["score"] - exact.xs("ita", level=1)["score"]).abs()
    assert ita_diff.max() < 1.0  # degrees
    conf_diff = (fast.xs("skin_tone", level=1)["confidence"] - exact.xs("skin_tone", level=1)["confidence"]).abs()
    assert conf_diff.max() < 0.02


def test_probs_json_equals_row_by_row_formatting():
    p = np.random.default_rng(3).random((7, 4))
    names = ["a", "b", "c", "d"]
    got = _probs_json(names, p)
    assert got.dtype == object and len(got) == 7
    fmt = "{{" + ", ".join(f'"{k}": {{:.6f}}' for k in names) + "}}"
    assert got.tolist() == [fmt.format(*row) for row in p.tolist()]
    assert json.loads(got[2]) == pytest.approx(dict(zip(names, p[2])), abs=1e-6)
    assert len(_probs_json(names, p[:0])) == 0


def test_batched_counts_votes_and_medians_equal_one_image_at_a_time():
    import statistics

    from audit.labelers.ita import _vote_lut, measure_skin, skin_mask

    rng = np.random.default_rng(4)
    regions = [scene(int(m), rng=rng, size=int(s)) for m, s in zip(rng.integers(1, 11, 12), rng.integers(4, 70, 12))]
    regions[3] = regions[3][:0]  # an empty region in the middle
    regions.append(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8))
    st = measure_skin(regions)
    for i, img in enumerate(regions):
        px = img.reshape(-1, 3)[skin_mask(img).ravel()]
        assert st["n_skin"].iloc[i] == len(px)
        code = (px[:, 0].astype(int) >> 2 << 12) | (px[:, 1].astype(int) >> 2 << 6) | (px[:, 2].astype(int) >> 2)
        cls = _vote_lut("l_ita")[code].astype(int)
        np.testing.assert_array_equal(st.attrs["mst_votes"][i], np.bincount(cls // 6, minlength=10))
        np.testing.assert_array_equal(st.attrs["cat_votes"][i], np.bincount(cls % 6, minlength=6))
        if len(px):
            assert st.loc[i, ["R", "G", "B"]].tolist() == [statistics.median(px[:, c].tolist()) for c in range(3)]
        else:
            assert st.loc[i, ["R", "G", "B"]].isna().all() and st["mst"].iloc[i] == 0
