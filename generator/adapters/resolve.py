"""Turn a ``--generator`` string into an adapter (an explicit ``if`` chain, no registry).

Examples
--------
>>> adapter_from_spec("diffusers:some/model", steps=10).config()["path"]
'some/model'
"""

from __future__ import annotations

from audit.errors import UserError

__all__ = ["adapter_from_spec", "GENERATOR_FORMS"]

#: The accepted forms of ``--generator``.
GENERATOR_FORMS = ("builtin", "diffusers:PATH_OR_ID", "diffusers-if:STAGE1,STAGE2", "openai:URL[#MODEL&OPTIONS]",
                   "a1111:URL[#OPTIONS]", "images:MANIFEST")


def adapter_from_spec(spec: str, *, steps: int | None = None, guidance: float | None = None, device: str = "cpu",
                      dtype: str = "float32", height: int | None = None, width: int | None = None,
                      allow_download: bool = False):
    """Return the adapter named by ``spec``.

    Parameters
    ----------
    spec
        ``builtin``, ``diffusers:PATH_OR_ID`` or ``diffusers-if:STAGE1,STAGE2``.
    steps, guidance, device, dtype, height, width, allow_download
        Adapter options (``None``: the adapter's default).

    Raises
    ------
    audit.errors.UserError
        On any other form.

    Examples
    --------
    >>> adapter_from_spec("dalle")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: --generator 'dalle' is not understood (fix: use one of builtin, ...
    """
    opts = {k: v for k, v in {"steps": steps, "guidance": guidance}.items() if v is not None}
    if spec == "builtin":
        from generator.adapters.builtin import builtin_adapter

        return builtin_adapter(device=device, dtype=dtype, **opts)
    kind, sep, rest = spec.partition(":")
    if sep and rest and kind == "diffusers":
        from generator.adapters.diffusers_adapter import DiffusersAdapter

        return DiffusersAdapter(rest, device=device, dtype=dtype, height=height, width=width,
                                allow_download=allow_download, **opts)
    if sep and rest and kind == "diffusers-if":
        from generator.adapters.deepfloyd import DeepFloydIFAdapter

        stages = [s for s in rest.split(",") if s]
        if len(stages) != 2:
            raise UserError(f"--generator {spec!r}: needs two stages (fix: diffusers-if:STAGE1_ID,STAGE2_ID)")
        return DeepFloydIFAdapter(stages[0], stages[1], device=device, dtype=dtype, allow_download=allow_download,
                                  **opts)
    if sep and rest and kind in ("openai", "a1111", "images"):  # HTTP APIs and bring-your-own images
        from generator.adapters.http_resolve import remote_adapter

        return remote_adapter(kind, rest, steps=steps, guidance=guidance, height=height, width=width)
    raise UserError(f"--generator {spec!r} is not understood (fix: use one of {', '.join(GENERATOR_FORMS)})")
