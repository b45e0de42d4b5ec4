"""``imagen-audit report RUN_DIR``: rebuild the audit report of a probe run directory."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit report runs/professions
  imagen-audit report runs/professions --out /tmp/report --resamples 2000 --seed 1
  imagen-audit report runs/professions --reference presentation=data/reference/labour_women.csv \\
      --confusion presentation=runs/labelers/presentation_confusion.csv --cluster prompt_id --cluster seed

Writes OUT/report.html (self-contained), report.json, summary.md, tables/*.parquet
and, when a browser is available, figures/*.png. The numbers are read from the
run's results table RUN_DIR/results.parquet; other --resamples/--seed/--cluster,
a --reference or a --confusion compute the table once more (same code) and write
it as OUT/results.parquet. A reference table has columns
[<concept>, <attribute>, p] (shares) or [..., n] (counts, also enables bias
amplification); a confusion CSV has the true values as first column (index) and
the predicted values as the other columns.
"""


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    from audit.errors import UserError

    out = {}
    for item in values or []:
        attr, sep, path = item.partition("=")
        if not sep or not attr or not path:
            raise UserError(f"{flag} {item!r}: expected ATTRIBUTE=FILE (fix: e.g. {flag} presentation=ref.csv)")
        out[attr] = path
    return out


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from audit.report import read_table, report_from_run_dir

    references = {a: read_table(p) for a, p in _pairs(args.reference, "--reference").items()}
    confusions = {}
    for attr, path in _pairs(args.confusion, "--confusion").items():
        table = read_table(path)
        if isinstance(table.index, pd.RangeIndex):  # true values in the first column
            table = table.set_index(table.columns[0])
        table.index = table.index.astype(str)
        confusions[attr] = table
    png = {"auto": None, "yes": True, "no": False}[args.png]
    out = report_from_run_dir(
        args.run_dir, out_dir=args.out, references=references, confusions=confusions,
        cluster=tuple(args.cluster or ["prompt_id"]), n_resamples=args.resamples, seed=args.seed, export_png=png,
    )
    print(out)
    return 0


def register(sub) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="rebuild the HTML/JSON/Markdown audit report of a run directory",
        description="Write the report of a probe run from its results table (nPMI, representation, "
        "reference gaps, amplification, suite metrics, with their intervals).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder with spec.json, manifest.parquet, labels.parquet")
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--cluster", action="append", metavar="COLUMN",
                   help="bootstrap cluster column; repeat for two-way (default prompt_id)")
    p.add_argument("--reference", action="append", metavar="ATTR=FILE", help="reference distribution per attribute")
    p.add_argument("--confusion", action="append", metavar="ATTR=FILE", help="labeler confusion matrix per attribute")
    p.add_argument("--png", choices=("auto", "yes", "no"), default="auto",
                   help="export figures as PNG (auto: when kaleido or chromium is available)")
    p.set_defaults(handler=run)
