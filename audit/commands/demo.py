"""``imagen-audit demo``: the main job on the built-in defaults.

Runs the ``professions`` suite and a short ``skin-tone-counterfactuals`` suite with
the built-in cascade and the world labeler, writes the run directories with their
HTML reports, and prints the top findings of the professions run's results table
(``results.parquet``) with :func:`audit.report.findings.top_findings`, as the report shows them.
Without generator weights it audits the synthetic world dataset and prints that audit's findings
as its report shows them (:func:`audit.dataset.report.read_findings`).
"""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit demo
  imagen-audit demo --samples 8 --out runs/demo

The professions run compares who the generator draws for each profession with US
labour statistics; the counterfactual run checks whether prompts that name a skin
tone or gender are followed. Rerunning the same command resumes.
"""


def findings(run_dir, *, k: int = 3):
    """The ``k`` findings per profession of the run's results table, as the report's "Findings" box shows them.

    Ranked by :func:`audit.report.findings.top_findings` (the 95% interval bound nearest no effect, at least
    10 images); ``attrs["warnings"]`` says in words why there are fewer than ``k``.
    """
    from audit.report.findings import top_findings
    from audit.results import read_results

    return top_findings(read_results(run_dir), k=k, slot="profession")


def headline_lines(top) -> list[str]:
    """The demo's printed findings (:func:`audit.report.findings.finding_lines`): one numbered line each, then
    the warnings."""
    from audit.report.findings import finding_lines

    return finding_lines(top)


def _dataset_demo(out, *, labeler, n: int, seed: int) -> int:
    """The main job while no built-in generator weights are shipped: audit the synthetic world dataset."""
    from audit.dataset.pipeline import run_dataset_audit
    from audit.dataset.report import findings_lines, read_findings
    from generator.world.build import build_world

    print(f"[1/2] synthetic world: {n} people with injected biases (data/world.yaml)")
    world = build_world(n=n, out=out / "world", seed=seed, shard_size=1000)
    print("[2/2] dataset audit: captions (lexicons) and images (world labeler)")
    audit_dir = out / "world-audit"
    run_dataset_audit(world.out, out_dir=audit_dir, labeler=labeler, argv=["imagen-audit", "demo"])
    print(f"\nTop findings (the report's Findings box, from {audit_dir / 'cooccurrence.parquet'} and "
          "per_query_rates.parquet):")
    for line in findings_lines(read_findings(audit_dir)):
        print(line)
    print(f"report: {out / 'world-audit' / 'report.html'}")
    print(f"dataset card: {out / 'world-audit' / 'dataset_card.md'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from audit.labelers.world import WorldLabeler
    from audit.run import run_probe
    from generator.api import BUILTIN_DIR

    out = Path(args.out)
    labeler = WorldLabeler.from_pretrained()
    if not (BUILTIN_DIR / "model_index.json").exists():
        print(f"The built-in generator's weights are missing ({BUILTIN_DIR}; fix: git checkout data/weights); "
              "running the dataset audit of the synthetic world instead.")
        return _dataset_demo(out, labeler=labeler, n=args.world_n, seed=args.seed)
    print(f"[1/2] professions suite: {args.samples} samples per prompt, built-in generator, world labeler")
    prof = run_probe("professions", generator="builtin", labelers=[labeler], samples=args.samples, seed=args.seed,
                     out=out / "professions", progress=not args.no_progress)
    print(f"[2/2] skin-tone-counterfactuals suite: {args.counterfactual_samples} samples per prompt")
    cf = run_probe("skin-tone-counterfactuals", generator="builtin", labelers=[labeler],
                   samples=args.counterfactual_samples, seed=args.seed, out=out / "counterfactuals",
                   progress=not args.no_progress)
    top = findings(prof.path)
    print(f"\nTop findings (nPMI gap per profession from {prof.path / 'results.parquet'}, ranked by the 95% "
          "interval bound nearest 0; the report's Findings box):")
    for line in headline_lines(top):
        print(line)
    for name, run in (("professions", prof), ("counterfactuals", cf)):
        print(f"report ({name}): {run.report_path or run.path}")
    return 0


def register(sub) -> None:
    """Add ``demo``."""
    from audit.cli import add_progress_option

    p = sub.add_parser("demo", help="run the main job: professions + counterfactual suites, report, top findings",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--samples", type=int, default=8, help="samples per prompt, professions suite (default 8)")
    p.add_argument("--counterfactual-samples", type=int, default=2, help="samples per prompt, counterfactual suite")
    p.add_argument("--world-n", type=int, default=3000, help="world size when auditing the dataset (default 3000)")
    p.add_argument("--seed", type=int, default=0)
    add_progress_option(p)
    p.set_defaults(handler=_run)
