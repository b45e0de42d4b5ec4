"""Batched renderer of world people at 64 x 64 RGB (numpy only, no per-pixel Python).

A person is composed in a canonical frame from the sprite sheet (hair, attire,
skin-coloured head, face, headwear, unsafe prop), moved and scaled as one piece,
laid over an activity scene with clutter, then lit (gain, colour cast, gradient)
and given sensor noise. Nuisance parameters are sampled from ``rng`` unless the
attribute table already holds them, so a rendering is reproducible from its row.

Examples
--------
>>> import numpy as np, pandas as pd
>>> attrs = pd.DataFrame({"profession": ["nurse"], "skin_tone": [7], "presentation": ["feminine"],
...                       "age_group": ["adult"], "activity": ["reading"], "unsafe": [False]})
>>> render_batch(attrs, rng=np.random.default_rng(0)).shape
(1, 64, 64, 3)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from generator.world.sprites import HAIR_COLOURS, sprite_sheet
from generator.world.vocab import (
    ACTIVITIES, AGE_GROUPS, MST_HEX, PRESENTATIONS, PROFESSIONS, UNSAFE_PROPS, hex_to_rgb,
)

__all__ = ["render_batch", "sample_nuisance", "NUISANCE_COLUMNS", "ATTRIBUTE_COLUMNS", "SIZE"]

SIZE = 64
ATTRIBUTE_COLUMNS = ("profession", "skin_tone", "presentation", "age_group", "activity", "unsafe")
NUISANCE_COLUMNS = (
    "scale", "shift_x", "shift_y", "bg_dx", "bg_dy", "gain", "cast_r", "cast_g", "cast_b",
    "gradient", "noise", "skin_jitter", "hair_colour", "unsafe_prop", "clutter_seed",
)
_MST_RGB = np.array([hex_to_rgb(MST_HEX[t]) for t in range(1, 11)], dtype=np.float32) / 255
_CLUTTER = 3


def _down2(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied 2x2 box filter of (..., 2H, 2W, C) arrays; returns premultiplied RGBA."""
    if rgba.shape[-1] == 4:
        pre = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)
    else:
        pre = rgba
    h, w = pre.shape[-3] // 2, pre.shape[-2] // 2
    lead = pre.shape[:-3]
    return pre.reshape(*lead, h, 2, w, 2, pre.shape[-1]).mean(axis=(-4, -2)).astype(np.float32)


@lru_cache(maxsize=1)
def _sheet64() -> dict[str, np.ndarray]:
    s = sprite_sheet()
    m = lambda a: _down2(a[..., None])[..., 0]  # noqa: E731 - masks
    return {
        "body": _down2(s.body), "headwear": _down2(s.headwear), "scene": _down2(s.scene),
        "unsafe": _down2(s.unsafe), "head": m(s.head), "shading": m(s.shading),
        "face": _down2(s.face), "hair_back": m(s.hair_back), "hair_front": m(s.hair_front),
    }


