"""Confidence intervals: Wilson score, Beta quantiles, bootstrap percentiles and shortest posterior intervals."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "percentile_interval", "shortest_interval", "beta_interval", "beta_mixture_shortest",
           "draw_spread"]


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    from scipy.special import ndtri  # cheap (no scipy.stats import)

    return float(ndtri(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(k, n, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    k : array_like
        Successes (may be non-integer, e.g. weighted counts).
    n : array_like
        Trials, broadcastable with ``k``. Where ``n == 0`` the bounds are NaN.
    confidence : float, default 0.95
        Two-sided coverage.

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray
        Lower and upper bounds, float arrays of the broadcast shape.

    Examples
    --------
    >>> lo, hi = wilson_interval([5, 0], [10, 10])
    >>> [round(float(x), 4) for x in lo], [round(float(x), 4) for x in hi]
    ([0.2366, 0.0], [0.7634, 0.2775])
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("wilson_interval needs 0 <= k <= n")
    z = _z(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.clip(centre - half, 0.0, 1.0)
    hi = np.clip(centre + half, 0.0, 1.0)
    bad = n <= 0
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def percentile_interval(samples: np.ndarray, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the first axis of bootstrap ``samples``, ignoring NaN.

    Parameters
    ----------
    samples : numpy.ndarray
        Shape ``(n_resamples, ...)``.
    confidence : float, default 0.95
        Two-sided coverage.

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray
        Arrays of shape ``samples.shape[1:]``; NaN where every resample is NaN.

    Examples
    --------
    >>> lo, hi = percentile_interval(np.arange(101.0)[:, None], confidence=0.9)
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)
    (5.0, 95.0)
    """
    _z(confidence)
    a = (1.0 - confidence) / 2.0
    samples = np.asarray(samples, dtype=float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if np.isnan(samples).any():
                lo, hi = np.nanquantile(samples, [a, 1.0 - a], axis=0)
            else:
                lo, hi = np.quantile(samples, [a, 1.0 - a], axis=0)
    return lo, hi


def shortest_interval(samples: np.ndarray, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Shortest interval holding ``confidence`` of the ``samples`` along the first axis, ignoring NaN.

    For a unimodal posterior this is the highest-density interval: an estimate
    against a bound (a share near 0) gets ``[0, upper bound]`` rather than an
    equal-tailed interval that spends half its error on the impossible side.

    Parameters
    ----------
    samples : numpy.ndarray
        Posterior draws, shape ``(n_draws, ...)``.
    confidence : float, default 0.95

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray
        Arrays of shape ``samples.shape[1:]``; NaN where every draw is NaN.

    Examples
    --------
    >>> lo, hi = shortest_interval(np.r_[np.zeros(90), np.arange(1.0, 11.0)][:, None], confidence=0.9)
    >>> float(lo[0]), float(hi[0])
    (0.0, 0.0)
    >>> lo, hi = shortest_interval(np.arange(101.0)[:, None], confidence=0.9)
    >>> float(hi[0] - lo[0])
    90.0
    """
    _z(confidence)
    x = np.sort(np.asarray(samples, dtype=float), axis=0)  # NaN last
    shape = x.shape[1:]
    x = x.reshape(len(x), -1)
    lo, hi = np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    valid = np.count_nonzero(~np.isnan(x), axis=0)
    for v in np.unique(valid):
        if v == 0:
            continue
        cols = np.flatnonzero(valid == v)
        xs = x[:v, cols]
        k = min(v, max(1, int(np.ceil(confidence * v))))
        i = np.argmin(xs[k - 1 :] - xs[: v - k + 1], axis=0)
        lo[cols] = xs[i, np.arange(len(cols))]
        hi[cols] = xs[i + k - 1, np.arange(len(cols))]
    return lo.reshape(shape), hi.reshape(shape)


def beta_interval(a, b, *, confidence: float = 0.95, zero=None, full=None) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of ``Beta(a, b)``, vectorised (Jeffreys: ``a = k + 1/2, b = n - k + 1/2``).

    Parameters
    ----------
    a, b : array_like
        Positive shape parameters (broadcast); NaN where either is not positive.
    confidence : float, default 0.95
    zero : array_like of bool, optional
        Where true (no observed successes) the lower bound is 0, so the interval
        is an honest upper bound (Brown, Cai & DasGupta 2001's modification).
    full : array_like of bool, optional
        Where true (every observation a success) the upper bound is 1, the mirror case: an
        estimate of 100% never lies outside its own interval.

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray

    Examples
    --------
    >>> lo, hi = beta_interval([5.5, 0.5], [5.5, 10.5], zero=[False, True])
    >>> [round(float(x), 4) for x in lo], [round(float(x), 4) for x in hi]
    ([0.2235, 0.0], [0.7765, 0.2172])
    >>> lo, hi = beta_interval([24.5], [1.0], full=[True])
    >>> round(float(lo[0]), 3), float(hi[0])
    (0.86, 1.0)
    """
    from scipy.special import betaincinv

    _z(confidence)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    t = (1.0 - confidence) / 2.0
    ok = (a > 0) & (b > 0)
    with np.errstate(invalid="ignore"):
        sa, sb = np.where(ok, a, 1.0), np.where(ok, b, 1.0)
        lo = betaincinv(sa, sb, t)
        hi = betaincinv(sa, sb, 1.0 - t)
    if zero is not None:
        lo = np.where(np.asarray(zero, dtype=bool), 0.0, lo)
    if full is not None:
        hi = np.where(np.asarray(full, dtype=bool), 1.0, hi)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def beta_mixture_shortest(a, b, *, weights=None, confidence: float = 0.95, draws: int = 20000,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shortest interval holding ``confidence`` of a mixture of Beta distributions.

    The mixture ``sum_j w_j Beta(a[j], b[j])`` is the posterior of a proportion
    whose design effect is itself uncertain (one component per value of ``phi``).
    The interval is :func:`shortest_interval` of ``draws`` direct draws of the
    mixture (component ``j`` gets ``round(w_j * draws)`` of them), enough that
    the Monte Carlo error of the bounds is about 1% of the interval's width.
    A posterior piled against 0 gets ``[~0, upper bound]``.

    Parameters
    ----------
    a, b : array_like
        Positive shapes, shape ``(J, ...)`` (``J`` mixture components).
    weights : array_like, optional
        ``(J,)`` component weights (default equal).
    confidence : float, default 0.95
    draws : int, default 20000
    seed : int, default 0

    Returns
    -------
    (lo, hi) : tuple of numpy.ndarray
        Shape ``a.shape[1:]``.

    Examples
    --------
    >>> lo, hi = beta_mixture_shortest([[0.5]], [[20.5]])
    >>> round(float(lo[0]), 3), round(float(hi[0]), 2)
    (0.0, 0.09)
    >>> lo, hi = beta_mixture_shortest([[50.0]], [[50.0]])
    >>> round(float(lo[0]), 2), round(float(hi[0]), 2)
    (0.4, 0.6)
    """
    _z(confidence)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    w = np.full(len(a), 1.0 / len(a)) if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(w * draws + 0.5).astype(int)
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.beta(a[j], b[j], size=(m, *a.shape[1:])) for j, m in enumerate(counts) if m > 0])
    return shortest_interval(x, confidence=confidence)


def draw_spread(draws: np.ndarray, *, confidence: float = 0.95, central: bool = True) -> np.ndarray:
    """Spread of draws per cell (axis 0 indexes draws): the width of their central range, or their sd.

    Examples
    --------
    >>> d = np.linspace(0, 1, 1001)[:, None]
    >>> draw_spread(d, confidence=0.9).round(3).tolist(), draw_spread(d, central=False).round(3).tolist()
    ([0.9], [0.289])
    """
    if not central:
        return draws.std(axis=0)
    import warnings

    a = (1.0 - confidence) / 2
    with warnings.catch_warnings():  # concepts without labels: all-NaN cells stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(draws, [a, 1.0 - a], axis=0)
    return hi - lo
