"""Build the ``openai:``, ``a1111:`` and ``images:`` adapters from their ``--generator`` strings.

Examples
--------
>>> remote_adapter("openai", "https://api.openai.com/v1#dall-e-3&key_env=OPENAI_API_KEY").config()["model"]
'dall-e-3'
>>> remote_adapter("openai", "http://h#m", steps=4)
Traceback (most recent call last):
...
audit.errors.UserError: openai:http://h#m: the Images API takes no steps or guidance (fix: drop --steps / --guidance)
"""

from __future__ import annotations

from audit.errors import UserError

__all__ = ["remote_adapter"]


def remote_adapter(kind: str, rest: str, *, steps: int | None = None, guidance: float | None = None):
    """Return the adapter for ``KIND:REST`` (``kind`` is ``openai``, ``a1111`` or ``images``).

    Parameters
    ----------
    kind, rest
        The ``--generator`` string split at its first colon.
    steps, guidance
        Sampler defaults; only ``a1111`` takes them.

    Raises
    ------
    audit.errors.UserError
        On options the API cannot honour.
    """
    if kind == "a1111":
        from generator.adapters.http_a1111 import A1111Adapter

        return A1111Adapter.from_spec(rest, steps=steps, guidance=guidance)
    if steps is not None or guidance is not None:
        what = "the Images API" if kind == "openai" else "a folder of images"
        raise UserError(f"{kind}:{rest}: {what} takes no steps or guidance (fix: drop --steps / --guidance)")
    if kind == "openai":
        from generator.adapters.http_openai import OpenAIAdapter

        return OpenAIAdapter.from_spec(rest)
    if kind == "images":
        from generator.adapters.images_manifest import ImagesAdapter

        return ImagesAdapter(rest)
    raise UserError(f"{kind}:{rest}: unknown generator kind (fix: use openai:, a1111: or images:)")
