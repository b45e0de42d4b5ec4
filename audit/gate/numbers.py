"""The gated numbers of a run, read from its results table (:mod:`audit.results`); nothing is recomputed here.

Each gated metric (:data:`audit.results.columns.GATED`) names the table metric it
reads, whether it compares the magnitude (``|x|``, interval folded by
:func:`abs_interval`) and which way is worse. Rows corrected for labeler error,
and cells the table marks as not observed, are not gated.

Examples
--------
>>> GATED["normalized_entropy"].direction, GATED["abs_npmi_gap"].direction
('down', 'up')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.results import columns as C
from audit.results.columns import GATED

__all__ = ["GATED", "KEY", "gated_numbers", "abs_interval", "COLUMNS"]

#: Columns that identify one gated number.
KEY = ("metric", "setting", "slot", "labeler", "attribute", "group")
#: Columns of :func:`gated_numbers`.
COLUMNS = (*KEY, "value", "lo", "hi", "n", "direction")


def abs_interval(lo, hi):
    """The interval of ``|x|`` given an interval ``[lo, hi]`` of ``x`` (vectorised).

    Examples
    --------
    >>> [float(v) for v in abs_interval(-0.2, 0.5)], [float(v) for v in abs_interval(-0.5, -0.2)]
    ([0.0, 0.5], [0.2, 0.5])
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    a_lo = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return a_lo, np.maximum(np.abs(lo), np.abs(hi))


def gated_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """Every gated number of a results table, one row per :data:`KEY`.

    Parameters
    ----------
    table : pandas.DataFrame
        A results table (columns :data:`audit.results.columns.COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; ``group`` is the concept, ``concept/value`` or ``*``.

    Examples
    --------
    >>> t = pd.DataFrame({"setting": "default", "slot": "job", "concept": ["a", "b"], "labeler": "w",
    ...     "attribute": "presentation", "value": "feminine - masculine", "metric": "npmi_gap",
    ...     "estimate": [0.3, float("nan")], "lo": [-0.1, float("nan")], "hi": [0.5, float("nan")], "n": 4,
    ...     "total": 4, "method": "m", "corrected": False, "note": ["", "not observed: feminine"]})
    >>> gated_numbers(t)[["metric", "group", "value", "lo", "hi"]].values.tolist()
    [['abs_npmi_gap', 'a', 0.3, 0.0, 0.5]]
    """
    raw = table[~table["corrected"].astype(bool) & np.isfinite(table["estimate"].astype(float))
                & (table["setting"] != C.ANY)]
    parts = []
    for gated in GATED.values():
        rows = raw[raw["metric"] == gated.source]
        if rows.empty:
            continue
        value, lo, hi = (rows[c].to_numpy(dtype=float) for c in ("estimate", "lo", "hi"))
        if gated.absolute:
            value = np.abs(value)
            lo, hi = abs_interval(lo, hi)
        group = {"concept": rows["concept"], "*": pd.Series(C.ANY, index=rows.index),
                 "concept/value": rows["concept"].astype(str) + "/" + rows["value"].astype(str)}[gated.group]
        parts.append(pd.DataFrame({"metric": gated.name, "setting": rows["setting"], "slot": rows["slot"],
                                   "labeler": rows["labeler"], "attribute": rows["attribute"],
                                   "group": group.astype(str), "value": value, "lo": lo, "hi": hi,
                                   "n": rows["n"].astype(float), "direction": gated.direction}))
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    return out[list(COLUMNS)].sort_values(list(KEY), kind="stable").reset_index(drop=True)
