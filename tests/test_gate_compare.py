"""Gate logic without runs: metric directions, tolerance and interval rules, policy files, metric values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.errors import SpecError, UserError
from audit.gate import GATED, Policy, compare_metrics, read_policy
from audit.gate.numbers import abs_interval, gated_numbers
from audit.metrics import count_pairs, npmi_gaps, representation
from audit.results import Options, results_table


def table_metrics(df: pd.DataFrame, *, concept: str, attribute: str, cluster: str, n_resamples: int) -> pd.DataFrame:
    """The gated numbers of a per-image table, through the results table (as a run computes them)."""
    manifest = df.assign(image_id=[f"i{i}" for i in range(len(df))])[["image_id", cluster, concept]]
    labels = pd.DataFrame({"image_id": manifest.image_id, "labeler": "w", "attribute": attribute,
                           "value": df[attribute].to_numpy()})
    table = results_table(manifest, labels, options=Options(cluster=(cluster,), n_resamples=n_resamples)).table
    numbers = gated_numbers(table)
    return numbers[numbers.slot == concept]


def _base(metric: str, value: float, lo: float, hi: float, group: str = "nurse") -> pd.DataFrame:
    return pd.DataFrame([{"metric": metric, "setting": "default", "slot": "profession", "labeler": "w",
                          "attribute": "presentation", "group": group, "direction": GATED[metric].direction,
                          "value": value, "lo": lo, "hi": hi}])


def point(base: pd.DataFrame, value: float) -> pd.DataFrame:
    """The baseline's rows with another value and no interval (a point estimate now)."""
    return base.assign(value=value, lo=np.nan, hi=np.nan)


@pytest.mark.parametrize("metric, now, status", [
    ("normalized_entropy", 0.40, "regressed"),   # diversity fell below the interval
    ("normalized_entropy", 0.99, "improved"),    # diversity rose: never a regression
    ("normalized_entropy", 0.72, "ok"),          # inside the interval
    ("abs_npmi_gap", 0.95, "regressed"),         # |gap| grew beyond the interval
    ("abs_npmi_gap", 0.10, "improved"),
    ("abs_reference_gap", 0.9, "regressed"),
    ("biasamp_t_to_a", 0.9, "regressed"),
])
def test_direction_tolerance_and_interval(metric, now, status):
    base = _base(metric, 0.5, 0.3, 0.6) if GATED[metric].direction == "up" else _base(metric, 0.8, 0.7, 0.9)
    out = compare_metrics(base, point(base, now), policy=Policy())
    assert out.status.tolist() == [status]
    sign = 1 if GATED[metric].direction == "up" else -1
    assert out.worse_by.iloc[0] == pytest.approx(sign * (now - base.value.iloc[0]))


def test_worse_beyond_tolerance_but_inside_interval_passes():
    base = _base("abs_npmi_gap", 0.2, 0.0, 0.9)
    assert compare_metrics(base, point(base, 0.85), policy=Policy()).status.tolist() == ["ok"]


def test_outside_interval_but_within_tolerance_passes():
    base = _base("abs_npmi_gap", 0.5, 0.45, 0.52)
    assert compare_metrics(base, point(base, 0.54), policy=Policy()).status.tolist() == ["ok"]
    assert compare_metrics(base, point(base, 0.54), policy=Policy(default_tolerance=0.01)).status.tolist() \
        == ["regressed"]


def test_combined_rule_counts_both_runs_noise():
    base = _base("abs_npmi_gap", 0.5, 0.4, 0.6)
    now = base.assign(value=0.62, lo=0.52, hi=0.72)
    assert compare_metrics(base, now, policy=Policy(rule="baseline")).status.tolist() == ["regressed"]
    out = compare_metrics(base, now, policy=Policy())
    assert out.status.tolist() == ["ok"] and out.margin.iloc[0] == pytest.approx(np.hypot(0.1, 0.1))
    assert compare_metrics(base, base.assign(value=0.66, lo=0.56, hi=0.76), policy=Policy()).status.tolist() \
        == ["regressed"]
    with pytest.raises(UserError, match="rule"):
        Policy(rule="loose")


