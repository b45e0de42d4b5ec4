"""The built-in generator: the shipped cascade's folder, its adapter, and the Python API.

The cascade is saved under ``data/weights/imagen-world/`` as a custom ``DiffusionPipeline``
(:class:`generator.cascade.ImagenCascadePipeline`: the call signature of diffusers
pipelines, plus ``thresholding`` and ``scheduler_name``). Two ways in, one folder check
(:func:`cascade_folder`):

- :func:`builtin_adapter` (``--generator builtin``): the
  :class:`~generator.adapters.diffusers_adapter.DiffusersAdapter` on that folder, behind the
  generator protocol that probe runs use;
- :func:`load_cascade` and :func:`generate`: the pipeline itself, with every sampler option
  of :class:`SamplerSettings` (training evaluations, benchmarks, ``imagen-audit generate``).

Examples
--------
>>> BUILTIN_DIR.parts[-2:]
('weights', 'imagen-world')
>>> images = generate(["a photo of a nurse"], seeds=[0])        # doctest: +SKIP
>>> images[0].size                                              # doctest: +SKIP
(64, 64)
"""

from __future__ import annotations

from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Any

from audit.errors import UserError
from audit.resources import data_path
from generator.defaults import DEFAULT_GUIDANCE

__all__ = ["builtin_adapter", "load_cascade", "cascade_folder", "generate", "SamplerSettings", "BUILTIN_DIR"]

BUILTIN_DIR = data_path("weights", "imagen-world")


@dataclass(frozen=True)
class SamplerSettings:
    """Sampler settings of the cascade (defaults: the cheap few-step setting the gates are measured at)."""

    steps: int = 10
    sr_steps: int = 2
    guidance: float = DEFAULT_GUIDANCE
    thresholding: str = "dynamic"
    scheduler: str = "dpm++"
    sr_noise_level: float = 0.1
    base_only: bool = False  # skip the SR stage (base sample upsampled): ablations of the base stage

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`ImagenCascadePipeline.__call__`."""
        return {"num_inference_steps": self.steps, "sr_steps": self.sr_steps, "guidance_scale": self.guidance,
                "thresholding": self.thresholding, "scheduler_name": self.scheduler,
                "sr_noise_level": self.sr_noise_level, "base_only": self.base_only}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for manifests and specs)."""
        return asdict(self)


def cascade_folder(path: str | Path | None = None) -> Path:
    """Return a cascade pipeline folder (default: the shipped ``data/weights/imagen-world``), checked.

    The one check (and error) for a missing cascade, shared by :func:`load_cascade` and
    :func:`builtin_adapter`.

    Raises
    ------
    audit.errors.UserError
        If the folder holds no ``model_index.json``.

    Examples
    --------
    >>> cascade_folder("/nonexistent")
    Traceback (most recent call last):
    audit.errors.UserError: /nonexistent/model_index.json: no cascade pipeline here (fix: train one with `imagen-audit train generator`, then `--assemble --export /nonexistent`)
    """
    folder = Path(path) if path is not None else BUILTIN_DIR
    if not (folder / "model_index.json").exists():
        raise UserError(f"{folder / 'model_index.json'}: no cascade pipeline here (fix: train one with "
                        f"`imagen-audit train generator`, then `--assemble --export {folder}`)")
    return folder


def builtin_adapter(*, path: str | Path | None = None, steps: int | None = None, guidance: float | None = None,
                    device: str = "cpu", dtype: str = "float32"):
    """Return the built-in cascade behind the generator protocol (``--generator builtin``).

    Parameters
    ----------
    path
        Another folder holding a cascade (default: :data:`BUILTIN_DIR`).
    steps, guidance, device, dtype
        As for :class:`~generator.adapters.diffusers_adapter.DiffusersAdapter` (``None``: the
        cascade's own defaults).

    Returns
    -------
    generator.adapters.diffusers_adapter.DiffusersAdapter
        Of kind ``builtin``, loading with :class:`~generator.cascade.ImagenCascadePipeline`.

    Raises
    ------
    audit.errors.UserError
        If the folder holds no cascade (the error of :func:`cascade_folder`).

    Examples
    --------
    >>> builtin_adapter(path="/nonexistent")
    Traceback (most recent call last):
    audit.errors.UserError: /nonexistent/model_index.json: no cascade pipeline here (fix: train one with `imagen-audit train generator`, then `--assemble --export /nonexistent`)
    """
    from generator.adapters.diffusers_adapter import DiffusersAdapter
    from generator.cascade import ImagenCascadePipeline

    return DiffusersAdapter(cascade_folder(path), steps=steps, guidance=guidance, device=device, dtype=dtype,
                            kind="builtin", pipeline_class=ImagenCascadePipeline)


def load_cascade(path: str | Path | None = None, *, device: str = "cpu"):
    """Load the cascade from a pipeline folder (default: the shipped ``data/weights/imagen-world``).

    Examples
    --------
    >>> load_cascade("/nonexistent")
    Traceback (most recent call last):
    audit.errors.UserError: /nonexistent/model_index.json: no cascade pipeline here (fix: train one with `imagen-audit train generator`, then `--assemble --export /nonexistent`)
    """
    folder = cascade_folder(path)
    import torch
    from diffusers.utils import logging as dlog

    from generator.cascade import ImagenCascadePipeline

    dlog.set_verbosity_error()
    pipe = ImagenCascadePipeline.from_pretrained(folder, torch_dtype=torch.float32)
    return pipe.to(device)


def generate(prompts: list[str], *, seeds: list[int], pipeline: Any = None, settings: SamplerSettings | None = None,
             batch_size: int = 64, output_type: str = "pil", progress: bool = False) -> list:
    """Generate one image per prompt, each from its own seed (the seed reproduces the image).

    Parameters
    ----------
    prompts
        Text prompts (empty = unconditional, with a warning; long ones truncated with a warning).
    seeds
        One integer seed per prompt.
    pipeline
        A loaded cascade (default: :func:`load_cascade`).
    settings
        Sampler settings (default :class:`SamplerSettings`).

    Returns
    -------
    list
        PIL images (or uint8 arrays with ``output_type="np"``).

    Examples
    --------
    >>> generate(["a nurse"], seeds=[0, 1])
    Traceback (most recent call last):
    ValueError: got 2 seeds for 1 prompts; pass one seed per prompt
    """
    if len(seeds) != len(prompts):
        raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts; pass one seed per prompt")
    if not prompts:
        return []
    import torch
    from tqdm import tqdm

    pipe = pipeline if pipeline is not None else load_cascade()
    settings = settings or SamplerSettings()
    out: list = []
    for i in tqdm(range(0, len(prompts), batch_size), desc="generate", unit="batch", disable=not progress):
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds[i:i + batch_size]]
        res = pipe(list(prompts[i:i + batch_size]), generator=gens, output_type=output_type, **settings.as_kwargs())
        out.extend(list(res.images))
    return out
