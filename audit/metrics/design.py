"""Design effect of clustered images and Jeffreys posterior draws of count tables.

Images drawn from one prompt share that prompt's wording and are not
independent. With few prompts per concept (the shipped suites have three) a
percentile bootstrap over prompts is far too narrow, because three clusters
carry almost no information about their own spread. This module pools that
information across concepts instead:

* :func:`dispersion` is the Pearson dispersion ``X^2 / df`` of cluster shares
  within concepts, pooled over every concept and attribute value (the
  quasi-multinomial estimator of the design effect ``phi = 1 + (m - 1) * ICC``
  for clusters of ``m`` images).
* :func:`design_effect_posterior` turns it into a posterior over ``phi``
  (:class:`DesignEffect`): likelihood ``X^2 ~ phi * chi2_df``; prior
  :data:`NO_EFFECT_PRIOR` on "prompts have no effect" (``phi = 1``) and the
  rest log-uniform on ``[1, largest cluster]`` (``phi`` cannot exceed the
  cluster size). The point mass shrinks a dispersion that is within noise of
  1 toward independence; a clear excess keeps its size, and the uncertainty of
  ``phi`` itself widens intervals (the Bayesian counterpart of a ``t_df``
  quantile) instead of a fixed worst-case factor.
* :func:`posterior_tables` draws ``phi`` from that posterior, then each
  concept's attribute shares from ``Dirichlet(n / phi + 1/2)``, the Jeffreys
  posterior on the effective counts ``n / phi``, scaled to the concept's size:
  resampled tables that any statistic (proportions, nPMI, gaps, entropy,
  amplification) reads; intervals are the shortest ones holding 95% of the
  draws (:func:`~audit.metrics.intervals.shortest_interval`).
* :func:`unit_strata` names each cluster's concept, for the concept-stratified
  bootstrap (:func:`~audit.metrics.bootstrap_tables` with ``stratified=True``).

Assumptions: one intra-cluster correlation for all concepts and values (a
value rarer than average is then covered conservatively); images within a
cluster exchangeable. Coverage is measured by ``benchmarks/coverage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["unit_strata", "dispersion", "design_effect_posterior", "DesignEffect", "posterior_tables", "JEFFREYS",
           "NO_EFFECT_PRIOR", "label_noise_factor"]

#: Pseudo-count added to every cell by the Jeffreys prior (Dirichlet(1/2, ..., 1/2)).
JEFFREYS = 0.5
#: Prior probability that the clusters have no effect at all (``phi = 1``).
NO_EFFECT_PRIOR = 0.25
_GRID = 200


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


def _pearson(cc) -> tuple[float, int, float]:
    """``(X^2 / df, df, largest cluster)`` of the within-concept cluster shares."""
    unit, concept, value, k = _entries(cc)
    n_x, n_y = len(cc.concepts), len(cc.attributes)
    if len(k) == 0:
        return 1.0, 0, 1.0
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
        return 1.0, 0, float(n_uc.max())
    return stat / dof, dof, float(n_uc.max())


def dispersion(cc) -> tuple[float, int]:
    """Pooled Pearson dispersion ``X^2 / df`` of cluster shares within concepts.

    For cluster ``u`` of concept ``c`` with ``n_uc`` images and ``k_ucy`` of value
    ``y``, ``X^2 = sum (k_ucy - n_uc p_cy)^2 / (n_uc p_cy)`` with ``p_cy`` the
    concept's share; ``df = sum_c (m_c - 1)(Y_c - 1)`` (``m_c`` clusters and
    ``Y_c`` observed values in concept ``c``). About 1 for independent images,
    ``1 + (m - 1) * ICC`` for clusters of ``m`` correlated ones; neither floored
    nor widened (:func:`design_effect_posterior` does that).

    Parameters
    ----------
    cc : ClusterCounts
        From :func:`~audit.metrics.cluster_counts`.

    Returns
    -------
    (ratio, df) : (float, int)
        ``df == 0`` (one cluster per concept) means the design effect cannot be
        estimated; ``ratio`` is then 1.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.metrics import cluster_counts
    >>> df = pd.DataFrame({"p": [0] * 4 + [1] * 4, "c": "x", "a": ["f"] * 4 + ["m"] * 4})
    >>> dispersion(cluster_counts(df, concept="c", attribute="a", cluster="p"))
    (8.0, 1)
    """
    ratio, dof, _ = _pearson(cc)
    return ratio, dof


@dataclass(frozen=True)
class DesignEffect:
    """Posterior of the design effect ``phi`` on a grid.

    Attributes
    ----------
    values, weights : numpy.ndarray
        Grid of ``phi`` values (the first is 1) and their posterior probabilities.
    ratio : float
        The Pearson dispersion ``X^2 / df`` it was built from.
    df : int
        Its degrees of freedom (0: not estimable, ``phi = 1``).
    """

    values: np.ndarray
    weights: np.ndarray
    ratio: float = 1.0
    df: int = 0

    @property
    def mean(self) -> float:
        """Posterior mean of ``phi``."""
        return float(self.values @ self.weights)

    def representative(self, k: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """At most ``k`` ``(values, weights)``: the posterior's quantiles at equal masses when the grid is larger."""
        if len(self.values) <= k:
            return self.values, self.weights
        cdf = np.cumsum(self.weights)
        idx = np.minimum(np.searchsorted(cdf, (np.arange(k) + 0.5) / k), len(self.values) - 1)
        return self.values[idx], np.full(k, 1.0 / k)

    def scaled(self, factor: float) -> "DesignEffect":
        """The posterior of ``1 + factor * (phi - 1)`` (see :func:`label_noise_factor`)."""
        return DesignEffect(1.0 + float(factor) * (self.values - 1.0), self.weights, ratio=self.ratio, df=self.df)

    @property
    def p_no_effect(self) -> float:
        """Posterior probability of ``phi = 1``."""
        return float(self.weights[0])


