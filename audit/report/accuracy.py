"""The labelers' part of the report: measured accuracy per group, read from each labeler card (``card.json``).

:func:`labeler_section` shows, per labeler, its accuracy per group, its non-answers per
attribute and (:func:`labeler_card_section`) what it labelled, the confusion matrices used to
correct and the :data:`CAVEATS`; :func:`audit.report.findings.top_findings` gives each finding
the accuracy of its groups (:func:`group_accuracy`).

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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit.report.blocks import ReportSection, Table, Text, pct
from audit.results import columns as C

__all__ = ["SPLIT", "CAVEATS", "load_cards", "group_accuracy", "accuracy_table", "card_source", "labeler_section",
           "labeler_card_section"]

#: Caveats printed on every labeler card.
CAVEATS = (
    "Presentation labels describe how a person is drawn, not anyone's gender identity.",
    "Skin tone is estimated from rendered pixels on the Monk scale and is sensitive to lighting and style.",
    "Intervals are cluster intervals over prompts (the method is named beside each number): images of one prompt "
    "are not independent.",
    "Raw numbers carry the labelers' errors; corrected columns assume the confusion matrix measured on validation "
    "renders also holds for these images.",
    "nPMI of a pair never observed is undefined: it is shown blank and marked 'not observed', not as -1.",
)
#: The card split used: held-out renders with diffusion-like artifacts (closer to generated images than clean ones).
SPLIT = "augmented"


def _shipped() -> dict[str, Path]:
    """The shipped card of each labeler that has one (in the labeler's default weights folder)."""
    from audit.labelers.world import DEFAULT_DIR

    return {"world": Path(DEFAULT_DIR) / "card.json"}


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


def labeler_section(table: pd.DataFrame, *, labels: pd.DataFrame | None = None, cards: Mapping | None = None,
                    confusions: Mapping[str, pd.DataFrame] | None = None) -> ReportSection:
    """The labelers: measured accuracy per group (from each labeler card), non-answer shares per attribute and,
    given the run's ``labels``, the labeler card of :func:`labeler_card_section` (its tables collapsed)."""
    raw = table[~table.corrected.astype(bool) & (table.labeler != C.ANY)]
    labelers = sorted(raw.labeler.unique())
    loaded = load_cards(labelers, cards) if cards is None or cards else {}
    blocks: list = []
    attrs = {a: sorted(set(raw.loc[(raw.attribute == a) & (raw.metric == C.PROPORTION), "value"]))
             for a in raw.attribute.unique()}
    acc = accuracy_table(loaded, attributes=attrs)
    for lab in labelers:
        src = card_source(lab, cards) if lab in loaded else None
        if src is None:
            blocks.append(Text(f"Labeler {lab}: no labeler card, so its accuracy is not measured. Treat its shares "
                               "as readings of an instrument of unknown error.", kind="caveat"))
        else:
            blocks.append(Text(f"Labeler {lab}: accuracy per group read from its card ({src}), measured on "
                               f"held-out renders of the synthetic world ({SPLIT} split: with diffusion-like "
                               "artifacts). Accuracy = share of held-out images of that group labelled as it "
                               "(recall); images far from the training renders may be read less well."))
    if len(acc):
        wide = acc.assign(accuracy=acc.accuracy.map(pct)).rename(columns={"n": "held-out images"})
        blocks.append(Table("labeler accuracy", wide.drop(columns="split"),
                            caption="Measured accuracy per group (recall on held-out renders)", max_rows=60))
    non = raw[(raw.metric == C.NON_ANSWER_SHARE) & (raw.slot == C.ANY)]
    overall = raw[(raw.metric == C.PROPORTION) & (raw.slot == C.ANY)].groupby(
        ["setting", "labeler", "attribute"]).total.max().rename("answered").reset_index()
    if len(overall):
        shares = non.groupby(["setting", "labeler", "attribute"]).agg(no_answer=("n", "sum"), images=("total", "sum"))
        out = overall.merge(shares.reset_index(), on=["setting", "labeler", "attribute"], how="left")
        out["no_answer"] = out["no_answer"].fillna(0).astype(int)
        out["images"] = out["images"].fillna(out["answered"]).astype(int)
        out["no-answer share"] = (out["no_answer"] / out["images"].replace(0, np.nan)).map(pct)
        if out.setting.nunique() == 1:
            out = out.drop(columns="setting")
        blocks.append(Table("non-answers", out, caption="Images per attribute the labeler gave no answer for "
                            f"({', '.join(C.NON_ANSWERS)}); left out of every share", max_rows=60))
    sec = ReportSection("Labelers: accuracy and non-answers", blocks, key="labelers")
    sec.results["accuracy"] = acc.to_dict("records")
    if labels is not None:
        card = labeler_card_section(labels, confusions=confusions)
        sec.blocks += [b for b in card.blocks if not isinstance(b, Table)] + [
            Table(b.name, b.frame, caption=b.caption, collapsed=True) for b in card.blocks if isinstance(b, Table)]
        sec.results.update(card.results)
    return sec


def labeler_card_section(
    labels: pd.DataFrame, *, confusions: Mapping[str, pd.DataFrame] | None = None, caveats: Sequence[str] = CAVEATS
) -> ReportSection:
    """Who labelled what: rows, values, explicit non-answers, mean confidence; confusion matrices; caveats.

    Examples
    --------
    >>> lab = pd.DataFrame({"image_id": ["a", "b"], "labeler": "w", "attribute": "presentation",
    ...                     "value": ["feminine", "no_face"], "confidence": [0.9, float("nan")]})
    >>> labeler_card_section(lab).results["labelers"][0]["non_answer_share"]
    0.5
    """
    g = labels.assign(non_answer=labels["value"].astype(str).isin(C.NON_ANSWERS))
    card = (
        g.groupby(["labeler", "attribute"], sort=True)
        .agg(rows=("value", "size"), values=("value", "nunique"), non_answer_share=("non_answer", "mean"),
             mean_confidence=("confidence", "mean"))
        .reset_index()
    )
    sec = ReportSection("Labeler card and caveats", [Table("labelers", card, caption="Labelers")], key="labelers")
    from audit.metrics import confusion_is_counts

    for attribute, conf in (confusions or {}).items():
        # Shown only: corrected numbers come from the results table (AuditFrame), which resamples counts.
        how = ("validation counts: their sampling uncertainty is carried into the corrected intervals"
               if confusion_is_counts(conf) else
               "shares: taken as exact, so the corrected intervals leave out the matrix's own uncertainty")
        sec.blocks.append(Table(f"confusion-{attribute}", conf.reset_index().rename(columns={"index": "true"}),
                                caption=f"Confusion matrix C[true, predicted] used to correct {attribute} ({how})"))
    sec.blocks += [Text(c, kind="caveat") for c in caveats]
    sec.results["labelers"] = card.to_dict("records")
    return sec
