"""Design effect of clustered images and Jeffreys posterior draws of count tables.

Images drawn from one prompt share that prompt's wording and are not
independent. With few prompts per concept (the shipped suites have three) a
percentile bootstrap over prompts is far too narrow, because three clusters
carry almost no information about their own spread. This module pools that
information across concepts instead:

* :func:`dispersion` estimates one Pearson dispersion ``phi`` (the design
  effect, ``1 + (m - 1) * ICC`` for clusters of ``m`` images) from the
  within-concept spread of cluster shares, pooled over every concept and
  attribute value (the quasi-multinomial estimator, ``X^2 / df``), and widens
  it by ``(t_{df} / z)^2`` so that an interval built on it accounts for ``phi``
  being estimated from ``df`` degrees of freedom.
* :func:`posterior_tables` draws each concept's attribute shares from
  ``Dirichlet(n / phi + 1/2)``, the Jeffreys posterior on the effective counts
  ``n / phi``, and scales them to the concept's size: resampled tables that any
  statistic (nPMI, gaps, entropy, amplification) can read.
* :func:`unit_strata` names each cluster's concept, for the concept-stratified
  bootstrap (:func:`~audit.metrics.bootstrap_tables` with ``stratified=True``).

Assumptions: one intra-cluster correlation for all concepts and values (a
value rarer than average is then covered conservatively); images within a
cluster exchangeable. Coverage is measured by ``benchmarks/coverage.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unit_strata", "dispersion", "posterior_tables", "JEFFREYS"]

#: Pseudo-count added to every cell by the Jeffreys prior (Dirichlet(1/2, ..., 1/2)).
JEFFREYS = 0.5


def _entries(cc):
    """Non-zero entries of the unit x cell matrix as (unit, concept, value, count) arrays."""
    m = cc.matrix.tocoo()
    y = len(cc.attributes)
    return m.row.astype(np.int64), (m.col // y).astype(np.int64), (m.col % y).astype(np.int64), m.data.astype(float)


def unit_strata(cc) -> np.ndarray:
    """Index of the concept holding most of each cluster unit's images (its stratum).

    Parameters
    ----------
    cc : ClusterCounts
        From :func:`~audit.metrics.cluster_counts`.

    Returns
    -------
    numpy.ndarray
        One concept index per unit; -1 for a unit without counted images.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.metrics import cluster_counts
    >>> df = pd.DataFrame({"p": [0, 0, 1], "c": ["x", "x", "y"], "a": ["f", "m", "f"]})
    >>> unit_strata(cluster_counts(df, concept="c", attribute="a", cluster="p")).tolist()
    [0, 1]
    """
    unit, concept, _, k = _entries(cc)
    n_units, n_x = cc.matrix.shape[0], len(cc.concepts)
    per = np.zeros((n_units, max(n_x, 1)))
    np.add.at(per, (unit, concept), k)
    out = per.argmax(axis=1)
    return np.where(per.sum(axis=1) > 0, out, -1)


def dispersion(cc, *, confidence: float = 0.95) -> tuple[float, int]:
    """Pooled Pearson dispersion of cluster shares within concepts, widened for its own estimation.

    For cluster ``u`` of concept ``c`` with ``n_uc`` images and ``k_ucy`` of value
    ``y``, ``X^2 = sum (k_ucy - n_uc p_cy)^2 / (n_uc p_cy)`` with ``p_cy`` the
    concept's share; ``df = sum_c (m_c - 1)(Y_c - 1)`` (``m_c`` clusters and
    ``Y_c`` observed values in concept ``c``). The returned design effect is
    ``max(1, X^2 / df) * (t_{df} / z)^2``.

    Parameters
    ----------
    cc : ClusterCounts
        From :func:`~audit.metrics.cluster_counts`.
    confidence : float, default 0.95
        Sets the ``t`` and ``z`` quantiles of the small-sample widening.

    Returns
    -------
    (phi, df) : (float, int)
        ``df == 0`` (one cluster per concept) means the design effect cannot be
        estimated; ``phi`` is then 1.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.metrics import cluster_counts
    >>> df = pd.DataFrame({"p": [0] * 4 + [1] * 4, "c": "x", "a": ["f"] * 4 + ["m"] * 4})
    >>> phi, dof = dispersion(cluster_counts(df, concept="c", attribute="a", cluster="p"))
    >>> dof, phi > 4
    (1, True)
    """
    from scipy.special import ndtri, stdtrit

    unit, concept, value, k = _entries(cc)
    n_x, n_y = len(cc.concepts), len(cc.attributes)
    if len(k) == 0:
        return 1.0, 0
    totals = np.zeros((n_x, n_y))
    np.add.at(totals, (concept, value), k)
    row = totals.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row > 0, totals / np.where(row > 0, row, 1.0), 0.0)
    key = unit * n_x + concept
    uniq, inv = np.unique(key, return_inverse=True)
    n_uc = np.bincount(inv, weights=k)
    stat = float(np.sum(k * k / (n_uc[inv] * share[concept, value])) - n_uc.sum())
    clusters = np.bincount(uniq % n_x, minlength=n_x)
    values = (totals > 0).sum(axis=1)
    dof = int(np.sum(np.clip(clusters - 1, 0, None) * np.clip(values - 1, 0, None)))
    if dof <= 0:
        return 1.0, 0
    alpha = (1.0 - confidence) / 2.0
    widen = (float(stdtrit(dof, 1.0 - alpha)) / float(ndtri(1.0 - alpha))) ** 2
    return max(1.0, stat / dof) * widen, dof


def posterior_tables(
    n: np.ndarray, *, phi: float = 1.0, size: int = 1000, seed: int = 0, prior: float = JEFFREYS
) -> np.ndarray:
    """Draws of count tables from each concept's Jeffreys posterior on effective counts.

    Row ``x`` of each draw is ``N_x * p`` with ``p ~ Dirichlet(n[x] / phi + prior)``;
    concept sizes stay fixed (they are set by the design, not sampled). Rows with
    no images stay 0.

    Parameters
    ----------
    n : numpy.ndarray
        Observed counts ``(X, Y)``.
    phi : float, default 1
        Design effect from :func:`dispersion` (1: independent images).
    size : int, default 1000
        Number of draws.
    seed : int, default 0
    prior : float, default 0.5
        Dirichlet pseudo-count per cell.

    Returns
    -------
    numpy.ndarray
        Shape ``(size, X, Y)``.

    Examples
    --------
    >>> t = posterior_tables(np.array([[3.0, 0.0], [1.0, 1.0]]), size=4)
    >>> t.shape, np.allclose(t.sum(axis=-1), [3.0, 2.0]), bool((t[:, 0, 1] > 0).all())
    ((4, 2, 2), True, True)
    """
    n = np.asarray(n, dtype=float)
    rng = np.random.default_rng(seed)
    total = n.sum(axis=-1, keepdims=True)
    alpha = n / float(phi) + prior
    g = rng.standard_gamma(np.broadcast_to(alpha, (size, *n.shape)))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = g / g.sum(axis=-1, keepdims=True)
    return np.where(total > 0, np.nan_to_num(p) * total, 0.0)
