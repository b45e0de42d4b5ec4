"""The world labeler: schema and plumbing on a tiny model; shipped weights meet their targets on fresh renders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audit.errors import UserError
from audit.labelers.base import LABEL_COLUMNS, Labeler
from audit.labelers.world import DEFAULT_DIR, HEADS, WorldLabeler, build_model
from audit.labelers.world_eval import evaluate, targets
from audit.labelers.world_pool import augment, balanced_attributes, render_pool


def test_tiny_labeler_follows_the_protocol():
    torch.manual_seed(0)
    lab = WorldLabeler(model=build_model(width=8), card={})
    assert isinstance(lab, Labeler)
    imgs = [np.zeros((64, 64, 3), np.uint8), np.full((20, 30), 200, np.uint8), np.zeros((128, 128, 4), np.uint8)]
    df = lab.label(imgs, image_ids=["a", "b", "c"])
    assert list(df.columns) == list(LABEL_COLUMNS)
    assert len(df) == 3 * (len(HEADS) + 1)
    assert set(df.attribute) == {*HEADS, "skin_group"}
    row = df[(df.image_id == "b") & (df.attribute == "skin_tone")].iloc[0]
    probs = json.loads(row.probs)
    assert abs(sum(probs.values()) - 1) < 1e-4 and row.value in HEADS["skin_tone"]
    assert np.isclose(row.confidence, max(probs.values()), atol=1e-5)
    with pytest.raises(UserError):
        lab.label(imgs, image_ids=["a"])


def test_missing_weights_error_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="train labeler"):
        WorldLabeler.from_pretrained(tmp_path)


def test_balanced_training_data_has_no_injected_correlation():
    df = balanced_attributes(30_000, rng=np.random.default_rng(0))
    doctors = df[df.profession == "doctor"]
    # the world spec skews doctors to MST 1-3 (> 50%); balanced data stays near 30%
    assert abs(doctors.skin_tone.le(3).mean() - 0.3) < 0.05
    t = targets(df.head(5))
    assert set(t) == set(HEADS) and all(len(v) == 5 for v in t.values())


def test_augment_changes_images_but_keeps_range():
    imgs, _ = render_pool(16, seed=3, progress=False)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = augment(x, generator=torch.Generator().manual_seed(0), p=1.0)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02


@pytest.fixture(scope="module")
def shipped():
    if not (DEFAULT_DIR / "model.safetensors").exists():
        pytest.fail(f"shipped world labeler weights missing at {DEFAULT_DIR} (run `imagen-audit train labeler --out {DEFAULT_DIR}`)")
    return WorldLabeler.from_pretrained()


def test_shipped_card_is_present_and_complete(shipped):
    card = shipped.card
    assert {"clean", "augmented", "training"} <= set(card)
    for attr in (*HEADS, "skin_group"):
        for split in ("clean", "augmented"):
            cm = shipped.confusion(attr, split=split)
            n = 3 if attr == "skin_group" else len(HEADS[attr])
            assert cm.shape == (n, n)
            np.testing.assert_allclose(cm.sum(axis=1), 1.0)
            if split == "clean":
                assert np.all(np.diag(cm.to_numpy()) > 0.5)
    assert (DEFAULT_DIR / "card.md").exists()


def test_shipped_labeler_meets_targets_on_fresh_renders(shipped):
    """Held-out accuracy on renders from a seed never used in training or in the card."""
    imgs, attrs = render_pool(2000, seed=4242, progress=False)
    r = evaluate(shipped.model, imgs, attrs)
    acc = r["accuracy"]
    assert acc["profession"] >= 0.99, acc
    assert acc["presentation"] >= 0.99, acc
    assert acc["unsafe"] >= 0.99, acc
    assert acc["age_group"] >= 0.98, acc
    assert acc["skin_tone"] >= 0.95, acc
    assert r["skin_tone_within_1"] >= 0.99, r["skin_tone_within_1"]
    # fairness target (issue 15): <= 3 points between presentation groups and between skin groups, every head
    # (n ~ 600-800 per group); exact Monk tone between skin groups is the documented exception (MST 1-3)
    for grouping in ("presentation", "skin_group"):
        for head, gap in r["max_gap"][grouping].items():
            limit = 0.07 if (grouping, head) == ("skin_group", "skin_tone") else 0.03
            assert gap <= limit, (grouping, head, r[f"by_{grouping}"][head])


def test_shipped_card_states_gaps_per_group_with_n_and_intervals(shipped):
    """The card's own figures: every head within 3 points across presentation and skin groups, clean renders,
    except exact tone across skin groups (measured 3.4 points, documented); n and Wilson intervals per group."""
    clean = shipped.card["clean"]
    assert clean["n"] >= 20000 and sum(clean["n_by_group"]["skin_group"].values()) == clean["n"]
    for grouping in ("presentation", "skin_group"):
        for head, gap in clean["max_gap"][grouping].items():
            if (grouping, head) != ("skin_group", "skin_tone"):
                assert gap <= 0.03, (grouping, head, gap)
        for head, by in clean["interval"][f"by_{grouping}"].items():
            for value, (lo, hi) in by.items():
                assert lo <= clean[f"by_{grouping}"][head][value] <= hi
    assert clean["max_gap"]["skin_group"]["skin_tone"] <= 0.04
    assert "--steps" in shipped.card["training"]["command"]


def test_training_writes_weights_and_card_and_is_reproducible_by_steps(tmp_path):
    from safetensors.torch import load_file

    from audit.labelers.world_train import train_world_labeler

    cards = []
    for name in ("a", "b"):
        cards.append(train_world_labeler(out=tmp_path / name, n_train=256, n_eval=128, steps=2, width=8,
                                         batch_size=32, progress=False))
    assert cards[0]["training"]["steps"] == 2 and "--steps 2" in cards[0]["training"]["command"]
    wa, wb = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    lab = WorldLabeler.from_pretrained(tmp_path / "a")
    assert lab.confusion("profession").shape == (24, 24)
    assert not (tmp_path / "a" / "checkpoint.safetensors").exists()


# ---------------------------------------------------------------------------
# domain: the world labeler answers out_of_domain off world renders
# ---------------------------------------------------------------------------

def test_shipped_domain_model_ships_as_safetensors_and_json():
    from audit.labelers.world_domain import DOMAIN_JSON, DOMAIN_WEIGHTS

    meta = json.loads((DEFAULT_DIR / DOMAIN_JSON).read_text())
    assert (DEFAULT_DIR / DOMAIN_WEIGHTS).exists()
    assert "python -m audit.labelers.world_domain" in meta["command"]
    assert meta["validation"]["world_clean"]["out_of_domain"] <= 0.01
    assert meta["validation"]["person_free"]["out_of_domain"] >= 0.9


def test_shipped_labeler_stays_in_domain_on_fresh_world_renders(shipped):
    """Gate: <= 1% out_of_domain on world renders (clean and augmented, seeds never used in the fit)."""
    from audit.labelers.world_domain import world_renders

    for augmented in (False, True):
        imgs = world_renders(600, seed=31337, augmented=augmented)
        df = shipped.label(list(imgs), image_ids=[str(i) for i in range(len(imgs))])
        ood = df[df.attribute == "presentation"].value.eq("out_of_domain").mean()
        assert ood <= 0.01, (augmented, ood)
        assert df.score.notna().all()  # the novelty score travels with every answer


def test_shipped_labeler_refuses_photos_noise_and_flat_colours(shipped):
    """Gate: >= 90% non-answers on person-free images; every attribute of them is out_of_domain, no guess."""
    from audit.labelers.world_domain import person_free_images

    sets = person_free_images(seed=99, crops_per_photo=4)
    for name in ("person_free", "noise", "flat"):
        imgs = sets[name]
        df = shipped.label(imgs, image_ids=[str(i) for i in range(len(imgs))])
        ood_ids = set(df[df.value == "out_of_domain"].image_id)
        assert len(ood_ids) / len(imgs) >= 0.9, (name, len(ood_ids), len(imgs))
        refused = df[df.image_id.isin(ood_ids)]
        assert (refused.value == "out_of_domain").all() and refused.confidence.isna().all()
        assert refused.probs.isna().all() and refused.reason.str.contains("not a world render").all()
        assert set(refused.attribute) == {*HEADS, "skin_group"}
    # the examples: the coffee cup, the cat and the rocket are no longer labelled
    from skimage import data

    df = shipped.label([data.coffee(), data.chelsea(), data.rocket()], image_ids=["coffee", "chelsea", "rocket"])
    assert (df.value == "out_of_domain").all()


def test_domain_fit_is_reproducible_and_loads(tmp_path):
    from safetensors.numpy import load_file

    from audit.labelers.world_domain import NoveltyScore, fit_domain

    for name in ("a", "b"):
        fit_domain(out=tmp_path / name, n_fit=400, n_calibration=200, n_validation=200, seed=11)
    ta, tb = load_file(str(tmp_path / "a" / "domain.safetensors")), load_file(str(tmp_path / "b" / "domain.safetensors"))
    assert all(np.array_equal(ta[k], tb[k]) for k in ("mean", "precision"))
    loaded = NoveltyScore.load(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "domain.json").read_text())
    assert loaded.threshold == meta["threshold"] and meta["n_fit"] == 400 and meta["n_calibration"] == 200
    (tmp_path / "a" / "domain.json").unlink()
    with pytest.raises(UserError, match="missing half"):
        NoveltyScore.load(tmp_path / "a")


def test_folder_without_domain_model_warns_and_names_the_fix(tmp_path):
    from safetensors.torch import save_file

    save_file(build_model(width=8).state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"width": 8}))
    with pytest.warns(UserWarning, match="audit.labelers.world_domain"):
        lab = WorldLabeler.from_pretrained(tmp_path)
    assert lab.domain_model is None
