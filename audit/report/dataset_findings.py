"""Findings of a dataset audit: identity terms whose captions over- or under-mention a concept or carry
unsafe / toxic terms, ranked by the same rule as a probe run's findings.

The dataset audit writes counts (``cooccurrence.parquet``, ``per_query_rates.parquet``),
not a results table. A finding is a *ratio to the whole dataset*:

- association: share of captions with identity term ``x`` that mention concept ``y``,
  over the share of all captions that do (the lift; nPMI is shown beside it);
- rate: share of captions with ``x`` carrying an unsafe / toxic term (or an NSFW tag),
  over the dataset's share.

The numerator's 95% Wilson interval (captions treated as independent; the
dataset share is taken as known) gives the ratio's interval. Ranking
(:data:`RULE`): the bound nearest 1 (no difference), on a log scale; a ratio whose
interval includes 1 is not listed; at least ``min_n`` captions with ``x`` and
``min_both`` captions with both. Nothing here is stored: it is a view of the
audit's tables.

Examples
--------
>>> co = pd.DataFrame({"identity": ["gender:woman", "gender:man"], "concept": ["profession:nurse"] * 2,
...     "role": "concept", "n_rows": 1000, "n_identity": [100, 100], "n_concept": [50, 50], "n_both": [30, 2],
...     "npmi": [0.4, -0.1]})
>>> f = dataset_findings(co, pd.DataFrame(), min_n=20, min_both=1)
>>> f[["identity", "other", "n_both"]].values.tolist()
[['gender:woman', 'profession:nurse', 30]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.metrics import wilson_interval

__all__ = ["RULE", "dataset_findings", "format_dataset_finding", "MEASURES"]

RULE = ("Ranked by the 95% interval bound nearest to 'as often as in the whole dataset' (ratio 1), on a log scale: "
        "a ratio whose interval includes 1 is not listed. Only identity terms in at least {min_n} captions and "
        "pairs seen together in at least {min_both} captions count; intervals treat captions as independent.")
#: Rate measures of ``per_query_rates``: name -> (count column, denominator column, words).
MEASURES = {"toxic": ("toxic", "rows", "a toxic term"), "unsafe": ("unsafe", "rows", "an unsafe term"),
            "nsfw": ("nsfw", "nsfw_known", "an NSFW tag")}
COLUMNS = ["kind", "identity", "other", "role", "ratio", "lo", "hi", "k", "n", "n_both", "n_identity", "base",
           "npmi", "strength", "method"]


def _ratio_rows(k, n, base, confidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k, n, base = (np.asarray(x, dtype=float) for x in (k, n, base))
    lo, hi = wilson_interval(k, n, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (k / n) / base, lo / base, hi / base


def _strength(lo, hi) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lo > 1, np.log(lo), np.where(hi < 1, -np.log(hi), 0.0))


def dataset_findings(co: pd.DataFrame, rates: pd.DataFrame, *, k: int = 5, min_n: int = 20, min_both: int = 5,
                     confidence: float = 0.95) -> pd.DataFrame:
    """The ``k`` strongest dataset findings (associations and rates), with counts and intervals.

    Parameters
    ----------
    co : pandas.DataFrame
        ``cooccurrence.parquet`` (``identity, concept, role, n_rows, n_identity, n_concept, n_both, npmi``).
    rates : pandas.DataFrame
        ``per_query_rates.parquet`` (first row: the whole dataset).
    k, min_n, min_both, confidence
        See :data:`RULE`.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (``association`` | ``rate``), ``identity, other, role, ratio, lo, hi, k`` (captions with
        both), ``n`` (captions with the identity term), ``base`` (dataset share), ``npmi, strength, method``;
        ``attrs["warnings"]`` and ``attrs["rule"]``.
    """
    method = f"Wilson {round(100 * confidence)}% interval, captions independent"
    parts, warnings = [], []
    if len(co):
        c = co[(co.role != "flag") & (co.n_identity >= min_n) & (co.n_both >= min_both) & (co.n_rows > 0)]
        if len(c):
            base = c.n_concept / c.n_rows
            ratio, lo, hi = _ratio_rows(c.n_both, c.n_identity, base, confidence)
            parts.append(pd.DataFrame({"kind": "association", "identity": c.identity, "other": c.concept,
                                       "role": c.role, "ratio": ratio, "lo": lo, "hi": hi, "k": c.n_both,
                                       "n": c.n_identity, "n_both": c.n_both, "n_identity": c.n_identity,
                                       "base": base, "npmi": c.npmi, "method": method}))
        else:
            warnings.append(f"No association counts: no identity term x concept pair is in at least {min_both} "
                            f"captions with an identity term in at least {min_n} (pairs from one or two captions "
                            "are not findings).")
    if len(rates) > 1:
        whole, per = rates.iloc[0], rates.iloc[1:]
        per = per[per.rows >= min_n]
        for name, (num, den, _) in MEASURES.items():
            if float(whole.get(den, 0) or 0) <= 0 or float(whole.get(num, 0) or 0) <= 0:
                continue
            sub = per[per[den] >= min_n]
            base = float(whole[num]) / float(whole[den])
            ratio, lo, hi = _ratio_rows(sub[num], sub[den], base, confidence)
            parts.append(pd.DataFrame({"kind": "rate", "identity": sub["query"], "other": name, "role": name,
                                       "ratio": ratio, "lo": lo, "hi": hi, "k": sub[num], "n": sub[den],
                                       "n_both": sub[num], "n_identity": sub["rows"], "base": base,
                                       "npmi": np.nan, "method": method}))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    if len(frame):
        frame["strength"] = _strength(frame.lo.to_numpy(float), frame.hi.to_numpy(float))
        kept = frame[frame.strength > 0].sort_values(["strength", "k"], ascending=False, kind="stable").head(k)
        if kept.empty:
            warnings.append(f"No finding: no ratio's 95% interval excludes 1 among {len(frame)} candidates.")
    else:
        kept = frame
        if not warnings:
            warnings.append("No finding: the audit found no identity term in enough captions to measure.")
    out = kept.reindex(columns=COLUMNS).reset_index(drop=True)
    out.attrs.update({"warnings": warnings, "rule": RULE.format(min_n=min_n, min_both=min_both),
                      "candidates": int(len(frame))})
    return out


def _name(term: str) -> str:
    return term.split(":", 1)[-1]


def format_dataset_finding(r) -> str:
    """One dataset finding as a line.

    Examples
    --------
    >>> format_dataset_finding({"kind": "association", "identity": "gender:woman", "other": "profession:nurse",
    ...     "ratio": 6.0, "lo": 4.4, "hi": 7.9, "k": 30, "n": 100, "base": 0.05, "npmi": 0.4, "method": "Wilson"})
    "captions with 'woman' mention 'nurse' 6.0x as often as all captions [4.4x, 7.9x]: 30 of 100 captions (all captions: 5.0%); nPMI +0.40; Wilson"
    """
    who = f"captions with '{_name(r['identity'])}'"
    if r["kind"] == "association":
        what = f"mention '{_name(r['other'])}'"
        npmi = f"; nPMI {r['npmi']:+.2f}" if pd.notna(r.get("npmi")) else ""
    else:
        what = f"carry {MEASURES[r['other']][2]}"
        npmi = ""
    return (f"{who} {what} {r['ratio']:.1f}x as often as all captions [{r['lo']:.1f}x, {r['hi']:.1f}x]: "
            f"{int(r['k'])} of {int(r['n'])} captions (all captions: {100 * r['base']:.1f}%){npmi}; {r['method']}")