def test_a_flipped_gap_sign_with_equal_magnitude_is_not_worse():
    t1 = pd.DataFrame({"prompt_id": range(8), "job": ["a", "b"] * 4, "presentation": ["feminine", "masculine"] * 4})
    t2 = t1.assign(presentation=["masculine", "feminine"] * 4)
    m1, m2 = (table_metrics(t, concept="job", attribute="presentation", cluster="prompt_id", n_resamples=50)
              for t in (t1, t2))
    g1, g2 = (m[m.metric == "abs_npmi_gap"].set_index("group").value for m in (m1, m2))
    pd.testing.assert_series_equal(g1, g2)


def test_missing_and_new_numbers():
    base = pd.concat([_base("abs_npmi_gap", 0.5, 0.3, 0.6), _base("abs_npmi_gap", 0.5, 0.3, 0.6, group="ceo")])
    now = pd.concat([base.iloc[[0]], _base("abs_npmi_gap", 0.5, 0.3, 0.6, group="pilot")])
    out = compare_metrics(base, now, policy=Policy()).set_index("group").status
    assert out.to_dict() == {"ceo": "missing", "nurse": "ok", "pilot": "new"}


def test_policy_ignores_metrics_and_attributes():
    base = _base("abs_npmi_gap", 0.5, 0.3, 0.6)
    now = point(base, 1.5)
    assert compare_metrics(base, now, policy=Policy(ignore_metrics=("abs_npmi_gap",))).empty
    assert compare_metrics(base, now, policy=Policy(attributes=("skin_group",))).empty
    assert compare_metrics(base, now, policy=Policy(attributes=("presentation",))).status.tolist() == ["regressed"]


def test_read_policy_and_its_errors(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text("default_tolerance: 0.1\ntolerance: {abs_npmi_gap: 0.2}\nignore_metrics: [mad_from_uniform]\n"
                 "attributes: [presentation]\nfail_on_missing: false\n")
    pol = read_policy(p)
    assert (pol.tolerance_for("abs_npmi_gap"), pol.tolerance_for("normalized_entropy")) == (0.2, 0.1)
    assert not pol.gates("mad_from_uniform", "presentation") and not pol.gates("abs_npmi_gap", "skin_group")
    assert pol.fail_on_missing is False
    for text, field in [("tolerance: {npmi: 0.1}\n", "tolerance.npmi"), ("default_tolerance: -1\n", "default_tolerance"),
                        ("tolerance: {abs_npmi_gap: high}\n", "tolerance.abs_npmi_gap"), ("[1]\n", "(file)"),
                        ("tolerance: [\n", "(file)"), ("fail_on_missing: maybe\n", "fail_on_missing"), ("rule: loose\n", "rule")]:
        p.write_text(text)
        with pytest.raises(SpecError, match=rf"field {__import__('re').escape(field)}:.*fix:"):
            read_policy(p)
    with pytest.raises(UserError, match="unknown metric"):
        Policy().with_tolerances(["npmi=0.1"])
    with pytest.raises(UserError, match="METRIC=VALUE"):
        Policy().with_tolerances(["0.1"])


def test_metric_values_match_direct_computation():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"prompt_id": np.repeat(np.arange(30), 4), "job": np.repeat(["a", "b", "c"], 40),
                       "presentation": rng.choice(["feminine", "masculine", "androgynous", "no_face"], 120,
                                                  p=[0.4, 0.4, 0.1, 0.1])})
    got = table_metrics(df, concept="job", attribute="presentation", cluster="prompt_id", n_resamples=200)
    got = got.set_index(["metric", "group"]).value
    counts = count_pairs(df[df.presentation != "no_face"], concept="job", attribute="presentation")
    gaps = npmi_gaps(counts, concept="job", attribute="presentation", prior=0.5).set_index("job").gap  # Jeffreys
    rep = representation(counts, concept="job", attribute="presentation").set_index("job")
    for job in "abc":
        assert got[("abs_npmi_gap", job)] == pytest.approx(abs(gaps[job]))
        assert got[("normalized_entropy", job)] == pytest.approx(rep.normalized_entropy[job])
        assert got[("mad_from_uniform", job)] == pytest.approx(rep.mad_from_uniform[job])
    assert got[("abs_npmi_gap_max", "*")] == pytest.approx(gaps.abs().max())


def test_abs_interval():
    lo, hi = abs_interval([-0.3, 0.1, -0.5], [0.2, 0.4, -0.1])
    assert lo.tolist() == [0.0, 0.1, 0.1] and hi.tolist() == [0.3, 0.4, 0.5]
