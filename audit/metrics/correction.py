"""Labeler-error correction: confusion matrices, their posterior draws, and corrected counts.

With ``C[true, predicted]`` row-normalised, the observed shares are
``q = C^T p``. :func:`simplex_lsq` (in :mod:`audit.metrics.simplex`, re-exported here)
finds ``p`` on the probability simplex minimising ``||C^T p - q||^2``; :func:`rogan_gladen` is the
classical two-class estimator ``(q + sp - 1) / (se + sp - 1)``, clipped to [0, 1].
Both are applied per concept by :func:`correct_counts`, whose output feeds
nPMI and amplification like raw counts do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.errors import UserError
from audit.metrics.counts import contingency
from audit.metrics.simplex import correct_array, correct_draws, simplex_lsq, simplex_lsq_batch, simplex_lsq_pg

__all__ = [
    "confusion_array",
    "confusion_is_counts",
    "simplex_lsq",
    "simplex_lsq_batch",
    "simplex_lsq_pg",
    "correct_array",
    "correct_draws",
    "draw_confusions",
    "rogan_gladen",
    "correct_counts",
    "CorrectedTable",
    "correct_table",
]


def confusion_array(confusion: pd.DataFrame, labels) -> np.ndarray:
    """Row-normalised ``C[true, predicted]`` restricted to and ordered by ``labels``.

    Parameters
    ----------
    confusion : pandas.DataFrame
        Index: true labels; columns: predicted labels; counts or shares.
    labels : sequence of str
        Attribute values, in the order wanted.

    Examples
    --------
    >>> c = pd.DataFrame([[8, 2], [1, 9]], index=["f", "m"], columns=["f", "m"])
    >>> confusion_array(c, ["m", "f"]).tolist()
    [[0.9, 0.1], [0.2, 0.8]]
    """
    labels = [str(v) for v in labels]
    conf = confusion.copy()
    conf.index, conf.columns = conf.index.astype(str), conf.columns.astype(str)
    missing = [v for v in labels if v not in conf.index or v not in conf.columns]
    if missing:
        raise UserError(
            f"confusion matrix: no row/column for {missing} (fix: give the labeler's confusion matrix over all values "
            f"{labels}, or filter those values out)"
        )
    c = conf.loc[labels, labels].to_numpy(dtype=float)
    rows = c.sum(axis=1, keepdims=True)
    if (rows <= 0).any() or (c < 0).any():
        raise UserError("confusion matrix: rows must be non-negative with a positive sum (fix: check the matrix)")
    return c / rows


def confusion_is_counts(confusion: pd.DataFrame, labels=None) -> bool:
    """Whether a confusion matrix holds validation counts (some row sum differs from 1) rather than shares.

    Counts let corrected intervals carry the matrix's own sampling
    uncertainty (:func:`draw_confusions`); shares are treated as exact.

    Examples
    --------
    >>> confusion_is_counts(pd.DataFrame([[90, 10], [20, 80]], index=["f", "m"], columns=["f", "m"]))
    True
    >>> confusion_is_counts(pd.DataFrame([[0.9, 0.1], [0.2, 0.8]], index=["f", "m"], columns=["f", "m"]))
    False
    """
    labels = [str(v) for v in (confusion.index if labels is None else labels)]
    conf = confusion.copy()
    conf.index, conf.columns = conf.index.astype(str), conf.columns.astype(str)
    rows = conf.loc[[v for v in labels if v in conf.index], [v for v in labels if v in conf.columns]].sum(axis=1)
    return bool(len(rows)) and not np.allclose(rows.to_numpy(dtype=float), 1.0, atol=1e-6)


def draw_confusions(counts: np.ndarray, *, size: int, seed: int = 0, prior: float = 0.5) -> np.ndarray:
    """Row-normalised confusion matrices drawn from each row's ``Dirichlet(counts + prior)`` posterior.

    Parameters
    ----------
    counts : numpy.ndarray
        Validation counts ``C[true, predicted]``, shape ``(Y, Y)``.
    size : int
        Number of matrices.
    seed : int, default 0
    prior : float, default 0.5
        Jeffreys pseudo-count per cell.

    Returns
    -------
    numpy.ndarray
        Shape ``(size, Y, Y)``, rows summing to 1.

    Examples
    --------
    >>> d = draw_confusions(np.array([[900.0, 100.0], [200.0, 800.0]]), size=2000)
    >>> np.round(d.mean(axis=0), 2).tolist(), bool(np.allclose(d.sum(axis=-1), 1))
    ([[0.9, 0.1], [0.2, 0.8]], True)
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_gamma(np.broadcast_to(np.asarray(counts, dtype=float) + prior, (size, *np.shape(counts))))
    return g / g.sum(axis=-1, keepdims=True)


