"""Subcommands of ``imagen-audit``; each module exposes ``register(subparsers)``.

To add a command: write ``audit/commands/NAME.py`` with ``register`` and add its command
name(s) to :data:`COMMANDS` below. Keep module top-levels free of heavy imports: the CLI
imports every command module but registers only the command it runs (all of them for
``--help`` or a mistyped command).
"""

from audit.commands import annotate, compare, dataset, demo, evaluate, gate, generate, label, probe, serve, train, \
    world

#: Command name -> the ``register`` function that adds it (in ``--help`` order).
COMMANDS = {
    "demo": demo.register,
    "dataset": dataset.register,
    "label": label.register,
    "world": world.register,
    "train": train.register,
    "generate": generate.register,
    "eval": evaluate.register,
    "probe": probe.register,
    "report": probe.register,
    "baseline": gate.register,
    "check": gate.register,
    "serve": serve.register,
    "annotate": annotate.register,
    "validate": annotate.register,
    "compare": compare.register,
}
