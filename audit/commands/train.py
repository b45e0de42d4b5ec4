"""``imagen-audit train``: train the world labeler or the built-in generator."""

from __future__ import annotations

import argparse

LABELER_EPILOG = """examples:
  imagen-audit train labeler --out data/weights/world-labeler --minutes 25
  imagen-audit train labeler --out /tmp/wl --n-train 2000 --minutes 1 --width 8   # a quick smoke run

Trains on balanced world renders with diffusion-like augmentations, checkpoints
every few minutes (a rerun resumes), then writes model.safetensors, config.json
and the labeler card (card.json, card.md) with held-out accuracy per group.
"""


def _labeler(args: argparse.Namespace) -> int:
    from audit.labelers.world_train import train_world_labeler

    card = train_world_labeler(out=args.out, n_train=args.n_train, n_eval=args.n_eval, minutes=args.minutes,
                               width=args.width, batch_size=args.batch_size, seed=args.seed, progress=not args.quiet)
    clean = card["clean"]
    print("held-out accuracy (clean renders):", {k: round(v, 4) for k, v in clean["accuracy"].items()},
          "MST within +-1:", round(clean["skin_tone_within_1"], 4))
    print(f"labeler card: {args.out}/card.md")
    return 0


def register(sub) -> None:
    """Add ``train labeler`` (and the generator trainer, when present)."""
    p = sub.add_parser("train", help="train the world labeler or the built-in generator")
    ts = p.add_subparsers(dest="train_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: p.print_help() or 2)
    lab = ts.add_parser("labeler", help="train the world CNN labeler", epilog=LABELER_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("--out", required=True, help="output folder for weights and card")
    lab.add_argument("--n-train", type=int, default=60000, help="balanced renders to train on")
    lab.add_argument("--n-eval", type=int, default=6000, help="held-out renders (fresh seed)")
    lab.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    lab.add_argument("--width", type=int, default=32, help="CNN base width")
    lab.add_argument("--batch-size", type=int, default=128)
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--quiet", action="store_true")
    lab.set_defaults(handler=_labeler)