def rogan_gladen(observed, *, sensitivity: float, specificity: float) -> np.ndarray:
    """Rogan–Gladen estimate of a true prevalence from an observed one, clipped to [0, 1].

    Examples
    --------
    >>> round(float(rogan_gladen(0.9 * 0.3 + 0.2 * 0.7, sensitivity=0.9, specificity=0.8)), 9)
    0.3
    """
    j = sensitivity + specificity - 1.0
    if j <= 0:
        raise UserError("rogan_gladen: sensitivity + specificity must exceed 1 (fix: the labeler is no better than chance)")
    return np.clip((np.asarray(observed, dtype=float) + specificity - 1.0) / j, 0.0, 1.0)


def correct_counts(
    counts: pd.DataFrame,
    confusion: pd.DataFrame,
    *,
    concept: str,
    attribute: str,
    method: str = "lsq",
) -> pd.DataFrame:
    """Counts with each concept's attribute shares replaced by the corrected true shares.

    Parameters
    ----------
    counts : pandas.DataFrame
        Observed ``[concept, attribute, n]`` (attribute = the labeler's prediction).
    confusion : pandas.DataFrame
        The labeler's confusion matrix: index true values, columns predicted values.
    concept, attribute : str
        Key column names.
    method : {"lsq", "rogan_gladen"}
        ``"rogan_gladen"`` needs exactly two attribute values (the first in
        the confusion matrix's order is the "positive" class).

    Returns
    -------
    pandas.DataFrame
        ``[concept, attribute, n]`` over the confusion matrix's values; each
        concept keeps its total.

    Examples
    --------
    >>> conf = pd.DataFrame([[0.9, 0.1], [0.2, 0.8]], index=["f", "m"], columns=["f", "m"])
    >>> obs = pd.DataFrame({"job": ["x", "x"], "g": ["f", "m"], "n": [41, 59]})
    >>> correct_counts(obs, conf, concept="job", attribute="g").n.round(6).tolist()
    [30.0, 70.0]
    """
    labels = [str(v) for v in confusion.index]
    extra = sorted(set(counts[attribute].astype(str)) - set(labels))
    if extra:
        raise UserError(
            f"correct_counts: {attribute} values {extra} are not in the confusion matrix (fix: filter them out "
            "or extend the matrix)"
        )
    c = confusion_array(confusion, labels)
    t = contingency(counts, concept=concept, attribute=attribute, attributes=labels)
    total = t.n.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = t.n / total
    if method == "lsq":
        p = simplex_lsq(q, c)
    elif method == "rogan_gladen":
        if len(labels) != 2:
            raise UserError(f"rogan_gladen needs 2 classes, got {labels} (fix: use method='lsq')")
        p1 = rogan_gladen(q[:, 0], sensitivity=c[0, 0], specificity=c[1, 1])
        p = np.stack([p1, 1.0 - p1], axis=1)
    else:
        raise UserError(f"correct_counts: unknown method {method!r} (fix: use 'lsq' or 'rogan_gladen')")
    return t.to_long(np.nan_to_num(p * total), concept=concept, attribute=attribute, name="n")


@dataclass(frozen=True)
class CorrectedTable:
    """What :class:`~audit.metrics.frame.AuditFrame`'s corrected columns read (see :func:`correct_table`).

    ``n``: corrected point counts; ``method``: the name of the corrected interval method;
    ``design``: the design-effect posterior of the true shares; ``to_correct``: the raw
    draws the corrected draws are compared with (common random numbers for least
    squares); ``draws``: corrected draws (``None`` without resamples); ``bayes``: whether
    they are Gibbs posterior draws rather than least-squares corrections.
    """

    n: np.ndarray
    method: str
    design: object
    to_correct: np.ndarray | None
    draws: np.ndarray | None
    bayes: bool


