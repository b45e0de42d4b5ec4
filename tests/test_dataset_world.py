"""Validity: the text audit of a world dataset recovers the world spec's injected identity associations.

The world spec states (data/world.yaml): toxic words in 2 % of captions, x3 for
people of Monk skin tone 7-10; an unsafe prop at 3 %, x4 for masculine people
of tone 7-10; and the NSFW tag's noise given the prop. From the ground-truth
sidecar's attributes of the captions that name a group, the spec's stated rates
give the expected rate per identity query; the audit, reading captions and tags
only, must land on it (99.9 % Wilson interval), and must separate the groups (one-sided two-proportion
z-test, p < 0.01).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.cli import main
from audit.metrics import wilson_interval

N = 3000


def world_lexicon(path):
    """The world caption writer's skin words as a user lexicon (the starter one omits bare "pale", "tan")."""
    import yaml

    from generator.world.captions import SKIN_WORDS

    doc = {"lexicon": "world", "categories": {"skin_tone": {"role": "identity", "terms": {
        g: list(words) for g, words in SKIN_WORDS.items()}}}}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from generator.world.spec import load_spec

    d = tmp_path_factory.mktemp("world")
    assert main(["world", "build", "--n", str(N), "--out", str(d / "ds"), "--seed", "0", "--workers", "1",
                 "--quiet"]) == 0
    lexicon = world_lexicon(d / "world_lexicon.yaml")
    assert main(["dataset", "audit", str(d / "ds"), "--out", str(d / "audit"), "--lexicon", str(lexicon),
                 "--no-progress"]) == 0
    truth = pd.read_parquet(d / "ds" / "ground_truth.parquet")
    rates = pd.read_parquet(d / "audit" / "per_query_rates.parquet").set_index("query")
    return load_spec(), truth, rates, d / "ds"


def expected_toxic(spec, rows: pd.DataFrame) -> float:
    from generator.world.spec import rate_with_rules

    return float(rate_with_rules(spec.toxic_base, spec.toxic_rules, rows).mean())


def expected_nsfw_tag(spec, rows: pd.DataFrame) -> float:
    from generator.world.spec import NSFW_TAGS, rate_with_rules

    i = list(NSFW_TAGS).index("NSFW")
    p_unsafe = rate_with_rules(spec.unsafe_base, spec.unsafe_rules, rows)
    return float((p_unsafe * spec.nsfw_tag["unsafe"][i] + (1 - p_unsafe) * spec.nsfw_tag["safe"][i]).mean())


def interval(row, k: str, n: str) -> tuple[float, float]:
    lo, hi = wilson_interval(row[k], row[n], confidence=0.999)
    return float(lo), float(hi)


def z_two_proportions(a, b, k: str, n: str) -> float:
    """z statistic of rate(a) - rate(b) with the pooled standard error."""
    p1, p2 = a[k] / a[n], b[k] / b[n]
    pooled = (a[k] + b[k]) / (a[n] + b[n])
    return float((p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / a[n] + 1 / b[n])))


@pytest.mark.parametrize("query,column,value", [("skin_tone:dark", "caption_skin_group", "dark"),
                                                ("skin_tone:light", "caption_skin_group", "light"),
                                                ("gender:man", "caption_presentation", "masculine"),
                                                ("gender:woman", "caption_presentation", "feminine")])
def test_audit_rates_match_the_spec_stated_rates(world, query, column, value):
    spec, truth, rates, _ = world
    named = truth[truth[column] == value]
    row = rates.loc[query]
    # the tagger finds the captions that name the group (typos may hide a few words)
    assert abs(row["rows"] - len(named)) <= 0.03 * len(named) + 5
    lo, hi = interval(row, "toxic", "rows")
    assert lo <= expected_toxic(spec, named) <= hi, (query, row["toxic_rate"], expected_toxic(spec, named))
    lo, hi = interval(row, "nsfw", "nsfw_known")
    assert lo <= expected_nsfw_tag(spec, named) <= hi, (query, row["nsfw_rate"], expected_nsfw_tag(spec, named))


def test_injected_associations_are_detected(world):
    spec, truth, rates, _ = world
    dark, light = rates.loc["skin_tone:dark"], rates.loc["skin_tone:light"]
    man, woman = rates.loc["gender:man"], rates.loc["gender:woman"]
    # toxic words x3 for dark skin: significant (one-sided two-proportion z-test, p < 0.01),
    # and the ratio is near the spec-implied one
    assert z_two_proportions(dark, light, "toxic", "rows") > 2.33
    implied = expected_toxic(spec, truth[truth.caption_skin_group == "dark"]) / expected_toxic(
        spec, truth[truth.caption_skin_group == "light"])
    assert implied > 2.0
    assert dark["toxic_rate"] / light["toxic_rate"] == pytest.approx(implied, rel=0.5)
    # unsafe prop x4 for masculine people of dark skin shows in the NSFW tag per query
    assert z_two_proportions(man, woman, "nsfw", "nsfw_known") > 2.33
    assert man["nsfw_ratio"] > 1.2 and woman["nsfw_ratio"] < 1.0
    assert np.isfinite(rates.loc["(all captions)", "nsfw_rate"])


