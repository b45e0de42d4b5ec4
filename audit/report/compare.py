"""Two runs side by side, from their results tables: what the CI gate decides, shown to a person.

Run A plays the baseline and run B the candidate. The gated numbers of each are
read from its ``results.parquet`` (:func:`audit.gate.gated_numbers`) and compared by
the gate's own :func:`audit.gate.compare_metrics` under a :class:`audit.gate.Policy`,
so the page says exactly what ``imagen-audit baseline A`` then ``imagen-audit check
B`` would say. Nothing is recomputed.

Examples
--------
>>> compare_runs("no/such/a", "no/such/b")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
audit.errors.UserError: ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.files import SPEC_FILE
from audit.gate import CheckResult, Policy, compare_metrics, gated_numbers
from audit.gate.baseline import finished_spec, run_record
from audit.gate.check import _changed, _policy_matches, describe
from audit.report.blocks import ReportSection, Table, Text
from audit.report.findings import format_finding, top_findings, warnings_of
from audit.results import read_results

__all__ = ["compare_runs", "compare_sections", "write_comparison"]


def compare_runs(run_a: str | Path, run_b: str | Path, *, policy: Policy | None = None) -> CheckResult:
    """The gate's verdict on run B against run A as its baseline.

    Raises
    ------
    audit.errors.UserError
        A run is unfinished, the runs are of different suites, or the policy gates nothing.
    """
    policy = policy or Policy()
    spec_a, spec_b = finished_spec(run_a), finished_spec(run_b)
    rec_a, rec_b = run_record(spec_a), run_record(spec_b)
    if rec_a["suite"] != rec_b["suite"]:
        raise UserError(f"{Path(run_b) / SPEC_FILE}: field suite.name: is {rec_b['suite']!r} but {run_a} ran "
                        f"suite {rec_a['suite']!r} (fix: compare two runs of the same suite)")
    base = gated_numbers(read_results(run_a).table)
    now = gated_numbers(read_results(run_b).table)
    if base.empty:
        raise UserError(f"{Path(run_a) / 'results.parquet'}: no gated metric (fix: label the run with a labeler of "
                        "categorical attributes, e.g. presentation or skin_group)")
    _policy_matches(policy, base, Path(run_a) / "results.parquet")
    comparison = compare_metrics(base, now, policy=policy)
    if comparison.empty:
        raise UserError(f"{policy.file or 'policy'}: the policy gates 0 of {len(base)} numbers (fix: check "
                        "ignore_metrics and attributes)")
    return CheckResult(comparison=comparison, run_dir=str(run_b), baseline_path=str(run_a), suite=str(rec_a["suite"]),
                       policy=policy, changed=_changed(rec_a, rec_b))


def _findings_side_by_side(run_a, run_b, k: int) -> pd.DataFrame:
    cols = {}
    for name, run in (("A", run_a), ("B", run_b)):
        f = top_findings(read_results(run), k=k)
        cols[f"run {name}: {Path(run).name}"] = [format_finding(r) for r in f.to_dict("records")] + warnings_of(f)
    n = max(len(v) for v in cols.values())
    return pd.DataFrame({c: v + [""] * (n - len(v)) for c, v in cols.items()})


def compare_sections(result: CheckResult, *, k: int = 3) -> list[ReportSection]:
    """Sections of the comparison page: the verdict, findings side by side, every gated number."""
    c = result.counts()
    verdict = "FAIL: bias regressed beyond tolerance and noise margin" if result.exit_code else \
        "PASS: no gated metric is worse beyond its tolerance and noise margin"
    policy = result.policy
    blocks: list = [
        Text(f"Run A (baseline): {result.baseline_path}. Run B (candidate): {result.run_dir}. Suite {result.suite}."),
        Text(verdict, kind="warn" if result.exit_code else "note"),
        Text(f"{len(result.comparison)} gated numbers: " + ", ".join(f"{c[s]} {s}" for s in c) + f". Policy: rule "
             f"{policy.rule}, default tolerance {policy.default_tolerance}"
             + (f", tolerances {policy.tolerance}" if policy.tolerance else "")
             + (f", ignored {list(policy.ignore_metrics)}" if policy.ignore_metrics else "") + ". A number "
             "regresses when it is worse than run A by more than its tolerance and by more than the noise margin "
             "of both runs' intervals (the same rule as `imagen-audit check`)."),
    ]
    if result.changed:
        blocks.append(Text("The runs differ in: " + ", ".join(sorted(result.changed)), kind="caveat"))
    moved = result.comparison[result.comparison.status.isin(["regressed", "missing", "improved"])]
    if len(moved):
        blocks += [Text(describe(r), kind="caveat" if r.status != "improved" else "note")
                   for r in moved.itertuples(index=False)]
    else:
        blocks.append(Text("No gated number moved beyond its tolerance and noise margin.", kind="nodata"))
    secs = [ReportSection("Gate decision", blocks, key="findings",
                          results={"exit_code": result.exit_code, "counts": c})]
    secs.append(ReportSection("Findings of each run", [Table("findings side by side", _findings_side_by_side(
        result.baseline_path, result.run_dir, k), caption="top_findings of each run (the same ranking as the "
        "report and the CLI)")], key="side-by-side"))
    table = result.comparison.copy()
    for col in ("baseline", "lo", "hi", "now", "now_lo", "now_hi", "worse_by", "margin"):
        table[col] = table[col].astype(float).round(4)
    table = table.replace({np.nan: None})
    secs.append(ReportSection("Every gated number", [Table("comparison", table, collapsed=True, max_rows=200,
                                                           caption="Run A value and interval, run B value and "
                                                                   "interval, and the gate's status")],
                              key="numbers"))
    return secs


def write_comparison(result: CheckResult, out_dir: str | Path, *, k: int = 3) -> Path:
    """Write ``compare.html`` (and its report.json, summary.md, tables/) into ``out_dir``; returns the page."""
    from audit.report.build import build_report

    out = Path(out_dir)
    page = build_report(compare_sections(result, k=k), spec={"run_a": result.baseline_path, "run_b": result.run_dir,
                                                             "changed": result.changed},
                        out_dir=out, title=f"imagen-audit compare: {Path(result.baseline_path).name} vs "
                                           f"{Path(result.run_dir).name}", export_png=False)
    return page