def correct_table(n: np.ndarray, confusion: pd.DataFrame, *, attributes, method: str, design, design_cc,
                  draws: np.ndarray | None, n_resamples: int, seed: int, correction: str = "gibbs") -> CorrectedTable:
    """Correct a concept x attribute count table and its draws for labeler error.

    Parameters
    ----------
    n : numpy.ndarray
        Observed counts ``(concepts, attributes)``.
    confusion : pandas.DataFrame
        ``C[true, predicted]``: counts (then rows are redrawn from ``Dirichlet(counts + 1/2)``
        per draw, carrying the matrix's own uncertainty) or shares (taken as exact).
    attributes
        Attribute values, in the table's column order.
    method : str
        The raw interval method (:data:`audit.metrics.methods.INTERVALS`).
    design, design_cc
        The design-effect posterior of the raw labels and the cluster counts it came from.
    draws : numpy.ndarray or None
        The raw draws ``(R, concepts, attributes)`` (``None``: point estimate only).
    n_resamples, seed : int
        Draws to make and their seed.
    correction : {"gibbs", "lsq"}
        With the Jeffreys methods, ``"gibbs"`` takes the Bayesian posterior of the true shares
        (:mod:`audit.metrics.posterior`); ``"lsq"`` (and every bootstrap method) least squares
        on the simplex per draw.

    Returns
    -------
    CorrectedTable

    Examples
    --------
    >>> from audit.metrics.design import INDEPENDENT
    >>> conf = pd.DataFrame([[90, 10], [20, 80]], index=["a", "b"], columns=["a", "b"])
    >>> c = correct_table(np.array([[41.0, 59.0]]), conf, attributes=["a", "b"], method="jeffreys_iid",
    ...                   design=INDEPENDENT, design_cc=None, draws=None, n_resamples=0, seed=0)
    >>> c.method, c.bayes, round(float(c.n[0, 0]), 1)
    ('jeffreys_iid+gibbs+confusion_resampled', True, 30.4)
    """
    from audit.metrics.design import label_noise_factor, posterior_tables
    from audit.metrics.posterior import posterior_estimate, posterior_shares

    conf = confusion_array(confusion, attributes)
    bayes = correction == "gibbs" and method.startswith("jeffreys")
    total = n.sum(axis=-1, keepdims=True)
    point = np.nan_to_num(posterior_estimate(n, conf) * total if bayes else correct_array(n, conf))
    counts = confusion_is_counts(confusion, attributes)
    name = f"{method}+{'gibbs+' if bayes else ''}confusion_{'resampled' if counts else 'fixed'}"
    design_c, to_correct, out = design, draws, None
    if method == "jeffreys_deff" and draws is not None:
        design_c = design.scaled(label_noise_factor(design_cc, conf, point))
        to_correct = posterior_tables(n, phi=design_c, size=n_resamples, seed=seed)
    if draws is not None:
        mats = conf[None]
        if counts:
            raw = confusion.copy()
            raw.index, raw.columns = raw.index.astype(str), raw.columns.astype(str)
            k = raw.loc[list(attributes), list(attributes)].to_numpy(dtype=float)
            mats = draw_confusions(k, size=n_resamples if len(attributes) <= 6 or bayes else min(n_resamples, 20),
                                   seed=seed + 1)
        if bayes:  # one posterior draw per table draw (chains of audit.metrics.posterior)
            out = np.nan_to_num(posterior_shares(n, mats, phi=design_c, size=n_resamples, seed=seed + 2)) * total
        else:  # the first 200 draws beyond 12 classes (iterative solver, slower)
            to_correct = to_correct if len(attributes) <= 12 else to_correct[:200]
            out = correct_draws(to_correct, mats) if counts else correct_array(to_correct, conf)
    return CorrectedTable(point, name, design_c, to_correct, out, bayes)
