"""Interval methods of issue 15 against direct computations, and a small coverage check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import beta, chi2

from audit.metrics import (
    AuditFrame,
    INTERVALS,
    bias_amplification,
    bootstrap_tables,
    cluster_bootstrap,
    cluster_counts,
    correct_array,
    correct_draws,
    count_pairs,
    design_effect_posterior,
    dispersion,
    label_noise_factor,
    shortest_interval,
    draw_confusions,
    gap_array,
    npmi_array,
    posterior_tables,
    unit_strata,
)

VALUES = ("feminine", "masculine", "androgynous")


def _clustered(prompts=3, images=16, kappa=20.0, seed=0, p=None):
    rng = np.random.default_rng(seed)
    p = np.array([[0.7, 0.28, 0.02], [0.2, 0.79, 0.01], [0.5, 0.45, 0.05]]) if p is None else p
    rows = []
    pid = 0
    for i, share in enumerate(p):
        for _ in range(prompts):
            q = rng.dirichlet(kappa * share) if kappa else share
            rows += [(pid, f"job{i}", VALUES[v]) for v in rng.choice(3, size=images, p=q)]
            pid += 1
    return pd.DataFrame(rows, columns=["prompt_id", "profession", "presentation"]), p


def test_dispersion_matches_pearson_by_hand():
    df, _ = _clustered(seed=1)
    cc = cluster_counts(df, concept="profession", attribute="presentation", cluster="prompt_id")
    ratio, dof = dispersion(cc)
    stat, df_hand = 0.0, 0
    for _, sub in df.groupby("profession"):
        share = sub.presentation.value_counts(normalize=True)
        for _, cl in sub.groupby("prompt_id"):
            n = len(cl)
            k = cl.presentation.value_counts().reindex(share.index, fill_value=0)
            stat += float(((k - n * share) ** 2 / (n * share)).sum())
        df_hand += (sub.prompt_id.nunique() - 1) * (len(share) - 1)
    assert dof == df_hand
    assert ratio == pytest.approx(stat / df_hand)


def test_design_effect_posterior_is_bayes_rule_on_the_grid():
    df, _ = _clustered(seed=1)
    cc = cluster_counts(df, concept="profession", attribute="presentation", cluster="prompt_id")
    ratio, dof = dispersion(cc)
    d = design_effect_posterior(cc, no_effect=0.25)
    like = chi2.pdf(ratio * dof / d.values, dof) / d.values
    prior = np.r_[0.25, np.full(len(d.values) - 1, 0.75 / (len(d.values) - 1))]
    assert d.weights == pytest.approx(like * prior / (like * prior).sum(), rel=1e-6)
    assert d.values[0] == 1.0 and d.values[-1] == pytest.approx(max(16.0, 2 * ratio))  # up to the largest cluster
    assert d.df == dof and d.mean == pytest.approx(float(d.values @ d.weights))


def test_design_effect_shrinks_noise_toward_one_and_keeps_a_clear_effect():
    no_effect = [AuditFrame(_clustered(kappa=None, seed=s)[0], concept="profession", attribute="presentation",
                            n_resamples=0) for s in range(20)]
    effect = [AuditFrame(_clustered(prompts=10, images=16, kappa=5.0, seed=s)[0], concept="profession",
                         attribute="presentation", n_resamples=0) for s in range(5)]
    assert np.mean([af.design_effect for af in no_effect]) < 1.5  # 3 concepts x 3 prompts: df about 10
    assert np.mean([af.design.p_no_effect for af in no_effect]) > 0.25  # the data favour "no effect"
    # kappa = 5: ICC 1/6, phi = 1 + 15 / 6 = 3.5
    assert all(af.design.p_no_effect < 1e-6 for af in effect)
    assert np.mean([af.design_effect for af in effect]) == pytest.approx(3.5, rel=0.25)


def test_one_prompt_per_concept_falls_back_and_says_so():
    df, _ = _clustered(prompts=1, images=40)
    af = AuditFrame(df, concept="profession", attribute="presentation", attributes=VALUES, n_resamples=50)
    assert af.method == "jeffreys_iid_ignores_prompt_effects" and af.design_effect == 1.0
    assert "ignoring prompt effects" in INTERVALS[af.method]
    assert (af.by_group_ci["method"] == af.method).all()
    assert AuditFrame(df, concept="profession", attribute="presentation", cluster=None, n_resamples=10).method == "jeffreys_iid"


def test_proportion_interval_is_the_shortest_of_the_jeffreys_mixture():
    df, _ = _clustered(seed=2)
    af = AuditFrame(df, concept="profession", attribute="presentation", attributes=VALUES, n_resamples=50)
    assert af.method == "jeffreys_deff" and af.design_effect >= 1.0
    phi, w = af.design.representative()
    ci = af.by_group_ci
    for (job, value), row in ci.iterrows():
        sub = df[df.profession == job]
        k, n = float((sub.presentation == value).sum()), float(len(sub))
        a = k / phi + 0.5
        b = (n - k) / phi + 0.5 * (len(VALUES) - 1)
        cdf = lambda x: float(w @ beta.cdf(x, a, b))  # noqa: E731
        assert cdf(row.proportion_hi) - cdf(row.proportion_lo) == pytest.approx(0.95, abs=0.006)
        # no narrower interval with 95%: moving the window either way loses mass
        width = row.proportion_hi - row.proportion_lo
        for t in np.linspace(0.0, 0.05, 11):
            lo_t = brentq(lambda x: cdf(x) - t, 0.0, 1.0) if t > 0 else 0.0
            hi_t = brentq(lambda x: cdf(x) - t - 0.95, 0.0, 1.0)
            assert width <= hi_t - lo_t + 0.02 * width + 1e-9  # Monte Carlo error of 20,000 draws
        if k == 0:
            assert row.proportion_lo == 0.0


def test_zero_cell_gets_an_honest_upper_bound():
    df = pd.DataFrame({"prompt_id": np.repeat(range(40), 10), "job": ["a"] * 200 + ["b"] * 200,
                       "g": ["m"] * 200 + ["f", "m"] * 100})
    af = AuditFrame(df, concept="job", attribute="g", n_resamples=200)
    row = af.by_group_ci.loc[("a", "f")]
    assert row.proportion_lo == 0 and 0.005 < row.proportion_hi < 0.05
    assert np.isfinite(af.by_group.loc[("a", "f"), "npmi"]) and af.by_group.loc[("a", "f"), "npmi"] > -1
    gaps = af.gaps(groups=("f", "m"))
    assert (gaps.lo < gaps.gap).all() and (gaps.gap < gaps.hi).all()


def test_stratified_bootstrap_keeps_clusters_per_concept():
    df, _ = _clustered(prompts=4, images=5, seed=3)
    cc = cluster_counts(df, concept="profession", attribute="presentation", cluster="prompt_id")
    strata = unit_strata(cc)
    assert strata.tolist() == np.repeat(range(3), 4).tolist()
    tables = bootstrap_tables(cc, n_resamples=200, seed=0, stratified=True)
    assert np.allclose(tables.sum(axis=-1), 20.0)  # 4 clusters of 5 images per concept, always
    pooled = bootstrap_tables(cc, n_resamples=200, seed=0)
    assert pooled.sum(axis=-1).std() > 1.0  # the pooled bootstrap lets concept sizes vary
    r = cluster_bootstrap(df, statistic=npmi_array, concept="profession", attribute="presentation",
                          n_resamples=50, stratified=True)
    assert (r["method"] == "stratified_bootstrap").all()


def test_posterior_tables_are_dirichlet_on_effective_counts():
    n = np.array([[30.0, 10.0, 0.0], [0.0, 0.0, 0.0]])
    draws = posterior_tables(n, phi=2.0, size=20000, seed=1)
    assert np.allclose(draws.sum(axis=-1), [40.0, 0.0])
    alpha = n[0] / 2.0 + 0.5
    assert draws[:, 0].mean(axis=0) / 40.0 == pytest.approx(alpha / alpha.sum(), abs=0.005)
    var = alpha * (alpha.sum() - alpha) / (alpha.sum() ** 2 * (alpha.sum() + 1))
    assert (draws[:, 0] / 40.0).var(axis=0) == pytest.approx(var, rel=0.05)


def test_npmi_prior_is_plain_smoothing():
    n = np.array([[5.0, 0.0, 3.0], [2.0, 7.0, 0.0]])
    m = n + 0.5
    p = m / m.sum()
    direct = np.log(p / (p.sum(1, keepdims=True) * p.sum(0, keepdims=True))) / -np.log(p)
    assert npmi_array(n, prior=0.5) == pytest.approx(direct)
    assert npmi_array(n)[0, 1] == -1.0


def test_corrected_draws_resample_the_confusion_matrix():
    rng = np.random.default_rng(4)
    tables = rng.integers(0, 40, (30, 4, 3)).astype(float)
    mats = draw_confusions(np.array([[90.0, 6, 4], [5, 92, 3], [20, 20, 60]]), size=30, seed=2)
    direct = np.stack([correct_array(tables[i], mats[i]) for i in range(30)])
    assert correct_draws(tables, mats) == pytest.approx(direct, abs=1e-9)
    df, _ = _clustered(prompts=10, images=8, seed=5)
    counts = pd.DataFrame([[90, 6, 4], [5, 92, 3], [20, 20, 60]], index=VALUES, columns=VALUES)
    shares = counts.div(counts.sum(axis=1), axis=0)
    # 2,000 posterior draws (400 chains): with 400 the Monte Carlo error of the width exceeds the matrix's share
    kw = dict(concept="profession", attribute="presentation", attributes=VALUES, n_resamples=2000)
    with_counts = AuditFrame(df, confusion=counts, **kw)
    with_shares = AuditFrame(df, confusion=shares, **kw)
    assert with_counts.method_corrected == "jeffreys_deff+gibbs+confusion_resampled"
    assert with_shares.method_corrected == "jeffreys_deff+gibbs+confusion_fixed"
    assert with_counts.by_group.proportion_corrected.to_numpy() == pytest.approx(
        with_shares.by_group.proportion_corrected.to_numpy())
    wide = with_counts.by_group_ci
    narrow = with_shares.by_group_ci
    w1 = (wide.proportion_corrected_hi - wide.proportion_corrected_lo).mean()
    w0 = (narrow.proportion_corrected_hi - narrow.proportion_corrected_lo).mean()
    assert w1 > w0 * 1.02
    assert (with_counts.gaps(groups=("feminine", "masculine"))["method_corrected"]
            == "jeffreys_deff+gibbs+confusion_resampled").all()


def test_amplification_drops_values_the_reference_lacks():
    df, _ = _clustered(prompts=5, images=10, seed=6)
    ref = pd.DataFrame([(j, g, n) for j in ("job0", "job1", "job2") for g, n in (("feminine", 40), ("masculine", 60))],
                       columns=["profession", "presentation", "n"])
    ref.loc[ref.profession == "job1", "n"] = [10, 90]
    af = AuditFrame(df, concept="profession", attribute="presentation", attributes=VALUES, reference=ref,
                    n_resamples=100)
    gen = count_pairs(df, concept="profession", attribute="presentation")
    direct = bias_amplification(ref, gen, concept="profession", attribute="presentation")
    amp = af.amplification()
    assert amp.value.to_numpy() == pytest.approx(direct.value.to_numpy())
    # by hand: |A| = 2 in Zhao's threshold, androgynous images left out of P_gen(a | t)
    sub = gen[gen.presentation != "androgynous"]
    g = sub.pivot(index="profession", columns="presentation", values="n").fillna(0)
    g = g.div(g.sum(axis=1), axis=0)
    r = ref.pivot(index="profession", columns="presentation", values="n")
    r = r.div(r.sum(axis=1), axis=0)
    zhao = ((g - r) * (r > 0.5)).sum(axis=1).mean()
    assert amp.set_index("metric").loc["biasamp_zhao", "value"] == pytest.approx(zhao)
    assert (amp["method"] == "jeffreys_deff").all()


def test_current_method_still_available():
    df, _ = _clustered(seed=7)
    af = AuditFrame(df, concept="profession", attribute="presentation", interval="cluster_bootstrap", n_resamples=300)
    cc = cluster_counts(df, concept="profession", attribute="presentation", cluster="prompt_id")
    boot = bootstrap_tables(cc, n_resamples=300, seed=0)
    with np.errstate(invalid="ignore"):
        p = boot / boot.sum(axis=-1, keepdims=True)  # a concept can drop out of a pooled resample: NaN
    assert af.by_group_ci.proportion_lo.to_numpy() == pytest.approx(np.nanquantile(p, 0.025, axis=0).reshape(-1))
    assert (af.gaps(groups=("feminine", "masculine"))["method"] == "cluster_bootstrap").all()


def test_new_method_covers_where_the_percentile_bootstrap_does_not():
    """A small version of benchmarks/coverage.py: 3 prompts x 16 images with a prompt random effect."""
    truth = np.array([[0.7, 0.28, 0.02], [0.2, 0.79, 0.01], [0.5, 0.45, 0.05]])
    true_gap = gap_array(npmi_array(truth), VALUES, ("feminine", "masculine"))
    hits = {"auto": 0, "cluster_bootstrap": 0}
    gap_hits = 0
    runs = 60
    for r in range(runs):
        df, _ = _clustered(seed=100 + r, p=truth)
        for method in hits:
            af = AuditFrame(df, concept="profession", attribute="presentation", attributes=VALUES, interval=method,
                            n_resamples=200, seed=r)
            ci = af.by_group_ci
            hits[method] += ((ci.proportion_lo <= truth.reshape(-1)) & (truth.reshape(-1) <= ci.proportion_hi)).to_numpy()
            if method == "auto":
                g = af.gaps(groups=("feminine", "masculine"))
                gap_hits += ((g.lo <= true_gap) & (true_gap <= g.hi)).to_numpy()
    new, old = hits["auto"] / runs, hits["cluster_bootstrap"] / runs
    assert new.mean() >= 0.9 and new.min() >= 0.8, new
    assert old.mean() < new.mean() - 0.1, (old, new)
    assert (gap_hits / runs).mean() >= 0.88, gap_hits / runs


def test_tidy_results_rows_match_the_views():
    df, _ = _clustered(prompts=5, images=8, seed=8)
    counts = pd.DataFrame([[90, 6, 4], [5, 92, 3], [20, 20, 60]], index=VALUES, columns=VALUES)
    af = AuditFrame(df, concept="profession", attribute="presentation", confusion=counts, n_resamples=100)
    t = af.results(groups=("feminine", "masculine"))
    assert list(t.columns) == ["concept", "attribute", "value", "metric", "estimate", "lo", "hi", "n", "method",
                               "corrected"]
    row = t[(t.metric == "proportion") & (t.concept == "job1") & (t.value == "masculine") & ~t.corrected].iloc[0]
    ci = af.by_group_ci.loc[("job1", "masculine")]
    assert (row.estimate, row.lo, row.hi) == pytest.approx(
        (af.by_group.loc[("job1", "masculine"), "proportion"], ci.proportion_lo, ci.proportion_hi))
    assert row.n == (df.profession == "job1").sum() and row.method == "jeffreys_deff"
    gap = t[(t.metric == "npmi_gap") & t.corrected].set_index("concept")
    g = af.gaps(groups=("feminine", "masculine"))
    assert gap.estimate.to_numpy() == pytest.approx(g.gap_corrected.to_numpy())
    assert (gap.method == "jeffreys_deff+gibbs+confusion_resampled").all()
    assert len(t) == 2 * (3 * 3 * 2 + 3 * 2 + 3)  # raw + corrected: 2 cell metrics, 2 concept metrics, gaps


def test_several_cluster_columns_use_the_largest_design_effect():
    df, _ = _clustered(prompts=6, images=10, kappa=5.0, seed=9)
    df["seed"] = np.arange(len(df))  # one image per seed: alone it would say "independent"
    kw = dict(concept="profession", attribute="presentation", n_resamples=10)
    both = AuditFrame(df, cluster=("prompt_id", "seed"), **kw)
    prompt = AuditFrame(df, cluster="prompt_id", **kw)
    assert both.design_effect == pytest.approx(prompt.design_effect) and both.design_effect > 1.5


def test_shortest_interval_matches_a_direct_search():
    rng = np.random.default_rng(0)
    x = rng.gamma(1.5, size=(4000, 3))
    lo, hi = shortest_interval(x, confidence=0.9)
    for j in range(3):
        s = np.sort(x[:, j])
        k = int(np.ceil(0.9 * len(s)))
        widths = s[k - 1:] - s[: len(s) - k + 1]
        i = int(np.argmin(widths))
        assert (lo[j], hi[j]) == (s[i], s[i + k - 1])
    y = x.copy()
    y[:100, 0] = np.nan  # NaN draws are ignored
    lo_nan, _ = shortest_interval(y, confidence=0.9)
    assert np.isfinite(lo_nan).all()


def test_label_noise_factor_restores_the_true_shares_design_effect():
    # Prompts vary the true shares (kappa = 10, 16 images: phi = 1 + 15 / 11); labels pass through C.
    conf = np.array([[0.94, 0.04, 0.02], [0.03, 0.95, 0.02], [0.2, 0.2, 0.6]])
    rng = np.random.default_rng(5)
    ratios, factors, truth_ratios = [], [], []
    for seed in range(6):
        df, _ = _clustered(prompts=30, images=16, kappa=10.0, seed=seed)
        idx = pd.Series(VALUES).reset_index().set_index(0)["index"]
        true = idx[df.presentation].to_numpy()
        obs = (rng.random((len(df), 1)) > np.cumsum(conf, axis=1)[true]).sum(1).clip(0, 2)
        df["observed"] = np.array(VALUES, dtype=object)[obs]
        cc = cluster_counts(df, concept="profession", attribute="observed", cluster="prompt_id", attributes=VALUES)
        ratios.append(dispersion(cc)[0])
        factors.append(label_noise_factor(cc, conf, correct_array(cc.table().n, conf)))
        truth_ratios.append(dispersion(cluster_counts(df, concept="profession", attribute="presentation",
                                                      cluster="prompt_id", attributes=VALUES))[0])
    diluted = np.mean(ratios)
    restored = 1 + np.mean(factors) * (diluted - 1)
    assert np.mean(factors) > 1.1 and diluted < np.mean(truth_ratios) - 0.1  # label noise dilutes the effect
    assert restored == pytest.approx(np.mean(truth_ratios), rel=0.1)
