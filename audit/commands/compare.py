"""``imagen-audit compare RUN_A RUN_B``: two runs side by side, with the CI gate's decision."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit compare runs/baseline runs/candidate
  imagen-audit compare runs/sd21 runs/sd15 --out runs/compare --tolerance abs_npmi_gap=0.1
  imagen-audit compare runs/nightly-1 runs/nightly-2 --policy ci/policy.yaml --rule baseline

Reads both runs' results tables (RUN/results.parquet), treats RUN_A as the
baseline and RUN_B as the candidate, and applies the gate's own comparison
(`imagen-audit check`): a number regresses when it is worse by more than its
tolerance and by more than the noise margin of both intervals. Prints the
gate's text and writes OUT/report.html (default RUN_B/compare/) with the
verdict, each run's top findings side by side and every gated number.

Exit codes, as `imagen-audit check`: 0 pass, 1 regressed, 2 unusable input.
"""


def _run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from audit.gate import Policy, read_policy
    from audit.report.compare import compare_runs, write_comparison

    policy = read_policy(args.policy) if args.policy else Policy()
    policy = policy.with_tolerances(args.tolerance or [])
    if args.rule:
        policy = dataclasses.replace(policy, rule=args.rule)
    result = compare_runs(args.run_a, args.run_b, policy=policy)
    print(result.text())
    page = write_comparison(result, Path(args.out) if args.out else Path(args.run_b) / "compare", k=args.findings)
    print(f"comparison: {page}")
    return result.exit_code


def register(sub) -> None:
    """Add ``compare``."""
    p = sub.add_parser("compare", help="two runs side by side with the CI gate's decision (RUN_A as baseline)",
                       description="Compare two finished probe runs of the same suite from their results tables.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="baseline run directory")
    p.add_argument("run_b", metavar="RUN_B", help="candidate run directory")
    p.add_argument("--out", default=None, help="output folder of the page (default RUN_B/compare)")
    p.add_argument("--policy", default=None, help="policy YAML (tolerances, ignored metrics, attributes)")
    p.add_argument("--tolerance", action="append", metavar="METRIC=VALUE",
                   help="absolute tolerance for a metric ('default=VALUE' for all); overrides the policy")
    p.add_argument("--rule", choices=("combined", "baseline"), default=None, help="noise allowance (see check)")
    p.add_argument("--findings", type=int, default=3, help="findings per run shown side by side (default 3)")
    p.set_defaults(handler=_run)
