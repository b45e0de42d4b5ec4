"""Colour science for the ITA labeler: sRGB -> CIELAB, the Individual Typology Angle, Monk Skin Tone mapping.

- :func:`srgb_to_lab` -- sRGB (uint8 or 0-1 floats) to CIELAB (D65);
- :func:`ita_degrees`, :func:`ita_category` -- ITA and its six categories;
- :func:`nearest_mst`, :func:`mst_group` -- the nearest Monk swatch
  (:data:`MST_HEX`) on (L*, ITA) or in CIELAB, and its skin group.

Examples
--------
>>> nearest_mst(srgb_to_lab(MST_RGB[4])).tolist()
5
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Literal

import numpy as np

from audit.errors import UserError
from audit.schema import MST_HEX as SCHEMA_MST_HEX
from audit.schema import SKIN_GROUP_NAMES

__all__ = ["MST_HEX", "MST_RGB", "ITA_CATEGORIES", "srgb_to_lab", "ita_degrees", "ita_category", "mst_group",
           "nearest_mst"]

#: Monk Skin Tone swatches MST 1..10, in order (from :data:`audit.schema.MST_HEX`).
MST_HEX: tuple[str, ...] = tuple(SCHEMA_MST_HEX.values())
MST_RGB = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in MST_HEX], dtype=np.uint8)

#: ITA categories (name, lower bound exclusive, upper bound inclusive), degrees.
ITA_CATEGORIES: tuple[tuple[str, float, float], ...] = (
    ("very_light", 55.0, math.inf),
    ("light", 41.0, 55.0),
    ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0),
    ("brown", -30.0, 10.0),
    ("dark", -math.inf, -30.0),
)
_ITA_NAMES = np.array([c[0] for c in ITA_CATEGORIES])
_ITA_EDGES = np.array([55.0, 41.0, 28.0, 10.0, -30.0])  # descending
_GROUPS = SKIN_GROUP_NAMES
_MST_NAMES = np.array([str(k) for k in range(11)], dtype=object)

# ---------------------------------------------------------------------------
# colour science
# ---------------------------------------------------------------------------

_M_RGB2XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
], dtype=np.float64)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


@cache
def _linear_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIELAB (D65, 2 degree observer), vectorised.

    Parameters
    ----------
    rgb
        ``(..., 3)`` array, uint8 (0-255) or float (0-1).

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float32 L*, a*, b*.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(srgb_to_lab(np.array([255, 255, 255], np.uint8)), 2).tolist()
    [100.0, 0.0, 0.0]
    """
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        lin = _linear_lut()[rgb]
    else:
        c = np.clip(rgb.astype(np.float32), 0.0, 1.0)
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = (_M_RGB2XYZ / _WHITE_D65[:, None]).T.astype(np.float32)
    t = lin.astype(np.float32) @ m
    eps, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(t > eps, np.cbrt(t), (kappa * t + 16.0) / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def ita_degrees(L: Any, b: Any) -> np.ndarray:
    """Individual Typology Angle, ``arctan((L* - 50) / b*)`` in degrees.

    ``arctan2`` is used so that ``b* <= 0`` gives a finite angle (+-90 at ``b* = 0``).

    Examples
    --------
    >>> float(ita_degrees(60.0, 10.0))
    45.0
    """
    return np.degrees(np.arctan2(np.asarray(L, dtype=np.float64) - 50.0, np.asarray(b, dtype=np.float64)))


def ita_category(ita: Any) -> np.ndarray:
    """Map ITA degrees to categories: very_light > 55 >= light > 41 >= intermediate > 28 >= tan > 10 >= brown > -30 >= dark.

    Examples
    --------
    >>> ita_category([60, 50, 30, 20, 0, -40]).tolist()
    ['very_light', 'light', 'intermediate', 'tan', 'brown', 'dark']
    """
    return _ITA_NAMES[_ita_index(ita)]


def _ita_index(ita: Any) -> np.ndarray:
    """Category index: the number of edges at or above ``ita`` (upper bounds inclusive)."""
    return np.searchsorted(-_ITA_EDGES, -np.asarray(ita, dtype=np.float64), side="right")


def mst_group(mst: Any) -> np.ndarray:
    """Monk tone (1..10) -> skin group: light 1-3, medium 4-6, dark 7-10.

    Examples
    --------
    >>> mst_group([1, 4, 7, 10]).tolist()
    ['light', 'medium', 'dark', 'dark']
    """
    mst = np.asarray(mst)
    return np.array(_GROUPS)[np.searchsorted([3, 6], mst, side="left")]


@cache
def _mst_lab() -> np.ndarray:
    return srgb_to_lab(MST_RGB).astype(np.float64)


def _mst_features(match: str) -> np.ndarray:
    lab = _mst_lab()
    if match == "lab":
        return lab
    if match == "l_ita":
        return np.stack([lab[:, 0], ita_degrees(lab[:, 0], lab[:, 2])], axis=1)
    raise UserError(f"match={match!r} is not known (fix: use 'lab' or 'l_ita')")


def nearest_mst(lab: np.ndarray, *, match: Literal["lab", "l_ita"] = "lab") -> np.ndarray:
    """Nearest Monk Skin Tone (1..10) of CIELAB colours.

    Parameters
    ----------
    lab
        ``(..., 3)`` L*, a*, b*.
    match
        ``"lab"``: Euclidean distance in CIELAB (Delta E 1976);
        ``"l_ita"``: Euclidean distance on (L*, ITA degrees).

    Examples
    --------
    >>> nearest_mst(srgb_to_lab(MST_RGB)).tolist()
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    lab = np.asarray(lab, dtype=np.float64)
    ref = _mst_features(match)
    feats = lab if match == "lab" else np.stack([lab[..., 0], ita_degrees(lab[..., 0], lab[..., 2])], axis=-1)
    d = ((feats[..., None, :] - ref) ** 2).sum(-1)
    return d.argmin(-1) + 1


@cache
def _vote_lut(match: str, bits: int = 6) -> np.ndarray:
    """Per colour on a ``bits``-per-channel grid: ``6 * nearest MST (0-based) + ITA category index``."""
    levels = (np.arange(2 ** bits) << (8 - bits)) + (1 << (7 - bits))
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    lab = srgb_to_lab(np.stack([r, g, b], -1).reshape(-1, 3).astype(np.uint8)).astype(np.float64)
    mst = nearest_mst(lab, match=match) - 1
    cat = _ita_index(ita_degrees(lab[:, 0], lab[:, 2]))
    return (mst * 6 + cat).astype(np.uint8)
