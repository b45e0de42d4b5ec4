"""The main job (`imagen-audit demo`) on small settings, through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

from audit.cli import main
from generator.adapters.builtin import builtin_weights


def test_demo_runs_end_to_end_and_prints_findings(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--world-n", "600", "--samples", "1", "--counterfactual-samples", "1",
                 "--resamples", "200"])
    text = capsys.readouterr().out
    assert code == 0
    findings = [line for line in text.splitlines() if re.match(r"\s+[123]\. ", line)]
    assert len(findings) == 3, text
    assert all("[" in f and "]" in f for f in findings)          # every finding carries its interval
    reports = [Path(m) for m in re.findall(r"report(?: \(\w+\))?: (\S+)", text)]
    assert reports and all(p.exists() for p in reports)
    if not (builtin_weights() / "model_index.json").exists():
        # no shipped generator yet: the demo audits the synthetic world dataset instead
        assert "running the dataset audit of the synthetic world" in text
        assert (out / "world" / "ground_truth.parquet").exists()
        assert (out / "world-audit" / "dataset_card.md").exists()
        assert "toxic" in text
