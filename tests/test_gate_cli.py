"""The CI gate end to end on real run directories (tiny random diffusers pipeline, pixel-statistics labeler).

An unchanged generator passes; a run whose presentation labels were flipped to
"feminine" for one profession fails with that profession's metrics named;
unusable input (bad baselines, unfinished runs, another suite) exits 2; a broken
``spec.json`` gives one error at every entry point (report, gate, baseline, resume).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.cli import main
from audit.errors import UserError
from audit.files import read_run_spec
from audit.gate import SCHEMA, read_baseline
from audit.results import write_run_results
from audit.run import Run, run_probe
from generator.adapters.tiny import save_tiny_stable_diffusion


def _fixtures():
    """The suite and pixel labeler have one owner: ``benchmarks/gate_false_alarms.py`` (which measures false alarms
    on the same runs)."""
    spec = importlib.util.spec_from_file_location("gate_false_alarms",
                                                  Path(__file__).resolve().parents[1] / "benchmarks" / "gate_false_alarms.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_FIXTURES = _fixtures()
SUITE, PixelLabeler = _FIXTURES.SUITE, _FIXTURES.PixelLabeler


class FlipOneGroup:
    """A biased labeler configuration: the wrapped labeler reports one group as another."""

    def __init__(self, inner, *, attribute: str, source: str, target: str) -> None:
        self.inner, self.attribute, self.source, self.target = inner, attribute, source, target
        self.name, self.attributes = inner.name, inner.attributes

    def config(self) -> dict:
        return {"flip": {self.attribute: f"{self.source}->{self.target}"}}

    def label(self, images, *, image_ids):
        df = self.inner.label(images, image_ids=image_ids)
        df.loc[(df.attribute == self.attribute) & (df.value == self.source), "value"] = self.target
        return df


def _run(tiny: Path, folder: Path, out: str, labeler=None) -> Path:
    suite = folder / "suite.yaml"
    suite.write_text(SUITE)
    run_probe(suite, out=folder / out, generator=f"diffusers:{tiny}", generator_options={"steps": 1},
              labelers=[labeler or PixelLabeler()], shard_images=64, batch_size=9, threads=1, progress=False,
              report=False)
    return folder / out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    tiny = save_tiny_stable_diffusion(folder / "tiny")
    first, again = _run(tiny, folder, "run"), _run(tiny, folder, "run-again")
    biased = _run(tiny, folder, "run-biased",
                  FlipOneGroup(PixelLabeler(), attribute="presentation", source="androgynous", target="feminine"))
    baseline = folder / "baseline.json"
    assert main(["baseline", str(first), "--out", str(baseline), "--resamples", "400"]) == 0
    return {"folder": folder, "run": first, "again": again, "biased": biased, "baseline": baseline, "tiny": tiny}


def _copy(runs, name: str) -> Path:
    dst = runs["folder"] / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(runs["run"], dst, ignore=shutil.ignore_patterns("images", "parts", ".lock"))
    return dst


@pytest.fixture(scope="module")
def flipped(runs):
    """A copy of the run whose labeler says "feminine" for every image of the most balanced profession."""
    run = _copy(runs, "flipped")
    manifest, labels = pd.read_parquet(run / "manifest.parquet"), pd.read_parquet(run / "labels.parquet")
    base = read_baseline(runs["baseline"])
    entropy = {m["group"]: m["value"] for m in base["metrics"] if m["metric"] == "normalized_entropy"
               and m["slot"] == "profession"}
    target = max(entropy, key=entropy.get)
    ids = set(manifest.loc[manifest.profession == target, "image_id"])
    labels.loc[labels.image_id.isin(ids) & (labels.attribute == "presentation"), "value"] = "feminine"
    labels.to_parquet(run / "labels.parquet")
    write_run_results(run)  # the gate reads the results table: rebuild it from the changed labels
    return run, target


def test_baseline_file_freezes_metrics_intervals_and_spec(runs):
    base = json.loads(runs["baseline"].read_text())
    assert base["schema"] == SCHEMA and base["run"]["suite"] == "gate-professions"
    assert base["run"]["generator"]["kind"] == "diffusers" and base["run"]["versions"]["torch"]
    assert base["run"]["labelers"][0]["name"] == "pixels" and base["method"]["n_resamples"] == 400
    rows = pd.DataFrame(base["metrics"])
    assert {"abs_npmi_gap", "normalized_entropy", "mad_from_uniform", "abs_reference_gap",
            "abs_npmi_gap_max"} <= set(rows.metric)
    assert set(rows.loc[rows.metric == "abs_npmi_gap", "group"]) == {"nurse", "engineer", "plumber"}
    assert (rows.lo <= rows.value + 1e-12).all() and (rows.value <= rows.hi + 1e-12).all()
    assert (rows.hi > rows.lo).any()  # real intervals, not points
    assert not [p.name for p in runs["folder"].iterdir() if p.name.startswith(".tmp-")]


def test_reference_counts_gate_amplification_and_travel_in_the_baseline(runs, capsys):
    counts = pd.DataFrame([{"profession": j, "presentation": g, "n": n}
                           for j, f in (("nurse", 90), ("engineer", 11), ("plumber", 2))
                           for g, n in (("feminine", f), ("masculine", 100 - f))])
    ref = runs["folder"] / "world_counts.csv"
    counts.to_csv(ref, index=False)
    path = runs["folder"] / "baseline-ref.json"
    assert main(["baseline", str(runs["run"]), "--out", str(path), "--reference", f"presentation={ref}",
                 "--resamples", "200"]) == 0
    assert "frozen" in capsys.readouterr().out
    base = read_baseline(path)
    amp = [m for m in base["metrics"] if m["metric"].startswith("biasamp_")]
    assert {m["metric"] for m in amp} == {"biasamp_zhao", "biasamp_t_to_a", "biasamp_a_to_t"}
    assert all(m["lo"] <= m["value"] <= m["hi"] for m in amp)
    assert len(base["references"]["presentation"]) == 6
    ref.unlink()  # check reads the reference from the baseline, not from the file
    assert main(["check", str(runs["again"]), "--baseline", str(path), "--format", "json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["metric"] for r in results if r["status"] == "ok"} >= {"biasamp_t_to_a", "abs_reference_gap"}


def test_unchanged_generator_passes(runs, capsys):
    junit = runs["folder"] / "pass.xml"
    code = main(["check", str(runs["again"]), "--baseline", str(runs["baseline"]), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS" in out and "0 regressed" in out
    root = ET.parse(junit).getroot()
    n = len(read_baseline(runs["baseline"])["metrics"])
    assert root.get("tests") == str(n) and root.get("failures") == "0"
    assert len(root.findall(".//testcase")) == n and not root.findall(".//failure")


def test_flipped_labels_for_one_profession_fail_naming_it(runs, flipped, capsys):
    run, target = flipped
    junit = runs["folder"] / "fail.xml"
    code = main(["check", str(run), "--baseline", str(runs["baseline"]), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL" in out and f"normalized_entropy presentation by profession={target}" in out
    assert "REGRESSED" in out and "interval [" in out
    root = ET.parse(junit).getroot()
    failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
    assert f"normalized_entropy[{target}]" in failed and f"mad_from_uniform[{target}]" in failed
    assert int(root.get("failures")) == len(failed) > 0

    assert main(["check", str(run), "--baseline", str(runs["baseline"]), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    # the flipped profession never shows a masculine image now: its (smoothed) nPMI gap is noted, still gated
    assert report["passed"] is False
    assert report["counts"]["regressed"] + report["counts"]["missing"] == len(report["failures"])
    assert {(f["metric"], f["group"]) for f in report["failures"] if f["status"] == "missing"} <= {("abs_npmi_gap", target)}
    per_concept = [f for f in report["failures"] if f["group"] in ("nurse", "engineer", "plumber")]
    assert {f["group"] for f in per_concept if f["metric"] in ("normalized_entropy", "mad_from_uniform")} == {target}
    ent = next(f for f in per_concept if f["metric"] == "normalized_entropy")
    assert ent["now"] == 0.0 and ent["now"] < ent["lo"] and ent["baseline"] - ent["now"] > ent["tolerance"]


def test_labeler_flipped_for_one_group_fails(runs, capsys):
    """The same generator, labelled by a labeler that calls every androgynous image feminine."""
    assert main(["check", str(runs["biased"]), "--baseline", str(runs["baseline"]), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "labelers" in report["changed"] and "generator" not in report["changed"]
    failed = {(f["metric"], f["group"]) for f in report["failures"]}
    assert ("normalized_entropy_mean", "*") in failed
    assert {g for m, g in failed if m == "normalized_entropy"} <= {"nurse", "engineer", "plumber", "all"}
    assert all(f["now"] < f["baseline"] for f in report["failures"] if f["metric"].startswith("normalized_entropy"))
    assert not [f for f in report["failures"] if f["metric"] == "abs_reference_gap" and f["now"] < f["baseline"]]


def test_tolerance_and_policy_decide(runs, flipped, capsys, tmp_path):
    run, _ = flipped
    args = ["check", str(run), "--baseline", str(runs["baseline"])]
    assert main([*args, "--tolerance", "default=2.5"]) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text("default_tolerance: 2.5\n")
    assert main([*args, "--policy", str(policy)]) == 0
    assert main([*args, "--policy", str(policy), "--tolerance", "normalized_entropy=0.05"]) == 1
    capsys.readouterr()
    policy.write_text("tolerances: {abs_npmi_gap: 0.1}\n")
    assert main([*args, "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert str(policy) in err and "field tolerances" in err and "fix:" in err


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case, field", [
    ("missing", "baseline file not found"),
    ("not_json", "field (file): not valid JSON"),
    ("schema", "field schema: is 'imagen-audit-baseline/0'"),
    ("no_metrics", "field metrics: missing"),
    ("row_field", "field metrics[0].value: missing"),
    ("array", "holds a JSON list"),
    ("lo_type", "field metrics[0].lo: must be a finite number or null, not 'low'"),
    ("resamples", "field method.n_resamples: must be a positive integer"),
])
def test_bad_baseline_files_exit_2_naming_file_field_and_fix(runs, case, field, tmp_path, capsys):
    good = json.loads(runs["baseline"].read_text())
    path = tmp_path / "baseline.json"
    if case == "not_json":
        _write(path, '{"schema": "imagen-audit-baseline/1",\n "metrics": [}')
    elif case == "schema":
        _write(path, json.dumps({**good, "schema": "imagen-audit-baseline/0"}))
    elif case == "no_metrics":
        _write(path, json.dumps({k: v for k, v in good.items() if k != "metrics"}))
    elif case == "row_field":
        rows = [{k: v for k, v in good["metrics"][0].items() if k != "value"}, *good["metrics"][1:]]
        _write(path, json.dumps({**good, "metrics": rows}))
    elif case == "array":
        _write(path, "[1, 2]")
    elif case == "lo_type":
        _write(path, json.dumps({**good, "metrics": [{**good["metrics"][0], "lo": "low"}, *good["metrics"][1:]]}))
    elif case == "resamples":
        _write(path, json.dumps({**good, "method": {**good["method"], "n_resamples": "many"}}))
    assert main(["check", str(runs["again"]), "--baseline", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and field in err and "fix:" in err


def test_unusable_runs_exit_2(runs, capsys):
    unfinished = _copy(runs, "unfinished")
    (unfinished / "results.parquet").unlink()
    assert main(["check", str(unfinished), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert str(unfinished / "results.parquet") in err and "fix:" in err

    other = _copy(runs, "other-suite")
    spec = json.loads((other / "spec.json").read_text())
    spec["suite"]["name"] = "professions"
    (other / "spec.json").write_text(json.dumps(spec))
    assert main(["check", str(other), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert "field suite.name" in err and "gate-professions" in err and "fix:" in err

    swept = _copy(runs, "other-setting")
    manifest = pd.read_parquet(swept / "manifest.parquet")
    manifest.assign(setting="guidance=8").to_parquet(swept / "manifest.parquet")
    write_run_results(swept)
    assert main(["check", str(swept), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert "field settings" in err and "guidance=8" in err and "fix:" in err

    unlabelled = _copy(runs, "unlabelled")
    labels = pd.read_parquet(unlabelled / "labels.parquet")
    labels.iloc[:0].to_parquet(unlabelled / "labels.parquet")
    write_run_results(unlabelled)
    assert main(["check", str(unlabelled), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert "no labels of a gated attribute" in err and "pixels" in err

    assert main(["baseline", str(runs["folder"] / "nope"), "--out", str(runs["folder"] / "b2.json")]) == 2
    assert not (runs["folder"] / "b2.json").exists()


# ----------------------------------------------------------------------------- gate hardening (issue 19)
def _tamper_results(run: Path, change) -> None:
    """Rewrite RUN/results.parquet with ``change(frame)`` applied, keeping its metadata (a hostile edit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(run / "results.parquet")
    frame = table.to_pandas()
    change(frame)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata),
                   run / "results.parquet")


