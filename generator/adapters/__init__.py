"""Adapters that put any text-to-image generator behind one protocol.

- :class:`generator.adapters.base.Generator` — the protocol;
- :class:`generator.adapters.diffusers_adapter.DiffusersAdapter` — any diffusers text-to-image pipeline;
- :class:`generator.adapters.deepfloyd.DeepFloydIFAdapter` — DeepFloyd IF stage I + II;
- :func:`generator.api.builtin_adapter` — the shipped cascade;
- :func:`audit.registry.make_generator` — a ``--generator`` string (``builtin``, ``diffusers:PATH``, ...) to an adapter.

Importing this package does not import torch or diffusers.
"""
