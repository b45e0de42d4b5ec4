"""`imagen-audit compare RUN_A RUN_B`: two runs side by side, with exactly the CI gate's decision."""

from __future__ import annotations

import json

import pytest

from audit.cli import main
from audit.gate import check_run, make_baseline, write_baseline
from report_runs import world_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    base = world_run(tmp / "base", samples=6)
    worse = world_run(tmp / "worse", samples=6, force={"engineer": "masculine", "teacher": "feminine"})
    return tmp, base, worse


def test_compare_shows_what_the_gate_decides(runs, capsys):
    tmp, base, worse = runs
    code = main(["compare", str(base), str(worse), "--out", str(tmp / "page")])
    text = capsys.readouterr().out
    # the gate's own verdict on the same pair of runs: baseline from A, check of B
    write_baseline(tmp / "baseline.json", make_baseline(base, n_resamples=200))  # the runs' tables: 200 resamples
    gate = check_run(worse, baseline=tmp / "baseline.json")
    assert code == gate.exit_code == 1
    assert text.startswith(gate.text().split("\n", 1)[0].replace(str(tmp / "baseline.json"), str(base)))
    for line in gate.text().splitlines()[1:]:
        assert line in text  # the same counts, regressions and verdict, line by line
    # the forced profession regressed (which of its metrics clear the noise margin depends on the interval method)
    assert any(line.startswith("REGRESSED") and "presentation by profession=teacher" in line for line in text.splitlines())
    assert "REGRESSED abs_npmi_gap presentation by profession=teacher" in text  # all feminine now
    page = (tmp / "page" / "report.html").read_text(encoding="utf-8")
    assert "FAIL: bias regressed" in page and "Findings of each run" in page
    saved = json.loads((tmp / "page" / "report.json").read_text())
    assert saved["sections"][0]["results"]["counts"] == gate.counts()


def test_a_run_compared_with_itself_passes(runs, capsys):
    tmp, base, _ = runs
    assert main(["compare", str(base), str(base), "--out", str(tmp / "same")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "0 regressed" in out


def test_unfinished_run_is_a_clear_error(runs, capsys, tmp_path):
    _, base, _ = runs
    assert main(["compare", str(base), str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
