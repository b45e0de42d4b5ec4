"""Tidy tables and a summary from merged :class:`~audit.dataset.textstats.TextCounts`.

All association figures come from the document-level co-occurrence counts:
for identity term ``x`` and concept ``y`` over ``N`` captions, the 2 x 2 table
``[[n_xy, n_x - n_xy], [n_y - n_xy, N - n_x - n_y + n_xy]]`` goes through
:func:`audit.metrics.npmi_array`, whose cell ``[0, 0]`` is nPMI(x present,
y present). Rates use :func:`audit.metrics.wilson_interval`.

Examples
--------
>>> import pyarrow as pa
>>> from audit.dataset.lexicon import load_lexicons
>>> from audit.dataset.textstats import TextAuditor
>>> c = TextAuditor(load_lexicons()).count_batch(pa.RecordBatch.from_pydict(
...     {"text": ["a woman nurse", "a man", "a nurse", "nude woman"], "nsfw": ["UNLIKELY", "UNLIKELY", None, "NSFW"]}))
>>> r = per_query_rates(c, load_lexicons())
>>> r.set_index("query").loc["gender:woman", ["rows", "nsfw", "nsfw_known"]].tolist()
[2, 1, 2]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.dataset.lexicon import Lexicon
from audit.dataset.textstats import LENGTH_BINS, LONG_CAPTION, STOPWORD_SAMPLE, TextCounts
from audit.metrics import npmi_array, wilson_interval

__all__ = ["term_frequencies", "cooccurrence", "per_query_rates", "caption_summary", "ALL"]

#: The pseudo-query for the whole dataset in :func:`per_query_rates`.
ALL = "(all captions)"


def term_frequencies(counts: TextCounts, lexicon: Lexicon) -> pd.DataFrame:
    """Rows containing each concept and each surface form.

    Returns
    -------
    pandas.DataFrame
        ``level`` (``concept`` | ``surface``), ``term``, ``concept`` (label or
        the concepts a surface tags, ``;``-joined), ``category``, ``role``,
        ``rows``, ``share`` (of all rows).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from audit.dataset.lexicon import load_lexicons
    >>> from audit.dataset.textstats import TextAuditor
    >>> lex = load_lexicons()
    >>> c = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": ["women", "a woman"]}))
    >>> tf = term_frequencies(c, lex)
    >>> int(tf[(tf.level == "concept") & (tf.term == "gender:woman")].rows.iloc[0])
    2
    """
    n = max(counts.n_rows, 1)
    k = len(lexicon.concepts)
    diag = np.diag(counts.pair)[:k]
    concept = pd.DataFrame({
        "level": "concept", "term": list(lexicon.concepts), "concept": list(lexicon.concepts),
        "category": [lexicon.category_of(c) for c in lexicon.concepts], "role": list(lexicon.roles),
        "rows": diag})
    first = [cids[0] for cids in lexicon.surface_concepts]
    surface = pd.DataFrame({
        "level": "surface", "term": list(lexicon.surfaces),
        "concept": [";".join(lexicon.concepts[i] for i in cids) for cids in lexicon.surface_concepts],
        "category": [lexicon.category_of(lexicon.concepts[i]) for i in first],
        "role": [lexicon.roles[i] for i in first], "rows": counts.surface_rows})
    out = pd.concat([concept, surface], ignore_index=True)
    out["rows"] = out["rows"].astype("int64")
    out["share"] = out["rows"] / n
    return out.sort_values(["level", "rows", "term"], ascending=[True, False, True], ignore_index=True)


def cooccurrence(counts: TextCounts, lexicon: Lexicon) -> pd.DataFrame:
    """Identity term x concept co-occurrence counts with nPMI (mergeable: add ``n_*`` columns).

    Every identity concept is paired with every non-identity concept and with
    the flags ``flag:nsfw``, ``flag:any_unsafe``, ``flag:any_toxic``.

    Returns
    -------
    pandas.DataFrame
        ``identity, concept, role, n_rows, n_identity, n_concept, n_both, npmi``
        (nPMI NaN where either term never occurs).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from audit.dataset.lexicon import load_lexicons
    >>> from audit.dataset.textstats import TextAuditor
    >>> lex = load_lexicons()
    >>> c = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": ["a woman nurse", "a man", "a chef"]}))
    >>> t = cooccurrence(c, lex).set_index(["identity", "concept"])
    >>> round(float(t.loc[("gender:woman", "profession:nurse"), "npmi"]), 3)
    1.0
    """
    labels = counts.labels
    roles = dict(zip(lexicon.concepts, lexicon.roles))
    ident = [i for i, l in enumerate(labels) if roles.get(l) == "identity"]
    other = [i for i, l in enumerate(labels) if roles.get(l) not in (None, "identity")]
    other += [labels.index(f) for f in ("flag:nsfw", "flag:any_unsafe", "flag:any_toxic")]
    n = counts.n_rows
    xi = np.repeat(ident, len(other))
    yi = np.tile(other, len(ident))
    nxy = counts.pair[xi, yi].astype(float)
    nx = counts.pair[xi, xi].astype(float)
    ny = counts.pair[yi, yi].astype(float)
    # the NSFW flag is only defined on rows whose tag is known
    known = labels.index("flag:nsfw_known")
    is_nsfw = np.array([labels[j] == "flag:nsfw" for j in yi])
    total = np.where(is_nsfw, counts.pair[known, known], n).astype(float)
    nx_eff = np.where(is_nsfw, counts.pair[xi, known], nx).astype(float)
    tables = np.stack([np.stack([nxy, nx_eff - nxy], -1), np.stack([ny - nxy, total - nx_eff - ny + nxy], -1)], -2)
    with np.errstate(invalid="ignore"):
        val = npmi_array(tables)[:, 0, 0]
    val = np.where((nx_eff > 0) & (ny > 0), val, np.nan)
    return pd.DataFrame({
        "identity": [labels[i] for i in xi], "concept": [labels[j] for j in yi],
        "role": [roles.get(labels[j], "flag") for j in yi], "n_rows": total.astype("int64"),
        "n_identity": nx_eff.astype("int64"), "n_concept": ny.astype("int64"), "n_both": nxy.astype("int64"),
        "npmi": val})


def per_query_rates(counts: TextCounts, lexicon: Lexicon, *, confidence: float = 0.95) -> pd.DataFrame:
    """NSFW-tag, unsafe-term and toxic-term rates of captions per identity query term.

    The per-query analysis of Birhane et al. (2021) on LAION-400M: among
    captions that contain a query term, the share whose image carries the
    NSFW tag (over rows where the tag is known), and the share containing an
    unsafe or toxic lexicon term, each with a Wilson interval. The first row,
    :data:`ALL`, is the whole dataset for comparison.

    Returns
    -------
    pandas.DataFrame
        ``query, category, rows, nsfw_known, nsfw, nsfw_rate, nsfw_lo, nsfw_hi,
        unsafe, unsafe_rate, unsafe_lo, unsafe_hi, toxic, toxic_rate, toxic_lo,
        toxic_hi`` and ``*_ratio`` (rate over the :data:`ALL` rate).
    """
    labels = counts.labels
    roles = dict(zip(lexicon.concepts, lexicon.roles))
    queries = ["flag:all"] + [l for l in labels if roles.get(l) == "identity"]
    qi = np.array([labels.index(q) for q in queries])
    P = counts.pair
    col = {f: labels.index(f) for f in ("flag:nsfw", "flag:nsfw_known", "flag:any_unsafe", "flag:any_toxic")}
    out = pd.DataFrame({
        "query": [ALL] + queries[1:],
        "category": [""] + [lexicon.category_of(q) for q in queries[1:]],
        "rows": P[qi, qi],
        "nsfw_known": P[qi, col["flag:nsfw_known"]],
        "nsfw": P[qi, col["flag:nsfw"]],
        "unsafe": P[qi, col["flag:any_unsafe"]],
        "toxic": P[qi, col["flag:any_toxic"]],
    })
    for name, denom in (("nsfw", "nsfw_known"), ("unsafe", "rows"), ("toxic", "rows")):
        k, m = out[name].to_numpy(float), out[denom].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(m > 0, k / np.where(m > 0, m, 1), np.nan)
        lo, hi = wilson_interval(k, m, confidence=confidence)
        out[f"{name}_rate"], out[f"{name}_lo"], out[f"{name}_hi"] = rate, lo, hi
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{name}_ratio"] = rate / rate[0]
    return out


def caption_summary(counts: TextCounts) -> dict:
    """Caption length, empty, duplicate and language-quality statistics as plain numbers.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from audit.dataset.lexicon import load_lexicons
    >>> from audit.dataset.textstats import TextAuditor
    >>> c = TextAuditor(load_lexicons()).count_batch(pa.RecordBatch.from_pydict({"text": ["a", "a", None, " "]}))
    >>> s = caption_summary(c)
    >>> s["rows"], s["null"], s["empty"], s["duplicate_rows"]
    (4, 1, 1, 1)
    """
    s = counts.scalars
    n = int(s.get("rows", 0))
    non_null = int(s.get("non_null_rows", 0))
    distinct = counts.distinct.count()
    lang_n = s.get("lang_sample_rows", 0)

    def ratio(a: float, b: float) -> float | None:
        return float(a) / float(b) if b else None

    edges = list(LENGTH_BINS) + [None]
    return {
        "rows": n,
        "null": int(s.get("null", 0)),
        "empty": int(s.get("empty", 0)),
        "non_null": non_null,
        "mean_length_chars": ratio(s.get("length_sum", 0), non_null),
        "max_length_chars": int(s.get("max_length", 0)),
        f"very_long_{LONG_CAPTION}_plus": int(s.get("very_long", 0)),
        "length_histogram": [{"from": edges[i], "to": edges[i + 1], "rows": int(v)}
                             for i, v in enumerate(counts.length_hist)],
        "distinct_captions": distinct,
        "distinct_exact": counts.distinct.exact,
        "duplicate_rows": max(non_null - distinct, 0),
        "duplicate_share": ratio(max(non_null - distinct, 0), non_null),
        "nonprintable_share": ratio(s.get("nonprintable_rows", 0), non_null),
        "replacement_char_share": ratio(s.get("replacement_char_rows", 0), non_null),
        "language_sample": f"1 in {STOPWORD_SAMPLE} distinct captions by hash ({int(lang_n)} rows)",
        "mean_ascii_letter_share": ratio(s.get("ascii_letter_share_sum", 0), lang_n),
        "mostly_ascii_letters_share": ratio(s.get("mostly_ascii_letters_rows", 0), lang_n),
        "mean_stopword_ratio": ratio(s.get("stopword_ratio_sum", 0), lang_n),
        "any_stopword_share": ratio(s.get("stopword_any_rows", 0), lang_n),
        "non_english_share": ratio(s.get("non_english_rows", 0), lang_n),
        "non_english_note": "lexicon rates cover English captions only; the language guess "
                            "(audit/dataset/language.py) finds about half of the non-English captions, "
                            "so this share is a lower bound",
        "problems": dict(counts.problems),
        "problem_examples": list(counts.messages),
    }
