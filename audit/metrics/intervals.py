"""Confidence intervals for proportions (Wilson score) and bootstrap percentiles."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "percentile_interval"]


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
            lo, hi = np.nanquantile(samples, [a, 1.0 - a], axis=0)
    return lo, hi
