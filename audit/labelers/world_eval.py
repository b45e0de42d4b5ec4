"""The world labeler's card: held-out accuracy per head, per skin group and per presentation.

:func:`evaluate` measures a model on held-out renders (clean, or with the
diffusion-like augmentations of :func:`audit.labelers.world_pool.augment`);
:func:`card_markdown` renders the card. Every per-group figure carries its
``n`` and a 95% Wilson interval, and the card states each head's largest gap
between skin groups and between presentation groups (the fairness target: at
most 3 points).

Examples
--------
>>> from audit.labelers.world_pool import render_pool
>>> from audit.labelers.world import build_model
>>> imgs, attrs = render_pool(16, seed=1, progress=False)
>>> r = evaluate(build_model(width=8), imgs, attrs)
>>> sorted(r["max_gap"])
['presentation', 'skin_group']
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from audit.labelers.world import HEADS, skin_group_of

__all__ = ["evaluate", "card_markdown", "wilson", "targets", "GROUPINGS"]

#: Group columns of the card: name -> (grouping, values).
GROUPINGS: dict[str, tuple[str, ...]] = {"skin_group": ("light", "medium", "dark"),
                                         "presentation": HEADS["presentation"]}


def targets(attrs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Class indices per head for an attribute table.

    Examples
    --------
    >>> from audit.labelers.world_pool import balanced_attributes
    >>> targets(balanced_attributes(2, rng=np.random.default_rng(0)))["unsafe"].dtype
    dtype('int64')
    """
    out = {}
    for k, classes in HEADS.items():
        col = attrs[k]
        values = col.astype(str).str.lower() if k == "unsafe" else col.astype(str)
        lookup = {c: i for i, c in enumerate(classes)}
        out[k] = np.array([lookup[v] for v in values], dtype=np.int64)
    return out


