"""Flags shared by several commands: one spelling, one meaning everywhere.

- ``--no-progress`` hides progress bars (``--quiet`` is kept as a hidden alias);
- the labeler flags (``--device``, ``--world-weights``, ``--ita-whole-image``, ``--mst-match``,
  ``--clip-model``, ``--clip-prompts``, ``--deepface-home``, ``--deepface-detector``,
  ``--deepface-backend``, ``--deepface-actions``, ``--allow-download``) are the same in
  ``label``, ``probe run`` and ``dataset audit``, and map onto the keyword options of
  :data:`audit.registry.LABELERS` through :func:`labeler_options`.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); add_progress_option(p); add_labeler_options(p)
>>> args = p.parse_args(["--quiet", "--deepface-home", "/w", "--no-faces"])
>>> args.no_progress, labeler_options(args, "deepface")["home"], labeler_options(args, "ita")["faces"]
(True, '/w', False)
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_progress_option", "add_labeler_options", "labeler_options", "make_labelers", "done"]


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


def make_labelers(args: argparse.Namespace, names: list[str]) -> list[tuple[Any, dict[str, Any]]]:
    """Build the named labelers with their options; returns ``(labeler, options)`` pairs."""
    from audit.registry import resolve_labelers

    names = list(dict.fromkeys(names))
    return resolve_labelers(names, options={name: labeler_options(args, name) for name in names})


def done(what: str, path: Any) -> None:
    """Print where a command's results are: ``<what>: <path>`` (every writing command ends with it)."""
    print(f"{what}: {path}")
