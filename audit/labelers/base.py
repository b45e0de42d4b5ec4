"""The labeler role and the tidy labels table every labeler returns.

A labeler takes a batch of images (PIL images or uint8 arrays of any size and
mode) with their ids and returns one row per image x attribute. Unknown or
undetectable is an explicit value (:data:`audit.schema.NON_ANSWERS`: ``no_face``,
``out_of_domain``, ``unreadable``, ...), never a dropped row.

A labeler declares what it emits (``attributes``: attribute -> the values it can
emit, an empty tuple for a numeric reading) and what images it is valid on
(``domain``); reports and gates iterate over those declarations.

The columns of the labels table are :data:`audit.schema.LABEL_COLUMNS`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.schema import LABEL_COLUMNS, NO_FACE, NO_SKIN, UNREADABLE

__all__ = [
    "LABEL_COLUMNS",
    "UNREADABLE",
    "NO_FACE",
    "NO_SKIN",
    "Labeler",
    "to_rgb_uint8",
    "label_row",
    "unreadable_rows",
    "labels_frame",
    "check_batch",
]


@runtime_checkable
class Labeler(Protocol):
    """The role of an image labeler.

    Attributes
    ----------
    name
        Short name written to the ``labeler`` column.
    attributes
        Attribute -> the values it can emit (besides the non-answers of
        :data:`audit.schema.NON_ANSWERS`); an empty tuple for a numeric reading
        (in the ``score`` column). Every image gets one row per attribute.
    domain
        Short text naming the images it is valid on (e.g. "64 px world renders").

    Examples
    --------
    >>> from audit.labelers.ita import ITALabeler
    >>> isinstance(ITALabeler(), Labeler)
    True
    >>> "skin_tone" in ITALabeler.attributes and isinstance(ITALabeler.domain, str)
    True
    """

    name: str
    attributes: Mapping[str, tuple[str, ...]]
    domain: str

    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]) -> pd.DataFrame:
        """Label a batch; returns the labels table (:data:`LABEL_COLUMNS`)."""
        ...


# ---------------------------------------------------------------------------
# image normalisation
# ---------------------------------------------------------------------------

def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map any numeric array to uint8: 16-bit ints by /257, floats in [0, 1] by x255."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        hi = int(arr.max()) if arr.size else 0
        if arr.dtype == np.uint16 or hi > 255:
            return np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        return np.clip(arr, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if arr.size and float(arr.max()) <= 1.0:
            arr = arr * 255.0
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    raise UserError(f"image array of dtype {arr.dtype} is not numeric (fix: pass uint8 RGB arrays)")


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.size == 0:
        raise UserError(f"image array of shape {arr.shape} is empty (fix: pass non-empty images)")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    arr = _scale_to_uint8(arr)
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 2:
        return _over_white(np.repeat(arr[..., :1], 3, axis=2), arr[..., 1])
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return _over_white(arr[..., :3], arr[..., 3])
    raise UserError(
        f"image array of shape {arr.shape} is not an image "
        "(fix: pass (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays)"
    )


def to_rgb_uint8(image: Any) -> np.ndarray:
    """Return an image as a contiguous ``(H, W, 3)`` uint8 RGB array.

    Accepts PIL images of any mode (RGB, RGBA, L, LA, P, PA, 1, CMYK, YCbCr,
    I;16, I, F) and numpy arrays (2-D grayscale, or 1/2/3/4 channels; uint8,
    uint16, bool, other ints or floats in [0, 1]). Transparency is composited
    over white; 16-bit values are divided by 257.

    Parameters
    ----------
    image
        A PIL image or a numpy array.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8.

    Examples
    --------
    >>> import numpy as np
    >>> to_rgb_uint8(np.full((2, 3), 65535, np.uint16)).shape
    (2, 3, 3)
    >>> int(to_rgb_uint8(np.full((1, 1), 65535, np.uint16))[0, 0, 0])
    255
    """
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(image, Image.Image):
        mode = image.mode
        if mode.startswith("I") or mode == "F":
            return _array_to_rgb(np.asarray(image))
        if "A" in mode or "a" in mode or (mode == "P" and "transparency" in image.info):
            return _array_to_rgb(np.asarray(image.convert("RGBA")))
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))
    raise UserError(
        f"cannot label an object of type {type(image).__name__} "
        "(fix: pass PIL images or numpy uint8 arrays)"
    )


# ---------------------------------------------------------------------------
# rows and tables
# ---------------------------------------------------------------------------

def label_row(
    image_id: str, *, labeler: str, attribute: str, value: str,
    confidence: float = math.nan, probs: Mapping[str, float] | None = None,
    score: float = math.nan, reason: str | None = None,
) -> dict[str, Any]:
    """One row of the labels table.

    Examples
    --------
    >>> label_row("a", labeler="ita", attribute="skin_tone", value="3", probs={"3": 1.0})["probs"]
    '{"3": 1.0}'
    """
    return {
        "image_id": str(image_id),
        "labeler": labeler,
        "attribute": attribute,
        "value": str(value),
        "confidence": float(confidence),
        "probs": None if probs is None else json.dumps({str(k): round(float(v), 6) for k, v in probs.items()}),
        "score": float(score),
        "reason": reason,
    }


def unreadable_rows(
    image_id: str, *, labeler: str, attributes: Iterable[str], reason: str, value: str = UNREADABLE,
) -> list[dict[str, Any]]:
    """Rows that mark every attribute of one image with an explicit value and a reason.

    Examples
    --------
    >>> [r["value"] for r in unreadable_rows("x", labeler="ita", attributes=["a", "b"], reason="zero_bytes")]
    ['unreadable', 'unreadable']
    """
    return [label_row(image_id, labeler=labeler, attribute=a, value=value, reason=reason) for a in attributes]


def labels_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build the labels table from rows, with the canonical columns and dtypes.

    Examples
    --------
    >>> labels_frame([]).columns.tolist()[:5]
    ['image_id', 'labeler', 'attribute', 'value', 'confidence']
    """
    df = pd.DataFrame(list(rows), columns=list(LABEL_COLUMNS))
    for col in ("image_id", "labeler", "attribute", "value"):
        df[col] = df[col].astype(str) if len(df) else df[col].astype(object)
    for col in ("confidence", "score"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("probs", "reason"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def check_batch(images: Sequence[Any], image_ids: Sequence[str]) -> None:
    """Raise :class:`UserError` when a batch and its ids do not line up.

    Examples
    --------
    >>> check_batch([1], ["a"])
    """
    if len(images) != len(image_ids):
        raise UserError(
            f"got {len(images)} images but {len(image_ids)} image_ids "
            "(fix: pass one id per image)"
        )
