"""A labeler's measured accuracy per group, read from its labeler card (``card.json``).

The world labeler ships a card (``data/weights/world-labeler/card.json``) with
confusion matrices measured on held-out renders: ``clean`` renders and
``augmented`` ones (diffusion-like artifacts, closer to generated images). The
accuracy for a group is the labeler's *recall* on it: of the held-out images
whose true value is the group, the share labelled as that group, with the number
of such images. ``skin_group`` is read from the ``skin_tone`` matrix with the
labeler's tone -> group map. Labelers without a card have no measured accuracy:
the report says so instead of showing a number.

Examples
--------
>>> card = {"augmented": {"confusion": {"presentation": {"classes": ["feminine", "masculine"],
...         "matrix": [[98, 2], [10, 90]]}}}}
>>> group_accuracy(card, "presentation", "masculine")
{'accuracy': 0.9, 'n': 100, 'split': 'augmented'}
>>> group_accuracy(card, "age_group", "older") is None
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SPLIT", "load_cards", "group_accuracy", "accuracy_table", "card_source"]

#: The card split used: held-out renders with diffusion-like artifacts (closer to generated images than clean ones).
SPLIT = "augmented"


def _shipped() -> dict[str, Path]:
    from audit.resources import data_path

    return {"world": Path(data_path("weights", "world-labeler")) / "card.json"}


def card_source(labeler: str, cards: Mapping | None = None) -> str | None:
    """Where a labeler's card was read from (a path), or None."""
    if cards is not None and labeler in cards:
        c = cards[labeler]
        return str(c) if isinstance(c, (str, Path)) else "given card"
    path = _shipped().get(labeler)
    return str(path) if path is not None and path.is_file() else None


def load_cards(labelers, cards: Mapping | None = None) -> dict[str, dict]:
    """Cards of the given labeler names: ``{name: card dict}`` (labelers without a card are left out).

    Parameters
    ----------
    labelers : iterable of str
        Labeler names as in the results table's ``labeler`` column.
    cards : mapping name -> dict or path, optional
        Cards to use instead of the shipped ones (e.g. a retrained world labeler's ``card.json``).

    Examples
    --------
    >>> sorted(load_cards(["world", "ita"]))
    ['world']
    """
    out: dict[str, dict] = {}
    shipped = _shipped()
    for name in dict.fromkeys(str(n) for n in labelers):
        src = (cards or {}).get(name, shipped.get(name))
        if src is None:
            continue
        if isinstance(src, Mapping):
            out[name] = dict(src)
            continue
        path = Path(src)
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
    return out


def _matrix(card: Mapping, attribute: str, split: str) -> tuple[list[str], np.ndarray] | None:
    conf = (card.get(split) or {}).get("confusion") or {}
    if attribute == "skin_group" and "skin_tone" in conf:
        from audit.labelers.world import skin_group_of

        raw = conf["skin_tone"]
        names = ["light", "medium", "dark"]
        member = np.array([[skin_group_of(t) == g for g in names] for t in raw["classes"]], dtype=float)
        return names, member.T @ np.asarray(raw["matrix"], dtype=float) @ member
    raw = conf.get(attribute)
    if not raw:
        return None
    return [str(c) for c in raw["classes"]], np.asarray(raw["matrix"], dtype=float)


def group_accuracy(card: Mapping | None, attribute: str, value: str, *, split: str = SPLIT) -> dict | None:
    """``{accuracy, n, split}``: recall of ``value`` on the card's held-out images, or None if not measured."""
    if not card:
        return None
    got = _matrix(card, attribute, split)
    if got is None:
        return None
    names, m = got
    if str(value) not in names:
        return None
    i = names.index(str(value))
    n = float(m[i].sum())
    if n <= 0:
        return None
    return {"accuracy": float(m[i, i] / n), "n": int(round(n)), "split": split}


def accuracy_table(cards: Mapping[str, Mapping], *, attributes: Mapping[str, list[str]] | None = None,
                   split: str = SPLIT) -> pd.DataFrame:
    """Per labeler, attribute and group: measured accuracy (recall) and held-out images behind it.

    Parameters
    ----------
    cards : mapping name -> card
        From :func:`load_cards`.
    attributes : mapping attribute -> values, optional
        Only these (default: every attribute with a confusion matrix in the card, plus ``skin_group``).

    Returns
    -------
    pandas.DataFrame
        ``labeler, attribute, group, accuracy, n, split``.

    Examples
    --------
    >>> card = {"augmented": {"confusion": {"unsafe": {"classes": ["false", "true"], "matrix": [[9, 1], [0, 5]]}}}}
    >>> accuracy_table({"w": card}).accuracy.tolist()
    [0.9, 1.0]
    """
    rows = []
    for labeler, card in cards.items():
        conf = (card.get(split) or {}).get("confusion") or {}
        wanted = dict(attributes) if attributes is not None else {
            a: None for a in [*conf, *(["skin_group"] if "skin_tone" in conf else [])]}
        for attribute, values in wanted.items():
            got = _matrix(card, attribute, split)
            if got is None:
                continue
            for value in values or got[0]:
                acc = group_accuracy(card, attribute, value, split=split)
                if acc is not None:
                    rows.append({"labeler": labeler, "attribute": attribute, "group": str(value), **acc})
    return pd.DataFrame(rows, columns=["labeler", "attribute", "group", "accuracy", "n", "split"])