#: Independent images: all mass on ``phi = 1``.
INDEPENDENT = DesignEffect(np.ones(1), np.ones(1))


def design_effect_posterior(cc, *, no_effect: float | None = None) -> DesignEffect:
    """Posterior of the design effect from the pooled Pearson dispersion.

    Likelihood: ``X^2 = ratio * df ~ phi * chi2_df``. Prior: ``P(phi = 1) = no_effect``;
    otherwise ``log phi`` uniform on ``[0, log U]`` with ``U`` the largest cluster
    (``phi <= m`` for clusters of ``m`` images; widened to ``2 * ratio`` if the data
    ask for more), on a grid of 200 points.

    Parameters
    ----------
    cc : ClusterCounts
        From :func:`~audit.metrics.cluster_counts`.
    no_effect : float, optional
        Prior probability of ``phi = 1`` (default :data:`NO_EFFECT_PRIOR`).

    Returns
    -------
    DesignEffect
        :data:`INDEPENDENT`-like (all mass on 1) when ``df == 0``.

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.metrics import cluster_counts
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"p": np.repeat(np.arange(30), 10), "c": np.repeat(["x", "y"], 150),
    ...                    "a": rng.choice(["f", "m"], 300)})
    >>> d = design_effect_posterior(cluster_counts(df, concept="c", attribute="a", cluster="p"))
    >>> d.df, bool(d.p_no_effect > 0.25), bool(1.0 <= d.mean < 1.5)
    (28, True, True)
    """
    ratio, dof, largest = _pearson(cc)
    if dof <= 0:
        return DesignEffect(np.ones(1), np.ones(1), ratio=1.0, df=0)
    top = max(largest, 2.0 * ratio, 1.5)
    grid = np.exp(np.linspace(0.0, np.log(top), _GRID))
    x2 = ratio * dof
    with np.errstate(divide="ignore"):
        loglik = (dof / 2.0 - 1.0) * np.log(np.maximum(x2, 1e-300) / grid) - x2 / (2.0 * grid) - np.log(grid)
    no_effect = NO_EFFECT_PRIOR if no_effect is None else float(no_effect)
    prior = np.full(_GRID, (1.0 - no_effect) / (_GRID - 1))
    prior[0] = no_effect
    logw = loglik + np.log(np.maximum(prior, 1e-300))
    w = np.exp(logw - logw.max())
    return DesignEffect(grid, w / w.sum(), ratio=float(ratio), df=int(dof))


