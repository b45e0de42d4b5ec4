"""Confidence intervals for proportions (Wilson score) and bootstrap percentiles."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "percentile_interval", "beta_interval"]


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
