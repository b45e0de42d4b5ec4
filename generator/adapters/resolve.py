"""Turn a ``--generator`` string into an adapter: the names live in :mod:`audit.registry`.

Kept so ``from generator.adapters.resolve import adapter_from_spec`` still works; the one
table of generator names (and the ``imagen_audit.generators`` entry points) is
:data:`audit.registry.GENERATORS`.

Examples
--------
>>> adapter_from_spec("diffusers:some/model", steps=10).config()["path"]
'some/model'
"""

from __future__ import annotations

from audit.registry import GENERATOR_FORMS
from audit.registry import make_generator as adapter_from_spec

__all__ = ["adapter_from_spec", "GENERATOR_FORMS"]
