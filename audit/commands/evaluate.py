"""``imagen-audit eval generator``: the built-in generator's quality gates as JSON."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  imagen-audit eval generator
  imagen-audit eval generator --per-prompt 4 --fid-n 2000 --guidance 2 --out gates.json

Prints JSON: profession alignment, attribute compliance (skin group, presentation,
age), alignment on reworded prompts, world-FID ratio, images/s, and which gates pass.
"""


def _run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from audit.commands.generate import sampler_settings
    from audit.labelers.world import WorldLabeler
    from audit.files import atomic_write_bytes
    from generator.api import load_cascade
    from generator.evaluate import evaluate_generator

    settings = sampler_settings(args)
    result = evaluate_generator(pipeline=load_cascade(args.weights), labeler=WorldLabeler.from_pretrained(args.world_weights),
                                per_prompt=args.per_prompt, n_fid=args.fid_n, settings=settings, seed=args.seed,
                                progress=not args.no_progress)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode())
        print(f"results: {args.out}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add ``eval generator``."""
    from audit.cli import add_progress_option
    from audit.commands.generate import add_sampler_options

    p = sub.add_parser("eval", help="evaluate the built-in generator against its quality gates")
    es = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: p.print_help() or 2)
    g = es.add_parser("generator", help="alignment, compliance, world-FID ratio, images/s (JSON)", epilog=EPILOG,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--per-prompt", type=int, default=2, help="images per evaluation prompt (default 2)")
    g.add_argument("--fid-n", type=int, default=1000, help="images per set for the world-FID (default 1000)")
    g.add_argument("--world-weights", default=None, help="world labeler folder (default: shipped weights)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", default=None, help="also write the JSON here")
    add_progress_option(g)
    add_sampler_options(g)
    g.set_defaults(handler=_run)
