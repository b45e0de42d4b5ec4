"""Compare a run's gated metrics with a baseline's, metric direction by metric direction.

A number *regresses* when it is worse than the baseline (larger for an ``"up"``
metric, smaller for a ``"down"`` metric) by more than the policy's tolerance
**and** by more than the sampling noise allows. The policy's ``rule`` says
what the noise allowance is:

- ``"combined"`` (default): the change must exceed the margin of the
  difference of two independent estimates, ``sqrt(b**2 + c**2)``, where ``b``
  is the baseline interval's half-width on the worse side and ``c`` the current
  interval's half-width on the other side (both runs are samples);
- ``"baseline"``: the current value must lie outside the baseline's interval
  on the worse side (the baseline treated as exact up to its own interval).

It *improves* under the mirror condition. A baseline number absent from the run is
``missing``; a run number absent from the baseline is ``new`` (not gated).

Examples
--------
>>> base = pd.DataFrame({"metric": ["normalized_entropy"], "setting": "default", "slot": "job",
...     "labeler": "w", "attribute": "presentation", "group": "nurse", "direction": "down",
...     "value": 0.9, "lo": 0.8, "hi": 1.0})
>>> now = base.assign(value=0.5, lo=0.45, hi=0.55)
>>> compare_metrics(base, now, policy=Policy()).status.tolist()
['regressed']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.gate.numbers import KEY
from audit.gate.policy import Policy

__all__ = ["compare_metrics", "STATUSES"]

#: Possible values of the ``status`` column, in display order.
STATUSES = ("regressed", "missing", "improved", "ok", "new")


def compare_metrics(baseline: pd.DataFrame, current: pd.DataFrame, *, policy: Policy) -> pd.DataFrame:
    """One row per gated number: baseline value and interval, the value now, and a status.

    Parameters
    ----------
    baseline, current : pandas.DataFrame
        Rows keyed by :data:`audit.gate.numbers.KEY` with ``value`` (and for the
        baseline ``lo``, ``hi``, ``direction``).
    policy : Policy
        Tolerances and which metrics and attributes to gate.

    Returns
    -------
    pandas.DataFrame
        ``KEY, direction, baseline, lo, hi, now, now_lo, now_hi, worse_by, margin, tolerance,
        status``; ``worse_by`` is positive when the number moved the biased way, ``margin``
        is the noise allowance on the worse side.
    """
    key = list(KEY)
    base = baseline[[*key, "direction", "value", "lo", "hi"]].rename(columns={"value": "baseline"})
    cur = current.reindex(columns=[*key, "direction", "value", "lo", "hi"])
    now = cur.rename(columns={"value": "now", "direction": "direction_now", "lo": "now_lo", "hi": "now_hi"})
    both = base.merge(now, on=key, how="outer", indicator=True)
    both["direction"] = both["direction"].fillna(both["direction_now"])
    both = both[[policy.gates(m, a) for m, a in zip(both["metric"], both["attribute"])]].copy()
    up = (both["direction"] != "down").to_numpy()
    sign = np.where(up, 1.0, -1.0)
    b, lo, hi, v, v_lo, v_hi = (both[c].astype(float).to_numpy() for c in ("baseline", "lo", "hi", "now", "now_lo",
                                                                             "now_hi"))
    both["worse_by"] = sign * (v - b)
    both["tolerance"] = [policy.tolerance_for(m) for m in both["metric"]]
    # half-widths (a missing interval counts as 0: it never excuses a move)
    base_worse, base_better = (np.nan_to_num(np.where(up, hi - b, b - lo)), np.nan_to_num(np.where(up, b - lo, hi - b)))
    now_worse, now_better = (np.nan_to_num(np.where(up, v - v_lo, v_hi - v)), np.nan_to_num(np.where(up, v_hi - v, v - v_lo)))
    if policy.rule == "combined":
        margin_worse, margin_better = np.hypot(base_worse, now_worse), np.hypot(base_better, now_better)
    else:
        margin_worse, margin_better = base_worse, base_better
    both["margin"] = margin_worse
    outside_worse = both["worse_by"].to_numpy() > margin_worse
    outside_better = -both["worse_by"].to_numpy() > margin_better
    status = np.select(
        [both["_merge"] == "left_only", both["_merge"] == "right_only",
         (both["worse_by"] > both["tolerance"]) & outside_worse,
         (-both["worse_by"] > both["tolerance"]) & outside_better],
        ["missing", "new", "regressed", "improved"], default="ok")
    both["status"] = status
    order = {s: i for i, s in enumerate(STATUSES)}
    both = both.assign(_order=both["status"].map(order)).sort_values(["_order", *key], kind="stable")
    cols = [*key, "direction", "baseline", "lo", "hi", "now", "now_lo", "now_hi", "worse_by", "margin", "tolerance",
            "status"]
    return both[cols].reset_index(drop=True)
