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

The work is split by job: :mod:`audit.labelers.ita_colour` (CIELAB, ITA,
Monk mapping), :mod:`audit.labelers.ita_skin` (skin rule, batched
measurement), :mod:`audit.labelers.ita_text` (fast label text); this module
holds the labeler and re-exports their public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.labelers.base import LABEL_COLUMNS, NO_SKIN, check_batch, labels_frame, to_rgb_uint8
from audit.labelers.ita_colour import (
    _GROUPS, _ITA_NAMES, _MST_NAMES, ITA_CATEGORIES, MST_HEX, MST_RGB, _ita_index, _mst_features, _vote_lut,  # noqa: F401
    ita_category, ita_degrees, mst_group, nearest_mst, srgb_to_lab,
)
from audit.labelers.ita_skin import SkinRule, _one_rgb_shape, _stride, measure_skin, skin_mask, subsample
from audit.labelers.ita_text import _probs_json, _tenths
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
