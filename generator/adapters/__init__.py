"""Adapters that put any text-to-image generator behind one protocol.

- :class:`generator.adapters.base.Generator` — the protocol;
- :class:`generator.adapters.diffusers_adapter.DiffusersAdapter` — any diffusers text-to-image pipeline;
- :class:`generator.adapters.deepfloyd.DeepFloydIFAdapter` — DeepFloyd IF stage I + II;
- :func:`generator.api.builtin_adapter` — the shipped cascade;
- :func:`generator.adapters.resolve.adapter_from_spec` — ``builtin`` / ``diffusers:PATH`` strings.

Importing this package does not import torch or diffusers.
"""
