"""``imagen-audit probe``: list and show probe suites, run them against a generator; ``imagen-audit report``:
rebuild the report of a probe run directory (the two commands of a probe run, registered together)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit probe list
  imagen-audit probe show professions
  imagen-audit probe run professions --generator builtin --samples 16 --out runs/professions
  imagen-audit probe run skin-tone-counterfactuals --generator diffusers:stabilityai/stable-diffusion-2-1-base \\
      --steps 25 --height 512 --width 512 --negative-prompt "blurry" --labelers world,ita --workers 2 \\
      --out runs/sd21-skin
  imagen-audit probe run professions --generator builtin --labelers world,deepface --deepface-home ~/df-weights \\
      --out runs/prof-df
  imagen-audit probe run professions --generator builtin --sweep guidance=1,4,8 --sweep thresholding=none,dynamic \\
      --out runs/prof-sweep
  imagen-audit probe run my-suite.yaml --generator diffusers:path/to/pipeline --dask-scheduler tcp://10.0.0.5:8786 --out runs/x
"""


REPORT_EPILOG = """examples:
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


def _list(args) -> int:
    from probes.suite import load_builtin, suite_names
    from probes.expand import expand_prompts

    print(f"{'suite':28} {'prompts':>7} {'samples':>7} {'images':>7}  description")
    for name in suite_names():
        suite = load_builtin(name)
        n = len(expand_prompts(suite))
        first = suite.description.split(". ")[0].rstrip(".")
        print(f"{name:28} {n:7d} {suite.samples:7d} {n * suite.samples:7d}  {first[:70]}")
    return 0


def _show(args) -> int:
    from probes.suite import resolve_suite
    from probes.expand import expand_prompts

    suite = resolve_suite(args.suite)
    prompts = expand_prompts(suite)
    print(f"suite: {suite.name}   ({suite.file})")
    print(f"description: {suite.description}")
    print(f"samples per prompt: {suite.samples}   seed: {suite.seed}   prompts: {len(prompts)}   "
          f"images: {len(prompts) * suite.samples}")
    print(f"labelers: {', '.join(suite.labelers) or '-'}   metrics: {', '.join(suite.metrics) or '-'}")
    print("templates:")
    for t in suite.templates:
        print(f"  {t.id}: {t.text}")
    for name, vocab in suite.slots.items():
        print(f"slot {name} ({len(vocab.labels)}): {', '.join(vocab.labels)}")
    for name, axis in suite.axes.items():
        none = " + (none)" if axis.include_none else ""
        print(f"axis {name}: {', '.join(axis.values.labels)}{none}")
    for ref in suite.references:
        print(f"reference: % {ref.attribute}={ref.value} per {ref.slot} ({len(ref.percent)} values); "
              f"source: {ref.source.strip()}")
    shown = prompts if args.all else prompts.head(args.prompts)
    print(f"prompts ({len(shown)} of {len(prompts)}):")
    for p in shown.prompt:
        print(f"  {p}")
    return 0


def _run(args) -> int:
    from audit.cli import labeler_options
    from audit.run import run_probe
    from probes.suite import resolve_suite

    suite = resolve_suite(args.suite)
    names = None if args.labelers is None else \
        list(dict.fromkeys(n.strip() for n in args.labelers.split(",") if n.strip()))  # None: the suite's
    options = {"device": args.device, "dtype": args.dtype, "allow_download": args.allow_download,
               "steps": args.steps, "guidance": args.guidance, "height": args.height, "width": args.width,
               "negative_prompt": args.negative_prompt}
    options = {k: v for k, v in options.items() if v is not None}
    run = run_probe(suite, generator=args.generator, generator_options=options, out=args.out, samples=args.samples,
                    seed=args.seed, labelers=names,
                    labeler_options={n: labeler_options(args, n) for n in (suite.labelers if names is None else names)},
                    sweep=args.sweep, workers=args.workers, scheduler=args.dask_scheduler,
                    shard_images=args.shard_images, batch_size=args.batch_size, threads=args.threads,
                    report=not args.no_report, progress=not args.no_progress,
                    arguments={k: v for k, v in vars(args).items() if k != "handler"})
    n = len(run.manifest)
    print(f"run: {run.path}  images: {n}  settings: {', '.join(run.results['settings'])}")
    from audit.report.findings import finding_lines, top_findings
    from audit.results import read_results
    from audit.results.store import summary_lines

    table = read_results(run.path).table
    for line in summary_lines(table):
        print(line)
    print("top findings (as in the report):")
    for line in finding_lines(top_findings(table, k=3)):
        print(line)
    print(f"results: {run.path / 'results.parquet'}")
    if run.report_path is not None:
        print(f"report: {run.report_path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    """``imagen-audit report RUN_DIR``: the report of a probe run, from its results table (or one computed again)."""
    import pandas as pd

    from audit.cli import attribute_files
    from audit.report import read_table, report_from_run_dir

    references = {a: read_table(p) for a, p in attribute_files(args.reference, "--reference").items()}
    confusions = {}
    for attr, path in attribute_files(args.confusion, "--confusion").items():
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
    """Add ``probe list|show|run`` and ``report`` to the CLI."""
    from audit.cli import add_labeler_options, add_progress_option
    from audit.registry import LABELERS

    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("probe", help="list, show and run probe suites", epilog=EPILOG, formatter_class=fmt,
                       description="Probe suites: templated prompts run through a generator, labelled and scored.")
    psub = p.add_subparsers(dest="probe_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: p.print_help() or 2)

    pl = psub.add_parser("list", help="list the built-in suites", epilog=EPILOG, formatter_class=fmt)
    pl.set_defaults(handler=_list)

    ps = psub.add_parser("show", help="show a suite's templates, slots, axes, references and prompts",
                         epilog="example:\n  imagen-audit probe show skin-tone-counterfactuals --prompts 20",
                         formatter_class=fmt)
    ps.add_argument("suite", help="built-in suite name or path of a suite .yaml")
    ps.add_argument("--prompts", type=int, default=10, help="how many prompts to print (default 10)")
    ps.add_argument("--all", action="store_true", help="print every prompt")
    ps.set_defaults(handler=_show)

    pr = psub.add_parser("run", help="generate, label and score a suite into a run directory", epilog=EPILOG,
                         formatter_class=fmt,
                         description="Run a suite. Rerunning the same command on the same --out resumes a "
                                     "killed run.")
    pr.add_argument("suite", help="built-in suite name or path of a suite .yaml")
    pr.add_argument("--generator", required=True,
                    help="builtin | diffusers:PATH_OR_ID | diffusers-if:STAGE1,STAGE2 | PLUGIN:TARGET")
    pr.add_argument("--out", required=True, help="run directory (created; reused to resume)")
    pr.add_argument("--samples", type=int, default=None, help="samples per prompt (default: the suite's)")
    pr.add_argument("--seed", type=int, default=None, help="base seed (default: the suite's)")
    pr.add_argument("--labelers", default=None,
                    help=f"comma-separated, from {', '.join(LABELERS)} or installed plugins "
                         "(default: the suite's; '' for none)")
    pr.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                    help="sweep a sampler setting: steps, guidance, scheduler, thresholding (repeatable)")
    pr.add_argument("--steps", type=int, default=None, help="denoising steps (default: the generator's)")
    pr.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the generator's)")
    pr.add_argument("--height", type=int, default=None, help="image height in pixels (default: the generator's)")
    pr.add_argument("--width", type=int, default=None, help="image width in pixels (default: the generator's)")
    pr.add_argument("--negative-prompt", default=None, help="negative prompt for every image (diffusers pipelines)")
    pr.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    pr.add_argument("--workers", type=int, default=None, help="run on a new Dask LocalCluster of N processes")
    pr.add_argument("--dask-scheduler", dest="dask_scheduler", default=None, metavar="ADDRESS",
                    help="run on an existing Dask scheduler (tcp://host:8786)")
    pr.add_argument("--shard-images", type=int, default=64, help="images per shard (default 64)")
    pr.add_argument("--batch-size", type=int, default=8, help="images per generator call (default 8)")
    pr.add_argument("--threads", type=int, default=None, help="torch threads per process")
    pr.add_argument("--no-report", action="store_true", help="skip report.html")
    add_labeler_options(pr)
    add_progress_option(pr)
    pr.set_defaults(handler=_run)

    r = sub.add_parser(
        "report",
        help="rebuild the HTML/JSON/Markdown audit report of a run directory",
        description="Write the report of a probe run from its results table (nPMI, representation, "
        "reference gaps, amplification, suite metrics, with their intervals).",
        epilog=REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("run_dir", metavar="RUN_DIR", help="folder with spec.json, manifest.parquet, labels.parquet")
    r.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report)")
    r.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    r.add_argument("--cluster", action="append", metavar="COLUMN",
                   help="bootstrap cluster column; repeat for two-way (default prompt_id)")
    r.add_argument("--reference", action="append", metavar="ATTR=FILE", help="reference distribution per attribute")
    r.add_argument("--confusion", action="append", metavar="ATTR=FILE", help="labeler confusion matrix per attribute")
    r.add_argument("--png", choices=("auto", "yes", "no"), default="auto",
                   help="export figures as PNG (auto: when kaleido or chromium is available)")
    r.set_defaults(handler=_report)
