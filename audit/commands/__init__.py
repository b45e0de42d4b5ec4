"""Subcommands of ``imagen-audit``; each module exposes ``register(subparsers)``.

To add a command: write ``audit/commands/NAME.py`` with ``register`` and add it
to :data:`COMMANDS` below. Keep module top-levels free of heavy imports.
"""

from audit.commands import dataset, train, label, report, world
from audit.commands import probe

COMMANDS = [
    dataset.register,
    label.register,
    world.register,
    train.register,
    report.register,
    probe.register,
]