def label_noise_factor(cc, confusion: np.ndarray, corrected: np.ndarray) -> float:
    """How much label noise dilutes the prompt effect in the dispersion of observed labels.

    If prompts vary the true shares with one intra-cluster correlation ``rho``
    (between-prompt covariance ``rho * V_p``, ``V_p = diag(p) - p p^T``), the observed
    labels' shares ``q = C^T p`` vary by ``rho * C^T V_p C``, and the Pearson dispersion
    of observed labels has excess ``(m - 1) * rho * tr(V_q^+ C^T V_p C) / (Y - 1)``:
    less than the true ``(m - 1) * rho`` where the labeler confuses values. The
    returned factor ``f = sum_c df_c (Y_c - 1) / sum_c df_c tr_c`` (>= 1; 1 for a
    perfect labeler) rescales the excess back, so ``1 + f * (phi - 1)`` is the design
    effect of the true shares, the one corrected shares need (exact in the directions
    the labeler gets right, conservative in the ones it confuses).

    Parameters
    ----------
    cc : ClusterCounts
        Observed-label counts per cluster.
    confusion : numpy.ndarray
        Row-normalised ``C[true, predicted]`` over ``cc.attributes``.
    corrected : numpy.ndarray
        Corrected counts ``(X, Y)`` (the estimate of the true table).

    Returns
    -------
    float

    Examples
    --------
    >>> import pandas as pd
    >>> from audit.metrics import cluster_counts
    >>> df = pd.DataFrame({"p": [0, 0, 1, 1], "c": "x", "a": ["f", "m", "f", "m"]})
    >>> cc = cluster_counts(df, concept="c", attribute="a", cluster="p")
    >>> round(label_noise_factor(cc, np.eye(2), cc.table().n), 9)
    1.0
    >>> f = label_noise_factor(cc, np.array([[0.8, 0.2], [0.2, 0.8]]), cc.table().n)
    >>> round(f, 3)
    2.778
    """
    n = cc.table().n
    strata = unit_strata(cc)
    clusters = np.bincount(strata[strata >= 0], minlength=len(cc.concepts))
    c = np.asarray(confusion, dtype=float)
    num = den = 0.0
    for x in range(len(cc.concepts)):
        rows = n[x].sum()
        if rows <= 0 or clusters[x] < 2:
            continue
        keep = n[x] > 0
        q = n[x][keep] / rows
        if keep.sum() < 2:
            continue
        pc = np.asarray(corrected[x], dtype=float)
        pc = pc / pc.sum()
        v_p = np.diag(pc) - np.outer(pc, pc)
        between = (c.T @ v_p @ c)[np.ix_(keep, keep)]
        v_q = np.diag(q) - np.outer(q, q)
        tr = float(np.trace(np.linalg.pinv(v_q) @ between))
        w = float(clusters[x] - 1)
        num += w * (keep.sum() - 1)
        den += w * tr
    if den <= 0 or num <= 0:
        return 1.0
    return float(max(1.0, num / den))


def posterior_tables(
    n: np.ndarray,
    *,
    phi: float | DesignEffect = 1.0,
    size: int = 1000,
    seed: int = 0,
    prior: float = JEFFREYS,
) -> np.ndarray:
    """Draws of count tables from each concept's Jeffreys posterior on effective counts.

    Draw ``r`` takes ``phi_r`` (fixed, or drawn from a :class:`DesignEffect`), then row
    ``x`` is ``N_x * p`` with ``p ~ Dirichlet(n[x] / phi_r + prior)``; concept sizes stay
    fixed (they are set by the design, not sampled). Rows with no images stay 0.

    Parameters
    ----------
    n : numpy.ndarray
        Observed counts ``(X, Y)``.
    phi : float or DesignEffect, default 1
        Design effect, or its posterior from :func:`design_effect_posterior` (1: independent images).
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
    if isinstance(phi, DesignEffect):
        phis = phi.values[rng.choice(len(phi.values), size=size, p=phi.weights)] if len(phi.values) > 1 \
            else np.full(size, float(phi.values[0]))
    else:
        phis = np.full(size, float(phi))
    alpha = n / phis.reshape((size,) + (1,) * n.ndim) + prior
    g = rng.standard_gamma(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = g / g.sum(axis=-1, keepdims=True)
    return np.where(total > 0, np.nan_to_num(p) * total, 0.0)
