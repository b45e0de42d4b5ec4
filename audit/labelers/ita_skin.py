"""Skin pixels for the ITA labeler: the YCrCb + RGB skin rule and the batched skin measurement.

- :class:`SkinRule`, :func:`skin_mask` -- which pixels are skin;
- :func:`measure_skin` -- per image of a batch: skin-pixel count, median skin
  colour, CIELAB, ITA, Monk tone and the pixels' votes, vectorised across up
  to 64 images at a time;
- :func:`subsample` -- a strided grid of a large region's real pixels.

Examples
--------
>>> import numpy as np
>>> from audit.labelers.ita_colour import MST_RGB
>>> int(measure_skin([np.broadcast_to(MST_RGB[2], (8, 8, 3))])["mst"].iloc[0])
3
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.labelers.ita_colour import _vote_lut, ita_degrees, nearest_mst, srgb_to_lab

__all__ = ["SkinRule", "skin_mask", "measure_skin", "subsample"]

# ---------------------------------------------------------------------------
# skin segmentation
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SkinRule:
    """Per-pixel skin rule on OpenCV's 8-bit YCrCb plus RGB ordering (all bounds inclusive).

    A pixel is skin when ``y_min <= Y <= y_max``, ``cr_min <= Cr <= cr_max``,
    ``cb_min <= Cb <= cb_max``, ``R >= G`` and ``R - B >= rb_min``, where
    ``Y, Cr, Cb`` are ``cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)`` (rounded
    ``Y = .299 R + .587 G + .114 B``, ``Cr = .713 (R - Y) + 128``,
    ``Cb = .564 (B - Y) + 128``) -- the same conversion HEIM's metric uses.

    The defaults keep every Monk swatch (MST 1 has Cr 133, MST 10 has Y 37 and
    Cr 131) and reject greys (Cr = 128).

    Examples
    --------
    >>> SkinRule().cr_min
    130
    """

    y_min: int = 20
    y_max: int = 252
    cr_min: int = 130
    cr_max: int = 180
    cb_min: int = 77
    cb_max: int = 127
    rb_min: int = 6

    def __post_init__(self) -> None:
        if self.rb_min < 1:
            raise UserError(f"SkinRule.rb_min={self.rb_min} must be >= 1 (fix: skin is redder than it is blue)")


_WARM = np.array([[1, -1, 0, 128], [1, 0, -1, 0], [0, 0, 0, 0]], dtype=np.float32)  # R-G+128, R-B, 0


def _skin_flat(px: np.ndarray, rule: SkinRule) -> np.ndarray:
    """Skin mask ``(P,)`` of ``(P, 3)`` contiguous uint8 pixels.

    Runs as OpenCV SIMD kernels on a ``1 x P`` image (a ``P x 1`` column is
    20x slower): YCrCb + ``inRange`` for the box, and one saturating
    ``transform`` to ``(R - G + 128, R - B)`` + ``inRange`` for the RGB order.
    """
    import cv2

    img = px.reshape(1, -1, 3)
    inside = cv2.inRange(cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb), (rule.y_min, rule.cr_min, rule.cb_min),
                         (rule.y_max, rule.cr_max, rule.cb_max))
    warm = cv2.inRange(cv2.transform(img, _WARM), (128, rule.rb_min, 0), (255, 255, 255))
    return cv2.bitwise_and(inside, warm)[0] != 0


def skin_mask(rgb: np.ndarray, *, rule: SkinRule = SkinRule()) -> np.ndarray:
    """Boolean skin mask of ``(..., 3)`` uint8 RGB pixels (OpenCV YCrCb, vectorised).

    Examples
    --------
    >>> from audit.labelers.ita_colour import MST_RGB
    >>> skin_mask(MST_RGB).all(), skin_mask(np.array([[128, 128, 128], [0, 90, 200]], np.uint8)).any()
    (np.True_, np.False_)
    """
    px = np.ascontiguousarray(rgb, dtype=np.uint8)
    flat = px.reshape(-1, 3)
    if len(flat) == 0:
        return np.zeros(px.shape[:-1], dtype=bool)
    return _skin_flat(flat, rule).reshape(px.shape[:-1])


# ---------------------------------------------------------------------------
# batched measurement
# ---------------------------------------------------------------------------

def _hist_median(hist: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Exact medians ``(n, c)`` of ``(n, c, 256)`` float32 histograms of uint8 values, ``counts`` ``(n,)`` values each.

    The mean of the two middle values for even counts, so it equals
    :func:`statistics.median` of each image's values (128 for an empty histogram).
    """
    import cv2

    n, c, bins = hist.shape
    # one running count through all the histograms: float64 (exact below 2 ** 53), 2x faster than np.cumsum
    cum = cv2.integral(np.ascontiguousarray(hist, dtype=np.float32).reshape(1, -1), sdepth=cv2.CV_64F)[1]
    base = cum[:-1:bins]  # count before each histogram
    cnt = np.repeat(counts, c)
    start = np.arange(n * c) * bins

    def kth(k: np.ndarray) -> np.ndarray:
        # the k-th smallest value (0-based) is the first bin whose running count exceeds base + k
        return np.searchsorted(cum, base + k, side="right") - 1 - start

    med = np.where(cnt > 0, (kth((cnt - 1) // 2) + kth(cnt // 2)) / 2.0, 128.0)
    return med.reshape(n, c)


_NOT_SKIN = 255  # the class of colours that are not skin


@lru_cache(maxsize=4)
def _colour_lut(rule: SkinRule, match: str) -> np.ndarray:
    """Per 24-bit colour ``R | G << 8 | B << 16``: its pixel-vote class (:func:`_vote_lut`) if skin, else 255.

    One lookup per pixel then gives both the skin mask and the vote (2x
    faster than the OpenCV mask and the 6-bit vote code per pixel). The 16 MB
    table is built once per ``(rule, match)`` (~0.3 s) by the exact OpenCV
    rule (:func:`_skin_flat`) on every colour.
    """
    cells = _vote_lut(match).reshape(64, 64, 64).transpose(2, 1, 0)  # [B >> 2, G >> 2, R >> 2]
    lut = np.repeat(np.repeat(np.repeat(cells, 4, 0), 4, 1), 4, 2).ravel()  # [B, G, R]
    step = 1 << 20
    for s in range(0, 1 << 24, step):
        rgb = np.arange(s, s + step, dtype="<u4").view(np.uint8).reshape(-1, 4)[:, :3]
        lut[s:s + step][~_skin_flat(np.ascontiguousarray(rgb), rule)] = _NOT_SKIN
    lut.flags.writeable = False  # shared by every caller
    return lut


def _pixel_sets(pixels: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """The pixel sets as uint8 arrays and the number of pixels of each.

    When all share one ``(H, W, 3)`` shape they are kept as they are (a chunk
    of them is then one ``np.concatenate``, strided views such as
    :func:`subsample`'s without a copy of their own), else made ``(P_i, 3)``.
    """
    sets = [np.asarray(p, dtype=np.uint8) for p in pixels]
    shapes = {p.shape for p in sets}
    shape = next(iter(shapes)) if len(shapes) == 1 else ()
    if len(shape) == 3 and shape[2] == 3 and min(shape) > 0:
        return sets, np.full(len(sets), shape[0] * shape[1], dtype=np.int64)
    sets = [p.reshape(-1, 3) for p in sets]
    return sets, np.array([len(p) for p in sets], dtype=np.int64)


def _chunks(sizes: np.ndarray, *, budget: int = 1 << 18, most: int = 64) -> list[tuple[int, int]]:
    """Consecutive image ranges ``[s, e)`` of at most ``most`` images and ``budget`` pixels (or one image)."""
    ends = np.cumsum(sizes)
    n, s, out = len(sizes), 0, []
    while s < n:
        e = int(np.searchsorted(ends, ends[s] - sizes[s] + budget, side="right"))
        e = min(max(e, s + 1), s + most, n)
        out.append((s, e))
        s = e
    return out


def _segment_counts(mask: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Number of True values of ``mask`` in each consecutive segment of ``sizes`` values."""
    import cv2

    if len(sizes) and sizes[0] > 0 and (sizes == sizes[0]).all():
        return cv2.reduce(mask.view(np.uint8).reshape(len(sizes), -1), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    ends = np.cumsum(sizes)
    return np.array([np.count_nonzero(mask[e - k:e]) for e, k in zip(ends.tolist(), sizes.tolist())], dtype=np.int64)


#: Per image ``i`` of a chunk, the histogram rows of its R, G, B and class bytes: ``4 i, 4 i + 1, 4 i + 2, 4 i + 3``.
_HIST_ROWS = (np.arange(0, 256, 4, dtype="<u4") * 0x01010101 + 0x03020100).astype("<u4")


def _measure_chunk(px: np.ndarray, sizes: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skin-pixel counts ``(m,)``, median skin colours ``(m, 3)`` and pixel votes ``(m, 60)`` of ``m <= 64`` images.

    ``px`` ``(P, 3)`` holds the images' pixels, ``sizes`` how many each.
    OpenCV makes them RGBA words ``R | G << 8 | B << 16 | 255 << 24``: as
    int32 that is the colour minus ``2 ** 24``, so ``lut.take`` reads the
    colour's entry of :func:`_colour_lut` (a negative index counts from the
    end). The class goes into the alpha byte and the skin words are kept.
    The R, G, B and class histograms of all ``m`` images are one OpenCV
    ``calcHist`` over (histogram row, byte): an 8-bit kernel, 4x faster than
    ``np.bincount``, and consecutive bytes fall in different rows, so its
    counter updates do not wait on each other.
    """
    import cv2

    m = len(sizes)
    rgba = cv2.cvtColor(px.reshape(1, -1, 3), cv2.COLOR_RGB2RGBA).reshape(-1, 4)
    cls = lut.take(rgba.view("<i4").ravel())
    mask = cls != _NOT_SKIN
    counts = _segment_counts(mask, sizes)
    rgba[:, 3] = cls
    skin = rgba.view("<u4").ravel()[mask].view(np.uint8).reshape(1, -1)  # R, G, B, class of each skin pixel
    hist = np.zeros((m, 4, 256), np.float32)
    if skin.size:
        rows = np.repeat(_HIST_ROWS[:m], counts).view(np.uint8).reshape(1, -1)
        hist[:] = cv2.calcHist([rows, skin], [0, 1], None, [4 * m, 256], [0, 4 * m, 0, 256]).reshape(m, 4, 256)
    return counts, _hist_median(hist[:, :3], counts), np.rint(hist[:, 3, :60]).astype(np.int64)


def measure_skin(
    pixels: Sequence[np.ndarray], *, rule: SkinRule = SkinRule(), match: Literal["lab", "l_ita"] = "l_ita",
) -> pd.DataFrame:
    """Skin statistics of a batch of pixel sets (one ``(..., 3)`` uint8 array per image).

    Chunks of up to 64 images are processed together (:func:`_measure_chunk`):
    each pixel's skin flag and own nearest Monk tone / ITA category (pixel
    vote, from a 6-bit-per-channel lookup table) in one lookup, per-image
    histograms of the skin pixels' R, G, B (for the median colour) and votes;
    then CIELAB, ITA and the Monk tone of each median colour.

    Returns
    -------
    pandas.DataFrame
        One row per image: ``n_pixels``, ``n_skin``, ``R``, ``G``, ``B`` (median
        skin colour), ``L``, ``a``, ``b``, ``ita`` (NaN without skin), ``mst``
        (0 without skin); ``mst_votes`` ``(n, 10)`` and ``cat_votes`` ``(n, 6)``
        in ``DataFrame.attrs``.

    Examples
    --------
    >>> import numpy as np
    >>> from audit.labelers.ita_colour import MST_RGB
    >>> patch = np.broadcast_to(MST_RGB[4], (8, 8, 3))
    >>> int(measure_skin([patch])["mst"].iloc[0])
    5
    """
    n = len(pixels)
    sets, sizes = _pixel_sets(pixels)
    lut = _colour_lut(rule, match)
    counts, med, votes = np.zeros(n, np.int64), np.zeros((n, 3)), np.zeros((n, 60), np.int64)
    for s, e in _chunks(sizes):
        px = np.concatenate(sets[s:e]).reshape(-1, 3)  # chunk by chunk: the pixels stay in the CPU cache
        counts[s:e], med[s:e], votes[s:e] = _measure_chunk(px, sizes[s:e], lut)
    votes = votes.reshape(n, 10, 6)
    has = counts > 0
    lab = srgb_to_lab(med / 255.0).astype(np.float64)
    lab[~has] = np.nan
    ita = ita_degrees(lab[:, 0], lab[:, 2])
    mst = np.where(has, nearest_mst(np.nan_to_num(lab), match=match), 0)
    out = pd.DataFrame({
        "n_pixels": sizes, "n_skin": counts, "R": np.where(has, med[:, 0], np.nan),
        "G": np.where(has, med[:, 1], np.nan), "B": np.where(has, med[:, 2], np.nan),
        "L": lab[:, 0], "a": lab[:, 1], "b": lab[:, 2], "ita": ita, "mst": mst,
    })
    out.attrs["mst_votes"] = votes.sum(2)
    out.attrs["cat_votes"] = votes.sum(1)
    return out


def subsample(rgb: np.ndarray, *, max_pixels: int) -> np.ndarray:
    """Every ``k``-th row and column of an ``(H, W, 3)`` region, the smallest ``k`` with at most ``max_pixels`` pixels.

    Returns the region itself (no copy) when it is small enough. Real pixels
    are kept (no averaging), so the skin rule sees the colours it would see at
    full size.

    Examples
    --------
    >>> import numpy as np
    >>> subsample(np.zeros((512, 512, 3), np.uint8), max_pixels=128 * 128).shape
    (128, 128, 3)
    >>> subsample(np.zeros((64, 64, 3), np.uint8), max_pixels=128 * 128).shape
    (64, 64, 3)
    """
    k = _stride(*rgb.shape[:2], max_pixels)
    return rgb if k == 1 else rgb[::k, ::k]


def _stride(h: int, w: int, max_pixels: int) -> int:
    """The smallest ``k`` whose every-``k``-th-row-and-column grid of ``h x w`` has at most ``max_pixels`` pixels."""
    k = max(1, math.isqrt(h * w // max_pixels))
    while -(-h // k) * -(-w // k) > max_pixels:
        k += 1
    return k


def _one_rgb_shape(images: Sequence[Any]) -> tuple[int, int] | None:
    """``(H, W)`` when every image is a non-empty ``(H, W, 3)`` uint8 array of that one shape, else None.

    :func:`~audit.labelers.base.to_rgb_uint8` keeps the pixels of such arrays
    as they are, so a batch of them can skip the per-image normalisation.
    """
    first = images[0] if len(images) else None
    if not isinstance(first, np.ndarray) or first.ndim != 3 or first.shape[2] != 3 or first.size == 0:
        return None
    shape, u8 = first.shape, np.dtype(np.uint8)
    if all(isinstance(im, np.ndarray) and im.dtype == u8 and im.shape == shape for im in images):
        return shape[:2]
    return None
