"""A dataset audit's numbers as the one tidy results table (``results.parquet``), like a probe run's.

Same columns as a run's table (:data:`audit.results.columns.COLUMNS`), so the same readers
work on both. What the rows mean here:

- ``slot == "caption"`` rows come from the captions: per identity term, the rate of
  unsafe / toxic / NSFW-tagged captions (``metric`` ``unsafe_rate``, ``toxic_rate``,
  ``nsfw_rate``, Wilson intervals over captions) and the nPMI of each identity term with each
  concept (``npmi``; a census of the dataset's captions, so no sampling interval; a pair
  never seen together is NaN, "not observed").
- ``slot == "caption_concept"`` rows come from the images: P(label value | caption concept)
  raw and corrected for labeler error (``proportion``, ``corrected`` True), with intervals.

Examples
--------
>>> co = pd.DataFrame({"identity": ["gender:woman"], "concept": ["profession:nurse"], "role": ["concept"],
...                    "n_rows": [10], "n_identity": [4], "n_concept": [3], "n_both": [2], "npmi": [0.4]})
>>> t = dataset_results_table(cooccurrence=co, per_query=None, image_shares=None)
>>> t[["slot", "concept", "value", "metric", "estimate", "n"]].values.tolist()
[['caption', 'profession:nurse', 'gender:woman', 'npmi', 0.4, 2]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.results import columns as C

__all__ = ["dataset_results_table", "RATES"]

#: Per-query rate columns of ``per_query_rates.parquet`` -> metric name in the table.
RATES = {"unsafe": "unsafe_rate", "toxic": "toxic_rate", "nsfw": "nsfw_rate"}
_CENSUS = "none: a census of the dataset's captions"


def _frame(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(C.COLUMNS))
    return table.astype({"n": "int64", "total": "int64", "corrected": bool, "estimate": float, "lo": float,
                         "hi": float})


def _caption_rows(cooccurrence: pd.DataFrame | None, per_query: pd.DataFrame | None) -> list[dict]:
    rows: list[dict] = []
    base = {"setting": "dataset", "slot": "caption", "labeler": "lexicon", "corrected": False}
    if per_query is not None and len(per_query):
        for r in per_query.itertuples(index=False):
            for col, metric in RATES.items():
                total = int(r.nsfw_known) if col == "nsfw" else int(r.rows)
                if total == 0:
                    continue
                rows.append({**base, "concept": C.ALL if str(r.query).startswith("(") else r.query,
                             "attribute": "caption", "value": col, "metric": metric,
                             "estimate": getattr(r, f"{col}_rate"), "lo": getattr(r, f"{col}_lo"),
                             "hi": getattr(r, f"{col}_hi"), "n": int(getattr(r, col)), "total": total,
                             "method": "wilson (captions independent)", "note": ""})
    if cooccurrence is not None and len(cooccurrence):
        co = cooccurrence
        note = np.where(co["n_both"] == 0, C.NOT_OBSERVED, "")
        rows += [{**base, "concept": c, "attribute": "identity", "value": i, "metric": C.NPMI, "estimate": v,
                  "lo": np.nan, "hi": np.nan, "n": int(nb), "total": int(nc), "method": _CENSUS, "note": nt}
                 for c, i, v, nb, nc, nt in zip(co["concept"], co["identity"], co["npmi"], co["n_both"],
                                                 co["n_concept"], note)]
    return rows


def _image_rows(shares: pd.DataFrame | None, labeler: str) -> list[dict]:
    if shares is None or not len(shares):
        return []
    base = {"setting": "dataset", "slot": "caption_concept", "labeler": labeler}
    rows = []
    for r in shares.itertuples(index=False):
        rows.append({**base, "concept": r.concept, "attribute": r.attribute, "value": r.value,
                     "metric": C.PROPORTION, "estimate": r.share, "lo": r.lo, "hi": r.hi, "n": int(r.n),
                     "total": int(r.n_concept), "method": r.method, "corrected": False, "note": ""})
        if pd.notna(r.share_corrected):
            rows.append({**base, "concept": r.concept, "attribute": r.attribute, "value": r.value,
                         "metric": C.PROPORTION, "estimate": r.share_corrected, "lo": r.lo_corrected,
                         "hi": r.hi_corrected, "n": int(r.n), "total": int(r.n_answered),
                         "method": r.method_corrected, "corrected": True, "note": ""})
    return rows


def dataset_results_table(*, cooccurrence: pd.DataFrame | None, per_query: pd.DataFrame | None,
                          image_shares: pd.DataFrame | None, labeler: str = "") -> pd.DataFrame:
    """The dataset audit's tidy results table (see the module docstring).

    Parameters
    ----------
    cooccurrence, per_query
        ``cooccurrence.parquet`` and ``per_query_rates.parquet`` of the caption side.
    image_shares
        ``image_by_concept.parquet`` of the image side (None when no images were labelled).
    labeler
        Name of the labeler behind the image shares.

    Returns
    -------
    pandas.DataFrame
        :data:`audit.results.columns.COLUMNS`.
    """
    return _frame(_caption_rows(cooccurrence, per_query) + _image_rows(image_shares, labeler))