def wilson(hits: int, n: int, *, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion.

    Examples
    --------
    >>> [round(v, 3) for v in wilson(95, 100)]
    [0.888, 0.978]
    """
    if n == 0:
        return (math.nan, math.nan)
    p = hits / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def _predict(model, images: np.ndarray, *, augmented: bool, seed: int, batch_size: int, device: str) -> dict:
    import torch

    from audit.labelers.world_pool import augment, to_tensor

    g = torch.Generator().manual_seed(seed)  # CPU generator: the same augmented set on every device
    preds: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = to_tensor(images[i:i + batch_size])
            if augmented:
                x = augment(x, generator=g, p=1.0)
            for k, v in model(x.to(device)).items():
                preds[k].append(v.argmax(1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in preds.items()}


def evaluate(model, images: np.ndarray, attrs: pd.DataFrame, *, augmented: bool = False, seed: int = 0,
             batch_size: int = 512, device: str = "cpu") -> dict[str, Any]:
    """Accuracy per head overall, per skin group and per presentation; MST +-1; confusion matrices.

    Parameters
    ----------
    model
        The world CNN (:func:`audit.labelers.world.build_model`), on ``device``.
    images, attrs
        Held-out renders ``(N, 64, 64, 3)`` uint8 and their attributes.
    augmented
        Apply the diffusion-like augmentations (always, with a CPU generator seeded
        by ``seed``, so the figures do not depend on the device).

    Returns
    -------
    dict
        ``accuracy``, ``by_skin_group`` / ``by_presentation`` (head -> group ->
        accuracy), ``interval`` (same nest, 95% Wilson), ``n_by_group``,
        ``max_gap`` (grouping -> head -> largest accuracy difference),
        ``max_skin_group_gap`` (the skin-group part, as earlier cards had),
        ``confusion``, ``skin_tone_within_1`` (+ by group).

    Examples
    --------
    >>> from audit.labelers.world_pool import render_pool
    >>> from audit.labelers.world import build_model
    >>> imgs, attrs = render_pool(16, seed=1, progress=False)
    >>> 0 <= evaluate(build_model(width=8), imgs, attrs)["accuracy"]["profession"] <= 1
    True
    """
    pred = _predict(model, images, augmented=augmented, seed=seed, batch_size=batch_size, device=device)
    true = targets(attrs)
    cols = {"skin_group": np.array([skin_group_of(t) for t in attrs["skin_tone"]]),
            "presentation": attrs["presentation"].astype(str).to_numpy()}
    res: dict[str, Any] = {"n": int(len(images)), "augmented": augmented, "accuracy": {}, "by_skin_group": {},
                           "by_presentation": {}, "interval": {"by_skin_group": {}, "by_presentation": {}},
                           "n_by_group": {g: {v: int((cols[g] == v).sum()) for v in vals} for g, vals in GROUPINGS.items()},
                           "confusion": {}}
    for k in HEADS:
        hit = pred[k] == true[k]
        res["accuracy"][k] = float(hit.mean())
        for g, vals in GROUPINGS.items():
            res[f"by_{g}"][k] = {v: float(hit[cols[g] == v].mean()) for v in vals}
            res["interval"][f"by_{g}"][k] = {v: list(wilson(int(hit[cols[g] == v].sum()), int((cols[g] == v).sum())))
                                             for v in vals}
        cm = np.zeros((len(HEADS[k]), len(HEADS[k])), np.int64)
        np.add.at(cm, (true[k], pred[k]), 1)
        res["confusion"][k] = {"classes": list(HEADS[k]), "matrix": cm.tolist()}
    diff = np.abs(pred["skin_tone"] - true["skin_tone"])
    groups = cols["skin_group"]
    res["skin_tone_within_1"] = float((diff <= 1).mean())
    res["skin_tone_within_1_by_group"] = {v: float((diff[groups == v] <= 1).mean()) for v in GROUPINGS["skin_group"]}
    gp = np.array([skin_group_of(t + 1) for t in pred["skin_tone"]])
    gp_hit = gp == groups
    res["accuracy"]["skin_group"] = float(gp_hit.mean())
    for g, vals in GROUPINGS.items():
        res[f"by_{g}"]["skin_group"] = {v: float(gp_hit[cols[g] == v].mean()) for v in vals}
    res["max_gap"] = {g: {k: float(max(v.values()) - min(v.values())) for k, v in res[f"by_{g}"].items()}
                      for g in GROUPINGS}
    res["max_skin_group_gap"] = res["max_gap"]["skin_group"]
    return res


def _table(r: dict, grouping: str) -> list[str]:
    vals = GROUPINGS[grouping]
    ns = r.get("n_by_group", {}).get(grouping, {})
    head = " | ".join(f"{v} (n={ns[v]})" if v in ns else v for v in vals)
    lines = [f"| head | accuracy | {head} | max gap |", "|---" * (len(vals) + 3) + "|"]
    for k, acc in r["accuracy"].items():
        by = r[f"by_{grouping}"].get(k, {})
        gap = r.get("max_gap", {}).get(grouping, {}).get(k)
        if gap is None and grouping == "skin_group":
            gap = r.get("max_skin_group_gap", {}).get(k)
        cells = [f"{by[v]:.3f}" if v in by else "" for v in vals]
        lines.append(f"| {k} | {acc:.3f} | " + " | ".join(cells) + f" | {'' if gap is None else f'{gap:.3f}'} |")
    return lines


def card_markdown(card: dict) -> str:
    """Render the labeler card as Markdown.

    Examples
    --------
    >>> card_markdown({"clean": {"n": 1, "accuracy": {"profession": 1.0}, "skin_tone_within_1": 1.0,
    ...   "by_skin_group": {}, "by_presentation": {}, "max_skin_group_gap": {}}, "augmented": None,
    ...   "training": {}}).startswith("# World labeler card")
    True
    """
    lines = ["# World labeler card", "",
             "A CNN trained on balanced world renders (attributes drawn independently) with diffusion-like "
             "augmentations and hard-case oversampling. Accuracy on held-out renders from a fresh seed; "
             "`skin_group` is the group of the most likely Monk tone.", ""]
    for name in ("clean", "augmented"):
        r = card.get(name)
        if not r:
            continue
        lines += [f"## {name} held-out renders (n = {r['n']})", "", "By skin group:", ""]
        lines += _table(r, "skin_group")
        lines += ["", f"Monk skin tone within +-1: {r['skin_tone_within_1']:.3f}", ""]
        if r["by_presentation"]:
            lines += ["By presentation:", ""] + _table(r, "presentation") + [""]
    limits = card.get("limits")
    if limits:
        lines += ["## Limits of the renderer", "", limits.get("text", ""), ""]
    t = card.get("training", {})
    if t:
        lines += ["## Training", "", "```", json.dumps(t, indent=2), "```", ""]
    return "\n".join(lines)