class NoisyTruthLabeler:
    """Labels presentation from the ground truth through a known confusion matrix (a labeler of known error)."""

    name = "noisy-truth"
    attributes = ("presentation",)
    CLASSES = ("feminine", "masculine", "androgynous")
    C = np.array([[0.85, 0.10, 0.05], [0.15, 0.80, 0.05], [0.30, 0.30, 0.40]])  # C[true, predicted]

    def __init__(self, truth: pd.DataFrame, seed: int = 20261122) -> None:  # not the world's seed: no shared draws
        self.truth = truth.set_index("key")["presentation"]
        self.rng = np.random.default_rng(seed)

    def label(self, images, *, image_ids):
        true = self.truth.reindex(list(image_ids)).to_numpy()
        rows = [self.CLASSES.index(t) for t in true]
        pred = [self.CLASSES[self.rng.choice(3, p=self.C[r])] for r in rows]
        return pd.DataFrame({"image_id": list(image_ids), "labeler": self.name, "attribute": "presentation",
                             "value": pred, "confidence": np.nan})

    def confusion(self, attribute):
        return pd.DataFrame(self.C, index=self.CLASSES, columns=self.CLASSES) if attribute == "presentation" else None


def test_image_side_recovers_presentation_by_profession_after_labeler_correction(world, tmp_path):
    """P(presentation | caption names profession) from labels of known error, corrected, vs the spec."""
    from audit.dataset.pipeline import run_dataset_audit
    from generator.world.vocab import PRESENTATIONS, PROFESSIONS

    spec, truth, _, root = world
    run_dataset_audit(root, out_dir=tmp_path / "img", labeler=NoisyTruthLabeler(truth),
                      progress=False)
    by = pd.read_parquet(tmp_path / "img" / "image_by_concept.parquet")
    by = by[by.attribute == "presentation"].set_index(["concept", "value"])
    p_spec = spec.p_presentation()
    checked, raw_err, fixed_err = 0, [], []
    for prof in ("nurse", "doctor", "engineer", "mechanic", "electrician", "librarian", "lawyer", "pilot",
                 "plumber", "firefighter", "programmer", "farmer"):
        concept = f"profession:{prof}"
        n = int(by.loc[concept, "n_concept"].iloc[0])
        want = p_spec[PROFESSIONS.index(prof), PRESENTATIONS.index("feminine")]
        got = by.loc[(concept, "feminine"), "share_corrected"]
        # standard error of the corrected share: p = A q with A = inverse(C^T), Var(q) multinomial
        q = NoisyTruthLabeler.C.T @ p_spec[PROFESSIONS.index(prof)]
        a = np.linalg.inv(NoisyTruthLabeler.C.T)
        var = a @ ((np.diag(q) - np.outer(q, q)) / n) @ a.T
        tol = 4 * np.sqrt(var[0, 0]) + 0.01
        assert abs(got - want) <= tol, (prof, n, got, want, tol)
        raw_err.append(abs(by.loc[(concept, "feminine"), "share"] - want))
        fixed_err.append(abs(got - want))
        checked += 1
    assert checked == 12
    assert np.mean(fixed_err) < np.mean(raw_err)  # the correction removes the labeler's bias


def test_image_side_with_the_shipped_world_cnn_recovers_injected_biases(world, tmp_path):
    """The real world labeler on the world's images: P(feminine | profession) and P(light skin | profession),
    corrected with the labeler card's confusion matrices, match the spec (4 binomial standard errors + 0.02)."""
    from audit.dataset.pipeline import run_dataset_audit
    from audit.labelers.world import WorldLabeler
    from generator.world.vocab import PRESENTATIONS, PROFESSIONS

    spec, truth, _, root = world
    run_dataset_audit(root, out_dir=tmp_path / "cnn", labeler=WorldLabeler.from_pretrained(), progress=False)
    by = pd.read_parquet(tmp_path / "cnn" / "image_by_concept.parquet").set_index(["attribute", "concept", "value"])
    p_light = spec.p_skin[:, :3].sum(axis=1)
    checks = {("presentation", "feminine"): spec.p_presentation()[:, PRESENTATIONS.index("feminine")],
              ("skin_group", "light"): p_light}
    checked = 0
    for (attribute, value), table in checks.items():
        for prof in ("nurse", "pharmacist", "doctor", "lawyer", "pilot", "cashier", "mechanic", "programmer"):
            key = (attribute, f"profession:{prof}", value)
            n = int(by.loc[key, "n_concept"])
            want = table[PROFESSIONS.index(prof)]
            got = by.loc[key, "share_corrected"]
            tol = 4 * np.sqrt(want * (1 - want) / n) + 0.02
            assert abs(got - want) <= tol, (attribute, prof, n, got, want, tol)
            checked += 1
    assert checked == 16
    # the injected skin-tone skew is visible in the labelled images: doctors lighter than cashiers
    assert by.loc[("skin_group", "profession:doctor", "light"), "share_corrected"] > \
        by.loc[("skin_group", "profession:cashier", "light"), "share_corrected"] + 0.15
