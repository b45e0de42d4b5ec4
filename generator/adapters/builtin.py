"""``builtin``: the shipped Imagen-style cascade, loaded as a diffusers pipeline folder.

The cascade is saved under ``data/weights/imagen-world/`` as a custom
``DiffusionPipeline`` (:class:`generator.cascade.ImagenCascadePipeline`: the same
call signature as diffusers pipelines, plus ``thresholding`` and
``scheduler_name``), so the built-in generator is the
:class:`~generator.adapters.diffusers_adapter.DiffusersAdapter` on that folder,
loading with that class.

Examples
--------
>>> builtin_weights().parts[-2:]
('weights', 'imagen-world')
"""

from __future__ import annotations

from pathlib import Path

from generator.adapters.diffusers_adapter import DiffusersAdapter

__all__ = ["builtin_adapter", "builtin_weights"]


def builtin_weights() -> Path:
    """Return the folder of the built-in cascade's weights (existence not checked)."""
    from generator.api import BUILTIN_DIR

    return BUILTIN_DIR


def builtin_adapter(*, steps: int | None = None, guidance: float | None = None, device: str = "cpu",
                    dtype: str = "float32", path: str | Path | None = None) -> DiffusersAdapter:
    """Return the adapter for the built-in cascade.

    Parameters
    ----------
    steps, guidance, device, dtype
        As for :class:`~generator.adapters.diffusers_adapter.DiffusersAdapter` (``None``: the
        cascade's own defaults).
    path
        Another folder holding the cascade (default: :func:`builtin_weights`).

    Raises
    ------
    audit.errors.UserError
        If the weights folder is missing (the error of :func:`generator.api.cascade_folder`).

    Examples
    --------
    >>> builtin_adapter(path="/nonexistent")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: /nonexistent/model_index.json: no cascade pipeline here ...
    """
    from generator.api import cascade_folder
    from generator.cascade import ImagenCascadePipeline

    folder = cascade_folder(path if path is not None else builtin_weights())

    return DiffusersAdapter(folder, steps=steps, guidance=guidance, device=device, dtype=dtype, kind="builtin",
                            pipeline_class=ImagenCascadePipeline)
