"""ITA skin-tone labeler: model-free colorimetry (YCrCb skin mask, CIELAB, ITA, Monk scale).

Pipeline for a batch, vectorised across the pixels of up to 64 images at a time:

1. face restriction (default): the best face of each image from a face
   detector of :mod:`audit.labelers.faces` (its inner part); ``detector="auto"``
   uses the world face locator on 64 x 64 images (the world's size) and
   BlazeFace on every other image. An image without a face answers ``no_face``
   for every attribute (with the detector in ``reason``); the whole image is
   measured instead only when asked (``whole_image_fallback=True``, or
   ``faces=False``), and ``skin_region`` says which; regions over
   ``max_pixels`` (16,384) are measured on a strided grid of their pixels
   (:func:`subsample`);
2. skin mask by a YCrCb + RGB rule (:class:`SkinRule`), wide enough to keep
   the lightest and darkest Monk tones (the rule HEIM's metric uses,
   ``R - G > 15, Cr > 135, Y > 80, ...``, rejects the MST 1-3 and 8-10 swatches),
   read with each pixel's vote (below) from one table of all 2 ** 24 colours
   built once per rule;
3. per image, the median skin colour (exact R, G, B medians of the skin
   pixels, from per-image histograms) converted to CIELAB (D65);
4. ITA = arctan((L* - 50) / b*) * 180 / pi, mapped to the six ITA categories
   and to the nearest Monk Skin Tone swatch (:data:`MST_HEX`) on (L*, ITA)
   or in CIELAB.

Output attributes: ``skin_tone`` ("1".."10"), ``skin_group``
(light 1-3 / medium 4-6 / dark 7-10), ``ita_category``, ``ita`` (value the
rounded degrees, ``score`` the exact figure) and ``skin_region``
(``face`` | ``whole_image``). Images with too few skin pixels get ``no_skin``;
images without a face get ``no_face``. :func:`non_answer_shares` gives the share
of each non-answer per attribute of a labels table.
``probs`` holds the share of skin pixels nearest to each class (pixel votes);
``confidence`` is the share of the chosen class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.labelers.base import LABEL_COLUMNS, NO_SKIN, check_batch, labels_frame, to_rgb_uint8
from audit.schema import MST_HEX as SCHEMA_MST_HEX
from audit.schema import MST_VALUES, NO_FACE, NON_ANSWER_VALUES, SKIN_GROUP_NAMES

__all__ = [
    "MST_HEX",
    "MST_RGB",
    "ITA_CATEGORIES",
    "SkinRule",
    "srgb_to_lab",
    "ita_degrees",
    "ita_category",
    "mst_group",
    "nearest_mst",
    "skin_mask",
    "measure_skin",
    "subsample",
    "ITALabeler",
    "non_answer_shares",
]

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


# ---------------------------------------------------------------------------
# the labeler
# ---------------------------------------------------------------------------

class ITALabeler:
    """Skin tone by ITA colorimetry, restricted to the largest detected face when there is one.

    Parameters
    ----------
    faces
        Restrict to the best detected face (default). ``False`` measures the
        whole image of every image (``skin_region = whole_image``).
    detector
        ``"auto"`` (world locator on 64 x 64 images, BlazeFace on others), a name
        of :data:`audit.labelers.faces.DETECTORS` (``"blazeface"``, ``"world"``,
        ``"haar"``) or a :class:`audit.labelers.faces.FaceDetector`.
    whole_image_fallback
        Measure the whole image when no face is found (``skin_region =
        whole_image``) instead of answering ``no_face``.
    match
        How the median colour is matched to a Monk tone: ``"l_ita"``
        (distance on L* and ITA; the default: on 2,000 world renders it agrees
        73% exactly vs 70% for ``"lab"``) or ``"lab"`` (CIELAB
        distance).
    rule
        The skin-pixel rule.
    min_skin_pixels, min_skin_fraction
        Fewer skin pixels than ``min_skin_pixels`` or than
        ``min_skin_fraction`` of the region gives ``no_skin``.
    max_pixels
        Regions with more pixels are measured on every ``k``-th row and
        column (:func:`subsample`, the smallest such ``k``: a 512 x 512 image on
        its 128 x 128 grid of real pixels, no blending, so the rule still sees
        real colours). The default 16,384 leaves images up to 128 x 128 exact;
        on 512 x 512 renders it reads 16x fewer pixels (the labels, on
        shaded noisy skin scenes, agree with all pixels; see
        ``tests/test_labelers_ita_speed.py`` for the measured tolerance).
        ``None`` uses every pixel.

    Examples
    --------
    >>> import numpy as np
    >>> lab = ITALabeler(faces=False)
    >>> df = lab.label([np.broadcast_to(MST_RGB[7], (16, 16, 3))], image_ids=["x"])
    >>> df.set_index("attribute").loc["skin_tone", "value"]
    '8'
    """

    name = "ita"
    attributes = {"skin_tone": MST_VALUES, "skin_group": SKIN_GROUP_NAMES,
                  "ita_category": tuple(c[0] for c in ITA_CATEGORIES), "ita": (), "skin_region": ("face", "whole_image")}
    domain = "photographs or renders with visible skin, lit by roughly white light (colorimetry, no model)"

    def __init__(
        self, *, faces: bool = True, match: Literal["lab", "l_ita"] = "l_ita", rule: SkinRule = SkinRule(),
        min_skin_pixels: int = 16, min_skin_fraction: float = 0.02, max_pixels: int | None = 16384,
        detector: Any = "auto", whole_image_fallback: bool = False,
    ) -> None:
        from audit.labelers.faces import DETECTORS

        _mst_features(match)  # validates
        if max_pixels is not None and max_pixels < 1:
            raise UserError(f"max_pixels={max_pixels} must be >= 1 (fix: use None to measure every pixel)")
        if isinstance(detector, str) and detector != "auto" and detector not in DETECTORS:
            raise UserError(f"detector={detector!r} is not known (fix: use 'auto' or one of {sorted(DETECTORS)})")
        self.faces, self.match, self.rule = faces, match, rule
        self.min_skin_pixels, self.min_skin_fraction = int(min_skin_pixels), float(min_skin_fraction)
        self.max_pixels = max_pixels
        self.detector, self.whole_image_fallback = detector, bool(whole_image_fallback)
        self._detectors: dict[str, Any] = {}

    # -- faces ---------------------------------------------------------------
    def _detector_for(self, rgb: np.ndarray) -> Any:
        from audit.labelers.faces import DETECTORS

        name = self.detector
        if not isinstance(name, str):
            return name
        if name == "auto":
            name = "world" if rgb.shape[:2] == (64, 64) else "blazeface"
        if name not in self._detectors:
            self._detectors[name] = DETECTORS[name]()
        return self._detectors[name]

    def _face_box(self, rgb: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
        """Inner box of the best face (None without one) and the detector's name."""
        det = self._detector_for(rgb)
        found = det.detect(rgb)
        if not found:
            return None, det.name
        x0, y0, x1, y1, _ = found[0]
        fx0, fy0, fx1, fy1 = _INNER.get(det.name, (0.2, 0.25, 0.8, 0.9))
        w, h = x1 - x0, y1 - y0
        # inner part of the box: skip hair at the top and background at the sides
        box = int(x0 + fx0 * w), int(y0 + fy0 * h), int(np.ceil(x0 + fx1 * w)), int(np.ceil(y0 + fy1 * h))
        return (box if box[2] > box[0] and box[3] > box[1] else None), det.name

    def regions(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
        """Pixels each image is measured on, and the region names (``face`` / ``whole_image`` / ``no_face:DETECTOR``)."""
        out, names = [], []
        for rgb in images:
            if not self.faces:
                out.append(rgb)
                names.append("whole_image")
                continue
            box, det = self._face_box(rgb)
            if box is not None:
                x0, y0, x1, y1 = box
                out.append(rgb[y0:y1, x0:x1])
                names.append("face")
            elif self.whole_image_fallback:
                out.append(rgb)
                names.append("whole_image")
            else:
                out.append(rgb[:1, :1])  # not measured: the rows answer no_face
                names.append(f"{NO_FACE}:{det}")
        return out, names

    # -- labelling -------------------------------------------------------------
    def label(self, images: Sequence[Any], *, image_ids: Sequence[str]) -> pd.DataFrame:
        """Label a batch; see the module docstring for the attributes.

        Examples
        --------
        >>> import numpy as np
        >>> ITALabeler(faces=False).label([np.zeros((4, 4, 3), np.uint8)], image_ids=["k"])["value"].tolist()
        ['no_skin', 'no_skin', 'no_skin', 'no_skin', 'whole_image']
        """
        check_batch(images, image_ids)
        pixels, region_names = self._pixels(images)
        stats = measure_skin(pixels, rule=self.rule, match=self.match)
        return self._frame([str(i) for i in image_ids], stats, region_names)

    def _pixels(self, images: Sequence[Any]) -> tuple[Sequence[np.ndarray], list[str]]:
        """The pixels each image is measured on (its region, :func:`subsample`-d) and the region names."""
        shape = None if self.faces else _one_rgb_shape(images)
        if shape is not None:  # uint8 RGB images of one shape: one stride, no per-image normalisation
            k = 1 if self.max_pixels is None else _stride(*shape, self.max_pixels)
            return (images if k == 1 else [im[::k, ::k] for im in images]), ["whole_image"] * len(images)
        pixels, names = self.regions([to_rgb_uint8(im) for im in images])
        if self.max_pixels is not None:
            pixels = [subsample(p, max_pixels=self.max_pixels) for p in pixels]
        return pixels, names

    def _frame(self, ids: list[str], st: pd.DataFrame, regions: list[str]) -> pd.DataFrame:
        """The labels table of a measured batch, built column-wise (no per-row Python objects)."""
        n = len(ids)
        if n == 0:
            return labels_frame([])
        n_skin, n_px = st["n_skin"].to_numpy(), st["n_pixels"].to_numpy()
        ok = (n_skin > 0) & (n_skin >= np.maximum(self.min_skin_pixels, self.min_skin_fraction * n_px))
        denom = np.maximum(n_skin, 1)[:, None]
        mv = st.attrs["mst_votes"] / denom
        cv = st.attrs["cat_votes"] / denom
        gv = np.stack([mv[:, :3].sum(1), mv[:, 3:6].sum(1), mv[:, 6:].sum(1)], axis=1)
        mst = np.maximum(st["mst"].to_numpy(), 1)
        ita = st["ita"].to_numpy()
        gidx = np.searchsorted([3, 6], mst, side="left")
        cidx = _ita_index(np.nan_to_num(ita))
        rows = np.arange(n)
        nan = np.full(n, np.nan)
        values = np.stack([
            _MST_NAMES[mst], np.array(_GROUPS)[gidx], _ITA_NAMES[cidx],
            _tenths(np.nan_to_num(ita)), np.asarray(regions),
        ], axis=1).astype(object)
        conf = np.stack([mv[rows, mst - 1], gv[rows, gidx], cv[rows, cidx], nan, nan], axis=1)
        score = np.stack([ita, nan, ita, ita, nan], axis=1)
        probs = np.stack([
            _probs_json([str(k) for k in range(1, 11)], mv), _probs_json(list(_GROUPS), gv),
            _probs_json(_ITA_NAMES.tolist(), cv), np.full(n, None, object), np.full(n, None, object),
        ], axis=1)
        reason = np.full((n, 5), None, dtype=object)
        bad = ~ok
        if bad.any():
            why = np.array([f"{k} skin pixels of {t} in the {r.replace('_', ' ')}"
                            for k, t, r in zip(n_skin[bad], n_px[bad], np.asarray(regions)[bad])], dtype=object)
            values[bad, :4] = NO_SKIN
            conf[bad, :4] = np.nan
            score[bad, :4] = np.nan
            probs[bad, :4] = None
            reason[bad, :4] = why[:, None]
        nf = np.array([r.startswith(NO_FACE) for r in regions], dtype=bool)
        if nf.any():
            values[nf, :] = NO_FACE
            conf[nf, :] = np.nan
            score[nf, :] = np.nan
            probs[nf, :] = None
            reason[nf, :] = np.array([f"no face found by the {r.split(':', 1)[1]} detector" for r in
                                      np.asarray(regions)[nf]], dtype=object)[:, None]
        names = tuple(self.attributes)
        k = len(names)
        return pd.DataFrame({
            "image_id": np.repeat(np.asarray(ids, dtype=object), k),
            "labeler": self.name,
            "attribute": np.tile(np.asarray(names, dtype=object), n),
            "value": values.ravel(),
            "confidence": conf.ravel().astype(float),
            "probs": probs.ravel(),
            "score": score.ravel().astype(float),
            "reason": reason.ravel(),
        }, columns=list(LABEL_COLUMNS))


#: Inner part of each detector's face box (fractions x0, y0, x1, y1) measured for skin.
_INNER = {"haar": (0.2, 0.25, 0.8, 0.9), "blazeface": (0.15, 0.25, 0.85, 0.95), "world": (0.0, 0.0, 1.0, 1.0)}


def non_answer_shares(labels: pd.DataFrame) -> pd.DataFrame:
    """Share of each non-answer (``no_face``, ``no_skin``, ``out_of_domain``, ``unreadable``) per labeler x attribute.

    Returns
    -------
    pandas.DataFrame
        Index ``(labeler, attribute)``; columns ``n`` (images), one share per
        non-answer and ``non_answer`` (their sum).

    Examples
    --------
    >>> import numpy as np
    >>> df = ITALabeler(faces=False).label([np.zeros((4, 4, 3), np.uint8), np.broadcast_to(MST_RGB[3], (8, 8, 3))],
    ...                                    image_ids=["k", "s"])
    >>> float(non_answer_shares(df).loc[("ita", "skin_tone"), "no_skin"])
    0.5
    """
    g = labels.groupby(["labeler", "attribute"])["value"]
    out = pd.DataFrame({"n": g.size()})
    for v in NON_ANSWER_VALUES:
        out[v] = g.apply(lambda s, v=v: float((s == v).mean()))
    out["non_answer"] = out[list(NON_ANSWER_VALUES)].sum(axis=1)
    return out


def _probs_json(names: list[str], p: np.ndarray) -> np.ndarray:
    """One JSON object string per row of ``p`` (``{"name": prob, ...}``, each prob as ``"{:.6f}"`` formats it).

    Probabilities in [0, 9.999999) are 8 characters each, so the text of the
    whole batch is one byte array filled column-wise from a row template
    (20x faster than formatting each float); other values go through
    ``str.format``.
    """
    p = np.asarray(p, dtype=np.float64)
    chars = _fixed6(p)
    if chars is None or len(p) == 0:
        fmt = "{{" + ", ".join(f'"{k}": {{:.6f}}' for k in names) + "}}\n"
        text = (fmt * len(p)).format(*p.ravel().tolist())  # one format call for the whole batch
    else:
        pieces = [f'{{"{names[0]}": '.encode()] + [f', "{k}": '.encode() for k in names[1:]] + [b"}\n"]
        template = np.frombuffer(b"".join(piece + b"01234567" for piece in pieces)[:-8], dtype=np.uint8)
        at = np.cumsum([len(piece) + 8 for piece in pieces[:-1]]) - 8  # where each value starts
        rows = np.empty((len(p), len(template)), np.uint8)
        rows[:] = template
        rows[:, (at[:, None] + np.arange(8)).ravel()] = chars.reshape(len(p), -1)
        text = rows.tobytes().decode()
    out = np.empty(len(p), dtype=object)
    out[:] = text.split("\n")[:-1]
    return out


def _tenths(x: np.ndarray) -> np.ndarray:
    """``"%.1f" % v`` of each value of ``x`` (object array), from a table of the strings of -180.0 .. 180.0.

    ``rint(10 v)`` is the correctly rounded figure unless ``10 v`` lies within
    rounding error of a half; those values, negative zeros and values
    outside the table are formatted by Python.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # inf and nan go to Python
        y = x * 10.0
        q = np.rint(y)
        python = ~(np.abs(q) <= 1800) | (np.abs(y - np.floor(y) - 0.5) < 1e-9) | ((q == 0) & np.signbit(x))
    out = _TENTHS.take(np.where(python, 0, q).astype(np.int64) + 1800)
    for i in np.flatnonzero(python):
        out[i] = "%.1f" % x[i]
    return out


_TENTHS = np.array(["%.1f" % (k / 10) for k in range(-1800, 1801)], dtype=object)
_DIGITS3 = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)  # "000" .. "999"


def _fixed6(p: np.ndarray) -> np.ndarray | None:
    """ASCII ``"d.dddddd"`` ``(..., 8)`` of values in [0, 9.999999), as ``"{:.6f}".format``; None for others.

    ``rint(p * 1e6)`` is the correctly rounded figure unless ``p * 1e6`` lies
    within rounding error of a half (a tie, such as 1 / 128); those few
    values are formatted by Python.
    """
    if p.size and not (np.isfinite(p).all() and (p >= 0).all() and (p < 9.999999).all() and not np.signbit(p).any()):
        return None
    y = p * 1e6
    units, micro = np.divmod(np.rint(y).astype(np.int64), 1000000)
    chars = np.empty(p.shape + (8,), np.uint8)
    chars[..., 0] = units + ord("0")
    chars[..., 1] = ord(".")
    chars[..., 2:5] = _DIGITS3.take(micro // 1000, axis=0)
    chars[..., 5:] = _DIGITS3.take(micro % 1000, axis=0)
    near_tie = np.abs(y - np.floor(y) - 0.5) < 1e-8  # the error of p * 1e6 is below 2e-9
    for i in zip(*np.nonzero(near_tie)):
        chars[i] = np.frombuffer(f"{p[i]:.6f}".encode(), dtype=np.uint8)
    return chars
