"""The results table: computed once, read by the report, the gate, the demo and the CLI (same numbers);
suite metrics (compliance, default drift, unsafe rate) against known truth; not-observed cells."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.errors import SpecError, UserError
from audit.results import Options, read_results, results_table, write_run_results
from audit.results.store import summary_lines
from tests.test_report_run import make_run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("tbl") / "run", n_prompts=24, per_prompt=4, resamples=300)


def test_report_gate_demo_and_cli_show_the_numbers_of_the_table(run, monkeypatch, tmp_path):
    import audit.results.build
    import audit.results.store
    from audit.commands.demo import findings, headline_lines
    from audit.gate import make_baseline
    from audit.report import report_from_run_dir

    table = read_results(run).table
    assert read_results(run).options == Options(n_resamples=300)

    def no_recomputing(*args, **kwargs):
        raise AssertionError("a reader recomputed the table")

    monkeypatch.setattr(audit.results.store, "results_table", no_recomputing)
    monkeypatch.setattr(audit.results.build, "results_table", no_recomputing)
    # report: its by-group table holds the table's shares and nPMI
    report_from_run_dir(run, out_dir=tmp_path / "rep", n_resamples=300, export_png=False)
    assert not (tmp_path / "rep" / "results.parquet").exists()  # read, not computed again
    by_group = pd.read_parquet(tmp_path / "rep" / "tables" / "profession__by-group-presentation.parquet")
    cut = table[(table.slot == "profession") & (table.attribute == "presentation") & ~table.corrected]
    for metric in ("proportion", "npmi"):
        want = cut[cut.metric == metric].set_index(["concept", "value"]).sort_index()
        got = by_group.set_index(["profession", "presentation"]).sort_index()
        np.testing.assert_array_equal(got[metric].to_numpy(), want.estimate.to_numpy())
        np.testing.assert_array_equal(got[f"{metric}_lo"].to_numpy(), want.lo.to_numpy())
    # gate: the frozen numbers are the table's (|gap| for gaps)
    base = pd.DataFrame(make_baseline(run, n_resamples=300)["metrics"])
    gap = cut[cut.metric == "npmi_gap"].dropna(subset=["estimate"]).set_index("concept").estimate
    frozen = base[(base.metric == "abs_npmi_gap") & (base.slot == "profession")
                  & (base.attribute == "presentation")].set_index("group").value
    assert frozen.sort_index().tolist() == gap.abs().sort_index().tolist() and len(frozen) >= 5
    ent = cut[cut.metric == "normalized_entropy"].set_index("concept").estimate
    frozen = base[(base.metric == "normalized_entropy") & (base.attribute == "presentation")
                  & (base.slot == "profession")].set_index("group").value
    assert frozen.sort_index().tolist() == ent.sort_index().tolist()
    # demo: the headline is the report's findings (top_findings of the table), printed as they are
    from audit.report.findings import top_findings

    top = findings(run)
    all_gaps = table[(table.metric == "npmi_gap") & (table.slot == "profession") & ~table.corrected]
    assert len(top) == 3 and top.concept.tolist() == top_findings(table, k=3, slot="profession").concept.tolist()
    for r in top.itertuples(index=False):
        row = all_gaps[all_gaps.concept == r.concept].iloc[0]
        assert (r.estimate, r.lo, r.hi) == (row.estimate, row.lo, row.hi)
    for line, r in zip(headline_lines(top), top.itertuples(index=False), strict=True):
        assert f"{r.estimate:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}]" in line and r.concept in line
    # CLI summary: mean |share - reference| of the table's reference-gap rows
    ref = table[(table.metric == "reference_gap") & ~table.corrected]
    (line,) = summary_lines(table)
    assert f"{100 * ref.estimate.abs().mean():.1f} points" in line
    # the JSON view holds the same rows
    view = json.loads((run / "results.json").read_text())
    assert len(view["rows"]) == len(table) and view["columns"][:3] == ["setting", "slot", "concept"]


def test_every_attribute_lands_with_method_n_and_not_observed_cells(run):
    t = read_results(run).table
    assert {"presentation", "skin_group", "skin_tone", "profession"} <= set(t.attribute)
    assert (t.method.str.len() > 0).all() and (t.n >= 0).all()
    npmi = t[t.metric == "npmi"]
    empty = npmi[npmi.n == 0]
    assert len(empty) and empty.estimate.isna().all() and (empty.note == "not observed").all()
    assert (npmi[npmi.n > 0].estimate.notna()).all()  # observed cells keep their nPMI; never a -1 placeholder
    assert not ((npmi.estimate == -1.0) & (npmi.n == 0)).any()


def _counterfactual_run(rng):
    rows, labels = [], []
    truth = {"light-skinned": 0.9, "dark-skinned": 0.6, None: 0.2}  # P(labelled dark-ish | prompt)
    for p, (job, tone) in enumerate([(j, t) for j in ("nurse", "plumber") for t in truth] * 6):
        for s in range(8):
            iid = f"i{p}-{s}"
            rows.append({"image_id": iid, "prompt_id": f"p{p}", "profession": job, "skin_tone": tone})
            if tone == "light-skinned":
                value = "light" if rng.random() < truth[tone] else "medium"
            elif tone == "dark-skinned":
                value = "dark" if rng.random() < truth[tone] else "medium"
            else:
                value = rng.choice(["light", "medium", "dark"], p=[0.6, 0.2, 0.2])
            labels.append({"image_id": iid, "labeler": "w", "attribute": "skin_group", "value": value})
            labels.append({"image_id": iid, "labeler": "w", "attribute": "unsafe",
                           "value": "true" if job == "plumber" and rng.random() < 0.5 else "false"})
    return pd.DataFrame(rows), pd.DataFrame(labels)


def test_suite_metrics_match_direct_shares():
    manifest, labels = _counterfactual_run(np.random.default_rng(0))
    spec = {"suite": {"name": "cf", "definition": {"axes": {"skin_tone": ["light-skinned", "dark-skinned"]},
                                                   "metrics": ["compliance", "default_drift", "unsafe_rate"]}}}
    t = results_table(manifest, labels, spec=spec, options=Options(n_resamples=200)).table
    joined = manifest.merge(labels[labels.attribute == "skin_group"], on="image_id")
    comp = t[t.metric == "compliance"].set_index("concept")
    assert set(comp.index) == {"light-skinned", "dark-skinned"}
    assert comp.loc["dark-skinned", "value"] == "dark"
    assert comp.loc["dark-skinned", "estimate"] == pytest.approx((joined[joined.skin_tone == "dark-skinned"].value
                                                                  == "dark").mean())
    assert (comp.lo <= comp.estimate).all() and (comp.estimate <= comp.hi).all()
    drift = t[t.metric == "default_drift"].set_index("value")
    neutral = joined[joined.skin_tone.isna()]
    for group in ("light", "medium", "dark"):
        assert drift.loc[group, "estimate"] == pytest.approx((neutral.value == group).mean() - 1 / 3)
        assert drift.loc[group, "concept"] == "(none)"
    unsafe = t[(t.metric == "unsafe_rate") & (t.slot == "profession")].set_index("concept")
    flags = manifest.merge(labels[labels.attribute == "unsafe"], on="image_id")
    assert unsafe.loc["nurse", "estimate"] == 0.0 and unsafe.loc["nurse", "hi"] >= 0.0
    assert unsafe.loc["plumber", "estimate"] == pytest.approx((flags[flags.profession == "plumber"].value
                                                               == "true").mean())


def test_a_named_metric_that_cannot_be_computed_is_a_visible_non_answer_and_unknown_names_fail():
    manifest, labels = _counterfactual_run(np.random.default_rng(1))
    labels = labels[labels.attribute == "skin_group"]
    spec = {"suite": {"name": "s", "definition": {"metrics": ["unsafe_rate", "amplification"]}}}
    t = results_table(manifest, labels, spec=spec, options=Options(n_resamples=0)).table
    rows = t[t.metric.isin(["unsafe_rate", "amplification"])]
    assert len(rows) == 2 and rows.estimate.isna().all() and rows.note.str.startswith("not computable").all()
    with pytest.raises(UserError, match=r"unknown metric\(s\) \['fairness'\]"):
        results_table(manifest, labels, spec={"suite": {"definition": {"metrics": ["fairness"]}}})


def test_suite_files_name_only_known_metrics_and_every_shipped_suite_loads():
    from probes.suite import load_suite, parse_suite, suite_path
    from probes.yamlio import load_yaml_text

    for name in ("professions", "skin-tone-counterfactuals", "safety", "activities", "descriptors"):
        assert load_suite(suite_path(name)).metrics
    with pytest.raises(SpecError, match=r"t.yaml:4: field metrics\[0\]: 'unsafe_rat' is not a known name"):
        parse_suite(load_yaml_text("name: t\ntemplates: ['{x}']\nslots: {x: [a]}\nmetrics: [unsafe_rat]\n"),
                    file="t.yaml")


def test_numeric_readings_are_listed_not_dropped_silently():
    m = pd.DataFrame({"image_id": [f"i{i}" for i in range(40)], "prompt_id": range(40), "job": ["a", "b"] * 20})
    lab = pd.DataFrame({"image_id": m.image_id, "labeler": "ita", "attribute": "ita", "value": [str(i) for i in range(40)]})
    res = results_table(m, lab, options=Options(n_resamples=0))
    assert res.table.empty and res.skipped[0]["attribute"] == "ita" and "numeric" in res.skipped[0]["reason"]
    few = lab.head(6).assign(value=["12.5", "-3.25", "40.1", "12.5", "7.75", "0.5"])  # few degrees: still a reading
    res = results_table(m, few, options=Options(n_resamples=0))
    assert res.table.empty and "fractional" in res.skipped[0]["reason"]


def test_read_results_refuses_broken_files(run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("images", "report"))
    data = (copy / "results.parquet").read_bytes()
    (copy / "results.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError, match=r"results\.parquet: field \(file\): cannot be read"):
        read_results(copy)
    write_run_results(copy, options=Options(n_resamples=10))  # rebuilt from the run's own files
    assert read_results(copy).options.n_resamples == 10
