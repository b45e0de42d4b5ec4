"""Bayesian (Gibbs data-augmentation) labeler-error correction: audit.metrics.posterior and AuditFrame's use of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.metrics import AuditFrame
from audit.metrics.correction import correct_array, draw_confusions
from audit.metrics.posterior import expected_shares, posterior_shares

#: Heavy confusion between values 0 and 1 (like Monk tones 1 <-> 2 on JPEG worlds: 22 % and 24 %).
HEAVY = np.array([[0.76, 0.22, 0.02], [0.24, 0.74, 0.02], [0.01, 0.01, 0.98]])


def test_identity_matrix_gives_the_jeffreys_posterior_of_the_labels():
    n = np.array([[60.0, 30.0, 10.0], [0.0, 5.0, 0.0]])
    expected = (n + 0.5) / (n.sum(axis=1, keepdims=True) + 1.5)
    assert expected_shares(n, np.eye(3)) == pytest.approx(expected, abs=1e-12)
    d = posterior_shares(n, np.eye(3), size=4000, seed=1)
    assert d.mean(axis=0) == pytest.approx(expected, abs=0.005)
    # Dirichlet(n + 1/2) marginal sd of the first cell
    a, b = 60.5, 41.5 - 0.5 + 0.5
    assert d[:, 0, 0].std() == pytest.approx(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))), rel=0.08)
    assert np.allclose(d.sum(axis=-1), 1.0)


def test_no_labels_give_nan_and_counts_may_be_fractional():
    d = posterior_shares(np.array([[0.0, 0.0], [2.5, 7.5]]), np.array([[0.9, 0.1], [0.2, 0.8]]), size=50)
    assert np.isnan(d[:, 0]).all() and np.isfinite(d[:, 1]).all()


def test_asymmetric_labeler_posterior_lowers_error_and_covers():
    """Known truth, a known asymmetric labeler, matrix estimated from 500 validation images per class."""
    rng = np.random.default_rng(7)
    truth = np.array([[0.30, 0.60, 0.10], [0.10, 0.85, 0.05], [0.55, 0.40, 0.05], [0.20, 0.50, 0.30]])
    c = np.array([[0.80, 0.15, 0.05], [0.03, 0.95, 0.02], [0.20, 0.20, 0.60]])  # true 0 often read as 1
    err_raw = err_cor = 0.0
    hits = cells = 0
    for rep in range(60):
        n = np.stack([rng.multinomial(300, c.T @ p) for p in truth]).astype(float)
        v = np.stack([rng.multinomial(500, row) for row in c]).astype(float)
        mats = draw_confusions(v, size=200, seed=rep)
        d = posterior_shares(n, mats, size=1000, seed=rep)
        est = expected_shares(n, v / v.sum(axis=1, keepdims=True))
        lo, hi = np.quantile(d, [0.025, 0.975], axis=0)
        err_raw += np.abs(n / 300 - truth).mean()
        err_cor += np.abs(est - truth).mean()
        hits += int(((lo <= truth) & (truth <= hi)).sum())
        cells += truth.size
    assert err_cor < 0.75 * err_raw  # measured 0.66x
    assert hits / cells >= 0.93


def test_boundary_share_is_not_pinned_at_zero():
    """True share 0.15 under heavy 0 <-> 1 confusion: least squares can pin it at 0, the posterior does not."""
    n = np.array([[14.0, 45.0, 95.0]])  # observed 0.09 where 0.76 * 0.15 + 0.24 * 0.35 = 0.20 is expected
    assert correct_array(n, HEAVY)[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert expected_shares(n, HEAVY)[0, 0] > 0.02  # measured 0.025
    # 200 repeats of 150 images: one concept each, all chains at once
    rng = np.random.default_rng(0)
    truth = np.array([0.15, 0.35, 0.50])
    n = rng.multinomial(150, HEAVY.T @ truth, size=200).astype(float)
    lsq, est = correct_array(n, HEAVY)[:, 0] / 150, expected_shares(n, HEAVY)[:, 0]
    d = posterior_shares(n, HEAVY, size=1000, seed=0)[..., 0]
    lo, hi = np.quantile(d, [0.025, 0.975], axis=0)
    assert (lsq < 1e-9).any() and est.min() > 0.02
    assert np.abs(est - 0.15).mean() < np.abs(lsq - 0.15).mean() < np.abs(n[:, 0] / 150 - 0.15).mean()
    assert ((lo <= 0.15) & (0.15 <= hi)).mean() >= 0.92  # measured 0.935


def _frame_data(rng: np.random.Generator, p: np.ndarray, c: np.ndarray, n: int) -> pd.DataFrame:
    names = np.array(["a", "b", "c"], dtype=object)
    true = rng.choice(3, size=n, p=p)
    seen = np.array([rng.choice(3, p=c[t]) for t in true])
    return pd.DataFrame({"prompt_id": np.arange(n), "job": "x", "g": names[seen]})


def test_auditframe_uses_the_posterior_for_jeffreys_methods():
    rng = np.random.default_rng(3)
    df = _frame_data(rng, np.array([0.15, 0.35, 0.50]), HEAVY, 400)
    v = pd.DataFrame(np.round(HEAVY * 1000), index=list("abc"), columns=list("abc"))
    af = AuditFrame(df, concept="job", attribute="g", cluster=None, confusion=v, n_resamples=400, seed=0)
    assert af.method_corrected == "jeffreys_iid+gibbs+confusion_resampled"
    lsq = AuditFrame(df, concept="job", attribute="g", cluster=None, confusion=v, n_resamples=400, seed=0,
                     correction="lsq")
    assert lsq.method_corrected == "jeffreys_iid+confusion_resampled"
    bg, ci = af.by_group, af.by_group_ci
    assert bg.proportion_corrected.sum() == pytest.approx(1.0)
    assert ((ci.proportion_corrected_lo <= bg.proportion_corrected + 1e-9)
            & (bg.proportion_corrected <= ci.proportion_corrected_hi + 1e-9)).all()
    # a bootstrap method keeps the least-squares correction (its draws are resamples, not posterior draws)
    boot = AuditFrame(df.assign(prompt_id=np.arange(len(df)) % 40), concept="job", attribute="g", confusion=v,
                      n_resamples=100, interval="stratified_bootstrap")
    assert boot.method_corrected == "stratified_bootstrap+confusion_resampled"
    with pytest.raises(Exception, match="correction"):
        AuditFrame(df, concept="job", attribute="g", confusion=v, correction="magic")
