"""Tidy tables and a summary from merged :class:`~audit.dataset.textstats.TextCounts`.

All association figures come from the document-level co-occurrence counts:
for identity term ``x`` and concept ``y`` over ``N`` captions, the 2 x 2 table
``[[n_xy, n_x - n_xy], [n_y - n_xy, N - n_x - n_y + n_xy]]`` goes through
:func:`audit.metrics.npmi_array` with the Jeffreys pseudo-count
(``prior=0.5``, the estimator :class:`audit.metrics.AuditFrame` reports, so a
pair never seen together is not fixed at -1), whose cell ``[0, 0]`` is
nPMI(x present, y present). Rates use :func:`audit.metrics.wilson_interval`. Image label shares
per caption concept (:func:`image_shares`) use :class:`audit.metrics.AuditFrame`.

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
from audit.dataset.counts import LENGTH_BINS, LONG_CAPTION, TextCounts
from audit.dataset.langstats import STOPWORD_SAMPLE
from audit.metrics import npmi_array, wilson_interval

__all__ = ["term_frequencies", "cooccurrence", "per_query_rates", "caption_summary", "image_shares", "ALL",
           "confusion_source"]

#: Pseudo-count per cell of the co-occurrence nPMI (Jeffreys; the same as AuditFrame's default).
NPMI_PRIOR = 0.5

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
        (nPMI NaN where either term never occurs or the pair never co-occurs: not observed; observed
        pairs are smoothed with a prior of 1/2 per cell, so one or two captions make a weak association).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from audit.dataset.lexicon import load_lexicons
    >>> from audit.dataset.textstats import TextAuditor
    >>> lex = load_lexicons()
    >>> c = TextAuditor(lex).count_batch(pa.RecordBatch.from_pydict({"text": ["a woman nurse", "a man", "a chef"]}))
    >>> t = cooccurrence(c, lex).set_index(["identity", "concept"])
    >>> round(float(t.loc[("gender:woman", "profession:nurse"), "npmi"]), 3)  # 1.0 unsmoothed, from 3 captions
    0.522
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
        val = npmi_array(tables, prior=NPMI_PRIOR)[:, 0, 0]
    # a pair never seen together is "not observed" (NaN): the prior must not turn it into an association
    val = np.where((nx_eff > 0) & (ny > 0) & (nxy > 0), val, np.nan)
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


#: Columns of :func:`image_shares` (``image_by_concept.parquet``).
IMAGE_SHARE_COLUMNS = ["concept", "attribute", "value", "n", "n_concept", "share", "lo", "hi", "method",
                       "n_answered", "share_corrected", "lo_corrected", "hi_corrected", "method_corrected",
                       "confusion_source"]


def confusion_source(labeler, attribute: str, conf) -> str:
    """Where the confusion matrix behind ``attribute``'s corrected shares comes from, in words.

    ``labeler.confusion_source(attribute)`` when the labeler says; else its card's
    held-out split when it has one (the world labeler: ``clean``), else a generic note.

    Examples
    --------
    >>> class L:
    ...     name = "toy"
    >>> confusion_source(L(), "g", pd.DataFrame([[9.0, 1.0], [0.0, 10.0]]))
    "toy labeler's own matrix (validation counts, 10 + 10 images)"
    """
    own = getattr(labeler, "confusion_source", None)
    if own is not None:
        return str(own(attribute))
    name = getattr(labeler, "name", type(labeler).__name__)
    rows = conf.sum(axis=1).to_numpy(dtype=float)
    what = (f"validation counts, {' + '.join(str(int(r)) for r in rows)} images"
            if not np.allclose(rows, 1.0) else "shares taken as exact")
    card = getattr(labeler, "card", None)
    if isinstance(card, dict) and isinstance(card.get("clean"), dict):
        return (f"{name} labeler card, split 'clean' (held-out renders of its training distribution; "
                f"{what})")
    return f"{name} labeler's own matrix ({what})"


def _confusion_for(labeler, attribute: str):
    """The labeler's validation counts for ``attribute`` if it offers them, else its confusion shares."""
    counts = getattr(labeler, "confusion_counts", None)
    conf = counts(attribute) if counts is not None else None
    if conf is None and getattr(labeler, "confusion", None) is not None:
        conf = labeler.confusion(attribute)
    return conf