def _compose(S: dict[str, np.ndarray], p: np.ndarray, s: np.ndarray, g: np.ndarray,
             skin: np.ndarray, hair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compose people in the canonical frame (premultiplied RGB, alpha), back to front."""
    n = len(p)
    pp = np.zeros((n, SIZE, SIZE, 3), np.float32)
    pa = np.zeros((n, SIZE, SIZE), np.float32)
    m = S["hair_back"][s, g]
    _over(pp, pa, m[..., None] * hair[:, None, None], m)
    body = S["body"][p]
    _over(pp, pa, body[..., :3], body[..., 3])
    m = S["head"][g]
    _over(pp, pa, (m * S["shading"])[..., None] * skin[:, None, None], m)
    face = S["face"][s, g]
    _over(pp, pa, face[..., :3], face[..., 3])
    m = S["hair_front"][s, g]
    _over(pp, pa, m[..., None] * hair[:, None, None], m)
    hw = S["headwear"][p]
    _over(pp, pa, hw[..., :3], hw[..., 3])
    return pp, pa


@lru_cache(maxsize=1)
def _people_table() -> np.ndarray:
    """Every profession x presentation x age person as a linear function of skin and hair colour.

    "Over" compositing is linear in the source colours once alphas are fixed, so a
    person is ``base + skin * k_skin + hair * k_hair`` with alpha ``a``. Returns
    ``(P*S*G, 64, 64, 6)``: base RGB, k_skin, k_hair, alpha.
    """
    S = _sheet64()
    P, G = len(PROFESSIONS), len(AGE_GROUPS)
    idx = np.arange(P * len(PRESENTATIONS) * G)
    p, s, g = idx // (len(PRESENTATIONS) * G), (idx // G) % len(PRESENTATIONS), idx % G
    zero, one = np.zeros((len(idx), 3), np.float32), np.ones((len(idx), 3), np.float32)
    base, alpha = _compose(S, p, s, g, zero, zero)
    k_skin = _compose(S, p, s, g, one, zero)[0][..., :1] - base[..., :1]
    k_hair = _compose(S, p, s, g, zero, one)[0][..., :1] - base[..., :1]
    return np.concatenate([base, k_skin, k_hair, alpha[..., None]], axis=-1)


@lru_cache(maxsize=1)
def _scene_table() -> np.ndarray:
    """Activity scenes under every background shift: (A * 7 * 7, 64, 64, 3)."""
    scene = _sheet64()["scene"]
    yi, xi = np.mgrid[0:SIZE, 0:SIZE]
    out = [scene[:, np.clip(yi + dy, 0, SIZE - 1), np.clip(xi + dx, 0, SIZE - 1)]
           for dy in range(-3, 4) for dx in range(-3, 4)]
    return np.stack(out, axis=1).reshape(-1, SIZE, SIZE, 3)


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    return np.random.default_rng(12345).standard_normal((97, SIZE, SIZE, 3), dtype=np.float32)


def _index(values: pd.Series, vocab: tuple, column: str) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(vocab)}
    try:
        return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
    except KeyError as exc:
        raise ValueError(f"column {column!r}: unknown value {exc.args[0]!r}; expected one of {list(vocab)}") from None


def sample_nuisance(n: int, *, rng: np.random.Generator, age_groups: np.ndarray | None = None) -> pd.DataFrame:
    """Draw nuisance parameters (position, scale, lighting, clutter, hair colour) for ``n`` renders.

    Parameters
    ----------
    n
        Number of rows.
    rng
        Source of randomness.
    age_groups
        Age group per row (hair palettes depend on age); defaults to ``adult``.

    Examples
    --------
    >>> df = sample_nuisance(3, rng=np.random.default_rng(0))
    >>> list(df.columns) == list(NUISANCE_COLUMNS)
    True
    """
    ages = np.asarray(age_groups) if age_groups is not None else np.full(n, "adult")
    hair = np.empty(n, dtype=np.int64)
    draw = rng.random(n)
    for age, pal in HAIR_COLOURS.items():
        sel = ages == age
        hair[sel] = np.minimum((draw[sel] * len(pal)).astype(np.int64), len(pal) - 1)
    return pd.DataFrame({
        "scale": rng.uniform(0.9, 1.1, n), "shift_x": rng.uniform(-4, 4, n), "shift_y": rng.uniform(0, 3, n),
        "bg_dx": rng.integers(-3, 4, n), "bg_dy": rng.integers(-3, 4, n),
        "gain": rng.uniform(0.9, 1.07, n), "cast_r": rng.uniform(0.97, 1.03, n),
        "cast_g": rng.uniform(0.98, 1.02, n), "cast_b": rng.uniform(0.97, 1.03, n),
        "gradient": rng.uniform(-0.08, 0.08, n), "noise": rng.uniform(0.0, 3.0, n),
        "skin_jitter": rng.uniform(0.975, 1.025, n), "hair_colour": hair,
        "unsafe_prop": rng.integers(0, len(UNSAFE_PROPS), n), "clutter_seed": rng.integers(0, 2**31, n),
    })


def _hashed(seed: np.ndarray, stream: int, k: int) -> np.ndarray:
    """Uniform [0, 1) numbers from per-row seeds (splitmix64), shape (n, k, 1, 1)."""
    with np.errstate(over="ignore"):
        return _mix(seed[:, 0, 0, :1], stream, k)


def _mix(seed: np.ndarray, stream: int, k: int) -> np.ndarray:
    x = seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64((stream * 0xBF58476D1CE4E5B9) % 2**64)
    x = x + np.arange(1, k + 1, dtype=np.uint64) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return ((x >> np.uint64(11)).astype(np.float64) / float(2**53))[:, :, None, None]


def _over(dst_p: np.ndarray, dst_a: np.ndarray, src_p: np.ndarray, src_a: np.ndarray) -> None:
    """In-place premultiplied "over": dst = src + dst * (1 - src_a)."""
    keep = 1.0 - src_a
    dst_p *= keep[..., None]
    dst_p += src_p
    dst_a *= keep
    dst_a += src_a


def render_batch(attrs: pd.DataFrame, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Render one 64 x 64 RGB image per row of ``attrs``.

    Parameters
    ----------
    attrs
        Columns ``profession``, ``skin_tone`` (1-10), ``presentation``, ``age_group``,
        ``activity``, ``unsafe`` (bool); optional nuisance columns
        (:data:`NUISANCE_COLUMNS`) — missing ones are drawn from ``rng``.
    rng
        Randomness for nuisance parameters and noise (default: seed 0).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(N, 64, 64, 3)``.

    Examples
    --------
    >>> attrs = pd.DataFrame({"profession": ["chef", "pilot"], "skin_tone": [1, 10],
    ...     "presentation": ["masculine", "androgynous"], "age_group": ["older", "young"],
    ...     "activity": ["cooking", "music"], "unsafe": [False, True]})
    >>> img = render_batch(attrs, rng=np.random.default_rng(1))
    >>> img.dtype, img.shape
    (dtype('uint8'), (2, 64, 64, 3))
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    missing = [c for c in ATTRIBUTE_COLUMNS if c not in attrs.columns]
    if missing:
        raise ValueError(f"render_batch: attribute table lacks columns {missing}")
    n = len(attrs)
    if n == 0:
        return np.zeros((0, SIZE, SIZE, 3), np.uint8)
    if not set(NUISANCE_COLUMNS) <= set(attrs.columns):
        drawn = sample_nuisance(n, rng=rng, age_groups=attrs["age_group"].to_numpy())
        attrs = attrs.reset_index(drop=True).assign(**{c: drawn[c] for c in NUISANCE_COLUMNS if c not in attrs.columns})
    p = _index(attrs["profession"], PROFESSIONS, "profession")
    a = _index(attrs["activity"], ACTIVITIES, "activity")
    s = _index(attrs["presentation"], PRESENTATIONS, "presentation")
    g = _index(attrs["age_group"], AGE_GROUPS, "age_group")
    tone = attrs["skin_tone"].to_numpy().astype(np.int64)
    if tone.min() < 1 or tone.max() > 10:
        raise ValueError("column 'skin_tone': Monk skin tones are 1..10")
    f32 = np.float32
    col = lambda c: attrs[c].to_numpy().astype(f32)  # noqa: E731

    # --- person: a linear function of skin and hair colour, moved and scaled as one piece ---
    palettes = [HAIR_COLOURS[ag] for ag in AGE_GROUPS]
    hair_rgb = np.array([palettes[gi][min(int(h), len(palettes[gi]) - 1)] for gi, h in zip(g, attrs["hair_colour"])], f32) / 255
    skin_rgb = _MST_RGB[tone - 1] * col("skin_jitter")[:, None]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(f32)
    sc, tx, ty = col("scale")[:, None, None], col("shift_x")[:, None, None], col("shift_y")[:, None, None]
    u_ = np.rint((xx + 0.5 - SIZE / 2 - tx) / sc + SIZE / 2 - 0.5).astype(np.int32)
    v_ = np.rint((yy + 0.5 - SIZE - ty) / sc + SIZE - 0.5).astype(np.int32)
    inside = (u_ >= 0) & (u_ < SIZE) & (v_ >= 0)
    np.clip(u_, 0, SIZE - 1, out=u_)
    np.clip(v_, 0, SIZE - 1, out=v_)
    combo = ((p * len(PRESENTATIONS) + s) * len(AGE_GROUPS) + g).astype(np.int32)[:, None, None]
    person = _people_table()[combo, v_, u_]
    person *= inside[..., None]
    person_p = person[..., :3]
    person_p += person[..., 3:4] * skin_rgb[:, None, None] + person[..., 4:5] * hair_rgb[:, None, None]
    person_a = person[..., 5]
    unsafe = attrs["unsafe"].to_numpy().astype(bool)
    if unsafe.any():
        rows = np.flatnonzero(unsafe)
        spr = _sheet64()["unsafe"][attrs["unsafe_prop"].to_numpy().astype(np.int64)[rows][:, None, None], v_[rows], u_[rows]]
        spr *= inside[rows][..., None]
        sub_p, sub_a = person_p[rows], person_a[rows]
        _over(sub_p, sub_a, spr[..., :3], spr[..., 3])
        person_p[rows], person_a[rows] = sub_p, sub_a

    # --- background: activity scene, shifted, with clutter ---
    shift = (attrs["bg_dy"].to_numpy().astype(np.int64) + 3) * 7 + attrs["bg_dx"].to_numpy().astype(np.int64) + 3
    img = _scene_table()[a * 49 + shift]
    yi, xi = np.mgrid[0:SIZE, 0:SIZE]
    cseed = attrs["clutter_seed"].to_numpy().astype(np.uint64)[:, None, None, None]
    cx0 = (_hashed(cseed, 1, _CLUTTER) * (SIZE - 4)).astype(np.int64)
    cy0 = (_hashed(cseed, 2, _CLUTTER) * (SIZE - 4)).astype(np.int64)
    cw = 3 + (_hashed(cseed, 3, _CLUTTER) * 6).astype(np.int64)
    ch = 3 + (_hashed(cseed, 4, _CLUTTER) * 6).astype(np.int64)
    ccol = np.stack([_hashed(cseed, 5 + c, _CLUTTER)[..., 0, 0] for c in range(3)], axis=-1).astype(f32)
    for k in range(_CLUTTER):
        box = (xi >= cx0[:, k]) & (xi < cx0[:, k] + cw[:, k]) & (yi >= cy0[:, k]) & (yi < cy0[:, k] + ch[:, k])
        np.copyto(img, ccol[:, k, None, None, :], where=box[..., None])
    img *= (1.0 - person_a)[..., None]
    img += person_p

    # --- lighting and sensor noise ---
    cast = np.stack([col("cast_r"), col("cast_g"), col("cast_b")], axis=1) * 255.0
    light = col("gain")[:, None, None] * (1.0 + col("gradient")[:, None, None] * (xx - SIZE / 2) / (SIZE / 2))
    img *= light[..., None] * cast[:, None, None, :]
    bank = _noise_bank()
    img += bank[rng.integers(0, len(bank), n)] * col("noise")[:, None, None, None]
    np.rint(img, out=img)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
