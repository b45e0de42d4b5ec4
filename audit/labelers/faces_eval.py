"""Measure face detectors per Monk tone: world renders, and real portraits under skin-tone and brightness shifts.

- :func:`world_rates` -- detection rate per Monk tone and skin group on fresh
  balanced world renders.
- :func:`portrait_rates` -- on real faces: scikit-image's LFW subset (100
  grayscale faces, and its 100 non-face patches for false positives) tinted
  with each Monk swatch, and scikit-image's astronaut (a colour portrait) with
  the skin of her face moved to each Monk swatch in CIELAB (texture kept);
  each under brightness factors.
- :func:`person_free_rates` -- false detections on person-free images
  (scikit-image's photos of objects and animals and their crops, noise, flat
  colours) under the same brightness factors.

``benchmarks/face_detection.py`` prints them for every detector.

Examples
--------
>>> tint(np.full((4, 4), 0.5), tone=10).shape
(192, 192, 3)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["world_rates", "tint", "shift_skin", "portrait_rates", "person_free_rates", "BRIGHTNESS"]

BRIGHTNESS = (0.5, 0.75, 1.0, 1.25)


def world_rates(detector: Any, *, n: int = 1000, seed: int = 5) -> pd.DataFrame:
    """Detection rate per Monk tone (rows ``1``..``10``) and skin group on ``n`` balanced world renders.

    Examples
    --------
    >>> from audit.labelers.faces import WorldFaceLocator
    >>> world_rates(WorldFaceLocator(), n=20).columns.tolist()
    ['group', 'n', 'detected', 'rate']
    """
    from audit.labelers.ita import mst_group
    from audit.labelers.world_pool import balanced_attributes
    from generator.world import render_batch

    rng = np.random.default_rng(seed)
    attrs = balanced_attributes(n, rng=rng)
    imgs = render_batch(attrs, rng=rng)
    hit = np.array([len(detector.detect(im)) > 0 for im in imgs])
    df = pd.DataFrame({"tone": attrs.skin_tone.to_numpy(), "hit": hit})
    df["group"] = mst_group(df.tone)
    rows = []
    for key, g in [*((str(t), df[df.tone == t]) for t in range(1, 11)),
                   *((grp, df[df.group == grp]) for grp in ("light", "medium", "dark")), ("all", df)]:
        rows.append({"key": key, "group": key if not key.isdigit() else mst_group([int(key)])[0],
                     "n": len(g), "detected": int(g.hit.sum()), "rate": float(g.hit.mean()) if len(g) else np.nan})
    return pd.DataFrame(rows).set_index("key")


def tint(gray: np.ndarray, *, tone: int | None = None, brightness: float = 1.0, size: int = 112,
         pad: int = 40) -> np.ndarray:
    """A grayscale face (0..1) upscaled to ``size``, coloured with Monk swatch ``tone`` (shading kept), on grey."""
    import cv2

    from audit.labelers.ita import MST_RGB

    g = cv2.resize(np.asarray(gray, np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    if tone is None:
        rgb = np.repeat(g[..., None], 3, 2) * 255
    else:
        rgb = g[..., None] / max(float(g.mean()), 1e-3) * MST_RGB[tone - 1].astype(np.float32)
    c = np.full((size + 2 * pad, size + 2 * pad, 3), 128.0, np.float32)
    c[pad:pad + size, pad:pad + size] = rgb * brightness
    return np.clip(c, 0, 255).astype(np.uint8)


def shift_skin(rgb: np.ndarray, *, tone: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """Move the skin pixels inside ``box`` (x0, y0, x1, y1) to Monk swatch ``tone`` in CIELAB, keeping their texture."""
    from skimage.color import lab2rgb

    from audit.labelers.ita import MST_RGB, skin_mask, srgb_to_lab

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    region = rgb[y0:y1, x0:x1]
    m = skin_mask(region)
    lab = srgb_to_lab(region).astype(np.float64)
    target = srgb_to_lab(MST_RGB[tone - 1]).astype(np.float64)
    shifted = lab.copy()
    shifted[m] = lab[m] - lab[m].mean(0) + target
    out = rgb.copy()
    import warnings

    with warnings.catch_warnings():  # out-of-gamut shifted colours are clipped, which is what we want
        warnings.simplefilter("ignore", UserWarning)
        new = np.clip(lab2rgb(shifted) * 255 + 0.5, 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1][m] = new[m]
    return out


def _lfw() -> np.ndarray:
    import skimage

    return np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))


def portrait_rates(detector: Any, *, brightness: tuple[float, ...] = BRIGHTNESS, n_faces: int = 100) -> pd.DataFrame:
    """Detection rates on real faces per (source, Monk tone, brightness); ``false_positive`` on LFW non-faces.

    Returns
    -------
    pandas.DataFrame
        Rows: ``source`` (``lfw`` | ``astronaut``), ``tone``, ``brightness``, ``n``,
        ``rate``; LFW rows also carry ``false_positive`` (non-face patches found).
    """
    from skimage import data

    lfw = _lfw()
    faces, nonfaces = lfw[:100][:n_faces], lfw[100:][:n_faces]
    rows = []
    for tone in range(1, 11):
        for b in brightness:
            hit = [len(detector.detect(tint(x, tone=tone, brightness=b))) > 0 for x in faces]
            fp = [len(detector.detect(tint(x, tone=tone, brightness=b))) > 0 for x in nonfaces]
            rows.append({"source": "lfw", "tone": tone, "brightness": b, "n": len(hit), "rate": float(np.mean(hit)),
                         "false_positive": float(np.mean(fp))})
    astro = data.astronaut()
    box = (170.0, 70.0, 285.0, 185.0)  # her face and neck (the original's BlazeFace box, widened)
    for tone in range(1, 11):
        shifted = shift_skin(astro, tone=tone, box=box)
        for b in brightness:
            img = np.clip(shifted.astype(np.float32) * b, 0, 255).astype(np.uint8)
            # six views: three scales x mirror, so the rate is not one coin flip
            views = []
            for s in (1.0, 0.6, 0.35):
                import cv2

                small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                views += [small, small[:, ::-1].copy()]
            hit = [len(detector.detect(v)) > 0 for v in views]
            rows.append({"source": "astronaut", "tone": tone, "brightness": b, "n": len(hit),
                         "rate": float(np.mean(hit)), "false_positive": np.nan})
    return pd.DataFrame(rows)


def person_free_rates(detector: Any, *, brightness: tuple[float, ...] = (*BRIGHTNESS, 1.5),
                      crops_per_photo: int = 8) -> pd.DataFrame:
    """Share of person-free images in which ``detector`` finds a face, per image set and brightness factor.

    The images are :func:`audit.labelers.world_domain.person_free_images`
    (scikit-image's photos without people and random crops of them, uniform
    and Gaussian noise, flat colours and the Monk swatches), each scaled by
    the brightness factor (clipped at 255).

    Returns
    -------
    pandas.DataFrame
        Rows: ``set`` (``person_free`` | ``noise`` | ``flat``), ``brightness``,
        ``n``, ``found`` (images with a detection), ``rate``.

    Examples
    --------
    >>> from audit.labelers.faces import WorldFaceLocator
    >>> person_free_rates(WorldFaceLocator(), brightness=(1.0,), crops_per_photo=0).set.tolist()
    ['person_free', 'noise', 'flat']
    """
    from audit.labelers.world_domain import person_free_images

    sets = person_free_images(crops_per_photo=crops_per_photo)
    rows = []
    for b in brightness:
        for name in ("person_free", "noise", "flat"):
            found = sum(len(detector.detect(np.clip(im.astype(np.float32) * b, 0, 255).astype(np.uint8))) > 0
                        for im in sets[name])
            rows.append({"set": name, "brightness": b, "n": len(sets[name]), "found": int(found),
                         "rate": found / max(len(sets[name]), 1)})
    return pd.DataFrame(rows)
