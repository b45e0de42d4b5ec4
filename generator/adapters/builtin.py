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

from audit.errors import UserError
from audit.resources import data_path
from generator.adapters.diffusers_adapter import DiffusersAdapter

__all__ = ["builtin_adapter", "builtin_weights"]


def builtin_weights() -> Path:
    """Return the folder of the built-in cascade's weights (existence not checked)."""
    return data_path("weights", "imagen-world")


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
        If the weights folder is missing.

    Examples
    --------
    >>> builtin_adapter(path="/nonexistent")
    Traceback (most recent call last):
    ...
    audit.errors.UserError: built-in generator weights not found at /nonexistent ...
    """
    folder = Path(path) if path is not None else builtin_weights()
    if not (folder / "model_index.json").is_file():
        raise UserError(f"built-in generator weights not found at {folder} (fix: train or unpack the built-in "
                        "cascade there, or use --generator diffusers:PATH)")
    from generator.cascade import ImagenCascadePipeline

    return DiffusersAdapter(folder, steps=steps, guidance=guidance, device=device, dtype=dtype, kind="builtin",
                            pipeline_class=ImagenCascadePipeline)
