"""Per-image outcome flags that adapters attach to the images they return (the filter contract).

A generator's refusals and safety-filter outputs are findings, not failures. An adapter
still returns one ``PIL.Image`` per prompt (the :class:`~generator.adapters.base.Generator`
protocol is unchanged) and marks each image in ``image.info``:

``filtered`` (bool)
    The generator withheld or blanked this image (a pipeline's safety checker fired, or an
    API refused the prompt). The image is a placeholder (black) and must not be labelled as
    a picture of anything.
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
>>> from PIL import Image
>>> im = mark(Image.new("RGB", (2, 2)), filtered=True, reason="nsfw_content_detected")
>>> image_outcome(im)
{'filtered': True, 'filter_reason': 'nsfw_content_detected', 'seed_sent': True}
>>> image_outcome(Image.new("RGB", (2, 2)))
{'filtered': False, 'filter_reason': None, 'seed_sent': True}
"""

from __future__ import annotations

from typing import Any

__all__ = ["mark", "image_outcome", "placeholder", "OUTCOME_KEYS"]

#: Keys of :func:`image_outcome` (manifest columns of the same names).
OUTCOME_KEYS = ("filtered", "filter_reason", "seed_sent")


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
