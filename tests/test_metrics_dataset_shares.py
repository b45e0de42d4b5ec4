"""Image label shares per caption concept (image_by_concept.parquet) against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from audit.dataset.results import IMAGE_SHARE_COLUMNS, image_shares
from audit.metrics import correct_counts
from audit.metrics.posterior import posterior_estimate

VALUES = ["feminine", "masculine", "androgynous"]
C = np.array([[0.9, 0.08, 0.02], [0.05, 0.93, 0.02], [0.2, 0.2, 0.6]])


class Labeler:
    def __init__(self, counts: bool):
        self.counts = counts

    def confusion(self, attribute):
        return pd.DataFrame(C, index=VALUES, columns=VALUES) if attribute == "presentation" else None

    def confusion_counts(self, attribute):
        if not self.counts or attribute != "presentation":
            return None
        return pd.DataFrame(np.round(C * 300), index=VALUES, columns=VALUES)


def _tables(seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"i{k}" for k in range(400)]
    job = np.where(np.arange(400) < 250, "profession:nurse", "profession:pilot")
    p = {"profession:nurse": [0.8, 0.2, 0.0], "profession:pilot": [0.1, 0.9, 0.0]}
    value = [rng.choice(VALUES, p=p[j]) for j in job]
    value[5] = "no_face"  # a non-answer
    labels = pd.DataFrame({"image_id": ids, "attribute": "presentation", "value": value})
    concepts = pd.DataFrame({"image_id": ids, "concept": job})
    return labels, concepts


def test_every_cell_is_a_row_with_a_jeffreys_interval():
    labels, concepts = _tables()
    t = image_shares(labels, concepts, n_resamples=50)
    assert list(t.columns) == IMAGE_SHARE_COLUMNS
    assert len(t) == 2 * 3  # 2 concepts x (2 values seen + no_face), zero counts included
    pilot = t[t.concept == "profession:pilot"].set_index("value")
    assert pilot.loc["no_face", "n"] == 0 and pilot.loc["no_face", "lo"] == 0 and pilot.loc["no_face", "hi"] > 0
    n = float(pilot.n.sum())
    for value, row in pilot.iterrows():
        k = row.n
        a, b = k + 0.5, n - k + 0.5 * 2  # Dirichlet(1/2) marginal over the 3 values
        # the shortest interval holding 95% of Beta(a, b): never wider than the equal-tailed one
        assert beta.cdf(row.hi, a, b) - beta.cdf(row.lo, a, b) == pytest.approx(0.95, abs=0.006)
        assert row.hi - row.lo <= beta.ppf(0.975, a, b) - beta.ppf(0.025, a, b) + 0.005
        assert row.lo <= row.share <= row.hi or k == 0
        if k == 0:
            assert row.lo == 0.0 and row.hi == pytest.approx(beta.ppf(0.95, a, b), rel=0.03)
        assert row.share == pytest.approx(k / n)
    assert (t["method"] == "jeffreys_iid").all()


def test_corrected_shares_match_correct_counts_and_carry_the_matrix_uncertainty():
    labels, concepts = _tables(1)
    fixed = image_shares(labels, concepts, labeler=Labeler(counts=False), n_resamples=300)
    resampled = image_shares(labels, concepts, labeler=Labeler(counts=True), n_resamples=300)
    answered = labels[labels.value != "no_face"].merge(concepts, on="image_id")
    counts = answered.groupby(["concept", "value"]).size().rename("n").reset_index()
    direct = correct_counts(counts, pd.DataFrame(C, index=VALUES, columns=VALUES), concept="concept",
                            attribute="value")  # least squares: the correction="lsq" estimate
    direct["p"] = direct.n / direct.groupby("concept").n.transform("sum")
    lsq = image_shares(labels, concepts, labeler=Labeler(counts=False), n_resamples=0, correction="lsq")
    got = lsq.set_index(["concept", "value"]).loc[list(direct.set_index(["concept", "value"]).index)]
    assert got.share_corrected.to_numpy() == pytest.approx(direct.p.to_numpy(), abs=1e-6)
    # the default: raw shares moved by the Gibbs posterior's correction
    wide = counts.pivot(index="concept", columns="value", values="n").reindex(columns=VALUES).fillna(0.0)
    posterior = pd.DataFrame(posterior_estimate(wide.to_numpy(), C), index=wide.index, columns=VALUES).stack()
    got = fixed.set_index(["concept", "value"]).loc[list(posterior.index)]
    assert got.share_corrected.to_numpy() == pytest.approx(posterior.to_numpy(), abs=1e-6)
    assert got.n_answered.loc["profession:nurse"].iloc[0] == 249  # the no_face image is left out
    assert fixed.set_index(["concept", "value"]).loc[("profession:nurse", "no_face"), "share_corrected"] != \
        fixed.set_index(["concept", "value"]).loc[("profession:nurse", "no_face"), "share_corrected"]  # NaN
    assert (fixed.dropna(subset=["share_corrected"]).method_corrected == "jeffreys_iid+gibbs+confusion_fixed").all()
    assert (resampled.dropna(subset=["share_corrected"]).method_corrected
            == "jeffreys_iid+gibbs+confusion_resampled").all()
    w_fixed = (fixed.hi_corrected - fixed.lo_corrected).mean()
    w_resampled = (resampled.hi_corrected - resampled.lo_corrected).mean()
    assert w_resampled > w_fixed
    ok = fixed.dropna(subset=["share_corrected"])
    assert ((ok.lo_corrected <= ok.share_corrected + 1e-9) & (ok.share_corrected <= ok.hi_corrected + 1e-9)).all()


def test_clusters_widen_the_interval():
    labels, concepts = _tables(2)
    # 25 images per source page, and pages differ (all of a page share one label)
    page = pd.Series(np.arange(400) // 25, index=labels.image_id)
    first = labels.groupby(page.to_numpy()).value.transform("first")
    labels = labels.assign(value=first.to_numpy())
    iid = image_shares(labels, concepts, n_resamples=20)
    clustered = image_shares(labels, concepts, clusters=page, n_resamples=20)
    assert (clustered["method"] == "jeffreys_deff").all()
    assert (clustered.hi - clustered.lo).mean() > 2 * (iid.hi - iid.lo).mean()
