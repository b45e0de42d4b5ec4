"""``check``: read a run's gated numbers from its results table, the baseline's way, and compare them.

Unusable input exits 2, never passes: a baseline or results file with NaN or
infinite numbers or truncated, a policy whose ``attributes`` match no gated
number, or a check that would compare 0 numbers.

Examples
--------
>>> check_run("no/such/run", baseline="no/such/baseline.json")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
audit.errors.UserError: ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import UserError
from audit.files import SPEC_FILE
from audit.gate.baseline import (finished_spec, metrics_frame, read_baseline, references_from_records, run_numbers,
                                 run_record)
from audit.gate.compare import STATUSES, compare_metrics
from audit.gate.policy import Policy
from audit.results import Options

__all__ = ["CheckResult", "check_run", "EXIT_PASS", "EXIT_REGRESSED", "EXIT_UNUSABLE"]

EXIT_PASS, EXIT_REGRESSED, EXIT_UNUSABLE = 0, 1, 2


@dataclass
class CheckResult:
    """The outcome of one gate check.

    Attributes
    ----------
    comparison : pandas.DataFrame
        See :func:`audit.gate.compare.compare_metrics`.
    run_dir, baseline_path : str
    suite : str
    policy : Policy
    changed : dict
        Run-spec fields that differ from the baseline's run (``generator``, ``seed``...), old and new.
    """

    comparison: pd.DataFrame
    run_dir: str
    baseline_path: str
    suite: str
    policy: Policy
    changed: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> pd.DataFrame:
        """Rows that fail the gate: regressions, and missing numbers when the policy says so."""
        bad = ["regressed", "missing"] if self.policy.fail_on_missing else ["regressed"]
        return self.comparison[self.comparison["status"].isin(bad)]

    @property
    def exit_code(self) -> int:
        """0 when nothing regressed, 1 otherwise."""
        return EXIT_REGRESSED if len(self.failures) else EXIT_PASS

    def counts(self) -> dict[str, int]:
        """Numbers per status."""
        vc = self.comparison["status"].value_counts()
        return {s: int(vc.get(s, 0)) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``--format json``)."""
        rows = self.comparison.astype(object).where(self.comparison.notna(), None).to_dict("records")
        return {"passed": self.exit_code == EXIT_PASS, "exit_code": self.exit_code, "run_dir": self.run_dir,
                "baseline": self.baseline_path, "suite": self.suite, "counts": self.counts(),
                "policy": {"default_tolerance": self.policy.default_tolerance, "tolerance": self.policy.tolerance,
                           "ignore_metrics": list(self.policy.ignore_metrics),
                           "attributes": None if self.policy.attributes is None else list(self.policy.attributes),
                           "fail_on_missing": self.policy.fail_on_missing, "rule": self.policy.rule},
                "changed": self.changed,
                "failures": [r for r in rows if r["status"] in ("regressed", "missing")
                             and (r["status"] == "regressed" or self.policy.fail_on_missing)],
                "results": rows}

    def text(self) -> str:
        """Human-readable report: one line per failure (metric, group, baseline, now, interval)."""
        c = self.counts()
        lines = [f"imagen-audit check: {self.run_dir} against {self.baseline_path} (suite {self.suite})",
                 f"checked {len(self.comparison)} numbers: " + ", ".join(f"{c[s]} {s}" for s in STATUSES)]
        if self.changed:
            lines.append("run differs from the baseline's in: " + ", ".join(sorted(self.changed)))
        for row in self.failures.itertuples(index=False):
            lines.append(describe(row))
        for row in self.comparison[self.comparison["status"] == "improved"].itertuples(index=False):
            lines.append(describe(row))
        lines.append("FAIL: bias regressed beyond tolerance and noise margin" if self.exit_code else
                     "PASS: no gated metric is worse beyond its tolerance and noise margin")
        return "\n".join(lines)


def _f(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.3f}"


