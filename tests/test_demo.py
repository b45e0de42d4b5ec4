"""The main job (`imagen-audit demo`) on small settings, through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import generator.api as builtin_api
from audit.cli import main
from audit.results import read_results


def _check_findings(text: str, *, k: int = 3) -> None:
    findings = [line for line in text.splitlines() if re.match(r"\s+[123]\. ", line)]
    stated = [line for line in text.splitlines() if line.strip().startswith("! No finding")]
    assert len(findings) == k or (len(findings) < k and stated), text  # fewer findings are explained in words
    assert all("[" in f and "]" in f for f in findings)          # every finding carries its interval
    reports = [Path(m) for m in re.findall(r"report(?: \(\w+\))?: (\S+)", text)]
    assert reports and all(p.exists() for p in reports)


def test_demo_runs_the_builtin_generator_end_to_end(tmp_path, capsys):
    """The main job with the shipped generator and labeler, on small settings."""
    assert (builtin_api.BUILTIN_DIR / "model_index.json").is_file(), "shipped generator weights missing"
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--samples", "1", "--counterfactual-samples", "1"])
    text = capsys.readouterr().out
    assert code == 0
    _check_findings(text)  # with 1 sample per prompt (3 images per profession) the findings box says why none
    assert "professions suite" in text
    assert (out / "professions" / "results.parquet").exists() and (out / "counterfactuals" / "results.parquet").exists()
    # the headline is the report's findings box (top_findings of the results table), as printed
    from audit.report.findings import finding_lines, top_findings

    for line in finding_lines(top_findings(read_results(out / "professions"), k=3, slot="profession")):
        assert line in text
    # the counterfactual suite's metrics landed in its table
    cf = read_results(out / "counterfactuals").table
    assert {"compliance", "default_drift"} <= set(cf.metric)


def test_demo_without_generator_weights_audits_the_world_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(builtin_api, "BUILTIN_DIR", tmp_path / "no-weights")
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--world-n", "600"])
    text = capsys.readouterr().out
    assert code == 0
    _check_findings(text)
    assert "running the dataset audit of the synthetic world" in text
    assert (out / "world" / "ground_truth.parquet").exists()
    assert (out / "world-audit" / "dataset_card.md").exists()
    # the printed findings are the report's Findings box, line for line (report/report.json holds its rows)
    import json

    from audit.report.dataset_findings import format_dataset_finding

    sections = json.loads((out / "world-audit" / "report" / "report.json").read_text())["sections"]
    box = next(s for s in sections if s["key"] == "findings")["results"]
    assert box["findings"], "the world has injected biases: the report finds some"
    for i, r in enumerate(box["findings"], 1):
        assert f"  {i}. {format_dataset_finding(r)}" in text.splitlines()
    for w in box["warnings"]:
        assert f"  ! {w}" in text
    assert "Three identity terms whose captions carry toxic terms" not in text  # the old, separate ranking
