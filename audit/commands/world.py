"""``imagen-audit world``: build the synthetic world dataset, draw contact sheets."""
from __future__ import annotations


def register(sub) -> None:  # filled in below
    p = sub.add_parser("world", help="build the synthetic world dataset")
    p.set_defaults(handler=lambda a: p.print_help() or 2)