def describe(row) -> str:
    """One line for a compared number.

    Examples
    --------
    >>> from collections import namedtuple
    >>> R = namedtuple("R", "metric setting slot labeler attribute group direction baseline lo hi now now_lo now_hi "
    ...                "worse_by margin tolerance status")
    >>> describe(R("abs_npmi_gap", "default", "profession", "w", "presentation", "nurse", "up", 0.1, 0.0, 0.2,
    ...            0.6, 0.5, 0.7, 0.5, 0.141, 0.05, "regressed"))
    'REGRESSED abs_npmi_gap presentation by profession=nurse [setting default, labeler w]: baseline 0.100 interval [0.000, 0.200], now 0.600 interval [0.500, 0.700] (worse by 0.500 > tolerance 0.050 and > noise margin 0.141; larger is more biased)'
    """
    where = f"{row.attribute} by {row.slot}={row.group} [setting {row.setting}, labeler {row.labeler}]"
    if row.status == "missing":
        return (f"MISSING {row.metric} {where}: baseline {_f(row.baseline)} interval [{_f(row.lo)}, {_f(row.hi)}], "
                "not computable in this run (the group or label is absent)")
    way = "larger" if row.direction == "up" else "smaller"
    verb = "worse" if row.worse_by > 0 else "better"
    return (f"{row.status.upper()} {row.metric} {where}: baseline {_f(row.baseline)} interval "
            f"[{_f(row.lo)}, {_f(row.hi)}], now {_f(row.now)} interval [{_f(row.now_lo)}, {_f(row.now_hi)}] "
            f"({verb} by {_f(abs(row.worse_by))} > tolerance {_f(row.tolerance)} and > noise margin "
            f"{_f(row.margin)}; {way} is more biased)")


def _changed(old: dict, new: dict) -> dict[str, Any]:
    out = {}
    for key in ("generator", "labelers", "samples", "seed", "settings"):
        if json.dumps(old.get(key), sort_keys=True, default=str) != json.dumps(new.get(key), sort_keys=True,
                                                                               default=str):
            out[key] = {"baseline": old.get(key), "now": new.get(key)}
    return out


def _policy_matches(policy: Policy, frozen: pd.DataFrame, baseline) -> None:
    """Every attribute a policy names must match some gated number of the baseline (a typo checks nothing)."""
    if policy.attributes is None:
        return
    have = sorted(set(frozen["attribute"].astype(str)))
    for i, name in enumerate(policy.attributes):
        if name not in have:
            raise UserError(f"{policy.file or '--policy'}: field attributes[{i}]: {name!r} matches no gated number of "
                            f"{baseline} (fix: use attributes among {have})")


def check_run(run_dir: str | Path, *, baseline: str | Path, policy: Policy | None = None) -> CheckResult:
    """Gate a finished run against a baseline file.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A finished probe run of the baseline's suite.
    baseline : str or pathlib.Path
        A file written by :func:`audit.gate.baseline.write_baseline`.
    policy : Policy, optional
        Tolerances and what to gate (default :class:`Policy`).

    Returns
    -------
    CheckResult

    Raises
    ------
    audit.errors.UserError
        Unusable input: missing or invalid baseline, unfinished run, other suite.
    """
    policy = policy or Policy()
    base = read_baseline(baseline)
    spec = finished_spec(run_dir)
    now = run_record(spec)
    if now["suite"] != base["run"]["suite"]:
        raise UserError(
            f"{Path(run_dir) / SPEC_FILE}: field suite.name: is {now['suite']!r} but {baseline} was frozen on "
            f"suite {base['run']['suite']!r} (fix: run suite {base['run']['suite']!r}, or freeze a new baseline "
            f"from this run with `imagen-audit baseline {run_dir} --out FILE`)")
    method = base["method"]
    options = Options(cluster=method["cluster"], n_resamples=int(method["n_resamples"]),
                      confidence=float(method["confidence"]), seed=int(method["seed"]))
    current, _ = run_numbers(run_dir, options=options, references=references_from_records(base))
    if current.empty:
        raise UserError(f"{Path(run_dir) / 'results.parquet'}: no labels of a gated attribute in the run's results "
                        "(fix: rerun the probe with the baseline's labelers, "
                        f"{[lab.get('name') for lab in base['run'].get('labelers') or []]})")
    frozen = metrics_frame(base)
    if not set(frozen["setting"]) & set(current["setting"]):
        raise UserError(f"{Path(run_dir) / SPEC_FILE}: field settings: the run's sweep settings "
                        f"{sorted(set(current['setting']))} share none with the baseline's {sorted(set(frozen['setting']))} "
                        "(fix: rerun the probe with the baseline's --sweep/--steps/--guidance options)")
    _policy_matches(policy, frozen, baseline)
    comparison = compare_metrics(frozen, current, policy=policy)
    if comparison.empty:
        raise UserError(f"{policy.file or 'policy'}: the policy gates 0 of the baseline's {len(frozen)} numbers "
                        "(fix: check ignore_metrics and attributes; a gate that checks nothing cannot pass)")
    return CheckResult(comparison=comparison, run_dir=str(run_dir), baseline_path=str(baseline),
                       suite=str(now["suite"]), policy=policy, changed=_changed(base["run"], now))
