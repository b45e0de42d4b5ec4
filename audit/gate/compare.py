"""Compare a run's gated metrics with a baseline's, metric direction by metric direction.

A number *regresses* when it is worse than the baseline (larger for an ``"up"``
metric, smaller for a ``"down"`` metric) by more than the policy's tolerance
**and** lies outside the baseline's interval on the worse side. It *improves*
under the mirror condition. A baseline number absent from the run is
``missing``; a run number absent from the baseline is ``new`` (not gated).

Examples
--------
>>> base = pd.DataFrame({"metric": ["normalized_entropy"], "setting": "default", "slot": "job",
...     "labeler": "w", "attribute": "presentation", "group": "nurse", "direction": "down",
...     "value": 0.9, "lo": 0.8, "hi": 1.0})
>>> now = base.assign(value=0.5)
>>> compare_metrics(base, now, policy=Policy()).status.tolist()
['regressed']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.gate.metrics import KEY
from audit.gate.policy import Policy

__all__ = ["compare_metrics", "STATUSES"]

#: Possible values of the ``status`` column, in display order.
STATUSES = ("regressed", "missing", "improved", "ok", "new")


def compare_metrics(baseline: pd.DataFrame, current: pd.DataFrame, *, policy: Policy) -> pd.DataFrame:
    """One row per gated number: baseline value and interval, the value now, and a status.

    Parameters
    ----------
    baseline, current : pandas.DataFrame
        Rows keyed by :data:`audit.gate.metrics.KEY` with ``value`` (and for the
        baseline ``lo``, ``hi``, ``direction``).
    policy : Policy
        Tolerances and which metrics and attributes to gate.

    Returns
    -------
    pandas.DataFrame
        ``KEY, direction, baseline, lo, hi, now, worse_by, tolerance, status``;
        ``worse_by`` is positive when the number moved the biased way.
    """
    key = list(KEY)
    base = baseline[[*key, "direction", "value", "lo", "hi"]].rename(columns={"value": "baseline"})
    now = current[[*key, "direction", "value"]].rename(columns={"value": "now", "direction": "direction_now"})
    both = base.merge(now, on=key, how="outer", indicator=True)
    both["direction"] = both["direction"].fillna(both["direction_now"])
    both = both[[policy.gates(m, a) for m, a in zip(both["metric"], both["attribute"])]].copy()
    sign = np.where(both["direction"] == "down", -1.0, 1.0)
    both["worse_by"] = sign * (both["now"].astype(float) - both["baseline"].astype(float))
    both["tolerance"] = [policy.tolerance_for(m) for m in both["metric"]]
    lo, hi, now_v = (both[c].astype(float) for c in ("lo", "hi", "now"))
    # outside the interval on the worse side; a missing interval never excuses a move
    outside_worse = np.where(sign > 0, ~(now_v <= hi), ~(now_v >= lo))
    outside_better = np.where(sign > 0, ~(now_v >= lo), ~(now_v <= hi))
    status = np.select(
        [both["_merge"] == "left_only", both["_merge"] == "right_only",
         (both["worse_by"] > both["tolerance"]) & outside_worse,
         (-both["worse_by"] > both["tolerance"]) & outside_better],
        ["missing", "new", "regressed", "improved"], default="ok")
    both["status"] = status
    order = {s: i for i, s in enumerate(STATUSES)}
    both = both.assign(_order=both["status"].map(order)).sort_values(["_order", *key], kind="stable")
    cols = [*key, "direction", "baseline", "lo", "hi", "now", "worse_by", "tolerance", "status"]
    return both[cols].reset_index(drop=True)
