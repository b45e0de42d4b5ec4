"""Representation, amplification, labeler-error correction and AuditFrame against direct computations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from audit.errors import UserError
from audit.metrics import (
    AuditFrame,
    bias_amplification,
    correct_array,
    correct_counts,
    count_pairs,
    npmi,
    proportions,
    reference_gap,
    representation,
    rogan_gladen,
    simplex_lsq,
    simplex_lsq_batch,
)

JOBS = ["ceo", "chef", "nurse", "pilot"]
GROUPS = ["androgynous", "feminine", "masculine"]


def _images(n=600, seed=0, p=(0.1, 0.4, 0.5)):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "prompt_id": rng.integers(0, 60, n),
            "profession": rng.choice(JOBS, n),
            "presentation": rng.choice(GROUPS, n, p=list(p)),
        }
    )


# ----------------------------------------------------------------------------- representation
def test_proportions_and_representation_match_masked_subsets():
    df = _images()
    counts = count_pairs(df, concept="profession", attribute="presentation")
    props = proportions(counts, concept="profession", attribute="presentation")
    rep = representation(counts, concept="profession", attribute="presentation").set_index("profession")
    for job in JOBS:
        sub = df[df.profession == job]
        shares = np.array([(sub.presentation == g).mean() for g in GROUPS])
        got = props[props.profession == job].set_index("presentation").p[GROUPS].to_numpy()
        assert got == pytest.approx(shares)
        assert rep.loc[job, "mad_from_uniform"] == pytest.approx(np.mean(np.abs(shares - 1 / 3)))
        nz = shares[shares > 0]
        assert rep.loc[job, "normalized_entropy"] == pytest.approx(-(nz * np.log(nz)).sum() / np.log(3))
    assert ((props.lo <= props.p) & (props.p <= props.hi)).all()


def test_reference_gap_difference_and_ratio():
    obs = pd.DataFrame({"job": ["nurse"] * 2 + ["ceo"] * 2, "g": ["f", "m"] * 2, "n": [9, 1, 1, 3]})
    ref = pd.DataFrame({"job": ["nurse", "nurse", "ceo", "ceo", "judge", "judge"], "g": ["f", "m"] * 3,
                        "p": [0.87, 0.13, 0.3, 0.7, 0.5, 0.5]})
    out = reference_gap(obs, ref, concept="job", attribute="g").set_index(["job", "g"])
    assert set(out.index.get_level_values(0)) == {"nurse", "ceo"}
    assert out.loc[("nurse", "f"), "difference"] == pytest.approx(0.9 - 0.87)
    assert out.loc[("ceo", "m"), "ratio"] == pytest.approx(0.75 / 0.7)
    with pytest.raises(UserError, match="'n' or a share column 'p'"):
        reference_gap(obs, ref.drop(columns="p"), concept="job", attribute="g")


# ----------------------------------------------------------------------------- amplification
def _direct_amplification(ref, gen):
    """Formulas of Zhao 2017 / Wang & Russakovsky 2021 written as explicit loops."""
    n_t, n_a = ref.shape
    total = ref.sum()
    zhao = t2a = a2t = 0.0
    for t, a in itertools.product(range(n_t), range(n_a)):
        p_a_t, g_a_t = ref[t, a] / ref[t].sum(), gen[t, a] / gen[t].sum()
        p_t_a, g_t_a = ref[t, a] / ref[:, a].sum(), gen[t, a] / gen[:, a].sum()
        y = ref[t, a] / total > (ref[t].sum() / total) * (ref[:, a].sum() / total)
        if p_a_t > 1 / n_a:
            zhao += g_a_t - p_a_t
        t2a += (g_a_t - p_a_t) if y else -(g_a_t - p_a_t)
        a2t += (g_t_a - p_t_a) if y else -(g_t_a - p_t_a)
    return zhao / n_t, t2a / (n_t * n_a), a2t / (n_t * n_a)


def _long(arr, rows, cols):
    return pd.DataFrame(
        [(r, c, arr[i, j]) for i, r in enumerate(rows) for j, c in enumerate(cols)], columns=["job", "g", "n"]
    )


def test_amplification_matches_direct_formulas():
    rng = np.random.default_rng(5)
    for _ in range(5):
        ref = rng.integers(1, 50, (4, 3)).astype(float)
        gen = rng.integers(1, 50, (4, 3)).astype(float)
        got = bias_amplification(_long(ref, JOBS, GROUPS), _long(gen, JOBS, GROUPS), concept="job", attribute="g")
        assert got.value.to_numpy() == pytest.approx(_direct_amplification(ref, gen))


def test_amplification_signs_and_closed_form():
    ref = _long(np.array([[7.0, 3.0], [3.0, 7.0]]), ["ceo", "nurse"], ["m", "f"])
    more = _long(np.array([[9.0, 1.0], [1.0, 9.0]]), ["ceo", "nurse"], ["m", "f"])
    less = _long(np.array([[5.0, 5.0], [5.0, 5.0]]), ["ceo", "nurse"], ["m", "f"])
    up = bias_amplification(ref, more, concept="job", attribute="g").set_index("metric").value
    down = bias_amplification(ref, less, concept="job", attribute="g").set_index("metric").value
    assert up["biasamp_zhao"] == pytest.approx(0.2) and up["biasamp_t_to_a"] == pytest.approx(0.2)
    assert (down < 0).all() and down["biasamp_zhao"] == pytest.approx(-0.2)


# ----------------------------------------------------------------------------- correction
def test_correction_recovers_true_proportions():
    conf = pd.DataFrame(
        [[0.80, 0.15, 0.05], [0.10, 0.85, 0.05], [0.05, 0.05, 0.90]], index=GROUPS, columns=GROUPS
    )
    c = conf.to_numpy()
    true = np.array([[0.1, 0.7, 0.2], [0.05, 0.15, 0.8], [0.0, 0.5, 0.5]])
    observed = true @ c  # q = C^T p, row-wise
    assert simplex_lsq(observed, c) == pytest.approx(true, abs=1e-6)
    counts = _long(observed * 1000, JOBS[:3], GROUPS).rename(columns={"job": "profession", "g": "presentation"})
    fixed = correct_counts(counts, conf, concept="profession", attribute="presentation")
    assert fixed.n.to_numpy().reshape(3, 3) == pytest.approx(true * 1000, abs=1e-3)
    # the corrected table feeds nPMI like a raw one
    assert npmi(fixed, concept="profession", attribute="presentation").npmi.between(-1, 1).all()


def test_correction_with_sampling_noise_stays_on_simplex_and_is_closer_to_truth():
    rng = np.random.default_rng(0)
    c = np.array([[0.7, 0.3], [0.25, 0.75]])
    truth = 0.2
    labels_true = rng.random(4000) < truth
    flip = np.where(labels_true, rng.random(4000) < c[0, 1], rng.random(4000) < c[1, 0])
    obs = (labels_true ^ flip).mean()  # observed share of the first class
    q = np.array([obs, 1 - obs])
    p = simplex_lsq(q, c)
    assert p.sum() == pytest.approx(1) and (p >= 0).all()
    assert abs(p[0] - truth) < abs(obs - truth) / 3
    assert float(rogan_gladen(obs, sensitivity=c[0, 0], specificity=c[1, 1])) == pytest.approx(p[0], abs=1e-6)
    # out-of-range observation: Rogan-Gladen clips, LSQ lands on the boundary
    assert float(rogan_gladen(0.1, sensitivity=0.7, specificity=0.75)) == 0.0
    assert simplex_lsq(np.array([0.1, 0.9]), c)[0] == pytest.approx(0.0, abs=1e-8)


def test_batch_solver_agrees_with_scipy():
    rng = np.random.default_rng(1)
    for k in (2, 3, 4):
        c = rng.dirichlet(np.ones(k), size=k) * 0.4 + np.eye(k) * 0.6  # rows sum to 1, diagonal dominant
        q = rng.dirichlet(np.ones(k) * 0.5, size=40)  # many fall outside C^T(simplex): boundary solutions
        assert simplex_lsq_batch(q, c) == pytest.approx(simplex_lsq(q, c), abs=2e-5)
    batch = np.stack([q, q[::-1]])
    assert simplex_lsq_batch(batch, c).shape == batch.shape
    assert correct_array(np.array([[0.0, 0.0, 0.0, 0.0]]), c).tolist() == [[0.0] * 4]


def test_corrected_intervals_cover_the_truth_raw_ones_do_not():
    rng = np.random.default_rng(7)
    c = np.array([[0.9, 0.1], [0.3, 0.7]])  # observed share 0.48 for a true 0.3
    conf = pd.DataFrame(c, index=["feminine", "masculine"], columns=["feminine", "masculine"])
    truth, n_sims, cover_raw, cover_fixed = 0.3, 120, 0, 0
    for i in range(n_sims):
        true_fem = rng.random((40, 10)) < rng.beta(3, 7, 40)[:, None]  # clustered, mean 0.3
        flip = rng.random((40, 10)) < np.where(true_fem, c[0, 1], c[1, 0])
        seen = np.where(true_fem ^ flip, "feminine", "masculine").reshape(-1)
        df = pd.DataFrame({"prompt_id": np.repeat(np.arange(40), 10), "profession": "x", "presentation": seen})
        af = AuditFrame(df, concept="profession", attribute="presentation", confusion=conf, n_resamples=300, seed=i)
        ci = af.by_group_ci.loc[("x", "feminine")]
        cover_raw += bool(ci.proportion_lo <= truth <= ci.proportion_hi)
        cover_fixed += bool(ci.proportion_corrected_lo <= truth <= ci.proportion_corrected_hi)
    assert cover_fixed / n_sims >= 0.88 and cover_raw / n_sims < 0.5


def test_correction_errors_are_clear():
    conf = pd.DataFrame([[0.9, 0.1], [0.1, 0.9]], index=["f", "m"], columns=["f", "m"])
    counts = pd.DataFrame({"job": ["x"], "g": ["no_face"], "n": [3]})
    with pytest.raises(UserError, match="no_face"):
        correct_counts(counts, conf, concept="job", attribute="g")
    with pytest.raises(UserError, match="no_face"):
        AuditFrame(counts.assign(prompt_id=0), concept="job", attribute="g", confusion=conf)


# ----------------------------------------------------------------------------- AuditFrame
def test_audit_frame_views_match_direct_computation():
    df = _images(900, seed=2)
    ref = pd.DataFrame(
        [(j, g, n) for j in JOBS for g, n in zip(GROUPS, [10, 30, 60], strict=True)], columns=["profession", "presentation", "n"]
    )
    conf = pd.DataFrame(np.eye(3) * 0.8 + 0.2 / 3, index=GROUPS, columns=GROUPS)
    af = AuditFrame(df, concept="profession", attribute="presentation", reference=ref, confusion=conf, n_resamples=300)
    bg = af.by_group
    counts = count_pairs(df, concept="profession", attribute="presentation")
    direct = npmi(counts, concept="profession", attribute="presentation", prior=0.5)
    assert bg.npmi.to_numpy() == pytest.approx(direct.npmi.to_numpy())
    raw = AuditFrame(df, concept="profession", attribute="presentation", npmi_prior=0, n_resamples=0).by_group
    assert raw.npmi.to_numpy() == pytest.approx(npmi(counts, concept="profession", attribute="presentation").npmi.to_numpy())
    sub = df[df.profession == "nurse"]
    assert bg.loc[("nurse", "feminine"), "proportion"] == pytest.approx((sub.presentation == "feminine").mean())
    assert bg.loc[("nurse", "feminine"), "proportion_ref"] == pytest.approx(0.3)
    ci = af.by_group_ci
    assert ((ci.proportion_lo <= bg.proportion) & (bg.proportion <= ci.proportion_hi)).all()
    from audit.metrics.posterior import posterior_estimate

    n = af.table.n
    assert bg.n_corrected.to_numpy() == pytest.approx((posterior_estimate(n, conf.to_numpy()) * n.sum(1, keepdims=True))
                                                      .reshape(-1))
    fixed = correct_counts(af.counts, conf, concept="profession", attribute="presentation")  # least squares
    lsq = AuditFrame(df, concept="profession", attribute="presentation", confusion=conf, correction="lsq",
                     n_resamples=0).by_group
    assert lsq.n_corrected.to_numpy() == pytest.approx(fixed.n.to_numpy())
    shares = sub.presentation.value_counts(normalize=True)
    diff = af.difference()
    assert diff.loc["nurse", "proportion"] == pytest.approx(shares.max() - shares.min())
    assert af.ratio().loc["nurse", "proportion"] == pytest.approx(shares.min() / shares.max())
    to_ref = af.difference(method="to_reference")
    assert to_ref.loc[("nurse", "masculine"), "difference"] == pytest.approx(shares["masculine"] - 0.6)
    assert af.ratio(method="to_reference").loc[("nurse", "masculine"), "ratio"] == pytest.approx(shares["masculine"] / 0.6)
    gaps = af.gaps()
    assert gaps.loc["ceo", "gap"] == pytest.approx(bg.loc[("ceo", "feminine"), "npmi"] - bg.loc[("ceo", "masculine"), "npmi"])
    assert (gaps.lo <= gaps.gap).all() and (gaps.gap <= gaps.hi).all() and "gap_corrected" in gaps
    amp = af.amplification().set_index("metric")
    gen = count_pairs(df, concept="profession", attribute="presentation")
    assert amp.value.to_numpy() == pytest.approx(
        bias_amplification(ref, gen, concept="profession", attribute="presentation").value.to_numpy()
    )
    assert (amp.lo <= amp.value).all() and (amp.value <= amp.hi).all()
    assert set(af.by_concept.columns) >= {"mad_from_uniform", "normalized_entropy", "mad_from_uniform_corrected"}
    assert list(af.by_concept_ci.columns) == [
        "mad_from_uniform_lo", "mad_from_uniform_hi", "normalized_entropy_lo", "normalized_entropy_hi",
        "mad_from_uniform_corrected_lo", "mad_from_uniform_corrected_hi",
        "normalized_entropy_corrected_lo", "normalized_entropy_corrected_hi", "method", "method_corrected",
    ]
    assert af.method == "jeffreys_deff" and af.method_corrected == "jeffreys_deff+gibbs+confusion_fixed"
    for view in (ci, diff, gaps, amp, af.headline()):
        assert (view["method"] == "jeffreys_deff").all()
    assert {"proportion_corrected_lo", "npmi_corrected_hi"} <= set(ci.columns)
    assert {"gap_corrected_lo", "gap_corrected_hi"} <= set(gaps.columns)
    assert (amp.lo_corrected <= amp.value_corrected + 1e-12).all()
    for view in (bg, ci, diff, gaps, amp, af.by_concept):
        assert isinstance(view, pd.DataFrame)


def test_audit_frame_needs_what_it_reads():
    af = AuditFrame(_images(100), concept="profession", attribute="presentation", n_resamples=0)
    with pytest.raises(UserError, match="n_resamples"):
        af.by_group_ci
    with pytest.raises(UserError, match="reference"):
        af.difference(method="to_reference")
    with pytest.raises(UserError, match="reference"):
        af.amplification()
    assert "lo" not in af.difference()


def test_audit_frame_counts_unobserved_values():
    df = pd.DataFrame({"prompt_id": range(6), "job": ["x"] * 6, "g": ["m"] * 6})
    af = AuditFrame(df, concept="job", attribute="g", attributes=["f", "m", "a"], n_resamples=0)
    assert af.table.attributes == ("f", "m", "a")
    assert af.by_group.loc[("x", "f"), "n"] == 0 and np.isnan(af.by_group.loc[("x", "a"), "npmi"])  # p(a) = 0: undefined
    assert af.by_concept.loc["x", "mad_from_uniform"] == pytest.approx(4 / 9)
    assert af.by_concept.loc["x", "normalized_entropy"] == 0
    # observed values outside the list are kept (appended), never dropped
    af = AuditFrame(df.assign(g=["m", "q"] * 3), concept="job", attribute="g", attributes=["f", "m"], n_resamples=0)
    assert af.table.attributes == ("f", "m", "q") and af.table.n.sum() == 6


def test_headline_numbers_match_views_and_have_intervals():
    df = _images(600, seed=4)
    af = AuditFrame(df, concept="profession", attribute="presentation", n_resamples=200)
    h = af.headline(groups=("feminine", "masculine")).set_index("metric")
    assert h.loc["mad_from_uniform_mean", "value"] == pytest.approx(af.by_concept.mad_from_uniform.mean())
    assert h.loc["normalized_entropy_mean", "value"] == pytest.approx(af.by_concept.normalized_entropy.mean())
    assert h.loc["abs_npmi_gap_max", "value"] == pytest.approx(af.gaps().gap.abs().max())
    assert (h.lo <= h.value + 1e-12).all() and (h.value <= h.hi + 1e-12).all()


def test_an_attribute_seen_with_one_value_gets_proper_intervals():
    # every image answers the same value (a colour labeler on one-colour images, say): the Beta's
    # other-values prior must stay positive, and the full cell's interval reaches 1
    df = _images(200).assign(presentation="feminine")
    af = AuditFrame(df, concept="profession", attribute="presentation", n_resamples=200)
    ci = af.by_group_ci
    assert (af.by_group.proportion == 1).all() and (ci.proportion_hi == 1).all()
    assert ((ci.proportion_lo > 0.5) & (ci.proportion_lo < 1)).all()
