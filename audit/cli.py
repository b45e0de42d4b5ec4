"""The ``imagen-audit`` command line.

Each subcommand lives in its own module under :mod:`audit.commands` and
exposes ``register(subparsers)``; :data:`audit.commands.COMMANDS` names them
explicitly (no string lookup). Only the command being run is registered. Command
modules import torch and models only inside their handlers, so ``imagen-audit
--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from audit import __version__
from audit.commands import COMMANDS
from audit.errors import UserError

EPILOG = """examples:
  imagen-audit world build --n 5000 --out runs/world --seed 0
  imagen-audit world sheet --out sheet.png
  imagen-audit <command> --help
"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered (only ``command``, when it names one).

    Examples
    --------
    >>> p = build_parser()
    >>> p.prog
    'imagen-audit'
    >>> sorted(build_parser("probe")._subparsers._group_actions[0].choices)
    ['probe']
    """
    parser = argparse.ArgumentParser(
        prog="imagen-audit",
        description="Bias and safety audits for text-to-image models and image-text datasets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    registers = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for register in registers:
        register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (its first word that is not an option), if any.

    Examples
    --------
    >>> _command(["probe", "run", "x"]), _command(["--version"])
    ('probe', None)
    """
    return next((a for a in argv if not a.startswith("-")), None)


def _network_policy(args: argparse.Namespace) -> None:
    """Offline by default; a command given ``--allow-download`` may download (set before any hub import).

    Examples
    --------
    >>> import os; saved = dict(os.environ)
    >>> _network_policy(argparse.Namespace(allow_download=True)); os.environ["HF_HUB_OFFLINE"]
    '0'
    >>> os.environ.clear(); os.environ.update(saved)
    """
    if getattr(args, "allow_download", False):
        os.environ["HF_HUB_OFFLINE"] = "0"
        os.environ["TRANSFORMERS_OFFLINE"] = "0"
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    _network_policy(args)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
