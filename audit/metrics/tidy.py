"""One tidy results table from an :class:`~audit.metrics.AuditFrame`: a row per estimate.

Columns: ``concept, attribute, value, metric, estimate, lo, hi, n, method, corrected`` where
``concept`` and ``value`` are the concept and attribute value (``*`` where a metric is
per concept or table-wide), ``attribute`` the attribute column's name, ``n`` the number
of images behind the estimate (the concept's images), and ``method`` the interval method
(:data:`~audit.metrics.INTERVALS`, plus the confusion handling for corrected rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["tidy_results", "TIDY_COLUMNS"]

#: Columns of :func:`tidy_results`.
TIDY_COLUMNS = ["concept", "attribute", "value", "metric", "estimate", "lo", "hi", "n", "method", "corrected"]


def _rows(est, lo, hi, *, concepts, values, metric, n, method, corrected, attribute) -> pd.DataFrame:
    return pd.DataFrame({
        "concept": concepts, "attribute": attribute, "value": values, "metric": metric,
        "estimate": np.asarray(est, float), "lo": np.asarray(lo, float), "hi": np.asarray(hi, float),
        "n": np.asarray(n, float), "method": method, "corrected": corrected})


def tidy_results(af, *, groups: tuple[str, str] | None = None) -> pd.DataFrame:
    """Proportions, nPMI, deviation from uniform, entropy (and nPMI gaps) with intervals, raw and corrected.

    Parameters
    ----------
    af : AuditFrame
        Built with ``n_resamples > 0``.
    groups : (str, str), optional
        Also the nPMI gap ``groups[0] - groups[1]`` per concept (value ``"a-b"``).

    Returns
    -------
    pandas.DataFrame
        :data:`TIDY_COLUMNS`.

    Examples
    --------
    >>> from audit.metrics import AuditFrame
    >>> df = pd.DataFrame({"prompt_id": range(8), "job": ["ceo"] * 4 + ["nurse"] * 4,
    ...                    "g": ["m", "m", "m", "f", "f", "f", "f", "m"]})
    >>> t = tidy_results(AuditFrame(df, concept="job", attribute="g", n_resamples=50))
    >>> t[t.metric == "proportion"][["concept", "value", "estimate", "n", "method"]].values.tolist()[:2]
    [['ceo', 'f', 0.25, 4.0, 'jeffreys_deff'], ['ceo', 'm', 0.75, 4.0, 'jeffreys_deff']]
    """
    bg = af.by_group.join(af.by_group_ci.drop(columns=["method", "method_corrected"], errors="ignore"))
    bc = af.by_concept.join(af.by_concept_ci.drop(columns=["method", "method_corrected"], errors="ignore"))
    concept_n = bc["n"]
    cells = bg.index.get_level_values(0)
    kw = dict(attribute=af.attribute)
    frames = []
    for corrected in (False, True) if af.corrected is not None else (False,):
        sfx = "_corrected" if corrected else ""
        method = af.method_corrected if corrected else af.method
        for metric in ("proportion", "npmi"):
            frames.append(_rows(bg[f"{metric}{sfx}"], bg[f"{metric}{sfx}_lo"], bg[f"{metric}{sfx}_hi"],
                                concepts=cells, values=bg.index.get_level_values(1), metric=metric,
                                n=concept_n.reindex(cells).to_numpy(), method=method, corrected=corrected, **kw))
        for metric in ("mad_from_uniform", "normalized_entropy"):
            frames.append(_rows(bc[f"{metric}{sfx}"], bc[f"{metric}{sfx}_lo"], bc[f"{metric}{sfx}_hi"],
                                concepts=bc.index, values="*", metric=metric, n=concept_n.to_numpy(), method=method,
                                corrected=corrected, **kw))
        if groups is not None:
            g = af.gaps(groups=groups)
            est = g["gap_corrected"] if corrected else g["gap"]
            lo, hi = (g["gap_corrected_lo"], g["gap_corrected_hi"]) if corrected else (g["lo"], g["hi"])
            frames.append(_rows(est, lo, hi, concepts=g.index, values=f"{groups[0]}-{groups[1]}", metric="npmi_gap",
                                n=concept_n.reindex(g.index).to_numpy(), method=method, corrected=corrected, **kw))
    return pd.concat(frames, ignore_index=True)[TIDY_COLUMNS]