@pytest.mark.parametrize("case, field", [
    ("nan_value", "field metrics[0].value: must be a finite number, not nan"),
    ("inf_hi", "field metrics[0].hi: must be a finite number or null, not inf"),
    ("minus_inf_lo", "field metrics[0].lo: must be a finite number or null, not -inf"),
    ("inverted", "field metrics[0].lo:"),
    ("confidence", "field method.confidence: must be a number between 0 and 1"),
])
def test_baselines_with_non_finite_numbers_exit_2(runs, case, field, tmp_path, capsys):
    good = json.loads(runs["baseline"].read_text())
    first = dict(good["metrics"][0])
    first.update({"nan_value": {"value": float("nan")}, "inf_hi": {"hi": float("inf")},
                  "minus_inf_lo": {"lo": float("-inf")}, "inverted": {"lo": 1.0, "hi": 0.5}}.get(case, {}))
    bad = {**good, "metrics": [first, *good["metrics"][1:]]}
    if case == "confidence":
        bad["method"] = {**good["method"], "confidence": 1.5}
    path = _write(tmp_path / "baseline.json", json.dumps(bad))  # json writes NaN / Infinity literals
    assert main(["check", str(runs["again"]), "--baseline", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and field in err and "fix:" in err and "Traceback" not in err


@pytest.mark.parametrize("case, field", [
    ("truncated", "field (file): cannot be read"),
    ("inf_estimate", "estimate: is inf"),
    ("minus_inf_hi", ".hi: is -inf"),
    ("nan_without_note", ".estimate: is NaN with no note"),
    ("no_column", "field method: missing column"),
    ("truncated_json", "results.json: field (file): is not valid JSON"),
])
def test_broken_results_exit_2_for_check_and_baseline(runs, case, field, capsys):
    run = _copy(runs, f"broken-{case}")
    if case == "truncated":
        data = (run / "results.parquet").read_bytes()
        (run / "results.parquet").write_bytes(data[:100])
    elif case == "inf_estimate":
        _tamper_results(run, lambda f: f.__setitem__("estimate", f["estimate"].where(f.index != 3, np.inf)))
    elif case == "minus_inf_hi":
        _tamper_results(run, lambda f: f.__setitem__("hi", f["hi"].where(f.index != 5, -np.inf)))
    elif case == "nan_without_note":
        def change(f):
            f.loc[f.metric == "normalized_entropy", "estimate"] = np.nan
            f.loc[f.metric == "normalized_entropy", "note"] = ""
        _tamper_results(run, change)
    elif case == "no_column":
        _tamper_results(run, lambda f: f.drop(columns="method", inplace=True))
    elif case == "truncated_json":
        (run / "results.json").write_text((run / "results.json").read_text()[:100])
    assert main(["check", str(run), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert str(run / "results.") in err and field in err and "fix:" in err and "Traceback" not in err
    out = runs["folder"] / f"frozen-{case}.json"
    assert main(["baseline", str(run), "--out", str(out)]) == 2  # never frozen
    assert field in capsys.readouterr().err and not out.exists()


def test_policy_that_matches_or_gates_nothing_exits_2(runs, tmp_path, capsys):
    policy = _write(tmp_path / "policy.yaml", "attributes: [presentaton]\n")
    assert main(["check", str(runs["again"]), "--baseline", str(runs["baseline"]), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert f"{policy}: field attributes[0]: 'presentaton' matches no gated number" in err and "fix:" in err
    names = sorted({m["metric"] for m in read_baseline(runs["baseline"])["metrics"]})
    _write(policy, f"ignore_metrics: {json.dumps(names)}\n")
    assert main(["check", str(runs["again"]), "--baseline", str(runs["baseline"]), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert "gates 0 of the baseline's" in err and str(policy) in err


@pytest.mark.parametrize("flags, field", [(["--confidence", "1.5"], "confidence 1.5"),
                                          (["--confidence", "nan"], "confidence nan"),
                                          (["--resamples", "0"], "--resamples 0")])
def test_baseline_options_out_of_range_exit_2(runs, flags, field, capsys):
    out = runs["folder"] / "b-options.json"
    assert main(["baseline", str(runs["run"]), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert field in err and "fix:" in err and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("text, field", [(None, "(file)"), ('{"suite": {"name": ', "(file)"),
                                         ("[1, 2]", "(top level)"), ('"a string"', "(top level)")],
                         ids=["missing", "truncated", "list", "string"])
def test_a_broken_spec_json_gives_one_error_at_every_entry_point(runs, text, field, capsys):
    """Report, gate check, baseline, ``Run.spec`` and resume read ``spec.json`` through one reader."""
    run = _copy(runs, "broken-spec")
    spec = run / "spec.json"
    if text is None:
        spec.unlink()
    else:
        spec.write_text(text)
    with pytest.raises(UserError) as exc:
        read_run_spec(run)
    message = str(exc.value)
    assert message.startswith(str(spec)) and f"field {field}: " in message and "(fix: " in message
    for argv in (["report", str(run), "--png", "no"], ["check", str(run), "--baseline", str(runs["baseline"])],
                 ["baseline", str(run), "--out", str(run / "baseline.json")]):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.strip() == f"error: {message}", argv
    with pytest.raises(UserError) as opened:
        Run(run).spec
    assert str(opened.value) == message
    if text is not None:  # resume into the folder (a folder without spec.json holds no run: another error)
        with pytest.raises(UserError) as resumed:
            _run(runs["tiny"], runs["folder"], "broken-spec")
        assert str(resumed.value) == message
        assert spec.read_text() == text  # the broken file is left as it was, not overwritten
    assert not (run / "report").exists() and not (run / "baseline.json").exists()  # nothing half-written
