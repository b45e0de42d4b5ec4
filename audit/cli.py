"""The ``imagen-audit`` command line: the parser, the dispatcher and the flags commands share.

Each subcommand lives in its own module under :mod:`audit.commands` and
exposes ``register(subparsers)``; :data:`audit.commands.COMMANDS` names them
explicitly (no string lookup). Only the command being run is registered. Command
modules import torch and models only inside their handlers, so ``imagen-audit
--help`` is instant.

Flags shared by several commands have one spelling and one meaning everywhere:

- ``--no-progress`` hides progress bars (``--quiet`` is kept as a hidden alias),
  :func:`add_progress_option`;
- the labeler flags (``--device``, ``--world-weights``, ``--no-faces``, ``--mst-match``,
  ``--clip-model``, ``--clip-prompts``, ``--deepface-home``, ``--deepface-detector``,
  ``--deepface-backend``, ``--deepface-actions``, ``--allow-download``) are the same in
  ``label``, ``probe run`` and ``dataset audit`` (:func:`add_labeler_options`), and map onto
  the keyword options of :data:`audit.registry.LABELERS` through :func:`labeler_options`.
  Command modules import these inside ``register`` (this module imports them).

Examples
--------
>>> p = argparse.ArgumentParser(); add_progress_option(p); add_labeler_options(p)
>>> args = p.parse_args(["--quiet", "--deepface-home", "/w", "--no-faces"])
>>> args.no_progress, labeler_options(args, "deepface")["home"], labeler_options(args, "ita")["faces"]
(True, '/w', False)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from audit import __version__
from audit.commands import COMMANDS
from audit.errors import UserError

EPILOG = """examples:
  imagen-audit world build --n 5000 --out runs/world --seed 0
  imagen-audit world sheet --out sheet.png
  imagen-audit <command> --help
"""


__all__ = ["main", "build_parser", "add_progress_option", "add_labeler_options", "labeler_options",
           "make_labelers", "attribute_files"]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered (only ``command``, when it names one, with
    the commands its module registers beside it, e.g. ``probe`` and ``report``).

    Examples
    --------
    >>> p = build_parser()
    >>> p.prog
    'imagen-audit'
    >>> sorted(build_parser("label")._subparsers._group_actions[0].choices)
    ['label']
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


# ---------------------------------------------------------------------------
# flags shared by several commands
# ---------------------------------------------------------------------------

def add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (hidden alias ``--quiet``): no progress bars; read as ``args.no_progress``."""
    p.add_argument("--no-progress", dest="no_progress", action="store_true", help="hide progress bars")
    p.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


def add_labeler_options(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    """The options of every built-in labeler, grouped per labeler (see :func:`labeler_options`)."""
    if device:
        p.add_argument("--device", default="cpu", help="torch device for models (cpu, cuda, ...; default cpu)")
    p.add_argument("--allow-download", action="store_true",
                   help="let model loaders (diffusers, transformers, clip, deepface) download weights")
    g = p.add_argument_group("world labeler")
    g.add_argument("--world-weights", default=None, help="world labeler folder (default: the shipped weights)")
    g.add_argument("--world-model", dest="world_weights", help=argparse.SUPPRESS)  # old spelling (probe run)
    g = p.add_argument_group("ita labeler")
    g.add_argument("--no-faces", action="store_true", help="ita: measure the whole image, skip face detection")
    g.add_argument("--mst-match", choices=("lab", "l_ita"), default="l_ita",
                   help="ita: match Monk tones on (L*, ITA) (default, agrees best with world renders) or CIELAB")
    g = p.add_argument_group("clip labeler")
    g.add_argument("--clip-model", default=None, help="clip: local CLIP folder or hub id (hub ids need --allow-download)")
    g.add_argument("--clip-prompts", default=None, metavar="YAML",
                   help="clip: prompt sets, attribute: {value: prompt | [prompts]} (default: built-in sets)")
    g = p.add_argument_group("deepface labeler")
    g.add_argument("--deepface-home", default=None,
                   help="deepface: folder holding .deepface/weights (default $DEEPFACE_HOME or ~)")
    g.add_argument("--deepface-detector", choices=("opencv", "skip"), default="opencv", help="deepface: face detector")
    g.add_argument("--deepface-backend", choices=("pytorch", "onnx", "tensorflow"), default="pytorch",
                   help="deepface: inference engine (default pytorch)")
    g.add_argument("--deepface-actions", default="gender,race,age",
                   help="deepface: comma-separated subset of gender,race,age")


def labeler_options(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The keyword options of labeler ``name`` from parsed flags (``{}`` for a plugin labeler).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_labeler_options(p)
    >>> labeler_options(p.parse_args(["--world-weights", "w"]), "world")
    {'weights': 'w', 'device': 'cpu'}
    """
    allow = bool(getattr(args, "allow_download", False))
    device = getattr(args, "device", "cpu")
    table = {
        "world": lambda: {"weights": args.world_weights, "device": device},
        "ita": lambda: {"faces": not args.no_faces, "match": args.mst_match},
        "clip": lambda: {"model": args.clip_model, "prompts": args.clip_prompts, "device": device,
                         "allow_download": allow},
        "deepface": lambda: {"home": args.deepface_home, "detector": args.deepface_detector,
                             "backend": args.deepface_backend, "actions": args.deepface_actions,
                             "allow_download": allow},
    }
    return table[name]() if name in table else {}


def attribute_files(values: list[str] | None, flag: str) -> dict[str, str]:
    """``ATTRIBUTE=FILE`` options (``--reference``, ``--confusion``) as ``{attribute: file}``.

    Examples
    --------
    >>> attribute_files(["presentation=ref.csv"], "--reference")
    {'presentation': 'ref.csv'}
    >>> attribute_files(["ref.csv"], "--reference")
    Traceback (most recent call last):
    audit.errors.UserError: --reference 'ref.csv': expected ATTRIBUTE=FILE (fix: e.g. --reference presentation=ref.csv)
    """
    out = {}
    for item in values or []:
        attr, sep, path = item.partition("=")
        if not sep or not attr or not path:
            raise UserError(f"{flag} {item!r}: expected ATTRIBUTE=FILE (fix: e.g. {flag} presentation=ref.csv)")
        out[attr] = path
    return out


def make_labelers(args: argparse.Namespace, names: list[str]) -> list[tuple[Any, dict[str, Any]]]:
    """Build the named labelers with their options; returns ``(labeler, options)`` pairs."""
    from audit.registry import resolve_labelers

    names = list(dict.fromkeys(names))
    return resolve_labelers(names, options={name: labeler_options(args, name) for name in names})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
