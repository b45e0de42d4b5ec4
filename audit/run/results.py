"""``results.json``: metrics per sweep setting, computed from the merged per-shard counts.

For every setting, every slot (and ``*``, all images) and every labelled
attribute: the share of each value with Wilson intervals
(:func:`audit.metrics.proportions`), diversity (:func:`audit.metrics.representation`)
and nPMI (:func:`audit.metrics.npmi`); for every reference of the suite, the
gap between observed and reference shares (:func:`audit.metrics.reference_gap`);
and across settings, the spread of every overall share (sampler sensitivity).

Examples
--------
>>> c = pd.DataFrame({"setting": "default", "slot": ["*", "*", "job", "job"],
...     "slot_value": ["all", "all", "x", "y"], "labeler": "t", "attribute": "g",
...     "value": ["f", "m", "f", "m"], "n": [1, 1, 1, 1]})
>>> r = results_from_counts(c, references=[])
>>> [t["slot"] for t in r["tables"]]
['*', 'job']
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["results_from_counts", "OTHER"]

#: Attribute value standing for "anything but the reference value" in binary reference gaps.
OTHER = "(other)"
#: Attributes with more distinct values than this (numeric readings such as ITA degrees) get no
#: share tables; they are listed under ``skipped``.
MAX_CATEGORIES = 30


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _table(sub: pd.DataFrame) -> dict[str, Any]:
    from audit.metrics import npmi, proportions, representation

    counts = sub.rename(columns={"slot_value": "concept"})[["concept", "value", "n"]]
    out = {"proportions": _records(proportions(counts, concept="concept", attribute="value"))}
    out["representation"] = _records(representation(counts, concept="concept", attribute="value"))
    if counts.concept.nunique() > 1:
        out["npmi"] = _records(npmi(counts, concept="concept", attribute="value"))
    return out


def _reference_gaps(counts: pd.DataFrame, references: list[dict]) -> list[dict]:
    from audit.metrics import reference_gap

    out = []
    for ref in references:
        rows = counts[(counts.slot == ref["slot"]) & (counts.attribute == ref["attribute"])]
        for (setting, labeler), sub in rows.groupby(["setting", "labeler"], sort=True):
            binary = sub.assign(value=sub.value.where(sub.value == str(ref["value"]), OTHER))
            observed = binary.groupby(["slot_value", "value"], as_index=False)["n"].sum()
            both = pd.MultiIndex.from_product([observed.slot_value.unique(), [str(ref["value"]), OTHER]],
                                              names=["slot_value", "value"])
            observed = observed.set_index(["slot_value", "value"]).reindex(both, fill_value=0).reset_index()
            table = pd.DataFrame([{"slot_value": k, "value": v, "p": p} for k, pct in ref["percent"].items()
                                  for v, p in ((str(ref["value"]), pct / 100), (OTHER, 1 - pct / 100))])
            if not set(table.slot_value) & set(observed.slot_value):
                continue
            gap = reference_gap(observed, table, concept="slot_value", attribute="value")
            gap = gap[gap.value == str(ref["value"])].rename(columns={"slot_value": "concept"})
            out.append({"setting": setting, "labeler": labeler, "slot": ref["slot"], "attribute": ref["attribute"],
                        "value": str(ref["value"]), "source": ref["source"],
                        "rows": _records(gap.drop(columns="value")),
                        "mean_abs_difference": float(gap.difference.abs().mean())})
    return out


def _spread(counts: pd.DataFrame) -> list[dict]:
    overall = counts[counts.slot == "*"]
    if overall.setting.nunique() < 2:
        return []
    totals = overall.groupby(["setting", "labeler", "attribute"])["n"].transform("sum")
    shares = overall.assign(p=overall.n / totals)
    grid = shares.pivot_table(index=["labeler", "attribute", "value"], columns="setting", values="p",
                              fill_value=0.0)
    out = grid.agg(["min", "max"], axis=1)
    out["range"] = out["max"] - out["min"]
    out["by_setting"] = grid.to_dict("records")
    return _records(out.reset_index())


def results_from_counts(counts: pd.DataFrame, *, references: list[dict], settings: list[str] | None = None,
                        suite: str | None = None, n_images: dict[str, int] | None = None) -> dict[str, Any]:
    """Compute the run's results from merged counts.

    Parameters
    ----------
    counts
        ``[setting, slot, slot_value, labeler, attribute, value, n]`` (see
        :func:`audit.run.work.shard_counts`).
    references
        The suite's references as dicts (``slot, attribute, value, source, percent``).
    settings
        Setting labels in sweep order (default: as found).
    suite
        Suite name to record.
    n_images
        Images per setting (default: counted from the ``*`` rows).

    Returns
    -------
    dict
        ``{"suite", "settings", "n_images", "tables", "reference_gaps", "spread", "skipped"}``.
    """
    settings = settings or list(dict.fromkeys(counts.setting))
    if counts.empty:
        return {"suite": suite, "settings": settings, "n_images": n_images or {}, "tables": [],
                "reference_gaps": [], "spread": [], "skipped": []}
    n_values = counts.groupby(["labeler", "attribute"]).value.nunique()
    wide = n_values[n_values > MAX_CATEGORIES]
    skipped = [{"labeler": lab, "attribute": att, "values": int(n),
                "reason": f"more than {MAX_CATEGORIES} distinct values (a numeric reading, not categories)"}
               for (lab, att), n in wide.items()]
    if len(wide):
        drop = counts.set_index(["labeler", "attribute"]).index.isin(wide.index)
        counts = counts[~drop]
    tables = []
    for (setting, slot, labeler, attribute), sub in counts.groupby(
            ["setting", "slot", "labeler", "attribute"], sort=True):
        tables.append({"setting": setting, "slot": slot, "labeler": labeler, "attribute": attribute, **_table(sub)})
    if n_images is None:
        overall = counts[counts.slot == "*"]
        per_setting = overall.groupby(["setting", "labeler", "attribute"])["n"].sum().groupby("setting").max()
        n_images = {str(k): int(v) for k, v in per_setting.items()}
    return {
        "suite": suite,
        "settings": settings,
        "n_images": n_images,
        "tables": tables,
        "reference_gaps": _reference_gaps(counts, references),
        "spread": _spread(counts),
        "skipped": skipped,
    }
