"""``imagen-audit baseline`` and ``imagen-audit check``: the CI bias-regression gate."""

from __future__ import annotations

import argparse

BASELINE_EPILOG = """examples:
  imagen-audit baseline runs/professions --out ci/baseline.json
  imagen-audit baseline runs/professions --out ci/baseline.json --resamples 2000 --confidence 0.99
  imagen-audit baseline runs/professions --out ci/baseline.json --reference presentation=data/world_counts.csv

Freezes every gated metric of a finished run, read from its results table
RUN_DIR/results.parquet (|nPMI gap|, normalized entropy, deviation from uniform,
|reference gap|, bias amplification, compliance, default drift, unsafe rate, per
concept and table-wide) with its interval, plus the run's spec (suite, generator,
labelers, seeds, package versions, git revision). Written atomically as
schema-versioned JSON. Other --resamples/--confidence/--seed/--cluster than the
run's table (1000, 0.95, 0, prompt_id), or a --reference, compute the table once
more with the same code. A reference with counts [<slot>, <attribute>, n] also
gates bias amplification; it is stored in the baseline.
"""

CHECK_EPILOG = """examples:
  imagen-audit check runs/nightly --baseline ci/baseline.json
  imagen-audit check runs/nightly --baseline ci/baseline.json --tolerance abs_npmi_gap=0.1 --tolerance default=0.05
  imagen-audit check runs/nightly --baseline ci/baseline.json --policy ci/policy.yaml --junit gate.xml --format json

Exit codes: 0 no gated metric is worse beyond its tolerance and beyond its
sampling noise (--rule combined: the margin of the baseline's and this run's
intervals; --rule baseline: outside the baseline's interval); 1 bias regressed (each regression listed: metric, group,
baseline, interval, now); 2 unusable input (missing, truncated or invalid baseline or
results, NaN or infinite numbers, run of another suite, a policy that matches or
gates nothing). policy.yaml keys: default_tolerance, tolerance
{METRIC: VALUE}, ignore_metrics, attributes, fail_on_missing, rule.
"""


def _baseline(args: argparse.Namespace) -> int:
    from audit.cli import attribute_files
    from audit.gate import make_baseline, write_baseline
    from audit.report import read_table

    references = {a: read_table(p) for a, p in attribute_files(args.reference, "--reference").items()}
    base = make_baseline(args.run_dir, references=references, cluster=args.cluster or ["prompt_id"],
                         n_resamples=args.resamples, confidence=args.confidence, seed=args.seed)
    path = write_baseline(args.out, base)
    print(f"{path}: {len(base['metrics'])} metrics of suite {base['run']['suite']!r} frozen")
    return 0


def _check(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from audit.gate import Policy, check_run, read_policy, write_junit

    policy = read_policy(args.policy) if args.policy else Policy()
    policy = policy.with_tolerances(args.tolerance or [])
    if args.rule:
        policy = dataclasses.replace(policy, rule=args.rule)
    result = check_run(args.run_dir, baseline=args.baseline, policy=policy)
    if args.junit:
        write_junit(args.junit, result.comparison, fail_on_missing=policy.fail_on_missing)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.text())
    return result.exit_code


def register(sub) -> None:
    """Add the ``baseline`` and ``check`` subcommands."""
    b = sub.add_parser("baseline", help="freeze a run's bias metrics and intervals as a CI baseline",
                       description="Freeze the gated bias metrics of a finished probe run (read from its results "
                       "table), with their intervals and the run's spec, into a baseline JSON file.",
                       epilog=BASELINE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("run_dir", metavar="RUN_DIR", help="a finished probe run directory")
    b.add_argument("--out", required=True, help="baseline JSON file to write")
    b.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    b.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    b.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    b.add_argument("--cluster", action="append", metavar="COLUMN",
                   help="bootstrap cluster column; repeat for two-way (default prompt_id)")
    b.add_argument("--reference", action="append", metavar="ATTR=FILE",
                   help="reference table per attribute (shares p or counts n)")
    b.set_defaults(handler=_baseline)

    c = sub.add_parser("check", help="fail (exit 1) when a run's bias regressed against a baseline",
                       description="Read a run's gated bias metrics from its results table, the baseline's way, and "
                       "compare: exit 0 pass, 1 regressed, 2 unusable input.",
                       epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("run_dir", metavar="RUN_DIR", help="a finished probe run directory of the baseline's suite")
    c.add_argument("--baseline", required=True, help="baseline JSON written by `imagen-audit baseline`")
    c.add_argument("--policy", default=None, help="policy YAML (tolerances, ignored metrics, attributes)")
    c.add_argument("--tolerance", action="append", metavar="METRIC=VALUE",
                   help="absolute tolerance for a metric ('default=VALUE' for all); overrides the policy")
    c.add_argument("--rule", choices=("combined", "baseline"), default=None,
                   help="noise allowance: 'combined' (default; the change must exceed the margin of both runs' "
                   "intervals) or 'baseline' (the value must leave the baseline's interval); overrides the policy")
    c.add_argument("--junit", default=None, metavar="FILE", help="also write JUnit XML here")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    c.set_defaults(handler=_check)
