"""Bayesian labeler-error correction: posterior draws of true shares by data augmentation (Gibbs).

Model, per concept ``x`` with observed label counts ``n[x]``: true shares
``pi ~ Dirichlet(prior)``; each image's true value ``t ~ pi`` and its label
``j ~ M[t]``, with the confusion rows ``M[k]`` drawn from ``Dirichlet(V[k] + 1/2)``
(``V`` the validation counts, see :func:`audit.metrics.correction.draw_confusions`).
The Gibbs sampler alternates

1. latent true values of the images labelled ``j``: ``z[:, j] ~ Multinomial(n[j], w)``,
   ``w[k]`` proportional to ``pi[k] * M[k, j]``;
2. ``pi ~ Dirichlet(prior + z.sum(axis=1))``.

Unlike inverting the matrix and projecting each draw onto the simplex, the
posterior stays inside the simplex: a share whose labels are explained by
confusion is pulled toward, not pinned at, zero. Prompt clustering enters as in
:func:`audit.metrics.design.posterior_tables`: each chain uses effective counts
``n / phi`` with its own ``phi`` from the design-effect posterior (the integer
part allocated by draws, the fractional part by its expectation) and its own
matrix. Short chains (a few draws each) run at once, vectorised over chains
and concepts. :func:`posterior_estimate` is the point estimate ``AuditFrame``
reports; method, assumptions and measurements: ``docs/metrics.md``.
"""

from __future__ import annotations

import numpy as np

from audit.metrics.design import JEFFREYS, DesignEffect

__all__ = ["expected_shares", "posterior_estimate", "posterior_shares"]