def image_shares(labels: pd.DataFrame, concepts: pd.DataFrame, *, labeler=None, clusters: pd.Series | None = None,
                 confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0,
                 correction: str = "gibbs") -> pd.DataFrame:
    """P(label value | caption concept), raw and corrected for labeler error, each with an interval.

    Every (concept, attribute, value) of the grid is a row, zero counts
    included. Intervals come from :class:`audit.metrics.AuditFrame`: Jeffreys
    intervals (a zero count gets an upper bound), with the design effect of
    ``clusters`` when given (e.g. images sharing a source page), else treating
    images as independent (``method`` says which). Corrected shares use the
    labeler's confusion matrix (``labeler.confusion_counts(attribute)``
    validation counts when offered, whose sampling uncertainty then enters the
    interval, else ``labeler.confusion(attribute)`` shares taken as exact), over
    the images whose label is one of the matrix's values (``n_answered``;
    non-answers such as ``no_face`` are left out of the corrected share only);
    ``confusion_source`` says which matrix (:func:`confusion_source`; a matrix
    measured on images like the audited ones is passed with
    :class:`audit.dataset.confusion.WithConfusion`, ``dataset audit --confusion FILE``).

    Parameters
    ----------
    labels : pandas.DataFrame
        Tidy labels (``image_id, attribute, value``).
    concepts : pandas.DataFrame
        ``image_id, concept``: the caption concepts of each image.
    labeler : optional
        Anything with ``confusion(attribute)`` (and optionally ``confusion_counts(attribute)``).
    clusters : pandas.Series, optional
        Cluster id per image, indexed by ``image_id``.
    confidence, n_resamples, seed
        Interval settings (``n_resamples=0``: shares only, no intervals).
    correction : {"gibbs", "lsq"}, default "gibbs"
        Corrected shares: the Gibbs posterior or least squares on the simplex
        (see :class:`audit.metrics.AuditFrame`).

    Returns
    -------
    pandas.DataFrame
        :data:`IMAGE_SHARE_COLUMNS`.

    Examples
    --------
    >>> lab = pd.DataFrame({"image_id": list("abcd"), "attribute": "g", "value": ["f", "f", "f", "m"]})
    >>> con = pd.DataFrame({"image_id": list("abcd"), "concept": ["nurse"] * 3 + ["pilot"]})
    >>> t = image_shares(lab, con, n_resamples=0)
    >>> t[["concept", "value", "n", "share"]].values.tolist()[2:]
    [['pilot', 'f', 0.0, 0.0], ['pilot', 'm', 1.0, 1.0]]
    >>> t = image_shares(lab, con, n_resamples=10)
    >>> float(t.lo.iloc[2]), round(float(t.hi.iloc[2]), 2), t.method.iloc[2]
    (0.0, 0.77, 'jeffreys_iid')
    """
    from audit.metrics import AuditFrame

    if labels.empty or concepts.empty:
        return pd.DataFrame(columns=IMAGE_SHARE_COLUMNS)
    joined = concepts.merge(labels[["image_id", "attribute", "value"]], on="image_id")
    if clusters is not None:
        joined["cluster"] = joined["image_id"].map(clusters)
    frames = []
    for attr, sub in joined.groupby("attribute", sort=True):
        sub = sub.assign(value=sub["value"].astype(str))
        kw = dict(concept="concept", attribute="value", cluster=None if clusters is None else "cluster",
                  confidence=confidence, seed=seed)
        conf = _confusion_for(labeler, str(attr)) if labeler is not None else None
        values = [] if conf is None else [str(v) for v in conf.index]
        values += sorted(set(sub["value"]) - set(values))
        af = AuditFrame(sub, attributes=values, n_resamples=max(n_resamples, 1), **kw)
        out = af.by_group.join(af.by_group_ci)[["n", "proportion", "proportion_lo", "proportion_hi", "method"]]
        out = out.rename(columns={"proportion": "share", "proportion_lo": "lo", "proportion_hi": "hi"}).reset_index()
        out.insert(1, "attribute", attr)
        out["n_concept"] = out.groupby("concept")["n"].transform("sum")
        if conf is not None:
            known = set(map(str, conf.index))
            answered = sub[sub["value"].isin(known)]
            if len(answered):
                cf = AuditFrame(answered, confusion=conf, attributes=[str(v) for v in conf.index],
                                n_resamples=max(n_resamples, 1), correction=correction, **kw)
                fixed = cf.by_group.join(cf.by_group_ci)
                fixed = fixed.assign(n_answered=fixed.groupby(level=0)["n"].transform("sum"))
                fixed = fixed[["n_answered", "proportion_corrected", "proportion_corrected_lo",
                               "proportion_corrected_hi", "method_corrected"]]
                fixed.columns = ["n_answered", "share_corrected", "lo_corrected", "hi_corrected", "method_corrected"]
                fixed.index = fixed.index.set_names(["concept", "value"])
                out = out.merge(fixed.reset_index(), on=["concept", "value"], how="left")
                out["confusion_source"] = confusion_source(labeler, str(attr), conf)
        frames.append(out)
    res = pd.concat(frames, ignore_index=True).reindex(columns=IMAGE_SHARE_COLUMNS)
    if n_resamples == 0:
        res[["lo", "hi", "lo_corrected", "hi_corrected"]] = np.nan
        res[["method", "method_corrected"]] = None
    return res.sort_values(["concept", "attribute", "value"], ignore_index=True)
