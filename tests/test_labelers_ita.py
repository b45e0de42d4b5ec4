"""ITA skin-tone labeler: colour science, Monk matching, a real photograph, batching."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.labelers.base import LABEL_COLUMNS, Labeler
from audit.labelers.ita import (
    MST_RGB, ITALabeler, SkinRule, ita_category, ita_degrees, measure_skin, mst_group, nearest_mst,
    non_answer_shares, skin_mask, srgb_to_lab,
)


def by_attr(df, image_id):
    return df[df.image_id == image_id].set_index("attribute")["value"].to_dict()


def skin_scene(mst: int, *, rng, size: int = 64) -> np.ndarray:
    """A shaded, noisy skin disc of Monk tone ``mst`` on a blue background."""
    yy, xx = np.mgrid[:size, :size] / (size - 1)
    img = np.zeros((size, size, 3), np.float64)
    img[:] = (40, 70, 160)
    disc = (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.12
    shade = 1.0 + 0.06 * (xx - 0.5) - 0.04 * (yy - 0.5)  # soft lighting gradient, +-3%
    skin = MST_RGB[mst - 1] * shade[..., None] + rng.normal(0, 2.0, (size, size, 3))
    img[disc] = skin[disc]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def test_lab_matches_skimage():
    from skimage.color import rgb2lab

    px = np.random.default_rng(0).integers(0, 256, (2000, 3), dtype=np.uint8)
    np.testing.assert_allclose(srgb_to_lab(px), rgb2lab(px[None] / 255.0)[0], atol=0.02)
    np.testing.assert_allclose(srgb_to_lab(px.astype(np.float32) / 255), srgb_to_lab(px), atol=0.02)


def test_ita_and_categories():
    assert float(ita_degrees(50.0, 20.0)) == 0.0
    assert float(ita_degrees(100.0, 0.0)) == 90.0
    cats = ita_category([55.01, 55.0, 41.01, 41.0, 28.01, 28.0, 10.01, 10.0, -29.9, -30.0]).tolist()
    assert cats == ["very_light", "light", "light", "intermediate", "intermediate", "tan", "tan", "brown",
                    "brown", "dark"]
    assert mst_group(np.arange(1, 11)).tolist() == ["light"] * 3 + ["medium"] * 3 + ["dark"] * 4


def test_every_monk_swatch_is_skin_and_matches_itself():
    assert skin_mask(MST_RGB).all()
    greys = np.repeat(np.arange(0, 256, 5, dtype=np.uint8)[:, None], 3, axis=1)
    assert not skin_mask(greys).any()
    lab = srgb_to_lab(MST_RGB)
    for match in ("lab", "l_ita"):
        assert nearest_mst(lab, match=match).tolist() == list(range(1, 11))


@pytest.mark.parametrize("match", ["lab", "l_ita"])
def test_shaded_skin_scenes_recover_their_tone(match):
    rng = np.random.default_rng(0)
    scenes = [skin_scene(m, rng=rng) for m in range(1, 11) for _ in range(3)]
    truth = np.repeat(np.arange(1, 11), 3)
    df = ITALabeler(faces=False, match=match).label(scenes, image_ids=[str(i) for i in range(len(scenes))])
    got = df[df.attribute == "skin_tone"]["value"].astype(int).to_numpy()
    assert (np.abs(got - truth) <= 1).all()
    assert (got == truth).mean() >= 0.9
    groups = df[df.attribute == "skin_group"]["value"].to_numpy()
    assert (groups == mst_group(truth)).mean() >= 0.9


def test_label_schema_probs_and_no_skin():
    lab = ITALabeler(faces=False)
    assert isinstance(lab, Labeler)
    blue = np.zeros((32, 32, 3), np.uint8)
    blue[..., 2] = 200
    df = lab.label([skin_scene(7, rng=np.random.default_rng(1)), blue], image_ids=["s", "b"])
    assert list(df.columns) == list(LABEL_COLUMNS)
    assert len(df) == 2 * len(lab.attributes)
    s, b = by_attr(df, "s"), by_attr(df, "b")
    assert s["skin_tone"] == "7" and s["skin_group"] == "dark" and s["skin_region"] == "whole_image"
    assert b == {"skin_tone": "no_skin", "skin_group": "no_skin", "ita_category": "no_skin", "ita": "no_skin",
                 "skin_region": "whole_image"}
    assert df[(df.image_id == "b") & (df.value == "no_skin")]["reason"].str.contains("0 skin pixels").all()
    row = df[(df.image_id == "s") & (df.attribute == "skin_tone")].iloc[0]
    probs = json.loads(row["probs"])
    assert set(probs) == {str(i) for i in range(1, 11)} and abs(sum(probs.values()) - 1) < 1e-4
    assert row["confidence"] == pytest.approx(probs["7"], abs=1e-6)
    ita_row = df[(df.image_id == "s") & (df.attribute == "ita")].iloc[0]
    assert float(ita_row["value"]) == pytest.approx(ita_row["score"], abs=0.05)
    assert ita_category(ita_row["score"]).item() == by_attr(df, "s")["ita_category"]


def test_batch_of_mixed_sizes_equals_one_by_one_and_direct_median():
    rng = np.random.default_rng(2)
    imgs = [skin_scene(3, rng=rng, size=40), skin_scene(6, rng=rng, size=64)[..., :3], skin_scene(9, rng=rng, size=50)]
    imgs.append(np.dstack([imgs[0], np.full(imgs[0].shape[:2], 255, np.uint8)]))  # RGBA copy of image 0
    lab = ITALabeler(faces=False)
    together = lab.label(imgs, image_ids=list("abcd"))
    for i, k in enumerate("abc"):
        alone = lab.label([imgs[i]], image_ids=[k])
        assert by_attr(alone, k) == by_attr(together, k)
    assert by_attr(together, "a") == by_attr(together, "d")
    stats = measure_skin(imgs[:3])
    for i, img in enumerate(imgs[:3]):  # direct computation on the masked pixels
        px = img.reshape(-1, 3)
        skin = px[skin_mask(px)]
        assert stats["n_skin"].iloc[i] == len(skin)
        med = np.median(skin.astype(float), axis=0)
        np.testing.assert_array_equal(stats.loc[i, ["R", "G", "B"]].astype(float), med)
        np.testing.assert_allclose(stats.loc[i, ["L", "a", "b"]].astype(float), srgb_to_lab(med / 255), atol=1e-4)


def test_astronaut_photograph_face_and_light_tone():
    import skimage.data

    img = skimage.data.astronaut()  # Eileen Collins, a real photograph
    df = ITALabeler().label([img], image_ids=["astronaut"])
    got = by_attr(df, "astronaut")
    assert got["skin_region"] == "face"
    assert got["ita_category"] in {"very_light", "light"}
    assert float(got["ita"]) > 41
    assert int(got["skin_tone"]) <= 5 and got["skin_group"] in {"light", "medium"}
    # without the face restriction the uniform and background pixels move the reading
    whole = by_attr(ITALabeler(faces=False).label([img], image_ids=["astronaut"]), "astronaut")
    assert whole["skin_region"] == "whole_image"


def test_no_face_answers_no_face_and_whole_image_only_when_asked():
    scene = skin_scene(4, rng=np.random.default_rng(3))  # skin-coloured, but no face
    df = ITALabeler(faces=True).label([scene], image_ids=["x"])
    assert (df.value == "no_face").all() and len(df) == len(ITALabeler.attributes)
    assert df.reason.str.contains("no face found by the world detector").all() and df.score.isna().all()
    big = ITALabeler().label([np.repeat(np.repeat(scene, 3, 0), 3, 1)], image_ids=["y"])  # 192 px: BlazeFace
    assert (big.value == "no_face").all() and big.reason.str.contains("blazeface").all()
    fallback = ITALabeler(faces=True, whole_image_fallback=True).label([scene], image_ids=["x"])
    assert by_attr(fallback, "x")["skin_region"] == "whole_image"
    assert by_attr(fallback, "x")["skin_group"] == "medium"
    shares = non_answer_shares(pd.concat([df, fallback.assign(image_id="z")]))
    assert shares.loc[("ita", "skin_tone"), "no_face"] == 0.5 and shares.loc[("ita", "skin_tone"), "n"] == 2


def test_person_free_images_get_non_answers():
    """Gate: >= 90% non-answers on photos of objects and animals, noise and flat colours."""
    from audit.labelers.world_domain import person_free_images

    sets = person_free_images(seed=5, crops_per_photo=4)
    lab = ITALabeler()
    for name in ("person_free", "noise", "flat"):
        imgs = sets[name]
        df = lab.label(imgs, image_ids=[str(i) for i in range(len(imgs))])
        tone = df[df.attribute == "skin_tone"]
        share = tone.value.isin(["no_face", "no_skin"]).mean()
        assert share >= 0.9, (name, share)
    import skimage.data

    df = lab.label([skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()], image_ids=list("ccr"))
    assert (df.value == "no_face").all()


def test_custom_rule_changes_mask():
    strict = SkinRule(y_min=80.0)  # the classic Y > 80 bound drops the darkest Monk tones
    assert not skin_mask(MST_RGB[8:], rule=strict).any()
    assert skin_mask(MST_RGB[8:]).all()


def test_world_renders_agree_with_their_true_monk_tone():
    """Fresh world renders (new seed): agreement of ITA with the rendered MST, by region."""
    from generator.world import render_batch
    from generator.world.spec import load_spec, sample_attributes

    attrs = sample_attributes(load_spec(), n=240, rng=np.random.default_rng(1234))
    imgs = render_batch(attrs, rng=np.random.default_rng(4321))
    df = ITALabeler().label(list(imgs), image_ids=[str(i) for i in range(len(imgs))])
    truth = attrs["skin_tone"].to_numpy()
    tone = df[df.attribute == "skin_tone"]["value"].to_numpy()
    pred = np.where(np.isin(tone, ["no_skin", "no_face"]), "0", tone).astype(int)
    face = (df[df.attribute == "skin_region"]["value"] == "face").to_numpy()
    assert set(df[df.attribute == "skin_region"]["value"]) <= {"face", "no_face"}  # never the whole image
    group = mst_group(truth)
    assert face.mean() > 0.9, face.mean()  # the world face locator (Haar found 68%)
    rates = [face[group == g].mean() for g in ("light", "medium", "dark")]
    assert max(rates) - min(rates) <= 0.08, rates  # Haar: 86% light vs 45% dark
    assert np.mean(pred[face] == truth[face]) >= 0.6
    assert np.mean(np.abs(pred[face] - truth[face]) <= 1) >= 0.9
