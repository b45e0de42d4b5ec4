"""Representation: proportions per group, deviation from uniform, entropy, gaps to a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.counts import Contingency, contingency, require_columns
from audit.metrics.intervals import wilson_interval

__all__ = [
    "proportions_array",
    "mad_array",
    "entropy_array",
    "proportions",
    "representation",
    "reference_table",
    "reference_shares",
    "reference_gap",
]


def proportions_array(n: np.ndarray) -> np.ndarray:
    """``p(attribute | concept)`` of count arrays ``(..., X, Y)``; NaN for empty concepts.

    Examples
    --------
    >>> proportions_array(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist()
    [[0.25, 0.75], [nan, nan]]
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n / n.sum(axis=-1, keepdims=True)


def mad_array(n: np.ndarray) -> np.ndarray:
    """Mean absolute deviation of ``p(attribute | concept)`` from uniform, shape ``(..., X)``.

    0 means every group equally represented; the maximum, all mass on one of
    ``Y`` groups, is ``2 (Y - 1) / Y**2``.

    Examples
    --------
    >>> mad_array(np.array([[1.0, 1.0], [4.0, 0.0]])).tolist()
    [0.0, 0.5]
    """
    p = proportions_array(n)
    return np.abs(p - 1.0 / p.shape[-1]).mean(axis=-1)


def entropy_array(n: np.ndarray) -> np.ndarray:
    """Shannon entropy of ``p(attribute | concept)`` divided by ``ln Y`` (1 = uniform), shape ``(..., X)``.

    Examples
    --------
    >>> entropy_array(np.array([[1.0, 1.0], [4.0, 0.0]])).tolist()
    [1.0, 0.0]
    """
    p = proportions_array(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = 0.0 - np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1) + 0.0
    h = np.where(np.isnan(p).any(axis=-1), np.nan, h)
    return h / np.log(p.shape[-1]) if p.shape[-1] > 1 else np.zeros_like(h)


def proportions(counts: pd.DataFrame, *, concept: str, attribute: str, confidence: float = 0.95) -> pd.DataFrame:
    """Share of each attribute group within each concept, with Wilson intervals.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``[concept, attribute, n]``.
    concept, attribute : str
        Key column names.
    confidence : float, default 0.95
        Coverage of the Wilson interval (which treats images as independent;
        use :class:`~audit.metrics.AuditFrame` for cluster-bootstrap intervals).

    Returns
    -------
    pandas.DataFrame
        ``[concept, attribute, n, total, p, lo, hi, method]`` over the full grid
        (``method`` is ``wilson_iid``: images treated as independent).

    Examples
    --------
    >>> c = pd.DataFrame({"job": ["ceo", "ceo"], "g": ["f", "m"], "n": [2, 6]})
    >>> proportions(c, concept="job", attribute="g")[["g", "p"]].values.tolist()
    [['f', 0.25], ['m', 0.75]]
    """
    t = contingency(counts, concept=concept, attribute=attribute)
    total = np.broadcast_to(t.n.sum(axis=1, keepdims=True), t.n.shape)
    lo, hi = wilson_interval(t.n, total, confidence=confidence)
    out = t.to_long(t.n, concept=concept, attribute=attribute, name="n")
    out["total"] = total.reshape(-1)
    out["p"] = proportions_array(t.n).reshape(-1)
    out["lo"], out["hi"] = lo.reshape(-1), hi.reshape(-1)
    out["method"] = "wilson_iid"
    return out


def representation(counts: pd.DataFrame, *, concept: str, attribute: str) -> pd.DataFrame:
    """Per-concept summary: count, mean absolute deviation from uniform, normalized entropy.

    Examples
    --------
    >>> c = pd.DataFrame({"job": ["ceo", "ceo", "nurse"], "g": ["f", "m", "f"], "n": [1, 1, 5]})
    >>> representation(c, concept="job", attribute="g").values.tolist()
    [['ceo', 2.0, 0.0, 1.0], ['nurse', 5.0, 0.5, 0.0]]
    """
    t = contingency(counts, concept=concept, attribute=attribute)
    return pd.DataFrame(
        {
            concept: list(t.concepts),
            "n": t.n.sum(axis=1),
            "mad_from_uniform": mad_array(t.n),
            "normalized_entropy": entropy_array(t.n),
        }
    )


def reference_table(reference: pd.DataFrame, *, concept: str, attribute: str, concepts=None, attributes=None) -> Contingency:
    """A reference distribution as a :class:`Contingency`; accepts a count column ``n`` or a share column ``p``.

    With ``p`` only, the shares stand in for counts (every concept weighs 1);
    use :func:`reference_shares` to read shares without renormalising.

    Examples
    --------
    >>> ref = pd.DataFrame({"job": ["nurse", "nurse"], "g": ["f", "m"], "p": [0.87, 0.13]})
    >>> reference_table(ref, concept="job", attribute="g").n.tolist()
    [[0.87, 0.13]]
    """
    if "n" in reference.columns:
        cnt = reference[[concept, attribute, "n"]]
    elif "p" in reference.columns:
        cnt = reference[[concept, attribute, "p"]].rename(columns={"p": "n"})
    else:
        raise UserError(
            f"reference table: needs a count column 'n' or a share column 'p'; has {list(reference.columns)} "
            "(fix: add one of them)"
        )
    require_columns(reference, [concept, attribute], what="reference table")
    return contingency(cnt, concept=concept, attribute=attribute, concepts=concepts, attributes=attributes)


def reference_shares(reference: pd.DataFrame, *, concept: str, attribute: str, concepts, attributes) -> np.ndarray:
    """Reference shares ``(X, Y)`` aligned to the given labels; NaN where the reference says nothing.

    With a share column ``p`` the shares are taken as given (a reference may
    name one group only, e.g. % women); with counts ``n`` they are each
    concept's row shares (NaN for concepts it lacks).

    Examples
    --------
    >>> ref = pd.DataFrame({"job": ["nurse"], "g": ["f"], "p": [0.87]})
    >>> reference_shares(ref, concept="job", attribute="g", concepts=["nurse", "ceo"], attributes=["f", "m"]).tolist()
    [[0.87, nan], [nan, nan]]
    """
    concepts, attributes = [str(c) for c in concepts], [str(a) for a in attributes]
    if "n" in reference.columns:
        t = reference_table(reference, concept=concept, attribute=attribute, concepts=concepts, attributes=attributes)
        p = proportions_array(t.n)
        known = reference[concept].astype(str).unique()
        return np.where(np.isin(np.array(concepts), known)[:, None], p, np.nan)
    reference_table(reference.head(0), concept=concept, attribute=attribute)  # validates the columns
    out = np.full((len(concepts), len(attributes)), np.nan)
    xi = pd.Index(concepts).get_indexer(reference[concept].astype(str))
    yi = pd.Index(attributes).get_indexer(reference[attribute].astype(str))
    ok = (xi >= 0) & (yi >= 0)
    out[xi[ok], yi[ok]] = reference["p"].to_numpy(dtype=float)[ok]
    return out


def reference_gap(counts: pd.DataFrame, reference: pd.DataFrame, *, concept: str, attribute: str) -> pd.DataFrame:
    """Difference and ratio of observed shares to a reference distribution.

    Parameters
    ----------
    counts : pandas.DataFrame
        Observed ``[concept, attribute, n]``.
    reference : pandas.DataFrame
        ``[concept, attribute, p]`` (shares) or ``[concept, attribute, n]`` (counts).
    concept, attribute : str
        Key column names.

    Returns
    -------
    pandas.DataFrame
        ``[concept, attribute, p, p_ref, difference, ratio]`` for the concepts
        in both tables (``p_ref`` NaN for groups the reference does not give;
        ratio NaN when ``p_ref`` is 0).

    Examples
    --------
    >>> obs = pd.DataFrame({"job": ["nurse", "nurse"], "g": ["f", "m"], "n": [9, 1]})
    >>> ref = pd.DataFrame({"job": ["nurse", "nurse"], "g": ["f", "m"], "p": [0.6, 0.4]})
    >>> reference_gap(obs, ref, concept="job", attribute="g").round(2).values.tolist()
    [['nurse', 'f', 0.9, 0.6, 0.3, 1.5], ['nurse', 'm', 0.1, 0.4, -0.3, 0.25]]
    """
    t = contingency(counts, concept=concept, attribute=attribute)
    p_ref = reference_shares(reference, concept=concept, attribute=attribute, concepts=t.concepts, attributes=t.attributes)
    keep = ~np.isnan(p_ref).all(axis=1)
    if not keep.any():
        raise UserError(f"reference table: no {concept} value in common with the observed table (fix: check the names)")
    sub = Contingency(tuple(np.array(t.concepts, dtype=object)[keep]), t.attributes, t.n[keep])
    out = sub.to_long(proportions_array(sub.n), concept=concept, attribute=attribute, name="p")
    out["p_ref"] = p_ref[keep].reshape(-1)
    out["difference"] = out.p - out.p_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = np.where(out.p_ref > 0, out.p / out.p_ref.where(out.p_ref > 0, 1.0), np.nan)
    return out
