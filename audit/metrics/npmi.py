"""Normalized pointwise mutual information (Aka et al. 2021), gaps and rankings.

nPMI(x, y) = ln[p(x, y) / (p(x) p(y))] / -ln p(x, y), in [-1, 1]. A pair that
never co-occurs (zero count) gets -1; a pair that is the whole table gets 1; a
concept or attribute absent from the table gets NaN.

The plug-in -1 of an empty cell says "never seen in this sample", not "the
association is as negative as it can be", and with a few dozen images per
concept it dominates gaps. ``prior`` states a different estimator: nPMI of the
table with ``prior`` added to every cell of the concepts and values that were
observed (``prior=0.5``, the Jeffreys Dirichlet prior, is what
:class:`~audit.metrics.AuditFrame` reports by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.counts import contingency

__all__ = ["npmi_array", "npmi", "npmi_gaps", "gap_array", "most_skewed"]


def npmi_array(n: np.ndarray, *, prior: float = 0.0) -> np.ndarray:
    """nPMI of every cell of count arrays ``n[..., X, Y]`` (leading axes are batches).

    Parameters
    ----------
    n : numpy.ndarray
        Non-negative counts, shape ``(..., X, Y)``.
    prior : float, default 0
        Pseudo-count added to every cell whose row and column are non-empty
        (0: the plug-in estimate, -1 for empty cells; 0.5: Jeffreys smoothing).

    Returns
    -------
    numpy.ndarray
        Same shape, values in [-1, 1] (NaN where the row or column is empty).

    Examples
    --------
    >>> npmi_array(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    >>> np.round(npmi_array(np.array([[1.0, 0.0], [0.0, 1.0]]), prior=0.5), 3).tolist()
    [[0.413, -0.333], [-0.333, 0.413]]
    """
    n = np.asarray(n, dtype=float)
    if prior:
        keep = (n.sum(axis=-1, keepdims=True) > 0) & (n.sum(axis=-2, keepdims=True) > 0)
        n = n + np.where(keep, float(prior), 0.0)
    total = n.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = np.log(total)
        log_xy = np.log(n) - log_t
        log_x = np.log(n.sum(axis=-1, keepdims=True)) - log_t
        log_y = np.log(n.sum(axis=-2, keepdims=True)) - log_t
        out = (log_xy - log_x - log_y) / -log_xy
    out = np.where(n <= 0, -1.0, out)
    out = np.where(log_xy == 0.0, 1.0, out)  # p(x, y) = 1: the pair is the whole table
    empty = (n.sum(axis=-1, keepdims=True) <= 0) | (n.sum(axis=-2, keepdims=True) <= 0)
    return np.where(empty, np.nan, np.clip(out, -1.0, 1.0))


def npmi(counts: pd.DataFrame, *, concept: str, attribute: str, prior: float = 0.0) -> pd.DataFrame:
    """nPMI for every (concept, attribute) pair of a counts table.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``[concept, attribute, n]`` from :func:`~audit.metrics.count_pairs`
        (or merged per-shard counts).
    concept, attribute : str
        Key column names.
    prior : float, default 0
        Pseudo-count per cell (see :func:`npmi_array`).

    Returns
    -------
    pandas.DataFrame
        ``[concept, attribute, n, npmi]``: the full grid, unseen pairs with ``n = 0``.

    Examples
    --------
    >>> c = pd.DataFrame({"job": ["ceo", "ceo", "nurse"], "g": ["m", "f", "f"], "n": [3, 1, 4]})
    >>> npmi(c, concept="job", attribute="g").round(3)
         job  g    n   npmi
    0    ceo  f  1.0 -0.441
    1    ceo  m  3.0  0.707
    2  nurse  f  4.0  0.678
    3  nurse  m  0.0 -1.000
    """
    t = contingency(counts, concept=concept, attribute=attribute)
    out = t.to_long(t.n, concept=concept, attribute=attribute, name="n")
    out["npmi"] = npmi_array(t.n, prior=prior).reshape(-1)
    return out


def gap_array(values: np.ndarray, attributes: Sequence[str], groups: tuple[str, str]) -> np.ndarray:
    """``values[..., :, a] - values[..., :, b]`` for the two named attribute groups.

    Examples
    --------
    >>> gap_array(np.array([[0.5, -0.2]]), ("f", "m"), ("f", "m")).tolist()
    [0.7]
    """
    idx = []
    for g in groups:
        if g not in attributes:
            raise UserError(f"npmi_gaps: group {g!r} not among attribute values {list(attributes)} (fix: pass groups=...)")
        idx.append(list(attributes).index(g))
    return values[..., idx[0]] - values[..., idx[1]]


def npmi_gaps(
    counts: pd.DataFrame,
    *,
    concept: str,
    attribute: str,
    groups: tuple[str, str] = ("feminine", "masculine"),
    prior: float = 0.0,
) -> pd.DataFrame:
    """nPMI gap between two attribute groups for every concept.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``[concept, attribute, n]``.
    concept, attribute : str
        Key column names.
    groups : (str, str), default ("feminine", "masculine")
        The gap is ``npmi(concept, groups[0]) - npmi(concept, groups[1])``.
    prior : float, default 0
        Pseudo-count per cell (see :func:`npmi_array`).

    Returns
    -------
    pandas.DataFrame
        ``[concept, "npmi_<a>", "npmi_<b>", "gap"]``, one row per concept.

    Examples
    --------
    >>> c = pd.DataFrame({"job": ["ceo", "ceo", "nurse"], "g": ["m", "f", "f"], "n": [3, 1, 4]})
    >>> npmi_gaps(c, concept="job", attribute="g", groups=("f", "m")).round(3)
         job  npmi_f  npmi_m    gap
    0    ceo  -0.441   0.707 -1.147
    1  nurse   0.678  -1.000  1.678
    """
    t = contingency(counts, concept=concept, attribute=attribute)
    v = npmi_array(t.n, prior=prior)
    gap = gap_array(v, t.attributes, groups)
    a, b = (list(t.attributes).index(g) for g in groups)
    return pd.DataFrame(
        {concept: list(t.concepts), f"npmi_{groups[0]}": v[:, a], f"npmi_{groups[1]}": v[:, b], "gap": gap}
    )


def most_skewed(gaps: pd.DataFrame, *, k: int = 10, column: str = "gap") -> pd.DataFrame:
    """The ``k`` rows of largest ``|column|`` (e.g. of :func:`npmi_gaps`), largest first.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Any table with a numeric ``column``.
    k : int, default 10
        How many rows to keep.
    column : str, default "gap"
        Column ranked by absolute value; NaN ranks last.

    Returns
    -------
    pandas.DataFrame
        The selected rows with a 1-based ``rank`` column.

    Examples
    --------
    >>> g = pd.DataFrame({"job": ["a", "b", "c"], "gap": [0.1, -0.9, 0.5]})
    >>> most_skewed(g, k=2).job.tolist()
    ['b', 'c']
    """
    if column not in gaps.columns:
        raise UserError(f"most_skewed: no column {column!r} in {list(gaps.columns)} (fix: pass column=...)")
    order = gaps[column].abs().sort_values(ascending=False, na_position="last", kind="stable").index
    out = gaps.loc[order[:k]].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
