"""Subcommands of ``imagen-audit``; each module exposes ``register(subparsers)``.

To add a command: write ``audit/commands/NAME.py`` with ``register`` and add it
to :data:`COMMANDS` below. Keep module top-levels free of heavy imports.
"""

from audit.commands import dataset, demo, evaluate, generate, label, report, train, world
from audit.commands import probe
from audit.commands import gate
from audit.commands import serve
from audit.commands import annotate
from audit.commands import compare

COMMANDS = [
    demo.register,
    dataset.register,
    label.register,
    world.register,
    train.register,
    generate.register,
    evaluate.register,
    report.register,
    probe.register,
    gate.register,
    serve.register,
    annotate.register,
    compare.register,
]
