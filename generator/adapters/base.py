"""The generator protocol: the settings of a generation pass, and the outcome flags adapters mark images with.

:class:`Generator` is what the probe runner needs from a text-to-image generator;
:class:`Settings` the sampler settings of one pass (:func:`parse_sweep` turns ``--sweep``
options into their list).

**The filter contract.** A generator's refusals and safety-filter outputs are findings, not
failures. An adapter still returns one ``PIL.Image`` per prompt and marks each image in
``image.info`` (:func:`mark`):

``filtered`` (bool)
    The generator withheld or blanked this image (a pipeline's safety checker fired, or an
    API refused the prompt). The image is a placeholder (black, :func:`placeholder`) and must
    not be labelled as a picture of anything.
``filter_reason`` (str or None)
    Why: ``nsfw_content_detected`` (diffusers safety checker), or the API's error code
    (``content_policy_violation``, ``moderation_blocked``, ``content_filter``...).
``seed_sent`` (bool)
    Whether the per-sample seed reached the generator (False for APIs that take none: the
    image is then not reproducible from the manifest's ``seed``).

Readers call :func:`image_outcome`, which gives the defaults for unmarked images. PIL keeps
``info`` through ``copy``/``convert`` and ``png_bytes`` does not write it, so marking never
changes an image's bytes or ``image_id``; two byte-identical placeholders stay two samples
with their own manifest rows.

Examples
--------
>>> s = Settings(guidance=4.0)
>>> s.label
'guidance=4'
>>> from PIL import Image
>>> im = mark(Image.new("RGB", (2, 2)), filtered=True, reason="nsfw_content_detected")
>>> image_outcome(im)
{'filtered': True, 'filter_reason': 'nsfw_content_detected', 'seed_sent': True}
>>> image_outcome(Image.new("RGB", (2, 2)))
{'filtered': False, 'filter_reason': None, 'seed_sent': True}
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

from audit.errors import UserError
from audit.schema import OUTCOME_COLUMNS

__all__ = ["Generator", "Settings", "parse_sweep", "THRESHOLDING", "mark", "image_outcome", "placeholder",
           "OUTCOME_KEYS"]

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


#: Keys of :func:`image_outcome` (manifest columns of the same names).
OUTCOME_KEYS = OUTCOME_COLUMNS

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


# ---------------------------------------------------------------------------
# the filter contract: per-image outcome flags (see the module docstring)
# ---------------------------------------------------------------------------

def mark(image, *, filtered: bool = False, reason: str | None = None, seed_sent: bool = True):
    """Set the outcome flags on ``image`` (in place) and return it.

    Parameters
    ----------
    image
        A ``PIL.Image``.
    filtered
        The generator withheld or blanked the image.
    reason
        Why it was filtered (``None`` when not filtered).
    seed_sent
        Whether the sample's seed reached the generator.

    Examples
    --------
    >>> from PIL import Image
    >>> mark(Image.new("RGB", (1, 1)), seed_sent=False).info["seed_sent"]
    False
    """
    image.info["filtered"] = bool(filtered)
    image.info["filter_reason"] = (str(reason) if reason else None) if filtered else None
    image.info["seed_sent"] = bool(seed_sent)
    return image


def image_outcome(image) -> dict[str, Any]:
    """Return ``{filtered, filter_reason, seed_sent}`` of an image (defaults when unmarked).

    Examples
    --------
    >>> from PIL import Image
    >>> image_outcome(Image.new("RGB", (1, 1)))["filtered"]
    False
    """
    info = getattr(image, "info", None) or {}
    filtered = bool(info.get("filtered", False))
    return {"filtered": filtered, "filter_reason": info.get("filter_reason") if filtered else None,
            "seed_sent": bool(info.get("seed_sent", True))}


def placeholder(size: tuple[int, int], *, reason: str, seed_sent: bool = True):
    """A black RGB image standing in for one the generator withheld, marked as filtered.

    Examples
    --------
    >>> im = placeholder((4, 3), reason="content_policy_violation")
    >>> im.size, image_outcome(im)["filter_reason"]
    ((4, 3), 'content_policy_violation')
    """
    from PIL import Image

    return mark(Image.new("RGB", size), filtered=True, reason=reason, seed_sent=seed_sent)
