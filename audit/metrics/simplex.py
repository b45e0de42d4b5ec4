"""Least-squares solvers behind labeler-error correction: true shares on the simplex from observed ones.

With ``C[true, predicted]`` row-normalised, observed shares are ``q = C^T p``.
:func:`simplex_lsq` finds ``p`` on the probability simplex minimising
``||C^T p - q||^2`` (scipy SLSQP, one row at a time); :func:`simplex_lsq_batch`
solves many rows exactly by enumerating the simplex's faces; :func:`simplex_lsq_pg`
approximates it by projected gradient for many classes. :func:`correct_array` and
:func:`correct_draws` apply them to count tables and to resampled tables.
"""

from __future__ import annotations

import numpy as np

from audit.errors import UserError

__all__ = ["simplex_lsq", "simplex_lsq_batch", "simplex_lsq_pg", "correct_array", "correct_draws"]


def correct_draws(tables: np.ndarray, confusions: np.ndarray) -> np.ndarray:
    """:func:`correct_array` of resampled tables, draw ``r`` corrected with matrix ``r mod G``.

    With up to 6 classes every face of the simplex is solved for all draws in
    one batched call; beyond that the draws are grouped by matrix.

    Parameters
    ----------
    tables : numpy.ndarray
        Resampled counts ``(R, X, Y)``.
    confusions : numpy.ndarray
        ``(G, Y, Y)`` row-normalised matrices (e.g. :func:`draw_confusions`).

    Returns
    -------
    numpy.ndarray
        Corrected counts, shape ``(R, X, Y)``.

    Examples
    --------
    >>> C = np.array([[[0.9, 0.1], [0.2, 0.8]]])
    >>> np.round(correct_draws(np.array([[[41.0, 59.0]]]), C), 6).tolist()
    [[[30.0, 70.0]]]
    """
    tables = np.asarray(tables, dtype=float)
    confusions = np.asarray(confusions, dtype=float)
    which = np.arange(len(tables)) % len(confusions)
    k = tables.shape[-1]
    if k > 6:
        out = np.empty_like(tables)
        for g, c in enumerate(confusions):
            sel = which == g
            if sel.any():
                out[sel] = correct_array(tables[sel], c)
        return out
    from itertools import combinations

    total = tables.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.nan_to_num(tables / total)  # (R, X, Y)
    ct = np.swapaxes(confusions[which], -1, -2)  # (R, Y, Y): ct[r] = C_r^T
    best = np.zeros_like(q)
    best_err = np.full(q.shape[:-1], np.inf)
    for size in range(1, k + 1):
        for support in combinations(range(k), size):
            a = ct[:, :, support]  # (R, Y, s)
            kkt = np.zeros((len(a), size + 1, size + 1))
            kkt[:, :size, :size] = 2 * np.swapaxes(a, -1, -2) @ a
            kkt[:, :size, size] = kkt[:, size, :size] = 1.0
            inv = np.linalg.pinv(kkt)
            lin = inv[:, :size, :size] @ (2 * np.swapaxes(a, -1, -2))  # (R, s, Y)
            p_s = q @ np.swapaxes(lin, -1, -2) + inv[:, None, :size, size]  # (R, X, s)
            resid = q - p_s @ np.swapaxes(a, -1, -2)
            err = np.einsum("rxy,rxy->rx", resid, resid)
            take = (p_s >= -1e-12).all(axis=-1) & (err < best_err - 1e-15)
            if take.any():
                best_err = np.where(take, err, best_err)
                row = np.zeros_like(q)
                row[..., list(support)] = np.clip(p_s, 0.0, None)
                best = np.where(take[..., None], row, best)
    best /= np.where(best.sum(axis=-1, keepdims=True) > 0, best.sum(axis=-1, keepdims=True), 1.0)
    return np.where(total > 0, best * total, 0.0)