def _phis(phi: float | DesignEffect, size: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(phi, DesignEffect):
        if len(phi.values) > 1:
            return phi.values[rng.choice(len(phi.values), size=size, p=phi.weights)]
        return np.full(size, float(phi.values[0]))
    return np.full(size, float(phi))


def _allocate(m: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latent totals per true value: ``sum_j Multinomial(m[..., j], w[..., :, j])`` by a chain of binomials.

    ``m``: ``(..., J)`` integer counts; ``w``: ``(..., K, J)`` columns summing to 1. Returns ``(..., K)``.
    """
    k = w.shape[-2]
    left = m.copy()
    rest = np.ones(m.shape)
    totals = np.empty(m.shape[:-1] + (k,))
    for i in range(k - 1):
        wi = w[..., i, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.clip(np.where(rest > 0, wi / rest, 0.0), 0.0, 1.0)
        z = rng.binomial(left, p)
        totals[..., i] = z.sum(axis=-1)
        left -= z
        rest -= wi
    totals[..., k - 1] = left.sum(axis=-1)
    return totals


def expected_shares(n: np.ndarray, confusion: np.ndarray, *, prior: float = JEFFREYS, iters: int = 200) -> np.ndarray:
    """Fixed point of ``pi = (prior + E[latent totals | pi]) / (N + Y prior)``: the EM estimate of true shares.

    The Gibbs sampler's deterministic twin (expected latent counts in place of
    drawn ones); the maximum a posteriori shares under a ``Dirichlet(prior + 1)``
    prior, strictly inside the simplex for ``prior > 0``.

    Parameters
    ----------
    n : numpy.ndarray
        Observed counts ``(..., X, Y)``.
    confusion : numpy.ndarray
        Row-normalised ``C[true, predicted]`` ``(Y, Y)``.
    prior : float, default 0.5
    iters : int, default 200

    Returns
    -------
    numpy.ndarray
        Shares, same shape as ``n``; NaN for concepts without labels.

    Examples
    --------
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(expected_shares(np.array([[410.0, 590.0]]), C), 3).tolist()
    [[0.3, 0.7]]
    """
    n = np.asarray(n, dtype=float)
    c = np.asarray(confusion, dtype=float)
    total = n.sum(axis=-1, keepdims=True)
    pi = (n + prior) / (total + prior * n.shape[-1])
    for _ in range(iters):
        w = pi[..., :, None] * c  # (..., K, J)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.nan_to_num(w / w.sum(axis=-2, keepdims=True))
        new = ((w * n[..., None, :]).sum(axis=-1) + prior) / (total + prior * n.shape[-1])
        done = float(np.abs(new - pi).max(initial=0.0)) < 1e-10
        pi = new
        if done:
            break
    return np.where(total > 0, pi, np.nan)


def posterior_estimate(n: np.ndarray, confusion: np.ndarray, *, prior: float = JEFFREYS) -> np.ndarray:
    """Raw shares moved by the correction the posterior makes: ``n / N + E(C) - E(I)``.

    ``E(C)`` is :func:`expected_shares` with the labeler's matrix and ``E(I)`` the
    same with a perfect labeler (``(n + prior) / (N + Y prior)``, the Jeffreys
    posterior mean of the labels), so the prior's pull toward uniform cancels: a
    perfect labeler gives the raw shares exactly, and only the labeler's error
    moves the estimate. Negative entries (rare; a share within ``prior / N`` of 0)
    are clipped and the row renormalised.

    Parameters
    ----------
    n : numpy.ndarray
        Observed counts ``(..., X, Y)``.
    confusion : numpy.ndarray
        Row-normalised ``C[true, predicted]`` ``(Y, Y)``.
    prior : float, default 0.5

    Returns
    -------
    numpy.ndarray
        Shares, same shape as ``n``; NaN for concepts without labels.

    Examples
    --------
    >>> posterior_estimate(np.array([[3.0, 1.0]]), np.eye(2)).tolist()
    [[0.75, 0.25]]
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(posterior_estimate(np.array([[410.0, 590.0]]), C), 3).tolist()
    [[0.3, 0.7]]
    """
    n = np.asarray(n, dtype=float)
    total = n.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = expected_shares(n, confusion, prior=prior) - (n + prior) / (total + prior * n.shape[-1])
        p = np.clip(n / total + shift, 0.0, None)
        return p / p.sum(axis=-1, keepdims=True)


def posterior_shares(
    n: np.ndarray,
    confusions: np.ndarray,
    *,
    phi: float | DesignEffect = 1.0,
    size: int = 1000,
    seed: int = 0,
    prior: float = JEFFREYS,
    burn_in: int = 10,
    per_chain: int = 5,
    thin: int = 2,
) -> np.ndarray:
    """Posterior draws of each concept's true shares given its labels and a noisy labeler.

    ``ceil(size / per_chain)`` chains, each with its own confusion matrix and
    design effect, start at :func:`expected_shares` (under the mean matrix), run
    ``burn_in`` sweeps and then give ``per_chain`` draws ``thin`` sweeps apart.

    Parameters
    ----------
    n : numpy.ndarray
        Observed label counts ``(X, Y)`` (any non-negative numbers; divided by ``phi``;
        fractional parts are allocated in expectation).
    confusions : numpy.ndarray
        Row-normalised ``C[true, predicted]`` matrices ``(G, Y, Y)`` or one ``(Y, Y)``;
        chain ``c`` uses matrix ``c mod G`` (e.g. :func:`~audit.metrics.correction.draw_confusions`).
    phi : float or DesignEffect, default 1
        Design effect (1: independent images) or its posterior.
    size : int, default 1000
        Number of draws.
    seed : int, default 0
    prior : float, default 0.5
        Dirichlet pseudo-count per value of the true shares (Jeffreys).
    burn_in, per_chain, thin : int, default 10, 5, 2

    Returns
    -------
    numpy.ndarray
        Shares ``(size, X, Y)``, draw ``r`` from chain ``r mod chains``; concepts without labels are NaN.

    Examples
    --------
    A labeler that calls 20 % of true ``b`` ``a``: 41 % ``a`` labels mean about 30 % true ``a``.

    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> d = posterior_shares(np.array([[410.0, 590.0]]), C, size=2000)
    >>> d.shape, round(float(d[:, 0, 0].mean()), 2)
    ((2000, 1, 2), 0.3)

    With a perfect labeler it is the Jeffreys posterior of the labels:

    >>> d = posterior_shares(np.array([[30.0, 70.0]]), np.eye(2), size=4000)
    >>> sd = float(np.sqrt(30.5 * 70.5 / (101 ** 2 * 102)))  # Beta(30.5, 70.5)
    >>> round(float(d[:, 0, 0].mean()), 2), abs(float(d[:, 0, 0].std()) - sd) < 0.002
    (0.3, True)
    """
    n = np.asarray(n, dtype=float)
    conf = np.asarray(confusions, dtype=float)
    conf = conf[None] if conf.ndim == 2 else conf
    rng = np.random.default_rng(seed)
    chains = -(-size // per_chain)
    mats = conf[np.arange(chains) % len(conf)][:, None]  # (chains, 1, K, J)
    eff = n[None] / _phis(phi, chains, rng).reshape(chains, 1, 1)  # (chains, X, J)
    m = np.floor(eff)
    frac = eff - m  # the fractional part is allocated in expectation (no rounding noise)
    m = m.astype(np.int64)
    pi = np.broadcast_to(np.nan_to_num(expected_shares(n, conf.mean(axis=0), prior=prior)), eff.shape).copy()
    out = np.empty((per_chain, chains) + n.shape)
    for sweep in range(burn_in + (per_chain - 1) * thin):
        w = pi[..., :, None] * mats  # (chains, X, K, J)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.nan_to_num(w / w.sum(axis=-2, keepdims=True))
        g = rng.standard_gamma(_allocate(m, w, rng) + (w * frac[..., None, :]).sum(axis=-1) + prior)
        pi = g / g.sum(axis=-1, keepdims=True)
        kept = sweep + 1 - burn_in
        if kept >= 0 and kept % thin == 0:
            out[kept // thin] = pi
    out = out.reshape((-1,) + n.shape)[:size]
    return np.where(n.sum(axis=-1, keepdims=True)[None] > 0, out, np.nan)

