"""``imagen-audit world``: build the synthetic world dataset and draw contact sheets."""

from __future__ import annotations

import argparse

from audit.errors import UserError

BUILD_EPILOG = """examples:
  imagen-audit world build --n 50000 --out runs/world --seed 0
  imagen-audit world build --spec my_world.yaml --n 2000 --out runs/small --shard-size 500 --workers 1

The output folder holds img2dataset-style shards (NNNNN.tar with KEY.png/.txt/.json,
NNNNN.parquet with LAION columns) and the ground-truth sidecar ground_truth.parquet.
Same seed, same bytes; an interrupted build resumes where it stopped.
"""


def _build(args: argparse.Namespace) -> int:
    from generator.world.build import build_world

    try:
        built = build_world(n=args.n, out=args.out, seed=args.seed, spec_path=args.spec,
                            shard_size=args.shard_size, workers=args.workers, progress=not args.no_progress,
                            jpeg_quality=args.jpeg_quality)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"world dataset: {built.out} ({len(built.truth)} samples in {built.shards} shards; "
          f"ground truth: {built.out / 'ground_truth.parquet'})")
    return 0


def _sheet(args: argparse.Namespace) -> int:
    from generator.world.sheet import save_contact_sheet

    tones = tuple(int(t) for t in args.tones.split(","))
    if not all(1 <= t <= 10 for t in tones):
        raise UserError(f"--tones: Monk skin tones are 1..10, got {args.tones}")
    path = save_contact_sheet(args.out, tones=tones, seed=args.seed, zoom=args.zoom)
    print(f"contact sheet: {path}")
    return 0


def register(sub) -> None:
    """Add ``world build`` and ``world sheet``."""
    from audit.cli import add_progress_option

    p = sub.add_parser("world", help="build the synthetic world dataset (known, injected biases)",
                       description="The synthetic world: people with known attributes and injected biases.")
    ws = p.add_subparsers(dest="world_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: p.print_help() or 2)

    b = ws.add_parser("build", help="render a LAION-style dataset with a ground-truth sidecar",
                      epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--spec", default=None, help="world spec YAML (default: data/world.yaml)")
    b.add_argument("--n", type=int, default=50000, help="number of samples (default 50000)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    b.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default 1000)")
    b.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    b.add_argument("--jpeg-quality", type=int, nargs=2, metavar=("LO", "HI"), default=None,
                   help="store JPEG images at a quality drawn uniformly from LO..HI (like recompressed web "
                        "images) instead of PNG; the same people as the PNG build of the seed")
    add_progress_option(b)
    b.set_defaults(handler=_build)

    s = ws.add_parser("sheet", help="contact sheet: every profession x several skin tones",
                      epilog="example:\n  imagen-audit world sheet --out sheet.png --tones 1,3,5,7,10",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--out", required=True, help="PNG path")
    s.add_argument("--tones", default="1,3,5,7,10", help="Monk skin tones, comma-separated")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--zoom", type=int, default=2, help="pixel zoom of each 64 px tile")
    s.set_defaults(handler=_sheet)