def simplex_lsq(observed: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """True shares ``p`` (on the simplex) that best explain observed shares, per row.

    Parameters
    ----------
    observed : numpy.ndarray
        Observed shares, shape ``(Y,)`` or ``(X, Y)``; NaN rows stay NaN.
    confusion : numpy.ndarray
        Row-normalised ``C[true, predicted]``, shape ``(Y, Y)``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``observed``.

    Examples
    --------
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(simplex_lsq(np.array([0.9 * 0.3 + 0.2 * 0.7, 0.1 * 0.3 + 0.8 * 0.7]), C), 6).tolist()
    [0.3, 0.7]
    """
    from scipy.optimize import minimize

    obs = np.atleast_2d(np.asarray(observed, dtype=float))
    ct = np.asarray(confusion, dtype=float).T
    k = ct.shape[0]
    out = np.full_like(obs, np.nan)
    cons = ({"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones_like(p)},)
    for i, q in enumerate(obs):
        if np.isnan(q).any():
            continue
        start = np.clip(np.linalg.lstsq(ct, q, rcond=None)[0], 0, None)
        start = start / start.sum() if start.sum() > 0 else np.full(k, 1.0 / k)
        res = minimize(
            lambda p: 0.5 * np.sum((ct @ p - q) ** 2),
            start,
            jac=lambda p: ct.T @ (ct @ p - q),
            bounds=[(0.0, 1.0)] * k,
            constraints=cons,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        p = np.clip(res.x, 0.0, None)
        out[i] = p / p.sum()
    return out.reshape(np.shape(observed))


def _face_solutions(ct: np.ndarray):
    """For every support set S, the affine map q -> argmin ||ct[:, S] p - q|| s.t. sum p = 1."""
    from itertools import combinations

    k = ct.shape[1]
    for size in range(1, k + 1):
        for support in combinations(range(k), size):
            a = ct[:, support]
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * a.T @ a
            kkt[:size, size] = kkt[size, :size] = 1.0
            inv = np.linalg.pinv(kkt)
            yield list(support), inv[:size, :size] @ (2 * a.T), inv[:size, size]


def simplex_lsq_batch(observed: np.ndarray, confusion: np.ndarray, *, max_classes: int = 12) -> np.ndarray:
    """Vectorised exact version of :func:`simplex_lsq` for many rows (e.g. bootstrap resamples).

    The optimum lies in the relative interior of one face of the simplex, where
    it is the equality-constrained least-squares solution on that face's
    support, an affine function of ``q``. Every face's map is precomputed from
    the confusion matrix; each row keeps the feasible candidate of lowest
    residual. Cost grows as ``2**Y``, hence ``max_classes``.

    Parameters
    ----------
    observed : numpy.ndarray
        Observed shares, shape ``(..., Y)``; NaN rows stay NaN.
    confusion : numpy.ndarray
        Row-normalised ``C[true, predicted]``.
    max_classes : int, default 12

    Returns
    -------
    numpy.ndarray
        Same shape as ``observed``.

    Examples
    --------
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(simplex_lsq_batch(np.array([[0.41, 0.59], [0.1, 0.9]]), C), 6).tolist()
    [[0.3, 0.7], [0.0, 1.0]]
    """
    ct = np.asarray(confusion, dtype=float).T
    k = ct.shape[1]
    if k > max_classes:
        raise UserError(f"simplex_lsq_batch: {k} classes exceed max_classes={max_classes} (fix: use simplex_lsq)")
    q = np.asarray(observed, dtype=float)
    flat = q.reshape(-1, k)
    best = np.full(flat.shape, np.nan)
    best_err = np.full(len(flat), np.inf)
    for support, lin, const in _face_solutions(ct):
        p_s = flat @ lin.T + const  # (rows, |S|)
        feasible = (p_s >= -1e-12).all(axis=1)
        resid = flat - p_s @ ct[:, support].T
        err = np.einsum("ij,ij->i", resid, resid)
        take = feasible & (err < best_err - 1e-15)
        if take.any():
            best_err[take] = err[take]
            row = np.zeros((int(take.sum()), k))
            row[:, support] = np.clip(p_s[take], 0.0, None)
            best[take] = row
    best /= best.sum(axis=1, keepdims=True)
    best[np.isnan(flat).any(axis=1)] = np.nan
    return best.reshape(q.shape)


def _project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` onto the probability simplex (Duchi et al. 2008)."""
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    idx = np.arange(1, v.shape[-1] + 1)
    rho = np.count_nonzero(u - css / idx > 0, axis=-1)
    theta = np.take_along_axis(css, (rho - 1)[..., None], axis=-1) / rho[..., None]
    return np.clip(v - theta, 0.0, None)


def simplex_lsq_pg(observed: np.ndarray, confusion: np.ndarray, *, iters: int = 400) -> np.ndarray:
    """Vectorised approximate :func:`simplex_lsq` for many classes: accelerated projected gradient (FISTA).

    Used for resampled tables when the class count is beyond :func:`simplex_lsq_batch`'s
    face enumeration (e.g. 24 professions).

    Examples
    --------
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(simplex_lsq_pg(np.array([[0.41, 0.59], [0.1, 0.9]]), C), 4).tolist()
    [[0.3, 0.7], [0.0, 1.0]]
    """
    q = np.asarray(observed, dtype=float)
    ct = np.asarray(confusion, dtype=float).T
    flat = q.reshape(-1, q.shape[-1])
    bad = np.isnan(flat).any(axis=1)
    flat = np.where(bad[:, None], 1.0 / flat.shape[1], flat)
    gram, lin = ct.T @ ct, flat @ ct  # gradient of 0.5 ||ct p - q||^2 is p gram - lin (row form)
    step = 1.0 / max(float(np.linalg.eigvalsh(gram).max()), 1e-12)
    p = _project_simplex(flat.copy())
    y, t = p, 1.0
    for i in range(iters):
        nxt = _project_simplex(y - step * (y @ gram - lin))
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = nxt + ((t - 1.0) / t_next) * (nxt - p)
        done = i % 10 == 9 and float(np.abs(nxt - p).max(initial=0.0)) < 1e-10
        p, t = nxt, t_next
        if done:
            break
    p[bad] = np.nan
    return p.reshape(q.shape)


def correct_array(n: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Corrected count arrays ``(..., X, Y)``: each concept's shares replaced by :func:`simplex_lsq_batch`.

    Beyond 12 classes a single table goes through :func:`simplex_lsq` (exact) and
    batches of tables through :func:`simplex_lsq_pg`.

    Examples
    --------
    >>> C = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> np.round(correct_array(np.array([[41.0, 59.0]]), C), 6).tolist()
    [[30.0, 70.0]]
    """
    n = np.asarray(n, dtype=float)
    total = n.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = n / total
        if n.shape[-1] <= 12:
            p = simplex_lsq_batch(q, confusion)
        elif n.ndim <= 2:
            p = simplex_lsq(q, confusion)
        else:
            p = simplex_lsq_pg(q, confusion)
    return np.where(total > 0, np.nan_to_num(p) * total, 0.0)
