"""The generator protocol and sampler settings shared by all adapters.

Examples
--------
>>> s = Settings(guidance=4.0)
>>> s.label
'guidance=4'
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

from audit.errors import UserError

__all__ = ["Generator", "Settings", "parse_sweep", "THRESHOLDING"]

#: Thresholding modes a sweep may name (``none``: off; ``static``: clip x0 to [-1, 1];
#: ``dynamic``: Imagen's percentile thresholding).
THRESHOLDING = ("none", "static", "dynamic")


@dataclass(frozen=True)
class Settings:
    """Sampler settings for one generation pass; ``None`` means "the adapter's default".

    Parameters
    ----------
    steps
        Number of denoising steps.
    guidance
        Classifier-free guidance scale.
    scheduler
        Scheduler name (``ddim``, ``ddpm``, ``pndm``, ``euler``, ``euler-a``, ``dpm``, ``lms``,
        ``heun``; the built-in pipeline also takes its own names).
    thresholding
        One of :data:`THRESHOLDING`.

    Examples
    --------
    >>> Settings(steps=20, scheduler="ddim").label
    'steps=20,scheduler=ddim'
    >>> Settings().label
    'default'
    """

    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    thresholding: str | None = None

    @property
    def label(self) -> str:
        """The ``setting`` column value: ``k=v`` pairs of the values that are set, or ``default``."""
        parts = [f"{k}={_fmt(v)}" for k, v in asdict(self).items() if v is not None]
        return ",".join(parts) or "default"

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (for ``spec.json``)."""
        return asdict(self)


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


_PARSERS = {"steps": int, "guidance": float, "scheduler": str, "thresholding": str}


def _parse_value(key: str, text: str):
    try:
        value = _PARSERS[key](text.strip())
    except ValueError:
        raise UserError(f"--sweep {key}: {text!r} is not a {_PARSERS[key].__name__} "
                        f"(fix: e.g. --sweep {key}={'1,4,8' if key != 'scheduler' else 'ddim,pndm'})") from None
    if key == "steps" and value < 1:
        raise UserError(f"--sweep steps: {value} must be >= 1 (fix: use a positive number of steps)")
    if key == "thresholding" and value not in THRESHOLDING:
        raise UserError(f"--sweep thresholding: {value!r} is not one of {THRESHOLDING} (fix: use one of them)")
    return value


def parse_sweep(items: list[str] | None, *, base: Settings | None = None) -> list[Settings]:
    """Parse ``--sweep key=v1,v2`` options into the list of settings to run (their product).

    Parameters
    ----------
    items
        Strings such as ``"guidance=1,4,8"``; several keys give the Cartesian product.
    base
        Settings every sweep point starts from (e.g. ``--steps`` given alone).

    Returns
    -------
    list of Settings
        At least one (``[base]`` when there is no sweep).

    Raises
    ------
    audit.errors.UserError
        On an unknown key, a repeated key or a malformed value.

    Examples
    --------
    >>> [s.label for s in parse_sweep(["guidance=1,4", "steps=10"])]
    ['steps=10,guidance=1', 'steps=10,guidance=4']
    """
    base = base or Settings()
    axes: dict[str, list] = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise UserError(f"--sweep {item!r}: expected KEY=V1,V2 (fix: e.g. --sweep guidance=1,4,8)")
        if key not in _PARSERS:
            raise UserError(f"--sweep {item!r}: unknown key {key!r} (fix: use one of {sorted(_PARSERS)})")
        if key in axes:
            raise UserError(f"--sweep {key} is given twice (fix: list all values in one --sweep {key}=...)")
        parsed = [_parse_value(key, v) for v in values.split(",")]
        if len(set(parsed)) != len(parsed):
            raise UserError(f"--sweep {key}: repeated value in {values!r} (fix: list each value once)")
        axes[key] = parsed
    if not axes:
        return [base]
    keys = [f.name for f in fields(Settings) if f.name in axes]
    return [replace(base, **dict(zip(keys, combo))) for combo in itertools.product(*(axes[k] for k in keys))]


@runtime_checkable
class Generator(Protocol):
    """What the probe runner needs from a text-to-image generator.

    Implementations load their model lazily (on the first ``generate``) and stay picklable
    before that, so a run can ship them to Dask workers.

    Examples
    --------
    >>> from generator.adapters.diffusers_adapter import DiffusersAdapter
    >>> isinstance(DiffusersAdapter("some/folder"), Generator)
    True
    """

    def generate(self, prompts: list[str], *, seeds: list[int], settings: Settings) -> list:
        """Return one ``PIL.Image`` per prompt, the i-th drawn with ``seeds[i]``."""
        ...

    def config(self) -> dict[str, Any]:
        """Return a JSON-able description for ``spec.json`` (kind, path, options, fingerprint)."""
        ...
