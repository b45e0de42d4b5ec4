"""Read-only views of the results table, shared by the report, the demo and the CLI summaries.

Every function here reshapes or selects rows of a results table; none computes
a metric. So the report's tables, the demo's headline and the CLI lines show
the numbers the table holds.

Examples
--------
>>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
...     "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
...     "estimate": [0.1, -0.7], "lo": [0.0, -0.9], "hi": [0.2, -0.5], "n": 4, "total": 4, "method": "m",
...     "corrected": False, "note": ""})
>>> top_gaps(t, k=1).concept.tolist()
['b']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.results import columns as C

__all__ = ["cut_rows", "by_group", "by_concept", "gaps", "headline", "top_gaps", "cuts", "summary_lines"]


def cut_rows(table: pd.DataFrame, *, setting: str, slot: str, labeler: str, attribute: str) -> pd.DataFrame:
    """The rows of one (setting, slot, labeler, attribute) cut."""
    return table[(table.setting == setting) & (table.slot == slot) & (table.labeler == labeler)
                 & (table.attribute == attribute)]


def cuts(table: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``setting, slot, labeler, attribute`` of the table (summary rows with ``*`` left out)."""
    keys = ["setting", "slot", "labeler", "attribute"]
    t = table[(table.setting != C.ANY) & (table.labeler != C.ANY)]
    return t[keys].drop_duplicates().reset_index(drop=True)


def _wide(rows: pd.DataFrame, metrics: dict[str, str], index: list[str]) -> pd.DataFrame:
    parts = []
    for metric, name in metrics.items():
        for corrected in (False, True):
            sub = rows[(rows.metric == metric) & (rows.corrected == corrected)]
            if sub.empty:
                continue
            suffix = "_corrected" if corrected else ""
            cols = {"estimate": f"{name}{suffix}", "lo": f"{name}{suffix}_lo", "hi": f"{name}{suffix}_hi"}
            if metric == C.REFERENCE_SHARE:
                cols = {"estimate": f"{name}{suffix}"}
            parts.append(sub.set_index(index)[list(cols)].rename(columns=cols))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame()


def by_group(rows: pd.DataFrame, *, concept: str = "concept", attribute: str = "value") -> pd.DataFrame:
    """Per (concept, value): ``n, proportion(_lo/_hi), npmi(_lo/_hi)``, ``proportion_ref``, ``reference_gap(_lo/_hi)``
    and ``*_corrected`` twins, indexed by ``(concept, attribute)`` (names as given)."""
    out = _wide(rows, {C.PROPORTION: "proportion", C.NPMI: "npmi", C.REFERENCE_SHARE: "proportion_ref",
                       C.REFERENCE_GAP: "reference_gap"}, ["concept", "value"])
    if out.empty:
        return out
    n = rows[(rows.metric == C.PROPORTION) & ~rows.corrected].set_index(["concept", "value"])["n"]
    out.insert(0, "n", n.reindex(out.index))
    out.index = out.index.set_names([concept, attribute])
    return out


def by_concept(rows: pd.DataFrame, *, concept: str = "concept") -> pd.DataFrame:
    """Per concept: ``n``, deviation from uniform, normalized entropy, non-answer share (with intervals)."""
    out = _wide(rows, {C.MAD: C.MAD, C.ENTROPY: C.ENTROPY, C.NON_ANSWER_SHARE: C.NON_ANSWER_SHARE}, ["concept"])
    if out.empty:
        return out
    n = rows[rows.metric.isin([C.MAD, C.ENTROPY]) & ~rows.corrected].drop_duplicates("concept")
    out.insert(0, "n", n.set_index("concept")["n"].reindex(out.index))
    out.index = out.index.set_names(concept)
    return out


def gaps(rows: pd.DataFrame, *, concept: str = "concept", corrected: bool = False) -> pd.DataFrame:
    """nPMI gap rows of a cut: ``concept, groups, gap, lo, hi, n, note``."""
    g = rows[(rows.metric == C.NPMI_GAP) & (rows.corrected == corrected)]
    return g.rename(columns={"concept": concept, "value": "groups", "estimate": "gap"})[
        [concept, "groups", "gap", "lo", "hi", "n", "note"]].reset_index(drop=True)


def headline(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that summarise a cut over concepts (``concept == "*"``): ``metric, estimate, lo, hi, corrected``."""
    h = rows[rows.concept == C.ANY]
    return h[["metric", "estimate", "lo", "hi", "n", "method", "corrected", "note"]].reset_index(drop=True)


def top_gaps(table: pd.DataFrame, *, k: int = 3, slot: str | None = None, setting: str | None = None) -> pd.DataFrame:
    """The ``k`` observed nPMI gaps of largest magnitude (raw labels), largest first.

    Parameters
    ----------
    table : pandas.DataFrame
        A results table.
    k : int
    slot, setting : str, optional
        Keep only this slot / setting.
    """
    g = table[(table.metric == C.NPMI_GAP) & ~table.corrected & np.isfinite(table.estimate)]
    if slot is not None:
        g = g[g.slot == slot]
    if setting is not None:
        g = g[g.setting == setting]
    order = g.estimate.abs().sort_values(ascending=False, kind="stable").index
    return g.loc[order[:k]].reset_index(drop=True)


def summary_lines(table: pd.DataFrame) -> list[str]:
    """One line per (setting, labeler, slot, reference attribute/value): mean |observed - reference| share.

    Examples
    --------
    >>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
    ...     "attribute": "presentation", "value": "feminine", "metric": "reference_gap",
    ...     "estimate": [0.1, -0.3], "corrected": False})
    >>> summary_lines(t)
    ['  default w: mean |observed - reference| % presentation=feminine per job: 20.0 points (2 values)']
    """
    g = table[(table.metric == C.REFERENCE_GAP) & ~table.corrected & np.isfinite(table.estimate)]
    lines = []
    for (setting, labeler, slot, attribute, value), sub in g.groupby(
            ["setting", "labeler", "slot", "attribute", "value"], sort=True):
        lines.append(f"  {setting} {labeler}: mean |observed - reference| % {attribute}={value} per {slot}: "
                     f"{100 * sub.estimate.abs().mean():.1f} points ({len(sub)} values)")
    return lines
