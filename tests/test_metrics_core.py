"""Counts, nPMI, Wilson intervals and the cluster bootstrap against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from audit.errors import UserError
from audit.metrics import (
    bootstrap_tables,
    cluster_bootstrap,
    cluster_counts,
    count_pairs,
    merge_counts,
    most_skewed,
    npmi,
    npmi_array,
    npmi_gaps,
    wide_labels,
    wilson_interval,
)


def _images(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "prompt_id": rng.integers(0, 40, n),
            "profession": rng.choice(["ceo", "nurse", "chef", "pilot"], n),
            "presentation": rng.choice(["feminine", "masculine", "androgynous"], n, p=[0.4, 0.5, 0.1]),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )


# ----------------------------------------------------------------------------- counts
def test_count_pairs_matches_masked_subsets():
    df = _images()
    df.loc[3, "profession"] = None
    c = count_pairs(df, concept="profession", attribute="presentation")
    for row in c.itertuples():
        mask = (df.profession == row.profession) & (df.presentation == row.presentation)
        assert row.n == mask.sum()
    assert c.n.sum() == len(df) - 1
    cw = count_pairs(df, concept="profession", attribute="presentation", weight="w")
    row = cw.iloc[0]
    mask = (df.profession == row.profession) & (df.presentation == row.presentation)
    assert row.n == pytest.approx(df.w[mask].sum())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xyz")), min_size=1, max_size=60), st.integers(1, 5))
def test_merge_of_shard_counts_equals_counts_of_concatenation(rows, k):
    df = pd.DataFrame(rows, columns=["c", "a"])
    shards = [df.iloc[i::k] for i in range(k)]
    merged = merge_counts(count_pairs(s, concept="c", attribute="a") for s in shards if len(s))
    whole = count_pairs(df, concept="c", attribute="a")
    pd.testing.assert_frame_equal(merged.reset_index(drop=True), whole, check_dtype=False)


def test_missing_columns_are_named():
    with pytest.raises(UserError, match="presentation"):
        count_pairs(pd.DataFrame({"profession": ["a"]}), concept="profession", attribute="presentation")


# ----------------------------------------------------------------------------- nPMI
def test_npmi_closed_form():
    # 2x2 table [[a, b], [c, d]]: check against the formula written out by hand
    c = pd.DataFrame({"x": ["u", "u", "v", "v"], "y": ["f", "m", "f", "m"], "n": [6, 2, 1, 3]})
    out = npmi(c, concept="x", attribute="y").set_index(["x", "y"]).npmi
    pxy, px, py = 6 / 12, 8 / 12, 7 / 12
    assert out["u", "f"] == pytest.approx(np.log(pxy / (px * py)) / -np.log(pxy))
    # independence gives 0; perfect association gives 1; zero count gives -1
    assert npmi_array(np.array([[2.0, 2.0], [3.0, 3.0]])) == pytest.approx(np.zeros((2, 2)))
    assert npmi_array(np.array([[5.0, 0.0], [0.0, 5.0]])).tolist() == [[1.0, -1.0], [-1.0, 1.0]]
    assert npmi_array(np.array([[7.0]])).tolist() == [[1.0]]
    assert np.isnan(npmi_array(np.array([[0.0, 0.0], [1.0, 2.0]]))[0]).all()


def test_npmi_matches_direct_computation_on_masked_subsets():
    df = _images(800, seed=3)
    out = npmi(count_pairs(df, concept="profession", attribute="presentation"), concept="profession", attribute="presentation")
    for row in out.itertuples():
        pxy = ((df.profession == row.profession) & (df.presentation == row.presentation)).mean()
        px, py = (df.profession == row.profession).mean(), (df.presentation == row.presentation).mean()
        assert row.npmi == pytest.approx(np.log(pxy / (px * py)) / -np.log(pxy))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=6, max_size=6), st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_npmi_in_range_and_batched_equals_single(a, b):
    n = np.array(a, dtype=float).reshape(2, 3)
    m = np.array(b, dtype=float).reshape(2, 3)
    batch = npmi_array(np.stack([n, m]))
    for single, bt in ((n, batch[0]), (m, batch[1])):
        v = npmi_array(single)
        assert np.array_equal(np.isnan(v), np.isnan(bt)) and np.allclose(v[~np.isnan(v)], bt[~np.isnan(bt)])
        finite = v[~np.isnan(v)]
        assert ((finite >= -1) & (finite <= 1)).all()
        # a non-empty row and column always give a defined value
        rows, cols = single.sum(1) > 0, single.sum(0) > 0
        assert not np.isnan(v[np.ix_(rows, cols)]).any()


def test_gaps_and_ranking():
    c = pd.DataFrame(
        {"job": ["ceo", "ceo", "nurse", "nurse", "chef", "chef"], "g": ["f", "m"] * 3, "n": [1, 9, 9, 1, 5, 5]}
    )
    gaps = npmi_gaps(c, concept="job", attribute="g", groups=("f", "m"))
    full = npmi(c, concept="job", attribute="g").set_index(["job", "g"]).npmi
    for row in gaps.itertuples():
        assert row.gap == pytest.approx(full[row.job, "f"] - full[row.job, "m"])
    top = most_skewed(gaps, k=2)
    assert set(top.job) == {"ceo", "nurse"} and top["rank"].tolist() == [1, 2]
    with pytest.raises(UserError, match="feminine"):
        npmi_gaps(c, concept="job", attribute="g")


# ----------------------------------------------------------------------------- Wilson
def test_wilson_matches_score_test_inversion():
    z = norm.ppf(0.975)
    for k, n in [(0, 10), (3, 10), (10, 10), (47, 120)]:
        lo, hi = wilson_interval(k, n)
        p_hat = k / n
        score = lambda p: abs(p_hat - p) / np.sqrt(p * (1 - p) / n) - z  # noqa: E731
        exp_lo = 0.0 if k == 0 else brentq(score, 1e-12, min(p_hat, 1 - 1e-12))
        exp_hi = 1.0 if k == n else brentq(score, max(p_hat, 1e-12), 1 - 1e-12)
        assert float(lo) == pytest.approx(exp_lo, abs=1e-9) and float(hi) == pytest.approx(exp_hi, abs=1e-9)
    lo, hi = wilson_interval(np.array([[1, 2], [0, 0]]), np.array([[4, 4], [0, 3]]), confidence=0.9)
    assert lo.shape == (2, 2) and np.isnan(lo[1, 0]) and hi[1, 1] < 0.6
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_tables_are_cluster_resamples():
    df = _images(300, seed=1)
    cc = cluster_counts(df, concept="profession", attribute="presentation", cluster="prompt_id")
    assert np.allclose(cc.table().n.sum(), len(df))
    b1 = bootstrap_tables(cc, n_resamples=200, seed=7)
    b2 = bootstrap_tables(cc, n_resamples=200, seed=7, chunk_cells=100)  # chunking does not change the draw count
    assert b1.shape == (200, 4, 3)
    assert np.array_equal(b1, bootstrap_tables(cc, n_resamples=200, seed=7))
    assert b2.shape == b1.shape
    # every resampled table is a sum of whole clusters: its total is a sum of 40 cluster sizes
    sizes = df.groupby("prompt_id").size().to_numpy()
    assert np.allclose(b1.sum(axis=(1, 2)).mean(), sizes.sum(), rtol=0.1)
    # the mean resampled table is close to the observed one
    assert np.allclose(b1.mean(0), cc.table().n, rtol=0.2, atol=3)


def test_bootstrap_of_nothing_is_a_clear_error():
    df = pd.DataFrame({"prompt_id": [1], "profession": [None], "presentation": ["feminine"]})
    with pytest.raises(UserError, match="no rows"):
        cluster_bootstrap(df, statistic=npmi_array, concept="profession", attribute="presentation")


def test_multiway_bootstrap_weights_are_products():
    df = pd.DataFrame({"p": [0, 0, 1, 1], "s": [0, 1, 0, 1], "c": "x", "a": ["f", "m", "f", "m"]})
    cc = cluster_counts(df, concept="c", attribute="a", cluster=("p", "s"))
    assert cc.n_levels == (2, 2) and cc.matrix.shape == (4, 2)
    b = bootstrap_tables(cc, n_resamples=300, seed=0)
    # weights per factor are multinomial(2, 1/2): totals are products of factor sums, always 4 in expectation
    assert set(np.unique(b.sum(axis=(1, 2)))) <= {0.0, 2.0, 4.0, 8.0}
    assert b.sum(axis=(1, 2)).mean() == pytest.approx(4.0, rel=0.15)


def _proportion_f(n):
    with np.errstate(all="ignore"):
        return n[..., 0] / n.sum(-1)


def test_cluster_bootstrap_coverage_by_simulation():
    """Percentile CIs of a clustered proportion cover the truth ~95% of the time; a row bootstrap does not."""
    rng = np.random.default_rng(123)
    n_sims, n_clusters, size, truth = 300, 60, 10, 0.3
    cover_cluster = cover_rows = 0
    for i in range(n_sims):
        p = rng.beta(truth * 4, (1 - truth) * 4, n_clusters)  # strong within-prompt correlation
        f = rng.random((n_clusters, size)) < p[:, None]
        df = pd.DataFrame(
            {
                "prompt_id": np.repeat(np.arange(n_clusters), size),
                "job": "x",
                "g": np.where(f.reshape(-1), "f", "m"),
            }
        )
        kw = dict(statistic=_proportion_f, concept="job", attribute="g", n_resamples=400, seed=i)
        r = cluster_bootstrap(df, cluster="prompt_id", **kw)
        cover_cluster += bool(r.lo[0] <= truth <= r.hi[0])
        r = cluster_bootstrap(df, cluster=None, **kw)
        cover_rows += bool(r.lo[0] <= truth <= r.hi[0])
    assert 0.91 <= cover_cluster / n_sims <= 0.985
    assert cover_rows / n_sims < 0.85


def test_cluster_bootstrap_shapes():
    df = _images(400)
    cell = cluster_bootstrap(df, statistic=npmi_array, concept="profession", attribute="presentation", n_resamples=100)
    assert len(cell) == 12 and (cell.lo <= cell.estimate + 1e-12).all() and (cell.hi >= cell.estimate - 1e-12).all()
    direct = npmi(count_pairs(df, concept="profession", attribute="presentation"), concept="profession", attribute="presentation")
    assert np.allclose(cell.estimate, direct.npmi)
    per_concept = cluster_bootstrap(
        df, statistic=_proportion_f, concept="profession", attribute="presentation", n_resamples=100
    )
    assert list(per_concept.columns) == ["profession", "estimate", "se", "lo", "hi", "method"] and len(per_concept) == 4
    scalar = cluster_bootstrap(
        df, statistic=lambda n: npmi_array(n).max(axis=(-2, -1)), concept="profession", attribute="presentation",
        n_resamples=50,
    )
    assert len(scalar) == 1 and scalar.se[0] > 0


# ----------------------------------------------------------------------------- wide labels
def test_wide_labels_pivot_and_collisions():
    m = pd.DataFrame({"image_id": ["a", "b", "c"], "profession": ["nurse", "ceo", "ceo"], "prompt_id": [0, 1, 1]})
    lab = pd.DataFrame(
        {
            "image_id": ["a", "b", "a", "c"],
            "labeler": ["w", "w", "w", "clip"],
            "attribute": ["presentation", "presentation", "profession", "presentation"],
            "value": ["feminine", "masculine", "nurse", "no_face"],
            "confidence": [0.9, 0.8, 0.7, np.nan],
        }
    )
    w = wide_labels(lab, m)
    assert w.presentation.tolist() == ["feminine", "masculine", "no_face"]
    assert w.profession.tolist() == ["nurse", "ceo", "ceo"] and w.profession_label.isna().tolist() == [False, True, True]
    w = wide_labels(lab, m, labeler="w", attributes=["presentation"])
    assert "profession_label" not in w and pd.isna(w.presentation[2])
    dup = pd.concat([lab, lab.assign(labeler="other")])
    with pytest.raises(UserError, match="labeler="):
        wide_labels(dup, m)


def test_two_way_bootstrap_covers_when_seeds_are_shared_across_prompts():
    """Seeds reused across prompts add variance a prompt-only bootstrap misses; the two-way one covers it
    (conservatively, as the pigeonhole bootstrap is known to)."""
    rng = np.random.default_rng(11)
    n_prompts, n_seeds, n_sims, truth = 25, 12, 200, 0.3
    cover_one = cover_two = 0
    for i in range(n_sims):
        p = truth + rng.uniform(-0.15, 0.15, n_prompts)[:, None] + rng.uniform(-0.15, 0.15, n_seeds)[None, :]
        y = rng.random((n_prompts, n_seeds)) < p
        df = pd.DataFrame({"prompt_id": np.repeat(np.arange(n_prompts), n_seeds),
                           "seed": np.tile(np.arange(n_seeds), n_prompts), "job": "x",
                           "g": np.where(y.reshape(-1), "f", "m")})
        kw = dict(statistic=_proportion_f, concept="job", attribute="g", n_resamples=300, seed=i)
        r = cluster_bootstrap(df, cluster="prompt_id", **kw)
        cover_one += bool(r.lo[0] <= truth <= r.hi[0])
        r = cluster_bootstrap(df, cluster=("prompt_id", "seed"), **kw)
        cover_two += bool(r.lo[0] <= truth <= r.hi[0])
    assert cover_two / n_sims >= 0.93
    assert cover_one / n_sims <= 0.9
